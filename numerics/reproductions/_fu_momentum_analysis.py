"""The analysis of the Fu et al. reproduction: thresholds, gaps, the abrupt-sharpening
detector on every run, and the linear-stability checks (full batch).

The top Hessian eigenvalue at the end of a run is the shared
[`sharpness`][numerics.sharpness] (LOBPCG on Hessian-vector products).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeAlias, TypedDict

import numpy as np
from numpy.typing import NDArray

from .._momentum_sweep import MomentumSweep
from .._sharpening import abrupt_sharpening, stability_threshold

__all__ = [
    "analyse",
    "stability",
    "WIN",
    "EQUAL",
    "WINDOW",
    "JUMP",
    "Check",
    "Detections",
    "Row",
    "Stability",
]

WIN = 1.25
"""SGDM wins at an effective learning rate when its final loss is at least 25% below
SGD's, or SGD diverged there and SGDM did not."""
EQUAL = 1.10
"""At the two smallest effective learning rates the losses must agree within 10%."""
WINDOW, JUMP = 5, 2.0
"""The detector's settings: a rise from below threshold/2 to above the threshold
within 5 records (40 steps at the default recording interval)."""

Edge: TypeAlias = tuple[float | None, float | None]
"""(largest rate that converged below the first divergence, first diverged rate)."""

Check: TypeAlias = tuple[str, bool, str]
"""One check of the reproduction: `(name, passed, detail)`."""

Detections: TypeAlias = dict[tuple[int, float, float, int], int | None]
"""The record of abrupt sharpening (or `None`) per (batch size, momentum, effective
rate, seed)."""


class Row(TypedDict):
    """One row of the table: a batch size."""

    batch: int
    sgd_edge: str
    sgdm_edge: str
    threshold: float | None
    threshold_below: float | None
    threshold_text: str
    best_sgd: float
    best_sgdm: float
    gap: float
    sharpening: str
    equal_at_small_rates: bool


Stability = TypedDict(
    "Stability",
    {"batch": int, "lambda": dict[float, list[float | None]], "lambda0": float},
)
"""Full batch, seed 0: the top Hessian eigenvalue at the end of every run per momentum
(`None` where it diverged), and at initialisation."""


def _edge(etas: Sequence[float], diverged: Sequence[bool] | NDArray[np.bool_]) -> Edge:
    """(largest rate that converged below the first divergence, first diverged)."""
    first = next((i for i, d in enumerate(diverged) if d), None)
    if first is None:
        return (etas[-1], None)
    return (etas[first - 1] if first > 0 else None, etas[first])


def _edge_text(edge: Edge) -> str:
    lo, hi = edge
    if hi is None:
        return f"> {lo:.3g} (none diverged)"
    if lo is None:
        return f"< {hi:.3g}"
    return f"{lo:.3g} .. {hi:.3g}"


def _sharpness(sw: MomentumSweep, flat: NDArray[np.float64]) -> float:
    """The top eigenvalue of the full-batch loss's Hessian at flat parameters."""
    import jax.numpy as jnp

    from .._spectrum import sharpness

    return sharpness(sw.full_loss, sw.unravel(jnp.asarray(flat)))


def stability(sw: MomentumSweep) -> Stability:
    """Top Hessian eigenvalue at the end of every full-batch run (seed 0; none where
    the run diverged) and at the start."""
    full = sw.batch_sizes.index(max(sw.batch_sizes))
    dead = sw.diverged_at[full, :, :, 0] >= 0
    out: dict[float, list[float | None]] = {}
    for mi, m in enumerate(sw.mus):
        out[m] = [
            None if dead[mi, ei] else _sharpness(sw, sw.params[full, mi, ei, 0])
            for ei in range(len(sw.etas))
        ]
    lambda0 = _sharpness(sw, sw.initial)
    return {"batch": max(sw.batch_sizes), "lambda": out, "lambda0": lambda0}


