"""Every continuous-time model of an optimizer, measured on the same run.

[`side_by_side`][numerics.side_by_side] runs the discrete optimizer (GD, scalar
RMSProp or RMSProp) on a loss and, from the same start, every model the toolkit has
for it:

| model | equation | for |
|---|---|---|
| `gradient-flow` | the stable flow $\\dot x = -D^{-1}\\nabla f$ (gradient flow for GD) | all |
| `modified-1`, `modified-2` | GD's modified flows of order 1 and 2 (`derive.codegen`) | GD |
| `principal-flow` | $\\dot x = \\log(1 - hH)/(hH)\\, \\nabla f$ (Rosca et al.) | GD |
| `central-flow` | [`central_flow`][numerics.central_flow] (Cohen et al.) | all |

Every model is compared with the *time-averaged* run (the second-order midpoint
[`midpoint_average`][numerics.midpoint_average]): the distance over time divided by
the distance the averaged run travelled ($\\max_n |\\bar x_n - \\bar x_0|$), its maximum
over the run, its value at the end, and until when it stays below 10%. The run's
effective sharpness $h\\lambda_1$ (of $Hu = \\lambda Du$) is measured along the way, and
the central flow's predicted time-averaged loss and squared gradient norm are
compared with the Gaussian-smoothed observed ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpy.typing import NDArray

import derive

from ._central_flow import CentralFlowSolution, central_flow
from ._eigensolvers import hessian_operator_flat, top_eigenpairs_flat
from ._precision import uses_float64
from ._preconditioned import (
    DiscreteRun,
    PreconditionedMethod,
    preconditioned_method,
    run_discrete,
    stable_flow,
)
from ._time_average import gaussian_average, midpoint_average
from ._tracking import TRACKING, track_summary
from ._typing import Array, ArrayLike, LossFunction, PyTree

__all__ = ["side_by_side", "SideBySide", "ModelTrack", "TRACKING"]

MODELS = ("gradient-flow", "modified-1", "modified-2", "principal-flow", "central-flow")


@dataclass
class ModelTrack:
    """One model against the time-averaged run.

    - `distance`: relative distance per saved step (NaN where not available);
    - `max_relative_distance`, `distance_at_end`: over the times where the model is
      defined; `tracks_until`: the last time before it first exceeds
      [`TRACKING`][numerics.TRACKING]; `defined_until`: the last time it is defined
      (a principal flow stops where it becomes complex, a flow whose integration
      failed where it failed); `note`: why it stops or is missing.
    """

    name: str
    distance: NDArray[np.float64] | None
    max_relative_distance: float | None
    distance_at_end: float | None
    tracks_until: float | None
    defined_until: float | None
    note: str = ""
    wall_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "max_relative_distance": self.max_relative_distance,
            "distance_at_end": self.distance_at_end,
            "tracks_until": self.tracks_until,
            "defined_until": self.defined_until,
            "note": self.note,
            "wall_s": self.wall_s,
        }


@dataclass
class SideBySide:
    """Result of [`side_by_side`][numerics.side_by_side] (see the module docs)."""

    label: str
    optimizer: str
    h: float
    times: NDArray[np.float64]
    run: DiscreteRun = field(repr=False)
    averaged_losses: NDArray[np.float64] = field(repr=False)
    averaged_gradient_norms2: NDArray[np.float64] = field(repr=False)
    sharpness_times: NDArray[np.float64] = field(repr=False)
    sharpness: NDArray[np.float64] = field(repr=False)
    central: CentralFlowSolution | None = field(repr=False)
    models: dict[str, ModelTrack]
    travel: float
    sigma_steps: float
    timing: dict[str, float]

    @property
    def eos_reached(self) -> bool:
        """The run's effective sharpness reached 2 (within 2%) and the central flow's
        $\\Sigma$ became nonzero."""
        reached = bool(np.nanmax(self.sharpness[:, 0]) >= 1.96)
        return reached and self.central is not None and self.central.onset is not None

    @property
    def onset(self) -> float | None:
        return None if self.central is None else self.central.onset

    def predicted_loss_errors(self) -> tuple[float, float]:
        """(max, mean) over the run of |predicted - smoothed observed| / smoothed, for
        the central flow's time-averaged loss."""
        if self.central is None:
            return float("nan"), float("nan")
        rel = relative_error(self.central.predicted_losses, self.averaged_losses)
        keep = rel[self._window()]
        return float(np.max(keep)), float(np.mean(keep))

    def predicted_gradient_errors(self) -> tuple[float, float]:
        """The same for the time-averaged squared gradient norm."""
        if self.central is None:
            return float("nan"), float("nan")
        rel = relative_error(
            self.central.predicted_gradient_norms2, self.averaged_gradient_norms2
        )
        keep = rel[self._window()]
        return float(np.max(keep)), float(np.mean(keep))

    def _window(self) -> slice:
        """Steps away from both ends by the smoothing width (the filter is one-sided
        there)."""
        edge = int(np.ceil(2 * self.sigma_steps))
        n = len(self.times)
        return slice(min(edge, n - 1), max(n - edge, min(edge, n - 1) + 1))

    def to_json(self) -> dict[str, Any]:
        pl = self.predicted_loss_errors()
        pg = self.predicted_gradient_errors()
        return {
            "optimizer": self.optimizer,
            "learning_rate": self.h,
            "label": self.label,
            "eos_reached": self.eos_reached,
            "eos_onset": self.onset,
            "steps": len(self.times) - 1,
            "travel": self.travel,
            "models": {k: m.to_json() for k, m in self.models.items()},
            "predicted_loss_relative_error": pl[0],
            "predicted_loss_mean_relative_error": pl[1],
            "predicted_gradient_norm2_relative_error": pg[0],
            "predicted_gradient_norm2_mean_relative_error": pg[1],
            "max_effective_sharpness": float(np.nanmax(self.sharpness[:, 0])),
            "central_flow": None
            if self.central is None
            else {
                "tracked_eigenpairs": self.central.tracked,
                "max_sigma_rank": int(np.max(self.central.active)),
                "field_evaluations": self.central.field_evaluations,
                "wall_s": self.central.wall_s,
            },
            "timing_s": self.timing,
        }


