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

The top eigenvalue is computed here by power iteration on Hessian-vector products (a
private helper, `_top_eigenvalue`), until a shared sharpness routine exists.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._momentum_sweep import MomentumSweep, momentum_sweep
from .._precision import uses_float64
from .._sharpening import abrupt_sharpening, stability_threshold

__all__ = ["reproduce_fu_momentum", "FuMomentumReport"]

REFERENCE = (
    "Fu, Wang, Zhang, Zhang, Chen & Zheng, When and why momentum accelerates SGD: an "
    "empirical study, arXiv 2306.09000 (2023)"
)
FULL = 1797
DEFAULT = {
    "batch_sizes": (32, 64, 128, 256, 512, FULL),
    "etas": tuple(float(e) for e in np.geomspace(0.1, 30.0, 16)),
    "mus": (0.0, 0.5, 0.9),
    "seeds": (0, 1),
    "steps": 400,
    "record_every": 8,
}
QUICK = {
    "batch_sizes": (32, 256, FULL),
    "etas": tuple(float(e) for e in np.geomspace(0.1, 30.0, 10)),
    "mus": (0.0, 0.9),
    "seeds": (0,),
    "steps": 200,
    "record_every": 8,
}
WIN = 1.25
"""SGDM wins at an effective learning rate when its final loss is at least 25% below
SGD's, or SGD diverged there and SGDM did not."""
EQUAL = 1.10
"""At the three smallest effective learning rates the losses must agree within 10%."""
WINDOW, JUMP = 5, 2.0
"""The detector's settings: a rise from below threshold/2 to above the threshold
within 5 records (40 steps at the default recording interval)."""


def _top_eigenvalues(loss, unravel, flat_params, iters: int = 40, seed: int = 0):
    """The Hessian eigenvalue of largest modulus at each row of `flat_params`, by power
    iteration on Hessian-vector products, vmapped over the rows (a private helper, to
    be replaced by the shared sharpness routine)."""
    import jax
    import jax.numpy as jnp

    from .._hessian import hessian_vector_product

    def one(flat):
        params = unravel(flat)
        v = jax.random.normal(jax.random.PRNGKey(seed), flat.shape, flat.dtype)
        v = v / jnp.linalg.norm(v)

        def body(_, carry):
            v, _lam = carry
            w = hessian_vector_product(lambda z: loss(unravel(z)), flat, v)
            lam = jnp.vdot(v, w)
            return w / jnp.linalg.norm(w), lam

        del params
        return jax.lax.fori_loop(0, iters, body, (v, jnp.zeros((), flat.dtype)))[1]

    return np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(flat_params)))


@dataclass
class FuMomentumReport:
    """What [`reproduce_fu_momentum`][numerics.reproduce_fu_momentum] found.

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
    rows: list
    checks: list
    detections: dict
    stability: dict
    settings: dict
    timing: dict
    environment: dict
    files: list = field(default_factory=list)

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
            + ", ".join(
                f"B = {b}: {t:.1f} s" for b, t in self.sweep.seconds.items()
            )
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

    def to_json(self) -> dict:
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


def _nan_to_none(x):
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _edge(etas, diverged) -> tuple[float | None, float | None]:
    """(largest rate that converged below the first divergence, first diverged)."""
    first = next((i for i, d in enumerate(diverged) if d), None)
    if first is None:
        return (etas[-1], None)
    return (etas[first - 1] if first > 0 else None, etas[first])


def _edge_text(edge) -> str:
    lo, hi = edge
    if hi is None:
        return f"> {lo:.3g} (none diverged)"
    if lo is None:
        return f"< {hi:.3g}"
    return f"{lo:.3g} .. {hi:.3g}"


def _stability(sw: MomentumSweep) -> dict:
    """Top Hessian eigenvalue at the end of every full-batch run (seed 0)."""
    full = sw.batch_sizes.index(max(sw.batch_sizes))
    flat = sw.params[full, :, :, 0].reshape(len(sw.mus) * len(sw.etas), -1)
    lam = _top_eigenvalues(sw.full_loss, sw.unravel, flat).reshape(
        len(sw.mus), len(sw.etas)
    )
    dead = sw.diverged_at[full, :, :, 0] >= 0
    out = {}
    for mi, m in enumerate(sw.mus):
        out[m] = [None if dead[mi, ei] else float(lam[mi, ei]) for ei in range(len(sw.etas))]
    lambda0 = float(_top_eigenvalues(sw.full_loss, sw.unravel, sw.initial[None])[0])
    return {"batch": max(sw.batch_sizes), "lambda": out, "lambda0": lambda0}


def _analyse(sw: MomentumSweep, stability: dict):
    etas, mus = sw.etas, sw.mus
    big = mus.index(max(mus))
    sgd = mus.index(0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        diverged = (sw.diverged_at >= 0).any(axis=-1)  # [B, mu, eta]
        loss = np.exp(np.log(sw.final).mean(axis=-1))  # geometric mean over seeds
    detections = {}
    for bi, b in enumerate(sw.batch_sizes):
        for mi, m in enumerate(mus):
            for ei, e in enumerate(etas):
                theta = stability_threshold(e * (1 - m), m)
                for si, s in enumerate(sw.seeds):
                    detections[(b, m, e, s)] = abrupt_sharpening(
                        sw.sharpness[bi, mi, ei, si], theta, window=WINDOW, jump=JUMP
                    )
    rows, gaps = [], []
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
        fired_at = []
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
            at = [
                detections[(b, mus[sgd], etas[t], s)] for s in sw.seeds
            ]
            steps = [
                "-" if r is None else str(int(sw.record_steps[r])) for r in at
            ]
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
                else (f"{etas[t - 1]:.3g} .. {etas[t]:.3g}" if t else f"<= {etas[t]:.3g}"),
                "best_sgd": best_sgd,
                "best_sgdm": best_mom,
                "gap": gaps[-1],
                "sharpening": sharp_text,
                "equal_at_small_rates": equal,
            }
        )
    checks = [
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


def _stability_checks(sw: MomentumSweep, stability: dict) -> list:
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
        if None in (lo, hi, lo0, hi0):
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


@uses_float64
def reproduce_fu_momentum(
    *,
    quick: bool = False,
    batch_sizes=None,
    etas=None,
    mus=None,
    seeds=None,
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
    base = dict(QUICK if quick else DEFAULT)
    for key, value in (
        ("batch_sizes", batch_sizes),
        ("etas", etas),
        ("mus", mus),
        ("seeds", seeds),
        ("steps", steps),
    ):
        if value is not None:
            base[key] = tuple(value) if key != "steps" else int(value)
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
        batch_sizes=base["batch_sizes"],
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
    stability = _stability(sw)
    rows, checks, detections = _analyse(sw, stability)
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
