"""Reproduce Fu et al.: when and why momentum accelerates SGD, on the digits MLP.

Fu, Wang, Zhang, Zhang, Chen & Zheng, *When and why momentum accelerates SGD: an
empirical study* (arXiv 2306.09000), compare SGD and SGD with momentum (SGDM, PyTorch
convention $v \\leftarrow \\mu v + \\nabla f_{\\mathcal B}$, $\\theta \\leftarrow \\theta
- \\eta v$) at the same *effective learning rate* $\\eta_{\\text{ef}} = \\eta/(1-\\mu)$
and batch size, and report: (1) for small $\\eta_{\\text{ef}}$ both reach the same
training loss; (2) above a threshold SGDM is better; (3) the advantage grows with the
batch size; (4) the moment SGD falls behind is a moment of *abrupt sharpening*, a jump
of the directional Hessian along the update.

[`reproduce_fu_momentum`][numerics.reproduce_fu_momentum] runs the grid (batch sizes
from 32 to the full 1797 digits, $\\mu = 0$ (SGD), 0.5 and 0.9, a geometric grid of
$\\eta_{\\text{ef}}$, seeds) with [`momentum_sweep`][numerics.momentum_sweep], finds
the threshold and the gap per batch size, runs the abrupt-sharpening detector
([`abrupt_sharpening`][numerics.abrupt_sharpening]) on every run, and checks the
linear-stability explanation: on a quadratic, SGD is stable while the curvature along
the update is below $2/\\eta$ and heavy ball while it is below $2(1+\\mu)/\\eta$, so at
equal $\\eta_{\\text{ef}}$ momentum tolerates $(1+\\mu)/(1-\\mu)$ times the sharpness
(19 for $\\mu = 0.9$); the predicted edge of SGD is $2/\\lambda_0$ with $\\lambda_0$ the
top Hessian eigenvalue at initialisation.

The top eigenvalue is [`sharpness`][numerics.sharpness] (LOBPCG on Hessian-vector
products).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from .._momentum_sweep import MomentumSweep, momentum_sweep
from .._precision import uses_float64
from . import _fu_momentum_analysis as analysis
from ._fu_momentum_analysis import (
    EQUAL,
    JUMP,
    WIN,
    WINDOW,
    Check,
    Detections,
    Row,
    Stability,
)

__all__ = ["reproduce_fu_momentum", "FuMomentumReport"]

REFERENCE = (
    "Fu, Wang, Zhang, Zhang, Chen & Zheng, When and why momentum accelerates SGD: an "
    "empirical study, arXiv 2306.09000 (2023)"
)
FULL = 1797


class Grid(TypedDict):
    """The grid of a run: batch sizes, effective learning rates, momenta, seeds, the
    step budget and the recording interval."""

    batch_sizes: tuple[int, ...]
    etas: tuple[float, ...]
    mus: tuple[float, ...]
    seeds: tuple[int, ...]
    steps: int
    record_every: int


DEFAULT: Grid = {
    "batch_sizes": (32, 64, 128, 256, 512, FULL),
    "etas": tuple(float(e) for e in np.geomspace(0.1, 30.0, 16)),
    "mus": (0.0, 0.5, 0.9),
    "seeds": (0, 1),
    "steps": 400,
    "record_every": 8,
}
QUICK: Grid = {
    "batch_sizes": (32, 256, FULL),
    "etas": tuple(float(e) for e in np.geomspace(0.1, 30.0, 10)),
    "mus": (0.0, 0.9),
    "seeds": (0,),
    "steps": 200,
    "record_every": 8,
}


@dataclass
class FuMomentumReport:
    r"""What [`reproduce_fu_momentum`][numerics.reproduce_fu_momentum] found.

    - `sweep`: the [`MomentumSweep`][numerics.MomentumSweep].
    - `rows`: the table, one dict per batch size.
    - `checks`: `(name, passed, detail)` of the reproduction's own checks.
    - `detections`: per (batch size, momentum, effective rate, seed) the record of
      abrupt sharpening or `None`.
    - `stability`: full batch, per momentum and rate: the top Hessian eigenvalue
      $\lambda$ at the end of the run (seed 0; NaN where it diverged) and the
      margins $\eta\lambda/2$ (SGD's limit) and $\eta\lambda/(2(1+\mu))$ (its own).
    - `settings`, `timing`, `environment`, `files`.
    """

    sweep: MomentumSweep
    rows: list[Row]
    checks: list[Check]
    detections: Detections
    stability: Stability
    settings: dict[str, Any]
    timing: dict[str, Any]
    environment: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    def table(self) -> str:
        """The Markdown table, one row per batch size, and the checks."""
        big = max(self.sweep.mus)
        out = [
            f"| batch size | SGD edge (diverges above) | SGDM mu={big:g} edge | "
            f"threshold eta_ef (SGDM mu={big:g} wins from) | best loss SGD | "
            f"best loss SGDM mu={big:g} | gap (SGD/SGDM) | abrupt sharpening of SGD "
            "at the threshold |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            out.append(
                f"| {r['batch']} | {r['sgd_edge']} | {r['sgdm_edge']} | "
                f"{r['threshold_text']} | {r['best_sgd']:.3g} | {r['best_sgdm']:.3g} | "
                f"{r['gap']:.3g} | {r['sharpening']} |"
            )
        out += ["", "| check | passed | detail |", "|---|---|---|"]
        for name, ok, detail in self.checks:
            out.append(f"| {name} | {'yes' if ok else 'NO'} | {detail} |")
        return "\n".join(out)

    def stability_table(self) -> str:
        """Markdown: per effective rate, eta_ef lambda/2 of every momentum (full
        batch): above 1 means beyond SGD's limit."""
        st = self.stability
        mus = self.sweep.mus
        head = "| eta_ef | " + " | ".join(
            ("SGD" if m == 0 else f"SGDM mu={m:g}") + ": eta_ef lambda/2 (own limit)"
            for m in mus
        )
        out = [head + " |", "|---|" + "---|" * len(mus)]
        for ei, e in enumerate(self.sweep.etas):
            cells = []
            for m in mus:
                lam = st["lambda"][m][ei]
                if lam is None:
                    cells.append("diverged")
                else:
                    cells.append(
                        f"{e * lam / 2:.3g} ({e * (1 - m) * lam / (2 * (1 + m)):.3g})"
                    )
            out.append(f"| {e:.3g} | " + " | ".join(cells) + " |")
        return "\n".join(out)

    def markdown(self, images: str = ".") -> str:
        s = self.settings
        lines = [
            "# Fu et al. (2023) reproduced: SGD against SGD with momentum at equal "
            "effective learning rates",
            "",
            f"Model: {self.sweep.model}; {s['steps']} steps per run, recorded every "
            f"{s['record_every']}; batch sizes {s['batch_sizes']}; momenta "
            f"{s['mus']}; {len(s['etas'])} effective learning rates from "
            f"{s['etas'][0]:.3g} to {s['etas'][-1]:.3g}; seeds {s['seeds']}. "
            f"Dropped samples per epoch (drop-last): {self.sweep.dropped}.",
            "",
            self.table(),
            "",
            "Linear stability at full batch: the top Hessian eigenvalue lambda at "
            "the end of each run (seed 0) against the limits. SGD with rate eta is "
            "stable while eta lambda/2 < 1; SGDM while eta (1 - mu) lambda/(2(1 + mu)) "
            "< 1, so at equal effective rate it tolerates (1 + mu)/(1 - mu) times the "
            "sharpness. At initialisation (seed 0) lambda_0 = "
            f"{self.stability['lambda0']:.4g}: SGD's linear limit there is "
            f"eta_ef < {2 / self.stability['lambda0']:.3g}, SGDM's (mu = "
            f"{max(self.sweep.mus):g}) eta_ef < "
            f"{2 * (1 + max(self.sweep.mus)) / ((1 - max(self.sweep.mus)) * self.stability['lambda0']):.3g}.",
            "",
            self.stability_table(),
            "",
            f"Runtime: {self.timing['total_s']:.1f} s wall clock ("
            + ", ".join(f"B = {b}: {t:.1f} s" for b, t in self.sweep.seconds.items())
            + f") on {self.environment.get('jax_backend', '?')} "
            f"({self.environment.get('cpu_count', '?')} cores).",
            "",
            "## Figures",
            "",
        ]
        for p in self.files:
            lines += [f"![{p.stem}]({images}/{p.name})", ""]
        return "\n".join(lines)

    def figures(self, out: Path) -> list[Path]:
        from ._fu_momentum_figures import write_figures

        self.files = write_figures(self, Path(out))
        return list(self.files)

    def to_json(self) -> dict[str, Any]:
        sw = self.sweep
        return {
            "reference": REFERENCE,
            "passed": self.passed,
            "rows": self.rows,
            "checks": [
                {"check": n, "passed": ok, "detail": d} for n, ok, d in self.checks
            ],
            "stability": self.stability,
            "settings": self.settings,
            "final_loss": _nan_to_none(sw.final.tolist()),
            "diverged_at": sw.diverged_at.tolist(),
            "axes": {
                "batch_size": sw.batch_sizes,
                "mu": sw.mus,
                "eta_ef": sw.etas,
                "seed": sw.seeds,
            },
            "detections": [
                {"batch": b, "mu": m, "eta_ef": e, "seed": s, "record": r}
                for (b, m, e, s), r in self.detections.items()
            ],
            "dropped_per_epoch": sw.dropped,
            "timing_s": self.timing,
            "environment": self.environment,
        }


def _nan_to_none(x: object) -> object:
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return None if isinstance(x, float) and not math.isfinite(x) else x


@uses_float64
def reproduce_fu_momentum(
    *,
    quick: bool = False,
    batch_sizes: Sequence[int] | None = None,
    etas: Sequence[float] | None = None,
    mus: Sequence[float] | None = None,
    seeds: Sequence[int] | None = None,
    steps: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> FuMomentumReport:
    """Reproduce Fu et al. (arXiv 2306.09000) on the digits MLP.

    **Arguments:**

    - `quick`: a reduced grid (3 batch sizes, SGD and SGDM 0.9, 10 rates, 200 steps).
    - `batch_sizes`, `etas` (effective learning rates), `mus`, `seeds`, `steps`:
      override the grid (defaults: see `DEFAULT` and `QUICK` in this module; `mus`
      must include 0, SGD).
    - `progress`: called with a short message at each stage.

    **Returns:** a [`FuMomentumReport`][numerics.FuMomentumReport]; its figures are
    `final-loss.png`, `sharpness.png` and `batch-size.png`.

    !!! example
        ```python
        >>> import numerics
        >>> report = numerics.reproduce_fu_momentum(quick=True)   # doctest: +SKIP
        >>> report.passed                                          # doctest: +SKIP
        True

        ```
    """
    import derive

    from .._certificate import environment

    say = progress or (lambda message: None)
    base = (QUICK if quick else DEFAULT).copy()
    if batch_sizes is not None:
        base["batch_sizes"] = tuple(batch_sizes)
    if etas is not None:
        base["etas"] = tuple(etas)
    if mus is not None:
        base["mus"] = tuple(mus)
    if seeds is not None:
        base["seeds"] = tuple(seeds)
    if steps is not None:
        base["steps"] = int(steps)
    base["mus"] = tuple(float(m) for m in base["mus"])
    if 0.0 not in base["mus"] or len(base["mus"]) < 2:
        raise derive.DeriveError(
            f"the momenta {list(base['mus'])} must include 0 (SGD) and one more.",
            "Use e.g. --mus 0,0.9.",
        )
    if len(base["etas"]) < 4:
        raise derive.DeriveError(
            "the grid of effective learning rates needs at least four values.", ""
        )
    started = time.perf_counter()
    sw = momentum_sweep(
        # ascending, as the batch-size trend (check and figure) reads them
        batch_sizes=sorted(base["batch_sizes"]),
        etas=sorted(base["etas"]),
        mus=base["mus"],
        seeds=base["seeds"],
        steps=base["steps"],
        record_every=base["record_every"],
        progress=say,
    )
    if (sw.diverged_at >= 0).all():
        raise derive.DeriveError(
            "every run diverged: the effective learning rates "
            f"{sw.etas[0]:.3g} .. {sw.etas[-1]:.3g} are all above the stability limit "
            "of every optimizer here.",
            "Use smaller effective learning rates, e.g. --etas 0.1,0.3,1,3.",
        )
    say("top Hessian eigenvalues at the end of the full-batch runs")
    stability = analysis.stability(sw)
    rows, checks, detections = analysis.analyse(sw, stability)
    settings = {
        "batch_sizes": sw.batch_sizes,
        "etas": sw.etas,
        "mus": sw.mus,
        "seeds": sw.seeds,
        "steps": sw.steps,
        "record_every": sw.record_every,
        "quick": quick,
        "win_factor": WIN,
        "equal_factor": EQUAL,
        "detector": {"window": WINDOW, "jump": JUMP},
        "reference": REFERENCE,
    }
    return FuMomentumReport(
        sweep=sw,
        rows=rows,
        checks=checks,
        detections=detections,
        stability=stability,
        settings=settings,
        timing={"total_s": time.perf_counter() - started, "sweep_s": sw.seconds},
        environment=environment(),
    )
