"""Reproduce the large-step escape of Mohtashami, Jaggi & Stich: gradient descent
with a large step reaches the global minimum where small steps and gradient flow stop
in a local one, and ask every continuous model whether it sees it.

Mohtashami, Jaggi & Stich, *Special properties of gradient descent with large
learning rates* (ICML 2023), prove that on a class of non-convex functions GD with a
large step follows a different trajectory than with a small one and reaches the
global minimum instead of a local one. The paper's exact definition of its class and
constants were not available to this reproduction; it uses instead
[`NarrowWells`][numerics.NarrowWells], the toolkit's own function with the same
mechanism (a smooth convex bowl carrying narrow local minima whose curvature exceeds
$2/h$ at large $h$), and says so wherever it reports.
[`reproduce_large_step`][numerics.reproduce_large_step]:

1. maps where GD ends over a grid of step sizes and starts, as one sharded
   `jit(vmap)` sweep ([`basin_map`][numerics.basin_map]), diverged runs a category of
   their own;
2. measures, on refined grids, the largest step at which GD converges to each
   minimum and the largest at which it stays in each well (cycling), against the
   linear-stability prediction $2/\\lambda$;
3. asks the same question of the gradient flow, GD's modified flows of order 1 to 3,
   the principal flow and the central flow (exact one-dimensional basins,
   [`flow_basins`][numerics.flow_basins]): which predicts the region GD ends in, and
   up to which $h$;
4. runs a small digits network with a learning-rate warm start (large, then small)
   against small throughout, for the same training time.

(Over 500 lines: the report's tables, JSON and checks read the same fields as the
run that fills them, and are kept beside it.)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._basins import DIVERGED, BasinMap, basin_map
from .._flow_basins import COMPLEX, EDGE, FlowBasins, flow_basins, flow_velocity
from .._narrow_wells import LocalMinimum, NarrowWells
from .._precision import uses_float64
from ._large_step_analysis import (
    ModelPrediction,
    Threshold,
    cycle_centres,
    gd_outcomes,
    gd_regions,
    model_prediction,
    refine_threshold,
)
from ._large_step_network import (
    NETWORK,
    QUICK_NETWORK,
    WarmStartRun,
    warm_start_experiment,
)
from ._registry import runtime_and_figures

__all__ = ["reproduce_large_step", "LargeStepReport"]

REFERENCE = (
    "Mohtashami, Jaggi & Stich, Special properties of gradient descent with large "
    "learning rates, ICML 2023"
)
CLASS_NOTE = (
    "The function is the toolkit's NarrowWells, built with the mechanism the paper "
    "analyses (narrow local minima whose curvature exceeds 2/h); it is not the "
    "paper's function class, whose exact definition and constants were not "
    "available to this reproduction."
)
H_RANGE = (1e-3, 3.0)
H_POINTS, QUICK_H_POINTS = 60, 36
STARTS, QUICK_STARTS = (-4.0, 4.0, 400), (-4.0, 4.0, 160)
"""An even number of starts: none sits exactly on a minimum (a run started at the
global minimum stays there at every step size, a measure-zero exception to
linear stability)."""
CONVERGE_TIME = 25.0
"""Every run lasts at least this long in $t = kh$ (the bowl's slowest mode decays
like $e^{-\\mu t}$)."""
MIN_STEPS = 20_000
"""... and at least this many steps (slow convergence just below a threshold)."""
FINE_POINTS, QUICK_FINE_POINTS = 40, 20
GRID = (-6.0, 6.0, 60_001)
"""The grid on which the flows' zeros are located (spacing 2e-4)."""
LEVEL = 0.99
MODELS: tuple[tuple[str, str, int | None, int], ...] = (
    ("gradient flow", "gradient-flow", None, COMPLEX),
    ("modified flow 1", "modified", 1, COMPLEX),
    ("modified flow 2", "modified", 2, COMPLEX),
    ("modified flow 3", "modified", 3, COMPLEX),
    ("principal flow", "principal-flow", None, COMPLEX),
    ("central flow", "central-flow", None, EDGE),
)


