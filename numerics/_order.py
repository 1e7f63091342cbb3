"""The observed order of convergence: the slope of the global error against $h$.

An order-$p$ truncation of the modified flow tracks the iterates with global error
$e(h) = \\max_{n h \\le T} |x_n - x(n h)| = C h^{p+1} + O(h^{p+2})$ on a fixed $[0, T]$,
so $\\log e$ against $\\log h$ is a line of slope $p + 1$ in the asymptotic regime. The
slope is the least-squares fit over the points that are above the solver's error floor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["observed_order", "local_slopes"]


def observed_order(
    hs: npt.ArrayLike, errors: npt.ArrayLike, floor: float = 0.0
) -> tuple[float, list[bool]]:
    """Fit $\\log e = s \\log h + c$ over the usable points.

    **Arguments:**

    - `hs`, `errors`: step sizes and global errors (`nan` for missing ones).
    - `floor`: errors at or below it are not used (round-off and solver tolerance).

    **Returns:** `(slope, used)`: the slope (`nan` with fewer than two usable points)
    and the mask of the points used.

    !!! example
        ```python
        >>> from numerics import observed_order
        >>> slope, used = observed_order([0.1, 0.05, 0.025], [2e-3, 5e-4, 1.25e-4])
        >>> round(slope, 6), used
        (2.0, [True, True, True])

        ```
    """
    h = np.asarray(hs, dtype=float)
    e = np.asarray(errors, dtype=float)
    used = np.isfinite(e) & (e > floor) & (h > 0)
    if used.sum() < 2:
        return math.nan, used.tolist()
    slope = np.polyfit(np.log(h[used]), np.log(e[used]), 1)[0]
    return float(slope), used.tolist()


def local_slopes(hs: Sequence[float], errors: Sequence[float]) -> list[float]:
    """Slopes between consecutive points, in the given order: steady in the asymptotic
    regime, drifting where higher-order terms or the error floor matter."""
    out = []
    for h0, e0, h1, e1 in zip(hs, errors, hs[1:], errors[1:], strict=False):
        ok = all(math.isfinite(v) and v > 0 for v in (e0, e1)) and h0 != h1
        out.append(math.log(e1 / e0) / math.log(h1 / h0) if ok else math.nan)
    return out