def analyse(
    sw: MomentumSweep, stability: Stability
) -> tuple[list[Row], list[Check], Detections]:
    """The table, the checks and the detections of a sweep (see the module docs)."""
    etas, mus = sw.etas, sw.mus
    big = mus.index(max(mus))
    sgd = mus.index(0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        diverged = np.asarray((sw.diverged_at >= 0).any(axis=-1))  # [B, mu, eta]
        loss = np.exp(np.log(sw.final).mean(axis=-1))  # geometric mean over seeds
    detections: Detections = {}
    for bi, b in enumerate(sw.batch_sizes):
        for mi, m in enumerate(mus):
            for ei, e in enumerate(etas):
                theta = stability_threshold(e * (1 - m), m)
                for si, s in enumerate(sw.seeds):
                    detections[(b, m, e, s)] = abrupt_sharpening(
                        sw.sharpness[bi, mi, ei, si], theta, window=WINDOW, jump=JUMP
                    )
    rows: list[Row] = []
    gaps: list[float] = []
    equal_ok, threshold_ok = True, True
    prevented, cases = True, 0
    for bi, b in enumerate(sw.batch_sizes):
        L_sgd, L_mom = loss[bi, sgd], loss[bi, big]
        d_sgd, d_mom = diverged[bi, sgd], diverged[bi, big]
        small = [
            abs(math.log(L_sgd[i] / L_mom[i]))
            for i in range(min(2, len(etas)))
            if not (d_sgd[i] or d_mom[i])
        ]
        equal = bool(small) and max(small) <= math.log(EQUAL)
        equal_ok &= equal
        wins = [
            bool((not d_mom[i]) and (d_sgd[i] or L_sgd[i] > WIN * L_mom[i]))
            for i in range(len(etas))
        ]
        t = next((i for i, w in enumerate(wins) if w), None)
        threshold_ok &= t is not None
        best_sgd = float(np.nanmin(np.where(d_sgd, np.nan, L_sgd)))
        best_mom = float(np.nanmin(np.where(d_mom, np.nan, L_mom)))
        gaps.append(best_sgd / best_mom)
        # momentum prevents or defers abrupt sharpening where it wins
        fired_at: list[float] = []
        for i, w in enumerate(wins):
            if not w:
                continue
            for s in sw.seeds:
                a = detections[(b, mus[sgd], etas[i], s)]
                c = detections[(b, mus[big], etas[i], s)]
                if a is None:
                    continue
                cases += 1
                fired_at.append(etas[i])
                if c is not None and c <= a:
                    prevented = False
        if t is None:
            sharp_text = "no threshold"
        else:
            at = [detections[(b, mus[sgd], etas[t], s)] for s in sw.seeds]
            steps = ["-" if r is None else str(int(sw.record_steps[r])) for r in at]
            sharp_text = (
                f"at {etas[t]:.3g}: step {', '.join(steps)} (seeds); first detected "
                + (f"at {min(fired_at):.3g}" if fired_at else "nowhere")
                + " among the rates where SGDM wins"
            )
        rows.append(
            {
                "batch": b,
                "sgd_edge": _edge_text(_edge(etas, d_sgd)),
                "sgdm_edge": _edge_text(_edge(etas, d_mom)),
                "threshold": None if t is None else etas[t],
                "threshold_below": None if t is None or t == 0 else etas[t - 1],
                "threshold_text": "none"
                if t is None
                else (
                    f"{etas[t - 1]:.3g} .. {etas[t]:.3g}" if t else f"<= {etas[t]:.3g}"
                ),
                "best_sgd": best_sgd,
                "best_sgdm": best_mom,
                "gap": gaps[-1],
                "sharpening": sharp_text,
                "equal_at_small_rates": equal,
            }
        )
    checks: list[Check] = [
        (
            "SGD and SGDM agree at small effective rates",
            equal_ok,
            f"final losses within {round((EQUAL - 1) * 100)}% at the two smallest "
            "rates, every batch size",
        ),
        (
            "a threshold exists",
            threshold_ok,
            f"SGDM (mu = {max(mus):g}) wins (loss {round((WIN - 1) * 100)}% lower, or "
            "SGD diverged) above some rate, every batch size",
        ),
        (
            "the gap grows with the batch size",
            gaps[-1] > gaps[0],
            "best-loss ratio SGD/SGDM: "
            + ", ".join(
                f"B={b}: {g:.3g}" for b, g in zip(sw.batch_sizes, gaps, strict=True)
            ),
        ),
        (
            "momentum prevents or defers abrupt sharpening",
            prevented and cases > 0,
            f"in all {cases} SGD runs with abrupt sharpening (a rise from below "
            f"threshold/{JUMP:g} to above it within {WINDOW} records; divergence "
            "counts) at rates where SGDM wins, the SGDM run at the same rate shows "
            "none, or later",
        ),
    ]
    checks += _stability_checks(sw, stability)
    return rows, checks, detections


def _stability_checks(sw: MomentumSweep, stability: Stability) -> list[Check]:
    """Linear stability at full batch: converged runs end below their own limit (up
    to 15%, the edge-of-stability overshoot); every optimizer's edge lies above its
    linear limit at initialisation, 2(1+mu)/((1-mu) lambda_0) in effective rate (a
    run that is linearly stable from the start does not diverge there); and the ratio
    of momentum's edge to SGD's is the linear factor (1+mu)/(1-mu) within a factor 2
    (between the grid brackets)."""
    etas, mus = sw.etas, sw.mus
    lam = stability["lambda"]
    lam0 = stability["lambda0"]
    margins = []
    for m in mus:
        for e, v in zip(etas, lam[m], strict=True):
            if v is not None:
                margins.append(e * (1 - m) * v / (2 * (1 + m)))
    own = max(margins) if margins else math.nan
    full = sw.batch_sizes.index(max(sw.batch_sizes))
    edges = {
        m: _edge(etas, (sw.diverged_at[full, mi] >= 0).any(axis=-1))
        for mi, m in enumerate(mus)
    }
    above, texts = True, []
    for m, (lo, hi) in edges.items():
        limit = 2 * (1 + m) / ((1 - m) * lam0)
        above &= hi is None or hi > limit
        texts.append(
            f"{'SGD' if m == 0 else f'mu={m:g}'}: edge {_edge_text((lo, hi))}, "
            f"limit {limit:.3g}"
        )
    lo0, hi0 = edges[0.0]
    ratio_ok, ratio_texts = True, []
    for m in mus:
        if m == 0:
            continue
        lo, hi = edges[m]
        pred = (1 + m) / (1 - m)
        if lo is None or hi is None or lo0 is None or hi0 is None:
            ratio_ok = False
            ratio_texts.append(f"mu={m:g}: edge not bracketed")
            continue
        r_lo, r_hi = lo / hi0, hi / lo0
        ratio_ok &= r_hi >= pred / 2 and r_lo <= pred * 2
        ratio_texts.append(
            f"mu={m:g}: measured {r_lo:.3g} .. {r_hi:.3g}, linear {pred:.3g}"
        )
    return [
        (
            "converged runs respect their linear stability limit",
            bool(margins) and own <= 1.15,
            "full batch: largest eta (1-mu) lambda_end/(2(1+mu)) over the converged "
            f"runs = {own:.3g} (at most 1.15: the edge of stability)",
        ),
        (
            "no optimizer diverges below its linear limit at initialisation",
            bool(above),
            f"full batch, lambda_0 = {lam0:.4g}: " + "; ".join(texts),
        ),
        (
            "momentum's edge over SGD's is the linear factor (1+mu)/(1-mu)",
            bool(ratio_ok),
            "full batch, within a factor 2: " + "; ".join(ratio_texts),
        ),
    ]