@dataclass
class LargeStepReport:
    """What [`reproduce_large_step`][numerics.reproduce_large_step] found.

    - `wells`, `minima`: the function and its minima (curvatures, $2/\\lambda$).
    - `gd`: the coarse [`BasinMap`][numerics.BasinMap]; `gd_region`: the region
      each run ends in (the well's index, 0 for the bowl, `DIVERGED`).
    - `thresholds`: per minimum, the largest step that converges to it and the
      largest that stays in its well, measured against $2/\\lambda$.
    - `flows`: `{model: FlowBasins}`; `predictions`: `{model: ModelPrediction}`.
    - `cycles`: GD's 2-cycles in the wells against the central flow's stopping point.
    - `toolkit`: the one-dimensional models against the toolkit's `central_flow` and
      `principal_flow` on one start.
    - `network`: the warm-start runs; `checks`, `observations`, `settings`,
      `timing`, `environment`, `files`, `passed`.
    """

    wells: NarrowWells
    minima: list[LocalMinimum]
    gd: BasinMap
    gd_region: np.ndarray
    thresholds: list[Threshold]
    flows: dict[str, FlowBasins]
    predictions: dict[str, ModelPrediction]
    cycles: list[dict[str, Any]]
    toolkit: dict[str, Any]
    network: list[WarmStartRun]
    checks: list[dict[str, Any]]
    observations: list[dict[str, Any]]
    settings: dict[str, Any]
    timing: dict[str, float]
    environment: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c["passed"] for c in self.checks)

    def table(self) -> str:
        """Thresholds, models and the network, in Markdown."""
        out = [
            "| minimum | curvature λ | 2/λ (linear stability) | largest h converging "
            "| ratio | largest h staying in the well | ratio |",
            "|---|---|---|---|---|---|---|",
        ]
        by = {(t.minimum, t.kind): t for t in self.thresholds}
        for m in self.minima:
            c, s = by.get((m.label, "converges")), by.get((m.label, "stays"))
            stay = "-" if s is None else f"{s.measured:.5g} (±{s.spacing:.1g})"
            ratio = "-" if s is None else f"{s.measured / m.threshold:.3f}"
            conv = "-" if c is None else f"{c.measured:.5g} (±{c.spacing:.1g})"
            cr = "-" if c is None else f"{c.ratio:.4f}"
            out.append(
                f"| {m.label} | {m.curvature:.4g} | {m.threshold:.5g} | {conv} | {cr} "
                f"| {stay} | {ratio} |"
            )
        out += [
            "",
            f"| model | predicts how GD ends (≥ {LEVEL:.0%} of starts) up to h | "
            "predicts the well GD ends in up to h | spurious zeros | complex | at "
            "the edge |",
            "|---|---|---|---|---|---|",
        ]
        for name, p in self.predictions.items():
            out.append(
                f"| {name} | {_h(p.predicts_outcome_up_to)} | {_h(p.predicts_up_to)} | "
                f"{p.counts['spurious zeros']} | {p.counts['complex']} | "
                f"{p.counts['at the edge']} |"
            )
        out += [
            "",
            "| well | GD cycling past 2/λ: h from | to | cases | centre of the 2-cycle "
            "to the central flow's stop (widths s) | to the minimum (widths s) |",
            "|---|---|---|---|---|---|",
        ]
        for cyc in self.cycles:
            if not cyc["cases"]:
                out.append(f"| {cyc['minimum']} | - | - | 0 | - | - |")
                continue
            out.append(
                f"| {cyc['minimum']} | {cyc['h_range'][0]:.4g} | {cyc['h_range'][1]:.4g} | "
                f"{cyc['cases']} | max {cyc['max_distance_in_widths']:.3f}, mean "
                f"{cyc['mean_distance_in_widths']:.3f} | max "
                f"{cyc['max_distance_to_minimum_in_widths']:.3f} |"
            )
        out += [
            "",
            "| seed | schedule | final loss | train acc | test acc | sharpness after "
            "the large phase | final sharpness |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.network:
            if r.diverged:
                out.append(f"| {r.seed} | {r.label} | diverged | - | - | - | - |")
                continue
            after = (
                "-"
                if r.sharpness_after_large is None
                else (f"{r.sharpness_after_large:.3f} (2/h = {2 / (r.large or 1):.3g})")
            )
            out.append(
                f"| {r.seed} | {r.label} | {r.final_loss:.4e} | {r.train_accuracy:.4f} "
                f"| {r.test_accuracy:.4f} | {after} | {r.final_sharpness:.3f} |"
            )
        out += ["", "| check | measured | pass |", "|---|---|---|"]
        for chk in self.checks:
            mark = "yes" if chk["passed"] else "NO"
            out.append(f"| {chk['check']} | {chk['measured']} | {mark} |")
        if self.observations:
            out += ["", "| observation (not a check) | measured |", "|---|---|"]
            for o in self.observations:
                out.append(f"| {o['check']} | {o['measured']} |")
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        gd = self.gd
        return {
            "reference": REFERENCE,
            "function_class": CLASS_NOTE,
            "passed": self.passed,
            "function": {
                "description": self.wells.describe(),
                "minima": [
                    {
                        "label": m.label,
                        "position": float(m.position[0]),
                        "value": m.value,
                        "curvature": m.curvature,
                        "threshold": m.threshold,
                    }
                    for m in self.minima
                ],
            },
            "basin_map": {
                "h": gd.h.tolist(),
                "starts": [float(gd.x0[0, 0]), float(gd.x0[-1, 0]), len(gd.x0)],
                "n_steps": gd.n_steps,
                "devices": gd.devices,
                "seconds": gd.seconds,
                "fractions": {
                    "diverged": np.mean(gd.category == DIVERGED, axis=1).tolist(),
                    **{
                        m.label: np.mean(self.gd_region == i, axis=1).tolist()
                        for i, m in enumerate(self.minima)
                    },
                },
            },
            "thresholds": [t.to_json() for t in self.thresholds],
            "models": {k: v.to_json() for k, v in self.predictions.items()},
            "cycles": self.cycles,
            "toolkit_models": self.toolkit,
            "network": [r.to_json() for r in self.network],
            "checks": self.checks,
            "observations": self.observations,
            "settings": self.settings,
            "timing_s": self.timing,
            "environment": self.environment,
        }

    def figures(self, out: Path) -> list[Path]:
        """The basin maps (GD and every model), agreement against h, the network."""
        from ._large_step_figures import write_figures

        self.files = write_figures(self, Path(out))
        return list(self.files)

    def markdown(self, images: str = ".") -> str:
        t = self.timing
        lines = [
            "# Large steps escape narrow minima (Mohtashami, Jaggi & Stich, ICML 2023)",
            "",
            CLASS_NOTE,
            "",
            f"Function: {self.wells.describe()}. GD from {len(self.gd.x0)} starts in "
            f"[{self.gd.x0[0, 0]:g}, {self.gd.x0[-1, 0]:g}] at {len(self.gd.h)} step "
            f"sizes in [{self.gd.h[0]:g}, {self.gd.h[-1]:g}], {self.gd.n_steps} steps "
            "each. Conventions: loss f, step h, time t = k h.",
            "",
            self.table(),
            "",
            *runtime_and_figures(t["total_s"], self.environment, self.files, images),
        ]
        return "\n".join(lines)


def _h(v: float) -> str:
    return "never" if math.isnan(v) else f"{v:.4g}"


def _toolkit_models(wells: NarrowWells, minima: list[LocalMinimum]) -> dict[str, Any]:
    """The one-dimensional central and principal flows against the toolkit's own
    `central_flow` and `principal_flow`, from one start into the sharpest well."""
    import derive

    from .._central_flow import central_flow
    from .._principal_flow import principal_flow

    well = minima[-1]
    x0 = float(well.position[0]) - 1.0
    spacing = (GRID[1] - GRID[0]) / (GRID[2] - 1)
    out: dict[str, Any] = {"start": x0, "grid_spacing": spacing}
    # central: a step size past the well's threshold, where the flow stops at the edge
    h_c = 1.5 * well.threshold
    cf = flow_basins(
        flow_velocity("central-flow", wells.loss),
        minima,
        [h_c],
        [x0],
        np.linspace(*GRID),
        undefined=EDGE,
    )
    sol = central_flow(wells.loss, np.array([x0]), h_c, 4.0, k=1, max_k=1, substeps=4)
    end = float(np.asarray(sol.positions)[-1, 0])
    out["central"] = {
        "h": h_c,
        "one_dimensional_end": float(cf.end[0, 0]),
        "toolkit_end": end,
        "difference": abs(end - float(cf.end[0, 0])),
    }
    # principal: below 1/lambda it is real and ends at the minimum; above, complex
    h_p = 0.5 / well.curvature
    pf = principal_flow(derive.gd(), wells.loss, np.array([x0]), h_p, 4.0, substeps=8)
    h_q = 2.0 / well.curvature
    pq = principal_flow(derive.gd(), wells.loss, np.array([x0]), h_q, 4.0, substeps=8)
    basins = flow_basins(
        flow_velocity("principal-flow", wells.loss),
        minima,
        [h_p, h_q],
        [x0],
        np.linspace(*GRID),
    )
    out["principal"] = {
        "h_real": h_p,
        "toolkit_end": float(np.asarray(pf.positions)[-1, 0]),
        "one_dimensional_end": float(basins.end[0, 0]),
        "difference": abs(
            float(np.asarray(pf.positions)[-1, 0]) - float(basins.end[0, 0])
        ),
        "h_complex": h_q,
        "toolkit_complex_from": pq.complex_from,
        "one_dimensional_category": int(basins.category[1, 0]),
    }
    return out


def _checks(
    report: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    minima: list[LocalMinimum] = report["minima"]
    gd: BasinMap = report["gd"]
    regions: np.ndarray = report["gd_region"]
    checks: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for t in report["thresholds"]:
        if t.kind != "converges":
            continue
        ok = (
            t.measured <= t.predicted * (1 + 1e-9)
            and t.measured >= t.predicted - 2 * t.spacing
        )
        checks.append(
            {
                "check": f"{t.minimum}: GD converges to it exactly while h < 2/λ "
                "(refined grid)",
                "measured": f"largest h converging {t.measured:.6g}, 2/λ = "
                f"{t.predicted:.6g}, grid spacing {t.spacing:.2g}",
                "passed": bool(ok),
            }
        )
    edge = minima[0].threshold
    below = gd.h < 0.99 * edge
    above = gd.h > 1.05 * edge
    div = gd.category == DIVERGED
    checks.append(
        {
            "check": "diverged runs (a category of their own) only past 2/μ, and all "
            "runs past 1.05·2/μ",
            "measured": f"{int(div[below].sum())} diverged below, "
            f"{int((~div[above]).sum())} not diverged above",
            "passed": bool(not div[below].any() and div[above].all()),
        }
    )
    stays = {t.minimum: t.measured for t in report["thresholds"] if t.kind == "stays"}
    escape = max(v for v in stays.values() if np.isfinite(v))
    window = (gd.h > 1.05 * escape) & (gd.h < 0.95 * edge)
    glob = regions[window] == 0
    checks.append(
        {
            "check": "large steps (past every well's escape, below 2/μ): every start "
            "ends at the global minimum",
            "measured": f"{glob.mean():.4f} of {glob.size} runs at h in "
            f"[{1.05 * escape:.3g}, {0.95 * edge:.3g}]"
            if glob.size
            else "no step size in the window",
            "passed": bool(glob.size and glob.all()),
        }
    )
    gf = report["predictions"]["gradient flow"]
    small = gd.h <= 0.5 * min(m.threshold for m in minima)
    agree = gf.agreement[small]
    checks.append(
        {
            "check": "small steps (h <= half the sharpest 2/λ): GD ends where gradient "
            "flow does, from every start",
            "measured": f"agreement {agree.min():.4f} at {int(small.sum())} step sizes"
            if agree.size
            else "no step size",
            "passed": bool(agree.size and agree.min() == 1.0),
        }
    )
    tk = report["toolkit"]
    spacing = tk["grid_spacing"]
    checks.append(
        {
            "check": "the one-dimensional central flow stops where the toolkit's "
            "central_flow does",
            "measured": f"|difference| = {tk['central']['difference']:.1e}",
            "passed": bool(tk["central"]["difference"] <= 3 * spacing),
        }
    )
    pr = tk["principal"]
    checks.append(
        {
            "check": "the one-dimensional principal flow: same end as the toolkit's "
            "principal_flow below 1/λ, complex above",
            "measured": f"|difference| = {pr['difference']:.1e}; toolkit complex from "
            f"t = {pr['toolkit_complex_from']}",
            "passed": bool(
                pr["difference"] <= 3 * spacing
                and pr["toolkit_complex_from"] is not None
                and pr["one_dimensional_category"] == COMPLEX
            ),
        }
    )
    runs: list[WarmStartRun] = report["network"]
    warm = [r for r in runs if r.large is not None and not r.diverged]
    capped = all(
        r.sharpness_after_large is not None
        and r.large is not None
        and r.sharpness_after_large <= 1.1 * 2.0 / r.large
        for r in warm
    )
    checks.append(
        {
            "check": "network: the large phase ends with sharpness at most 1.1·2/h_large",
            "measured": ", ".join(
                f"{r.sharpness_after_large:.2f} (2/h = {2 / (r.large or 1):.2f})"
                for r in warm
            ),
            "passed": bool(warm and capped),
        }
    )
    by_seed = {r.seed: r for r in runs if r.large is None}
    flatter = [
        r.final_sharpness < by_seed[r.seed].final_sharpness
        for r in warm
        if r.seed in by_seed
    ]
    checks.append(
        {
            "check": "network: the warm start ends flatter than small throughout",
            "measured": f"{sum(flatter)} of {len(flatter)} runs",
            "passed": bool(flatter and all(flatter)),
        }
    )
    for name, p in report["predictions"].items():
        notes.append(
            {
                "check": f"{name} predicts how GD ends / the well it ends in, up to h",
                "measured": f"{_h(p.predicts_outcome_up_to)} / {_h(p.predicts_up_to)}",
            }
        )
    for r in warm:
        base = by_seed.get(r.seed)
        if base is not None:
            notes.append(
                {
                    "check": f"network seed {r.seed}: {r.label} against small throughout",
                    "measured": f"test accuracy {r.test_accuracy:.4f} vs "
                    f"{base.test_accuracy:.4f}; final loss {r.final_loss:.3e} vs "
                    f"{base.final_loss:.3e}",
                }
            )
    return checks, notes


@uses_float64
def reproduce_large_step(
    *,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> LargeStepReport:
    """Basin maps of GD over (step size, start) on a convex bowl with narrow wells,
    thresholds against $2/\\lambda$, every continuous model's prediction, and a
    warm-start network.

    **Arguments:**

    - `quick`: 36 step sizes, 160 starts, 20-point refinements, one network seed
      and one large step, half the training time.
    - `progress`: called with a short message at each stage.

    **Returns:** a [`LargeStepReport`][numerics.LargeStepReport]; write it with
    [`write_report`][numerics.reproductions.write_report].

    !!! example
        ```python
        >>> import numerics
        >>> report = numerics.reproduce_large_step(quick=True)  # doctest: +SKIP
        >>> report.passed                                        # doctest: +SKIP
        True

        ```

    !!! cite "Reference"
        Mohtashami, Jaggi & Stich, *Special properties of gradient descent with
        large learning rates*, ICML 2023 (the mechanism; the function here is the
        toolkit's own, see [`NarrowWells`][numerics.NarrowWells]).
    """
    from .._certificate import environment

    say = progress or (lambda message: None)
    started = time.perf_counter()
    timing: dict[str, float] = {}
    wells = NarrowWells()
    minima = wells.minima()
    hs = np.geomspace(*H_RANGE, QUICK_H_POINTS if quick else H_POINTS)
    a, b, n = QUICK_STARTS if quick else STARTS
    starts = np.linspace(a, b, n)
    n_steps = max(MIN_STEPS, int(math.ceil(CONVERGE_TIME / hs[0])))
    say(
        f"basin map of GD: {len(hs)} step sizes x {len(starts)} starts, {n_steps} steps"
    )
    gd = basin_map(wells.loss, minima, hs, starts, n_steps)
    regions = gd_regions(gd, minima, wells)
    outcomes = gd_outcomes(gd, regions)
    timing["basin_map_s"] = time.perf_counter() - started

    t0 = time.perf_counter()
    points = QUICK_FINE_POINTS if quick else FINE_POINTS
    thresholds = []
    for i, m in enumerate(minima):
        say(f"refined thresholds of {m.label}")
        thresholds.append(
            refine_threshold(
                wells.loss, minima, wells, gd, i, "converges", points, MIN_STEPS
            )
        )
        if i > 0:
            thresholds.append(
                refine_threshold(
                    wells.loss, minima, wells, gd, i, "stays", points, MIN_STEPS
                )
            )
    timing["thresholds_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    grid = np.linspace(*GRID)
    flows: dict[str, FlowBasins] = {}
    predictions: dict[str, ModelPrediction] = {}
    for name, kind, order, undefined in MODELS:
        say(f"basins of the {name}")
        velocity = flow_velocity(kind, wells.loss, order)
        flows[name] = flow_basins(
            velocity, minima, hs, starts, grid, model=name, undefined=undefined
        )
        predictions[name] = model_prediction(
            name, flows[name], regions, outcomes, minima, wells, LEVEL
        )
    cycles = cycle_centres(gd, flows["central flow"], minima, wells)
    timing["models_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    say("the toolkit's central and principal flows on one start")
    toolkit = _toolkit_models(wells, minima)
    timing["toolkit_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    settings_net = QUICK_NETWORK if quick else NETWORK
    say("network: warm start against small throughout")
    network = warm_start_experiment(settings_net)
    timing["network_s"] = time.perf_counter() - t0

    parts = {
        "minima": minima,
        "gd": gd,
        "gd_region": regions,
        "thresholds": thresholds,
        "predictions": predictions,
        "toolkit": toolkit,
        "network": network,
    }
    checks, observations = _checks(parts)
    timing["total_s"] = time.perf_counter() - started
    return LargeStepReport(
        wells=wells,
        minima=minima,
        gd=gd,
        gd_region=regions,
        thresholds=thresholds,
        flows=flows,
        predictions=predictions,
        cycles=cycles,
        toolkit=toolkit,
        network=network,
        checks=checks,
        observations=observations,
        settings={
            "function": wells.describe(),
            "function_class": CLASS_NOTE,
            "h": [float(hs[0]), float(hs[-1]), len(hs)],
            "starts": [a, b, n],
            "n_steps": n_steps,
            "fine_points": points,
            "grid": list(GRID),
            "agreement_level": LEVEL,
            "network": {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in settings_net.items()
            },
            "quick": quick,
            "reference": REFERENCE,
        },
        timing=timing,
        environment=environment(),
    )