def relative_error(
    predicted: NDArray[np.float64], observed: NDArray[np.float64]
) -> NDArray[np.float64]:
    """$|$predicted $-$ observed$| / |$observed$|$, elementwise."""
    return np.abs(predicted - observed) / np.abs(observed)


def _track(
    name: str,
    positions: NDArray[np.float64] | None,
    reference: NDArray[np.float64],
    travel: float,
    times: NDArray[np.float64],
    note: str = "",
    wall: float = 0.0,
) -> ModelTrack:
    """A model's positions against the reference (the time-averaged run), relative
    to the distance the reference travelled, summarised by `track_summary`."""
    if positions is None:
        return ModelTrack(name, None, None, None, None, None, note, wall)
    n = min(len(positions), len(reference))
    d = np.full(len(reference), np.nan)
    d[:n] = np.linalg.norm(positions[:n] - reference[:n], axis=1) / travel
    summary = track_summary(d, times)
    if summary.max is None:
        note = note or "not defined"
    return ModelTrack(name, d, *summary, note, wall)


def _sharpness_along(
    method: PreconditionedMethod,
    f: LossFunction,
    positions: NDArray[np.float64],
    nus: NDArray[np.float64] | None,
    stride: int,
    k: int = 2,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Effective sharpness $h\\lambda_i$ along the run every `stride` steps
    (warm-started LOBPCG in one `lax.scan`): `(times, (records, k))`."""
    grad = jax.grad(f)
    idx = np.arange(0, len(positions), stride)
    ws = jnp.asarray(positions[idx])
    if nus is None:
        nus_s = jnp.zeros((len(idx),))
    else:
        nus_s = jnp.asarray(np.asarray(nus)[idx])
    n = ws.shape[1]

    def body(W: Array, inp: tuple[Array, Array, Array]) -> tuple[Array, Array]:
        w, nu, i = inp
        D = jnp.broadcast_to(method.diagonal(nu, i * method.h), (n,))
        pairs = top_eigenpairs_flat(
            hessian_operator_flat(grad, w),
            W,
            p_inv_sqrt=1 / jnp.sqrt(D),
            iterations=40,
            tol=1e-7,
        )
        return pairs.block, method.h * pairs.values

    @jax.jit
    def scan(W0: Array, ws: Array, nus: Array) -> tuple[Array, Array]:
        return jax.lax.scan(body, W0, (ws, nus, jnp.asarray(idx * 1.0)))

    W0 = jax.random.normal(jax.random.PRNGKey(3), (n, k), ws.dtype)
    _, eig = scan(W0, ws, nus_s)
    return method.h * idx.astype(np.float64), np.asarray(eig)


def _modified_flow(
    flow: derive.ModifiedFlow, f: LossFunction, w0: Array, h: float, n_steps: int
) -> tuple[NDArray[np.float64], bool]:
    """A modified flow (GD's), matrix-free (`fast_field`), by diffrax Tsit5:
    `(positions, ok)`, positions NaN from the first non-finite one."""
    from ._fast_field import fast_field
    from ._integrate import integrate

    fld = fast_field(flow, f, method="jvp")
    ts = h * jnp.arange(n_steps + 1.0)
    ys, ok, _ = jax.jit(
        lambda y0: integrate(
            fld,
            y0,
            ts,
            {"h": h},
            solver="tsit5",
            rtol=1e-7,
            atol=1e-9,
            max_steps=100_000,
        )
    )(w0)
    ys = np.array(ys)
    finite = np.all(np.isfinite(ys), axis=1)
    if not finite.all():
        ys[int(np.argmin(finite)) :] = np.nan
    return ys, bool(ok)


@uses_float64
def side_by_side(
    loss: LossFunction,
    x0: PyTree,
    *,
    optimizer: str = "gd",
    h: float,
    n_steps: int,
    beta2: float = 0.99,
    eps: float = 0.0,
    bias_correction: bool = False,
    nu0: ArrayLike | None = None,
    models: Collection[str] = MODELS,
    modified_fraction: float = 1.0,
    sigma_steps: float = 8.0,
    sharpness_every: int = 10,
    central_options: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SideBySide:
    """Run an optimizer and every continuous-time model of it from the same start.

    **Arguments:**

    - `loss`: $f$, a smooth scalar JAX function of a pytree; `x0`: the start.
    - `optimizer`: `"gd"`, `"scalar-rmsprop"` or `"rmsprop"`; `h`: the step size;
      `n_steps`: the length of the run ($T = $ `n_steps` $h$); `beta2`, `eps`,
      `bias_correction`: RMSProp's; `nu0`: RMSProp's state before the first step
      (default 0; e.g. the state of a warm-up run, with `x0` its last iterate).
    - `models`: which models (default all of `gradient-flow`, `modified-1`,
      `modified-2`, `principal-flow`, `central-flow`; the modified and principal
      flows exist for GD only and are reported as such otherwise).
    - `modified_fraction`: integrate the modified flows over this fraction of the
      run only (they are stiff and costly past the edge of stability, where they
      have long departed; the table says where they stop).
    - `sigma_steps`: the width of the Gaussian smoothing of losses and gradient norms.
    - `sharpness_every`: measure the run's effective sharpness every so many steps.
    - `central_options`: keywords for [`central_flow`][numerics.central_flow].
    - `progress`: called with a short message per stage.

    **Returns:** a [`SideBySide`][numerics.SideBySide].

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> loss = lambda x: 0.5 * jnp.sum(jnp.arange(1.0, 13.0) * x ** 2)
        >>> res = numerics.side_by_side(loss, jnp.ones(12), h=0.1, n_steps=20,
        ...                             models=("gradient-flow", "central-flow"))
        >>> res.eos_reached                  # h * 12 < 2: both are the gradient flow
        False
        >>> round(res.models["central-flow"].max_relative_distance, 3)
        0.107

        ```
    """
    from derive import DeriveError

    say: Callable[[str], None] = progress or (lambda message: None)
    method = preconditioned_method(
        optimizer, h, beta2=beta2, eps=eps, bias_correction=bias_correction
    )
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise DeriveError(f"unknown model(s) {unknown}.", f"Use {', '.join(MODELS)}.")
    flat0, unravel = ravel_pytree(x0)
    w0 = jnp.asarray(flat0, jnp.float64)

    def f(z: Array) -> Array:
        return loss(unravel(z))

    timing: dict[str, float] = {}
    started = time.perf_counter()
    say(f"{method.label()}: {n_steps} steps of the optimizer")
    run = run_discrete(method, f, w0, n_steps, nu0=nu0)
    if run.diverged_at is not None:
        raise DeriveError(
            f"{method.label()} diverged at step {run.diverged_at}: the step size is too "
            "large even for the edge of stability (the oscillations grow without "
            "bound), so no flow can model the run.",
            "Use a smaller step size h.",
        )
    timing["discrete_s"] = time.perf_counter() - started
    times = h * np.arange(n_steps + 1, dtype=np.float64)
    mid = midpoint_average(run.positions)
    travel = float(np.max(np.linalg.norm(mid - mid[0], axis=1)))
    if not travel > 0:
        raise DeriveError("the run did not move (zero gradient at the start?).", "")
    t0 = time.perf_counter()
    say(f"{method.label()}: effective sharpness along the run")
    sh_t, sh = _sharpness_along(method, f, run.positions, run.nu, sharpness_every)
    timing["sharpness_s"] = time.perf_counter() - t0

    tracks: dict[str, ModelTrack] = {}
    central = None
    # GD's modified flow, derived once through the highest order asked for and
    # truncated for each
    orders = [int(m.split("-")[1]) for m in models if m.startswith("modified-")]
    gd_flow: derive.ModifiedFlow | None = None
    for name in MODELS:
        if name not in models:
            continue
        t0 = time.perf_counter()
        if name == "central-flow":
            say(f"{method.label()}: central flow")
            central = central_flow(
                f,
                w0,
                h,
                n_steps * h,
                optimizer=method.name,
                beta2=beta2,
                eps=eps,
                bias_correction=bias_correction,
                progress=say,
                **(central_options or {}),
            )
            tracks[name] = _track(
                name,
                central.positions,
                mid,
                travel,
                times,
                wall=time.perf_counter() - t0,
            )
        elif name == "gradient-flow":
            say(f"{method.label()}: stable flow")
            ws, _, ok, reached = stable_flow(method, f, w0, n_steps, nu0=nu0)
            note = "" if ok else f"the integration stopped at t = {reached * h:.4g}"
            tracks[name] = _track(
                name, ws, mid, travel, times, note, time.perf_counter() - t0
            )
        elif method.name != "gd":
            tracks[name] = _track(
                name,
                None,
                mid,
                travel,
                times,
                "not in this comparison: side_by_side integrates the modified and "
                "principal flows of GD only (the principal flow covers the affine "
                "class; RMSProp's componentwise modified flows, derive.rmsprop, are "
                "not wired in)",
            )
        elif name.startswith("modified-"):
            order = int(name.split("-")[1])
            say(f"{method.label()}: modified flow of order {order}")
            m_steps = max(1, int(round(modified_fraction * n_steps)))
            if gd_flow is None:
                gd_flow = derive.bseries_flow(derive.gd(), max(orders))
            ys, ok = _modified_flow(gd_flow.truncate(order), f, w0, h, m_steps)
            note = "" if ok else "the integration failed before T"
            if m_steps < n_steps:
                note = (note + "; " if note else "") + (
                    f"integrated to t = {m_steps * h:.4g} only"
                )
            tracks[name] = _track(
                name, ys, mid, travel, times, note, time.perf_counter() - t0
            )
        else:
            say(f"{method.label()}: principal flow")
            from ._principal_flow import principal_flow

            pf = principal_flow(derive.gd(), f, w0, h, n_steps * h)
            note = ""
            if pf.complex_from is not None:
                note = (
                    f"complex from t = {pf.complex_from:.4g} (h * lambda_max = "
                    f"{pf.z_max[-1]:.3g} reached 1: the principal root 1 - h lambda "
                    "is negative, the iterates oscillate)"
                )
            positions = pf.positions if len(pf.positions) > 1 else None
            tracks[name] = _track(
                name, positions, mid, travel, times, note, time.perf_counter() - t0
            )
        timing[f"{name}_s"] = time.perf_counter() - t0
    timing["total_s"] = time.perf_counter() - started
    return SideBySide(
        label=method.label(),
        optimizer=method.name,
        h=float(h),
        times=times,
        run=run,
        averaged_losses=gaussian_average(run.losses, sigma_steps),
        averaged_gradient_norms2=gaussian_average(run.gradient_norms2, sigma_steps),
        sharpness_times=sh_t,
        sharpness=sh,
        central=central,
        models=tracks,
        travel=travel,
        sigma_steps=float(sigma_steps),
        timing=timing,
    )
