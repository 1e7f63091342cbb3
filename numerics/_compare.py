"""Which continuous-time model tracks an optimizer at *your* step size?

Every series in $h$ is asymptotic: at a practical step size a higher-order modified
flow can be worse than a lower one, and a first-order-in-time flow cannot follow an
underdamped momentum method at all. [`compare`][numerics.compare] runs the optimizer
(an affine recurrence: GD, heavy ball, Nesterov, QHM, user specs) at one or more step
sizes and measures, against its iterates, every model the toolkit has for it:

- `modified-p`, $p = 0..P$: the modified flows of order $p$ ($p = 0$ is the
  (time-rescaled) gradient flow);
- `second-order-p`, $p = 1..P$: the second-order-in-time (high-resolution) equations,
  started on their slow manifold;
- `principal-flow`: $\\dot x = \\psi(hH)\\nabla f$ (all orders in $hH$), where it is
  real;
- `central-flow` (gradient descent only): the time-averaged model at the edge of
  stability, also measured against the time-averaged iterates.

The error of a model is $|x(nh) - x_n|$ divided by the distance the iterates
travelled ($\\max_n |x_n - x_0|$), over $0 \\le nh \\le T$. The report names the best
model, the best truncation order of the modified flows (and from which order adding
one stops helping), and warns when $h$ times the curvature scale $L$ (the largest
$|\\lambda(H)|$ along the run) lies outside the radius of convergence of the series
in $z = hL$ ([`derive.principal_flow`][derive.principal_flow]).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpy.typing import NDArray

import derive

from ._precision import uses_float64
from ._tracking import TRACKING, track_summary
from ._typing import Array, LossFunction, Parameters, PyTree, VectorField

if TYPE_CHECKING:
    from ._losses import Loss

__all__ = ["compare", "Comparison", "StepSizeComparison"]


class ModelSummary(TypedDict):
    """A model's errors at one step size (see `StepSizeComparison.summary`)."""

    max: float | None
    end: float | None
    tracks_until: float | None
    until: float | None


@dataclass
class StepSizeComparison:
    """All models at one step size: `errors[name]` (relative, per saved step; NaN
    where a model is not defined), `notes[name]`, and the summary fields."""

    h: float
    times: NDArray[np.float64]
    errors: dict[str, NDArray[np.float64]]
    notes: dict[str, str]
    travel: float
    curvature: float
    radius: float
    averaged_errors: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    def summary(self, name: str) -> ModelSummary:
        """The largest error, the error where the model stops (or at $T$), until
        when it stays below 10% and until when it is defined."""
        s = track_summary(self.errors[name], self.times)
        return {
            "max": s.max,
            "end": s.end,
            "tracks_until": s.tracks_until,
            "until": s.defined_until,
        }

    @property
    def best(self) -> str:
        """The model with the smallest largest error, among those defined to $T$
        (among all when none is)."""
        summaries = {k: self.summary(k) for k in self.errors}
        pool = {
            k: s["max"]
            for k, s in summaries.items()
            if s["max"] is not None
            and s["until"] is not None
            and s["until"] >= self.times[-1] - 1e-12
        } or {k: s["max"] for k, s in summaries.items() if s["max"] is not None}
        return min(pool, key=lambda k: pool[k])

    def orders(self) -> tuple[int | None, int | None]:
        """(best order of the modified flows, first order from which adding one no
        longer helps), over the orders measured."""
        errs = []
        p = 0
        while f"modified-{p}" in self.errors:
            worst = self.summary(f"modified-{p}")["max"]
            errs.append(math.inf if worst is None else worst)
            p += 1
        if not errs:
            return None, None
        best = int(np.argmin(errs))
        stops = next((q for q in range(len(errs) - 1) if errs[q + 1] >= errs[q]), None)
        return best, stops

    @property
    def outside_series(self) -> bool:
        return self.h * self.curvature >= self.radius

    def table(self) -> str:
        rows = [
            f"h = {self.h:g} (h L = {self.h * self.curvature:.3g}, radius of the "
            f"series {self.radius:.3g}; T = {self.times[-1]:.4g}, travel "
            f"{self.travel:.4g})",
            "",
            "| model | max error / travel | at the end | tracks (< 10%) until | note |",
            "|---|---|---|---|---|",
        ]
        for name in self.errors:
            s = self.summary(name)
            if s["max"] is None:
                rows.append(f"| {name} | - | - | - | {self.notes.get(name, '')} |")
                continue
            note = self.notes.get(name, "")
            if name in self.averaged_errors:
                note = (note + "; " if note else "") + (
                    "against the time-averaged iterates: max "
                    f"{np.nanmax(self.averaged_errors[name]):.3g}"
                )
            rows.append(
                f"| {name} | {s['max']:.3g} | {s['end']:.3g} | {s['tracks_until']:.4g}"
                f" | {note} |"
            )
        best, stops = self.orders()
        rows += ["", f"best model: {self.best}"]
        if best is not None:
            text = f"best truncation order of the modified flows: {best}"
            if stops is not None:
                text += f" (adding an order stops helping after order {stops})"
            rows.append(text)
        if self.outside_series:
            rows.append(
                f"warning: h L = {self.h * self.curvature:.3g} is outside the radius "
                f"of convergence {self.radius:.3g} of the series in h L: the modified "
                "flows of every order are asymptotic only, and the principal root is "
                "complex or negative (the iterates oscillate)."
            )
        return "\n".join(rows)

    def to_json(self) -> dict[str, Any]:
        best, stops = self.orders()
        return {
            "h": self.h,
            "T": float(self.times[-1]),
            "travel": self.travel,
            "curvature": self.curvature,
            "h_times_curvature": self.h * self.curvature,
            "radius_of_convergence": self.radius,
            "outside_series": self.outside_series,
            "best_model": self.best,
            "best_order": best,
            "adding_an_order_stops_helping_after": stops,
            "models": {
                k: {**self.summary(k), "note": self.notes.get(k, "")}
                for k in self.errors
            },
        }


