"""Abrupt sharpening: a sudden jump of the directional sharpness above its stability limit.

Fu et al., *When and why momentum accelerates SGD: an empirical study* (arXiv
2306.09000), tie momentum's advantage to *abrupt sharpening*: the directional Hessian
$s = u^\\top H u / |u|^2$ along the update $u$ jumps, and at that moment SGD slows
down while SGD with momentum does not. On a quadratic of curvature $s$ along $u$, SGD
with learning rate $\\eta$ is stable while $s < 2/\\eta$ and heavy ball (SGDM, momentum
$\\mu$) while $s < 2(1+\\mu)/\\eta$ (`numerics.stability_limit`), which is the
threshold the rule below compares with.

**The rule.** Given the trace $s_0, s_1, \\dots$ (recorded every few steps), the
threshold $\\theta$, a window $w$ and a jump factor $\\rho$: abrupt sharpening happens at
the first record $j$ with $s_j \\ge \\theta$ such that some record in the $w$ before it
was at most $\\theta/\\rho$. A slow drift across $\\theta$ (progressive sharpening) is
not abrupt; a rise from well below to above the limit within $w$ records is.
Non-finite records (a diverged run) count as above every threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["abrupt_sharpening", "stability_threshold"]


def stability_threshold(eta: float, mu: float = 0.0) -> float:
    """The linear stability limit of the curvature along the update: $2(1+\\mu)/\\eta$
    for SGD with momentum $\\mu$ and learning rate $\\eta$ (PyTorch convention;
    $\\mu = 0$: SGD, $2/\\eta$).

    !!! example
        ```python
        >>> import numerics
        >>> numerics.stability_threshold(0.1), numerics.stability_threshold(0.01, 0.9)
        (20.0, 380.0)

        ```
    """
    from derive import DeriveError

    if not eta > 0 or not 0 <= mu < 1:
        raise DeriveError(
            f"no stability threshold for eta = {eta}, mu = {mu}.",
            "Use a positive learning rate and 0 <= mu < 1.",
        )
    return 2.0 * (1.0 + mu) / eta


def abrupt_sharpening(
    trace: Sequence[float], threshold: float, *, window: int = 5, jump: float = 2.0
) -> int | None:
    """The first record of abrupt sharpening in a directional-sharpness trace, or
    `None` (see the module docs for the rule).

    **Arguments:**

    - `trace`: the directional sharpness $u^\\top H u/|u|^2$ at successive records.
    - `threshold`: the stability limit (e.g. [`stability_threshold`][numerics.stability_threshold]).
    - `window`: how many earlier records the jump may take.
    - `jump`: the rise factor: some record in the window was at most
      `threshold / jump`.

    **Returns:** the record index, or `None`.

    !!! example
        ```python
        >>> import numerics
        >>> trace = [1.0] * 10 + [3.0] * 5          # jumps from 1 to 3 at record 10
        >>> numerics.abrupt_sharpening(trace, threshold=2.5)
        10
        >>> ramp = [1.0 + 0.02 * k for k in range(100)]   # crosses 2.5 slowly
        >>> numerics.abrupt_sharpening(ramp, threshold=2.5) is None
        True

        ```
    """
    from derive import DeriveError

    if not threshold > 0 or window < 1 or not jump > 1:
        raise DeriveError(
            f"bad detector settings: threshold = {threshold}, window = {window}, "
            f"jump = {jump}.",
            "Use a positive threshold, window >= 1 and jump > 1.",
        )
    s = np.asarray(trace, dtype=float)
    above = ~np.isfinite(s) | (s >= threshold)
    low = np.isfinite(s) & (s <= threshold / jump)
    for j in range(1, len(s)):
        if above[j] and low[max(0, j - window) : j].any():
            return j
    return None


def first_crossing(trace: Sequence[float], threshold: float) -> int | None:
    """The first record at or above `threshold` (or non-finite), or `None`."""
    for j, v in enumerate(trace):
        if not math.isfinite(v) or v >= threshold:
            return j
    return None
