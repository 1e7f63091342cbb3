"""The verdicts of an order test: fitted log-log slopes against the expected orders."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._order import local_slopes, observed_order

__all__ = ["fit_orders"]


def fit_orders(
    h_values: NDArray[np.float64],
    errors: NDArray[np.float64],
    status: Sequence[str],
    *,
    floor: float,
    tolerance: float,
) -> list[dict[str, Any]]:
    """One result per order $p$: the fitted slope of the usable errors (those of runs
    that went well, above `floor`), its verdict against $p + 1$ and the local slopes.

    With fewer than 3 usable step sizes the order is inconclusive; it passes when the
    slope is at least $p + 1$ - `tolerance` (flagged when above $p + 1$ + `tolerance`).
    """
    results = []
    usable = [s == "ok" for s in status]
    for p in range(errors.shape[0]):
        e = np.where(usable, errors[p], np.nan)
        slope, used = observed_order(h_values, e, floor=floor)
        n_used = int(sum(used))
        expected = p + 1
        if n_used < 3:
            verdict, passed = "inconclusive", False
        elif slope >= expected - tolerance:
            passed = True
            verdict = (
                "pass" if slope <= expected + tolerance else "pass (above expected)"
            )
        else:
            verdict, passed = "fail", False
        kept = np.array(used, bool)
        results.append(
            {
                "order": p,
                "expected_slope": expected,
                "slope": None if math.isnan(slope) else slope,
                "passed": passed,
                "verdict": verdict,
                "errors": [
                    None if not math.isfinite(v) else float(v) for v in errors[p]
                ],
                "used": used,
                "local_slopes": [
                    None if not math.isfinite(s) else s
                    for s in local_slopes(list(h_values[kept]), list(errors[p][kept]))
                ],
            }
        )
    return results