@dataclass
class Comparison:
    """Result of [`compare`][numerics.compare]: one
    [`StepSizeComparison`][numerics.StepSizeComparison] per step size."""

    optimizer: str
    loss: str
    results: list[StepSizeComparison]
    settings: dict[str, Any]

    def table(self) -> str:
        return "\n\n".join(r.table() for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "loss": self.loss,
            "settings": self.settings,
            "step_sizes": [r.to_json() for r in self.results],
        }

    def figures(self, out: str | Path) -> list[Path]:
        """One PNG per step size: every model's error against time."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for r in self.results:
            fig, ax = plt.subplots(figsize=(7.2, 4.8), dpi=120)
            for name, e in r.errors.items():
                ok = np.isfinite(e) & (e > 0)
                if ok.any():
                    style = "--" if name.startswith("second") else "-"
                    ax.semilogy(r.times[ok], e[ok], style, lw=1.2, label=name)
            ax.axhline(TRACKING, color="grey", ls=":", lw=1, label="10%")
            ax.set_xlabel("time t = n h")
            ax.set_ylabel("|model - iterates| / distance travelled")
            title = f"{self.optimizer} on {self.loss}, h = {r.h:g}"
            if r.outside_series:
                title += f"\nh L = {r.h * r.curvature:.3g} beyond the series' radius "
                title += f"{r.radius:.3g}"
            ax.set_title(title, fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
            fig.tight_layout()
            path = out / f"compare-h{r.h:g}.png"
            fig.savefig(path)
            plt.close(fig)
            files.append(path)
        return files


def _rest_velocity(
    field: VectorField, x0: PyTree, h: float, iterations: int = 8
) -> PyTree:
    """The velocity $v_0$ with which the equation's solution passes through the
    discrete start at rest, $x(-h) = x_{-1} = x_0$, to second order: $v_0 = \\tfrac
    h2 \\ddot x(0)$ with $\\ddot x(0)$ from the equation at $(x_0, v_0)$ (a fixed
    point, found by iteration). Starting with $v_0 = 0$ instead leaves an $O(h)$
    offset."""
    v = jax.tree_util.tree_map(jnp.zeros_like, x0)
    for _ in range(iterations):
        _, acc = field(0.0, (x0, v), {"h": h})
        v = jax.tree_util.tree_map(lambda a: 0.5 * h * a, acc)
    return v


def _flat_rows(points: PyTree) -> NDArray[np.float64]:
    """Points stacked along a leading axis (a pytree) as rows of flat vectors."""
    return np.asarray(jax.vmap(lambda p: ravel_pytree(p)[0])(points))


def _curvature(loss_flat: LossFunction, positions: NDArray[np.float64]) -> float:
    """The largest $|\\lambda(H)|$ at up to 20 points of the run."""
    idx = np.unique(np.linspace(0, len(positions) - 1, 20).astype(int))
    pts = jnp.asarray(positions[idx])
    n = pts.shape[1]
    if n <= 200:
        eig = jax.jit(
            jax.vmap(lambda z: jnp.linalg.eigvalsh(jax.hessian(loss_flat)(z)))
        )
        return float(jnp.max(jnp.abs(eig(pts))))
    from ._curvature import extreme_eigenvalues
    from ._eigensolvers import hessian_operator_flat

    grad = jax.grad(loss_flat)

    def top(z: Array) -> Array:
        hi, lo, _ = extreme_eigenvalues(
            hessian_operator_flat(grad, z), jnp.cos(jnp.arange(n)) + 1.0
        )
        return jnp.maximum(jnp.abs(hi), jnp.abs(lo))

    return float(jnp.max(jax.jit(jax.vmap(top))(pts)))


@uses_float64
def compare(
    optimizer: derive.OptimizerDefinition,
    loss: Loss | str | LossFunction,
    h: float | Sequence[float],
    T: float | None = None,
    *,
    params: Parameters | None = None,
    x0: PyTree | None = None,
    order: int = 2,
    start: Literal["rest", "manifold"] = "rest",
    manifold_nodes: int = 5,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """Measure every continuous-time model of an optimizer at one or more step sizes.

    **Arguments:**

    - `optimizer`: a `derive.Recurrence` (or a name, spec or update function).
    - `loss`: a [`Loss`][numerics.Loss] (or a registry name), or a JAX function of a
      pytree (then `x0` is required).
    - `h`: a step size or a sequence of them.
    - `T`: the horizon $t = nh$ (default: the loss's gradient-flow horizon divided
      by the leading coefficient, else 200 steps).
    - `params`: numbers for symbolic hyper-parameters; `x0`: the start.
    - `order`: the highest order $P$ of the modified flows and second-order equations.
    - `start`: `"rest"` (default: the other states equal the position, zero
      momentum, as a training run starts; second-order equations start with zero
      velocity) or `"manifold"` (the slow-manifold start of
      [`verify`][numerics.verify], for step sizes inside the series' radius,
      where it removes the $O(h)$ offset of the momentum's transient; second-order
      equations then start with their slow velocity); `manifold_nodes`: its trees.
    - `progress`: called with a short message per stage.

    **Returns:** a [`Comparison`][numerics.Comparison].

    !!! example
        ```python
        >>> import derive, numerics
        >>> res = numerics.compare(derive.heavy_ball(0.9), "quadratic", 0.01, T=4.0,
        ...                        x0=[1.0, 0.1], order=1)
        >>> res.results[0].best, res.results[0].outside_series
        ('second-order-1', True)

        ```
    """
    from derive import DeriveError

    from ._central_flow import central_flow
    from ._high_resolution import flow_field, second_order_field, slow_velocity
    from ._integrate import integrate
    from ._iterates import as_recurrence, initial_point, make_runner
    from ._losses import Loss, resolve_loss
    from ._principal_flow import principal_flow
    from ._time_average import midpoint_average

    say: Callable[[str], None] = progress or (lambda message: None)
    if start not in ("rest", "manifold"):
        raise DeriveError(f"start={start!r}.", "Use 'rest' or 'manifold'.")
    rec, num = as_recurrence(optimizer, params)
    if isinstance(loss, str):
        loss = resolve_loss(loss)
    if isinstance(loss, Loss) and x0 is None and loss.start is None:
        x0 = [1.0] * loss.dimension
    x0 = initial_point(loss, x0)
    fn = loss.fn if isinstance(loss, Loss) else loss
    name = loss.name if isinstance(loss, Loss) else getattr(loss, "__name__", "loss")
    hs = [float(v) for v in np.atleast_1d(np.asarray(h, dtype=float))]
    if not all(v > 0 and math.isfinite(v) for v in hs):
        raise DeriveError(f"step sizes must be positive, got {hs}.", "")
    top = derive.bseries_flow(rec, order)  # derived once, truncated for each order
    flows = [top.truncate(p) for p in range(order + 1)]
    c0 = abs(float(derive.evaluate(flows[0].terms[0].coefficient, num)))
    if T is None:
        T = (
            (loss.horizon / c0)
            if isinstance(loss, Loss) and loss.horizon
            else (200 * max(hs))
        )
    odes = [derive.high_resolution_ode(rec, p) for p in range(1, order + 1)]
    flow_fields = [flow_field(flow, fn, num) for flow in flows]
    second_fields = [second_order_field(ode, fn, num) for ode in odes]
    principal = derive.principal_flow(rec, 1)  # derived once, for every step size
    radius = principal.radius_at(**num)
    flat0, unravel = ravel_pytree(x0)

    def f_flat(z: Array) -> Array:
        return fn(unravel(z))

    is_gd = rec.name == "gd"
    results = []
    for hv in hs:
        n = max(int(round(T / hv)), 1)
        say(f"h = {hv:g}: {n} steps of {rec.name}")
        runner = make_runner(
            rec, fn, n, params=num, init=start, manifold_nodes=manifold_nodes
        )
        positions, diverged_at, _ = jax.jit(runner)(x0, jnp.float64(hv))
        xs = _flat_rows(positions)
        if int(diverged_at) >= 0:
            raise DeriveError(
                f"{rec.name} diverges at h = {hv:g} (step {int(diverged_at)}): no model "
                "can track it.",
                "Use a smaller step size (numerics.stability_limit gives the "
                "limit for a curvature).",
            )
        times = hv * np.arange(n + 1, dtype=np.float64)
        travel = float(np.max(np.linalg.norm(xs - xs[0], axis=1)))
        travel = travel if travel > 0 else 1.0
        errors: dict[str, NDArray[np.float64]] = {}
        notes: dict[str, str] = {}
        averaged: dict[str, NDArray[np.float64]] = {}

        def rel(
            model_xs: NDArray[np.float64],
            xs: NDArray[np.float64] = xs,
            travel: float = travel,
        ) -> NDArray[np.float64]:
            return np.linalg.norm(model_xs - xs, axis=1) / travel

        ts = jnp.asarray(times)
        for p, flow_fn in enumerate(flow_fields):
            say(f"h = {hv:g}: modified flow of order {p}")
            ys, ok, _ = integrate(
                flow_fn,
                x0,
                ts,
                {"h": hv},
                rtol=1e-10,
                atol=1e-12,
                max_steps=400_000,
            )
            errors[f"modified-{p}"] = rel(_flat_rows(ys))
            if not bool(ok):
                notes[f"modified-{p}"] = "the integration failed (blow-up)"
        for p, (ode, field2) in enumerate(zip(odes, second_fields, strict=True), 1):
            say(f"h = {hv:g}: second-order equation of order {p}")
            if start == "manifold":
                y0 = (x0, slow_velocity(ode, fn, num)(x0, hv))
            else:
                y0 = (x0, _rest_velocity(field2, x0, hv))
            ys, ok, _ = integrate(
                field2, y0, ts, {"h": hv}, rtol=1e-10, atol=1e-12, max_steps=400_000
            )
            errors[f"second-order-{p}"] = rel(_flat_rows(ys[0]))
            if not bool(ok):
                notes[f"second-order-{p}"] = "the integration failed (blow-up)"
        say(f"h = {hv:g}: principal flow")
        sol = principal_flow(principal, fn, x0, hv, n * hv, params=num, substeps=4)
        e = np.full(n + 1, np.nan)
        k = len(sol.positions)
        if k > 1:
            e[:k] = np.linalg.norm(sol.positions - xs[:k], axis=1) / travel
        errors["principal-flow"] = e
        if sol.complex_from is not None:
            notes["principal-flow"] = (
                f"complex from t = {sol.complex_from:.4g} (h lambda reached "
                f"{sol.z_max[-1]:.3g}; real only below {sol.radius:.3g})"
            )
        if is_gd:
            say(f"h = {hv:g}: central flow")
            try:
                cf = central_flow(fn, x0, hv, n * hv, k=2, substeps=4)
                errors["central-flow"] = rel(cf.positions)
                averaged["central-flow"] = (
                    np.linalg.norm(cf.positions - midpoint_average(xs), axis=1) / travel
                )
            except DeriveError as err:
                errors["central-flow"] = np.full(n + 1, np.nan)
                notes["central-flow"] = f"not defined: {err.problem}"
        curvature = _curvature(f_flat, xs)
        results.append(
            StepSizeComparison(
                hv, times, errors, notes, travel, curvature, radius, averaged
            )
        )
    return Comparison(
        optimizer=rec.name,
        loss=name,
        results=results,
        settings={
            "T": float(T),
            "order": order,
            "params": dict(num),
            "start": start,
            "manifold_nodes": manifold_nodes,
            "x0": np.asarray(flat0).tolist(),
        },
    )
