"""Reproduce Cohen et al.'s central flows on a small network, next to every other model.

Cohen, Damian, Talwalkar, Kolter & Lee, *Understanding optimization in deep learning
with central flows* (ICLR 2025), show that at the edge of stability a differential
equation, the central flow, follows the time-averaged trajectory of gradient descent,
scalar RMSProp and RMSProp, while the gradient (stable) flow departs, and that it
predicts the time-averaged loss. [`reproduce_central_flows`][numerics.reproduce_central_flows]
runs the digits MLP under MSE (`numerics.networks`, tanh, initial weights scaled by
0.3 so that the sharpness rises from below $2/h$) with GD at two step sizes, scalar
RMSProp and RMSProp, and measures with [`side_by_side`][numerics.side_by_side] every
model the toolkit has: gradient flow, GD's modified flows of order 1 and 2, the
principal flow and the central flow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import jax
import numpy as np

from .._precision import uses_float64
from .._side_by_side import TRACKING, SideBySide, relative_error, side_by_side
from .._typing import LossFunction, PyTree
from ._registry import runtime_and_figures

__all__ = ["reproduce_central_flows", "CentralFlowsReport", "RunSpec", "Check"]


class Network(TypedDict):
    """The network of the reproduction (`numerics.networks.get_model` options, the
    seed of its initial parameters and the factor they are scaled by)."""

    model: str
    hidden: tuple[int, ...]
    n: int
    data_loss: str
    activation: str
    seed: int
    init_scale: float


class RunSpec(TypedDict):
    """One run: the optimizer, its step size and number of steps, and RMSProp's
    hyper-parameters (any further key goes to `side_by_side` as it is)."""

    optimizer: str
    h: float
    steps: int
    beta2: NotRequired[float]
    eps: NotRequired[float]
    bias_correction: NotRequired[bool]


class Check(TypedDict):
    """One check of the reproduction."""

    run: str
    check: str
    measured: str
    passed: bool


class PredictionErrors(TypedDict):
    """The central flow's prediction errors for one run (see `_errors`)."""

    loss_max: float
    loss_whole: float
    loss_mean: float
    g2_mean: float
    from_t: float | None


REFERENCE = (
    "Cohen, Damian, Talwalkar, Kolter & Lee, Understanding optimization in deep "
    "learning with central flows, ICLR 2025"
)
NETWORK: Network = {
    "model": "digits-mlp",
    "hidden": (32,),
    "n": 500,
    "data_loss": "mse",
    "activation": "tanh",
    "seed": 0,
    "init_scale": 0.3,
}
RUNS: tuple[RunSpec, ...] = (
    {"optimizer": "gd", "h": 0.3, "steps": 1000},
    {"optimizer": "gd", "h": 0.35, "steps": 700},
    {"optimizer": "scalar-rmsprop", "h": 0.01, "beta2": 0.99, "steps": 1000},
    {
        "optimizer": "rmsprop",
        "h": 2e-4,
        "beta2": 0.99,
        "eps": 1e-8,
        "bias_correction": True,
        "steps": 1200,
    },
)
QUICK_RUNS: tuple[RunSpec, ...] = ({"optimizer": "gd", "h": 0.35, "steps": 300},)
MODIFIED_FRACTION = 0.4
"""GD's modified flows are integrated over the first 40% of each run (they depart
at the onset of the edge of stability, within the first few percent)."""
CENTRAL = {"k": 10, "max_k": 12}
"""Eigenpairs tracked from the start (MSE with 10 classes puts eigenvalues in
clusters of about ten; starting with the whole cluster avoids recompiling)."""
SETTLE_STEPS = 150
"""Prediction errors leave out this many steps after the onset of the edge of
stability: the growth of the first oscillation and the loss spike it causes (GD's
sharpness first overshoots 2/h), which the central flow does not model."""
SIGMA_STEPS = 20.0
"""The width of the Gaussian average of the run's loss and squared gradient norm (the
multi-eigenvalue oscillation makes the loss fluctuate over some 20-30 steps)."""
LOSS_TOLERANCE = 0.10
GF_DEPARTURE = 0.50


