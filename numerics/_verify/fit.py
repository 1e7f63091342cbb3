"""The verdicts of an order test: fitted log-log slopes against the expected orders.

Three outcomes, each with one meaning:

- **pass**: at least 3 usable errors and a fitted slope of at least the expected
  slope minus the tolerance (flagged "pass (above expected)" when well above it);
- **fail**: at least 3 usable errors and a slope below that: the flow does not track
  the iterates at the predicted order;
- **inconclusive**: fewer than 3 usable errors, so the data cannot decide; the
  result says why (runs that did not reach $T$, or errors at or below the floor) and
  what to change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._order import local_slopes, observed_order

__all__ = ["fit_orders", "overall_verdict", "VERDICTS"]

VERDICTS = ("passed", "failed", "inconclusive")
"""The outcomes of a verification, in the record's `verdict`."""

MIN_POINTS = 3


def overall_verdict(results: Sequence[dict[str, Any]]) -> str:
    """`"failed"` if an order fails, else `"inconclusive"` if one is, else
    `"passed"`."""
    verdicts = [r["verdict"] for r in results]
    if any(v == "fail" for v in verdicts):
        return "failed"
    if any(v == "inconclusive" for v in verdicts):
        return "inconclusive"
    return "passed"


def _larger_steps(
    h_values: NDArray[np.float64],
    e: NDArray[np.float64],
    power: int,
    floor: float,
    limit: float,
) -> str:
    """Advice for an order whose errors fall below the floor: a band of larger step
    sizes whose errors, extrapolated with the expected power, stay above the floor."""
    finite = np.isfinite(e) & (e > 0)
    if not np.any(finite):
        return (
            "Test a lower --order, or give larger step sizes (--h) with a longer --T."
        )
    k = int(np.argmax(np.where(finite, e, -np.inf)))
    h_a, e_a = float(h_values[k]), float(e[k])
    # the band [h_top / 2, h_top] with e(h_top / 2) = 10 x floor
    h_top = h_a * (10 * floor * 2**power / e_a) ** (1.0 / power)
    h_top = max(h_top, h_a)
    band = h_top / np.geomspace(1.0, 2.0, 5)
    text = ",".join(f"{h:.3g}" for h in band)
    if math.isfinite(limit) and h_top >= 0.5 * limit:
        return (
            f"Larger step sizes would approach the stability limit h < {limit:.3g}: "
            "test a lower --order, or give a longer --T (errors grow with T)."
        )
    return (
        f"Give larger step sizes, e.g. --h {text} (extrapolated from the largest "
        f"error with slope {power}; they must stay in the asymptotic regime), a longer "
        "--T, or test a lower --order."
    )


def fit_orders(
    h_values: NDArray[np.float64],
    errors: NDArray[np.float64],
    status: Sequence[str],
    *,
    floor: float,
    tolerance: float,
    expected: Sequence[int] | None = None,
    limit: float = math.inf,
) -> list[dict[str, Any]]:
    """One result per order $p$: the fitted slope of the usable errors (those of runs
    that went well, above `floor`), its verdict against the expected slope (`expected[p]`,
    default $p + 1$), the local slopes, and for an inconclusive or failed order the
    `reason` and the `advice`.

    With fewer than 3 usable step sizes the order is inconclusive; it passes when the
    slope is at least the expected slope minus `tolerance` (flagged when above it plus
    `tolerance`), and fails otherwise.
    """
    results = []
    usable = [s == "ok" for s in status]
    n_ran = sum(usable)
    for p in range(errors.shape[0]):
        e = np.where(usable, errors[p], np.nan)
        slope, used = observed_order(h_values, e, floor=floor)
        n_used = int(sum(used))
        want = int(expected[p]) if expected is not None else p + 1
        reason: str | None = None
        advice: str | None = None
        if n_used < MIN_POINTS:
            verdict, passed = "inconclusive", False
            if n_ran < MIN_POINTS:
                others = {s: list(status).count(s) for s in set(status) if s != "ok"}
                what = ", ".join(f"{n} {s}" for s, n in sorted(others.items()))
                reason = (
                    f"only {n_ran} of {len(status)} step sizes ran to T ({what}); a "
                    f"slope needs {MIN_POINTS}"
                )
                advice = (
                    "Give smaller step sizes (--h)"
                    + (f" below the stability limit h < {limit:.3g}" if math.isfinite(limit) else "")
                    + ", or a shorter --T."
                )  # fmt: skip
            else:
                measured = e[np.isfinite(e)]
                smallest = f" (smallest {measured.min():.2e})" if measured.size else ""
                reason = (
                    f"only {n_used} of the {n_ran} step sizes that ran give order-{p} "
                    f"errors above the floor {floor:g}{smallest}: the truncation is more "
                    "accurate than the comparison resolves at these step sizes"
                )
                advice = _larger_steps(h_values, e, want, floor, limit)
        elif slope >= want - tolerance:
            passed = True
            verdict = "pass" if slope <= want + tolerance else "pass (above expected)"
        else:
            verdict, passed = "fail", False
            reason = (
                f"the fitted slope {slope:.3f} is below {want} - {tolerance:g}: the "
                f"order-{p} flow does not track the iterates with error O(h^{want})"
            )
            advice = (
                "A wrong coefficient gives slope p instead of p + 1; if the local "
                "slopes still change from one step size to the next, the step sizes "
                "are not yet asymptotic (give smaller ones with --h)."
            )
        kept = np.array(used, bool)
        results.append(
            {
                "order": p,
                "expected_slope": want,
                "slope": None if math.isnan(slope) else slope,
                "passed": passed,
                "verdict": verdict,
                "reason": reason,
                "advice": advice,
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
