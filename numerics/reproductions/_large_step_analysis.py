"""The analysis of the large-step reproduction: regions, thresholds, which model
predicts where gradient descent ends."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._basins import DIVERGED, UNSETTLED, BasinMap, basin_map
from .._flow_basins import FlowBasins
from .._narrow_wells import LocalMinimum, NarrowWells

__all__ = [
    "Threshold",
    "ModelPrediction",
    "regions_of",
    "gd_regions",
    "gd_outcomes",
    "refine_threshold",
    "model_prediction",
    "cycle_centres",
]

REGION_WIDTHS = 4.0
"""A point is *in well i* within this many widths $s_i$ of its minimum."""
UNDEFINED = -4


@dataclass
class Threshold:
    """A step-size threshold of one minimum: `predicted` (linear stability
    $2/\\lambda$; `nan` where no prediction is made), `measured` (the largest $h$ of
    the refined grid with the event), `spacing` (of that grid), `coarse` (the
    bracket from the coarse map)."""

    minimum: str
    kind: str
    predicted: float
    measured: float
    spacing: float
    coarse: tuple[float, float]

    @property
    def ratio(self) -> float:
        return self.measured / self.predicted if self.predicted else math.nan

    def to_json(self) -> dict[str, Any]:
        return {
            "minimum": self.minimum,
            "kind": self.kind,
            "predicted": self.predicted,
            "measured": self.measured,
            "ratio": self.ratio,
            "spacing": self.spacing,
            "coarse_bracket": list(self.coarse),
        }


@dataclass
class ModelPrediction:
    """How well a model's basins predict GD's, per step size, on two levels:

    - *outcome*: the model ends where GD ends *and* in the same way: at the same
      minimum (GD converges to it), or held in the same well without reaching its
      minimum (GD cycles there; the central flow stops at the edge $hf'' = 2$);
    - *region*: the model ends in the same well (or the bowl) as GD, whatever the
      way.

    `outcome_agreement`, `agreement`: the fraction of starts that agree;
    `predicts_outcome_up_to`, `predicts_up_to`: the largest $h$ up to which at
    least `level` of the starts agree at every step size (`nan`: never)."""

    name: str
    h: np.ndarray
    outcome_agreement: np.ndarray
    agreement: np.ndarray
    predicts_outcome_up_to: float
    predicts_up_to: float
    level: float
    regions: np.ndarray = field(repr=False)
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "predicts_outcome_up_to": _json_float(self.predicts_outcome_up_to),
            "predicts_region_up_to": _json_float(self.predicts_up_to),
            "level": self.level,
            "outcome_agreement": self.outcome_agreement.tolist(),
            "region_agreement": self.agreement.tolist(),
            "counts": self.counts,
        }


def _json_float(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


HELD = 100
"""Outcome code of a run held in well $i$ without converging to its minimum:
`HELD + i`."""


def gd_outcomes(res: BasinMap, regions: np.ndarray) -> np.ndarray:
    """GD's outcome per run: the minimum it converges to, `HELD + region` when it
    has not settled, `DIVERGED`."""
    return np.where(res.category == UNSETTLED, HELD + regions, res.category)


def _up_to(h: np.ndarray, agreement: np.ndarray, level: float) -> float:
    bad = np.flatnonzero(agreement < level)
    if not bad.size:
        return float(h[-1])
    return float(h[bad[0] - 1]) if bad[0] > 0 else math.nan


def regions_of(
    points: np.ndarray, minima: Sequence[LocalMinimum], wells: NarrowWells
) -> np.ndarray:
    """The region of each 1-D point: the index of the well it lies in (within
    `REGION_WIDTHS` widths of the well's minimum), else 0 (the bowl of the global
    minimum); `DIVERGED` for a non-finite point."""
    x = np.asarray(points, float)
    out = np.zeros(x.shape, int)
    for i, (m, s) in enumerate(zip(minima[1:], wells.widths, strict=True), start=1):
        out = np.where(np.abs(x - float(m.position[0])) <= REGION_WIDTHS * s, i, out)
    return np.where(np.isfinite(x), out, DIVERGED)


def gd_regions(
    res: BasinMap, minima: Sequence[LocalMinimum], wells: NarrowWells
) -> np.ndarray:
    """The region where each GD run ends: of its limit, or of the centre of its last
    two points when it has not settled (a 2-cycle's centre)."""
    centre = 0.5 * (res.final[..., 0] + res.previous[..., 0])
    regions = regions_of(centre, minima, wells)
    return np.where(res.category == DIVERGED, DIVERGED, regions)


def refine_threshold(
    loss: Any,
    minima: Sequence[LocalMinimum],
    wells: NarrowWells,
    coarse: BasinMap,
    index: int,
    kind: str,
    points: int,
    n_steps: int,
) -> Threshold:
    """The largest step size at which some GD run converges to minimum `index`
    (`kind="converges"`) or ends in its well, converged or cycling
    (`kind="stays"`), bracketed on the coarse map and refined on `points` step
    sizes inside the bracket."""

    def hit(res: BasinMap) -> np.ndarray:
        if kind == "converges":
            return np.asarray((res.category == index).any(axis=1))
        return np.asarray((gd_regions(res, minima, wells) == index).any(axis=1))

    rows = np.flatnonzero(hit(coarse))
    m = minima[index]
    predicted = m.threshold if kind == "converges" else math.nan
    if rows.size == 0:
        return Threshold(
            m.label, kind, predicted, math.nan, math.nan, (math.nan, math.nan)
        )
    last = int(rows.max())
    lo = float(coarse.h[last])
    hi = float(coarse.h[min(last + 1, len(coarse.h) - 1)])
    if hi <= lo:
        return Threshold(m.label, kind, predicted, lo, math.nan, (lo, hi))
    fine_h = np.linspace(lo, hi, points)
    fine = basin_map(loss, minima, fine_h, coarse.x0, n_steps)
    found = np.flatnonzero(hit(fine))
    measured = float(fine_h[found.max()]) if found.size else lo
    return Threshold(
        m.label, kind, predicted, measured, float(fine_h[1] - fine_h[0]), (lo, hi)
    )


def model_prediction(
    name: str,
    basins: FlowBasins,
    gd: np.ndarray,
    outcomes: np.ndarray,
    minima: Sequence[LocalMinimum],
    wells: NarrowWells,
    level: float,
) -> ModelPrediction:
    """Compare a model's ends with GD's regions `gd` and outcomes `outcomes`
    (shape `(len(h), P)`)."""
    from .._flow_basins import COMPLEX, EDGE, SPURIOUS

    regions = regions_of(basins.end, minima, wells)
    regions = np.where(basins.category == COMPLEX, UNDEFINED, regions)
    regions = np.where(basins.category == DIVERGED, DIVERGED, regions)
    agreement = np.mean(regions == gd, axis=1)
    model_outcome = np.where(basins.category == EDGE, HELD + regions, basins.category)
    outcome_agreement = np.mean(model_outcome == outcomes, axis=1)
    counts = {
        "spurious zeros": int(np.sum(basins.category == SPURIOUS)),
        "complex": int(np.sum(basins.category == COMPLEX)),
        "at the edge": int(np.sum(basins.category == EDGE)),
    }
    return ModelPrediction(
        name,
        basins.h,
        outcome_agreement,
        agreement,
        _up_to(basins.h, outcome_agreement, level),
        _up_to(basins.h, agreement, level),
        level,
        regions,
        counts,
    )


def cycle_centres(
    gd: BasinMap,
    central: FlowBasins,
    minima: Sequence[LocalMinimum],
    wells: NarrowWells,
) -> list[dict[str, Any]]:
    """Where GD cycles inside a well past its threshold, against the point where the
    central flow stops (at $hf'' = 2$): per well, the largest distance between the
    centre of GD's 2-cycle and the central flow's end, in units of the well's width."""
    from .._flow_basins import EDGE

    regions = gd_regions(gd, minima, wells)
    centre = 0.5 * (gd.final[..., 0] + gd.previous[..., 0])
    out = []
    for i, (m, s) in enumerate(zip(minima[1:], wells.widths, strict=True), start=1):
        mask = (gd.category == UNSETTLED) & (regions == i) & (central.category == EDGE)
        mask &= (gd.h > m.threshold)[:, None]
        if not mask.any():
            out.append({"minimum": m.label, "cases": 0, "max_distance_in_widths": None})
            continue
        d = np.abs(centre[mask] - central.end[mask]) / s
        rows = np.flatnonzero(mask.any(axis=1))
        out.append(
            {
                "minimum": m.label,
                "cases": int(mask.sum()),
                "h_range": [float(gd.h[rows.min()]), float(gd.h[rows.max()])],
                "max_distance_in_widths": float(d.max()),
                "mean_distance_in_widths": float(d.mean()),
                "max_distance_to_minimum_in_widths": float(
                    np.max(np.abs(centre[mask] - float(m.position[0]))) / s
                ),
            }
        )
    return out