@dataclass
class CentralFlowsReport:
    """What [`reproduce_central_flows`][numerics.reproduce_central_flows] found.

    - `runs`: one [`SideBySide`][numerics.SideBySide] per optimizer and step size.
    - `checks`: the reproduction's own checks, one dict per check (`run`, `check`,
      `measured`, `passed`).
    - `settings`, `timing`, `environment`, `files`, `passed`.
    """

    runs: list[SideBySide]
    checks: list[Check]
    settings: dict[str, Any]
    timing: dict[str, Any]
    environment: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c["passed"] for c in self.checks)

    def table(self) -> str:
        """Which model tracks the time-averaged run, and until when (Markdown)."""
        out = [
            "| run | model | max distance / travel | at the end | tracks (< 10%) "
            "until t | note |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.runs:
            for name, m in r.models.items():
                if m.max_relative_distance is None:
                    out.append(f"| {r.label} | {name} | - | - | - | {m.note} |")
                    continue
                out.append(
                    f"| {r.label} | {name} | {m.max_relative_distance:.3f} | "
                    f"{m.distance_at_end:.3f} | {m.tracks_until:.4g} of "
                    f"{r.times[-1]:.4g} | {m.note} |"
                )
        out += [
            "",
            "| run | EoS onset t | max h*lambda_1 of the run | predicted loss: max "
            "error (settled) | whole run | mean | predicted \\|grad\\|^2: mean "
            "error (settled) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.runs:
            e = _errors(r)
            onset = "-" if r.onset is None else f"{r.onset:.4g}"
            out.append(
                f"| {r.label} | {onset} | {np.nanmax(r.sharpness[:, 0]):.3f} | "
                f"{e['loss_max']:.3f} | {e['loss_whole']:.3f} | {e['loss_mean']:.3f} "
                f"| {e['g2_mean']:.3f} |"
            )
        out += ["", "| run | check | measured | pass |", "|---|---|---|---|"]
        for c in self.checks:
            out.append(
                f"| {c['run']} | {c['check']} | {c['measured']} | "
                f"{'yes' if c['passed'] else 'NO'} |"
            )
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        """`summary.json`: `runs` in the documented contract, plus checks and settings."""
        runs = []
        for r in self.runs:
            e = _errors(r)
            models = {}
            for name, m in r.models.items():
                if name == "principal-flow" and r.optimizer != "gd":
                    continue
                models[name] = m.to_json()
            entry = {
                "optimizer": r.optimizer,
                "learning_rate": r.h,
                "eos_reached": r.eos_reached,
                "models": models,
                "predicted_loss_relative_error": e["loss_max"],
            }
            detail = r.to_json()
            detail.pop("models")
            entry.update({k: v for k, v in detail.items() if k not in entry})
            entry.update(
                {
                    "predicted_loss_relative_error_whole_run": e["loss_whole"],
                    "predicted_loss_mean_relative_error": e["loss_mean"],
                    "predicted_gradient_norm2_mean_relative_error": e["g2_mean"],
                    "errors_from_t": e["from_t"],
                }
            )
            runs.append(entry)
        return {
            "reference": REFERENCE,
            "passed": self.passed,
            "runs": runs,
            "checks": self.checks,
            "settings": self.settings,
            "timing_s": self.timing,
            "environment": self.environment,
        }

    def figures(self, out: Path) -> list[Path]:
        """One PNG per run: losses, effective sharpness and distances over time."""
        from ._central_flows_figures import write_figures

        self.files = write_figures(self, Path(out))
        return list(self.files)

    def markdown(self, images: str = ".") -> str:
        s, t = self.settings, self.timing
        net = s["network"]
        lines = [
            "# Central flows reproduced (Cohen et al., ICLR 2025)",
            "",
            f"Network: `{net['model']}` {net['description']}, {net['n_params']} "
            f"parameters, initial weights from init(PRNGKey({net['seed']})) times "
            f"{net['init_scale']}. Conventions: loss f, step h (the paper's eta), "
            "time t = n h. Every model starts where the run starts and is compared "
            "with the run's second-order midpoint (x_{n-1} + 2 x_n + x_{n+1})/4; "
            "distances are divided by the distance that averaged run travelled. "
            f"A model tracks the run while that ratio stays below {TRACKING:.0%}. "
            "Predicted losses are compared with the Gaussian-smoothed loss of the run "
            f"(sigma = {s['sigma_steps']} steps), leaving out the {SETTLE_STEPS} "
            "steps after the onset (the growth of the first oscillation).",
            "",
            self.table(),
            "",
            *runtime_and_figures(t["total_s"], self.environment, self.files, images),
        ]
        return "\n".join(lines)


def _errors(r: SideBySide) -> PredictionErrors:
    """Prediction errors after the first oscillation has grown, and over the run."""
    if r.central is None:
        nan = float("nan")
        return PredictionErrors(
            loss_max=nan, loss_whole=nan, loss_mean=nan, g2_mean=nan, from_t=None
        )
    window = r._window()
    n = len(r.times)
    start = window.start
    if r.onset is not None:
        start = max(start, int(round(r.onset / r.h)) + SETTLE_STEPS)
    start = min(start, window.stop - 1)
    sl = slice(start, window.stop)
    rel = relative_error(r.central.predicted_losses, r.averaged_losses)
    g_rel = relative_error(
        r.central.predicted_gradient_norms2, r.averaged_gradient_norms2
    )
    return {
        "loss_max": float(np.max(rel[sl])),
        "loss_whole": float(np.max(rel[window])),
        "loss_mean": float(np.mean(rel[sl])),
        "g2_mean": float(np.mean(g_rel[sl])),
        "from_t": float(r.times[min(start, n - 1)]),
    }


def _distance(r: SideBySide, model: str) -> float:
    """A model's largest relative distance from the averaged run (NaN if none)."""
    d = r.models[model].max_relative_distance
    return float("nan") if d is None else d


def _checks(runs: list[SideBySide], quick: bool) -> list[Check]:
    out: list[Check] = []
    for r in runs:
        if r.optimizer != "gd":
            out.append(
                {
                    "run": r.label,
                    "check": "the edge of stability is reached",
                    "measured": f"max h*lambda_1 = {np.nanmax(r.sharpness[:, 0]):.3f}",
                    "passed": r.eos_reached,
                }
            )
            continue
        # NaN (a model nowhere defined) fails every comparison below
        cf, gf = _distance(r, "central-flow"), _distance(r, "gradient-flow")
        e = _errors(r)
        out += [
            {
                "run": r.label,
                "check": "the edge of stability is reached",
                "measured": "not reached"
                if r.onset is None
                else f"onset t = {r.onset:.4g}",
                "passed": r.eos_reached,
            },
            {
                "run": r.label,
                "check": f"central flow within {TRACKING:.0%} of the time-averaged run",
                "measured": f"{cf:.3f}",
                "passed": cf <= TRACKING,
            },
        ]
        if quick:
            out.append(
                {
                    "run": r.label,
                    "check": "gradient flow departs more than the central flow",
                    "measured": f"{gf:.3f} vs {cf:.3f}",
                    "passed": gf > cf,
                }
            )
        else:
            out += [
                {
                    "run": r.label,
                    "check": f"gradient flow departs by more than {GF_DEPARTURE:.0%}",
                    "measured": f"{gf:.3f}",
                    "passed": gf > GF_DEPARTURE,
                },
                {
                    "run": r.label,
                    "check": f"predicted time-averaged loss within "
                    f"{LOSS_TOLERANCE:.0%}",
                    "measured": f"{e['loss_max']:.3f}",
                    "passed": e["loss_max"] <= LOSS_TOLERANCE,
                },
            ]
    return out


def _network() -> tuple[LossFunction, PyTree, dict[str, Any]]:
    """The loss, the scaled initial parameters and the network's record."""
    from jax.flatten_util import ravel_pytree

    from ..networks import get_model

    model = get_model(
        NETWORK["model"],
        hidden=NETWORK["hidden"],
        n=NETWORK["n"],
        data_loss=NETWORK["data_loss"],
        activation=NETWORK["activation"],
    )
    params = model.init(jax.random.PRNGKey(NETWORK["seed"]))
    params = jax.tree_util.tree_map(lambda v: NETWORK["init_scale"] * v, params)
    info = {
        **NETWORK,
        "hidden": list(NETWORK["hidden"]),
        "description": model.description,
        "n_params": int(ravel_pytree(params)[0].size),
    }
    return model.loss, params, info


@uses_float64
def reproduce_central_flows(
    *,
    quick: bool = False,
    runs: Sequence[RunSpec] | None = None,
    progress: Callable[[str], None] | None = None,
) -> CentralFlowsReport:
    """Central flows of GD, scalar RMSProp and RMSProp on the digits MLP, next to the
    gradient flow, GD's modified flows of order 1 and 2 and the principal flow.

    **Arguments:**

    - `quick`: one GD run of 300 steps at $h = 0.35$ (reaches the edge of stability
      within 40 steps; checks: onset reached, central flow within 10%, gradient
      flow further away).
    - `runs`: replace the default runs (dicts with `optimizer`, `h`, `steps` and
      RMSProp's `beta2`, `eps`, `bias_correction`).
    - `progress`: called with a short message at each stage.

    **Returns:** a [`CentralFlowsReport`][numerics.CentralFlowsReport]; write it with
    [`write_report`][numerics.reproductions.write_report].

    !!! example
        ```python
        >>> import numerics
        >>> report = numerics.reproduce_central_flows(quick=True)  # doctest: +SKIP
        >>> report.passed                                           # doctest: +SKIP
        True

        ```
    """
    from .._certificate import environment

    say: Callable[[str], None] = progress or (lambda message: None)
    started = time.perf_counter()
    loss, params, info = _network()
    chosen = list(runs or (QUICK_RUNS if quick else RUNS))
    results = []
    for spec in chosen:
        options: dict[str, Any] = {
            k: v for k, v in spec.items() if k not in ("optimizer", "h", "steps")
        }
        results.append(
            side_by_side(
                loss,
                params,
                optimizer=spec["optimizer"],
                h=float(spec["h"]),
                n_steps=int(spec["steps"]),
                central_options=dict(CENTRAL),
                modified_fraction=MODIFIED_FRACTION,
                sigma_steps=SIGMA_STEPS,
                progress=say,
                **options,
            )
        )
    report = CentralFlowsReport(
        runs=results,
        checks=_checks(results, quick),
        settings={
            "network": info,
            "runs": [dict(s) for s in chosen],
            "quick": quick,
            "sigma_steps": results[0].sigma_steps if results else None,
            "tracking": TRACKING,
            "settle_steps": SETTLE_STEPS,
            "central_flow": dict(CENTRAL),
            "reference": REFERENCE,
        },
        timing={
            **{r.label: r.timing for r in results},
            "total_s": time.perf_counter() - started,
        },
        environment=environment(),
    )
    return report
