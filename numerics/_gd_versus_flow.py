"""Gradient descent against gradient flow: the distance, the curvature, the bound.

Gradient descent $\\theta_{k+1} = \\theta_k - h\\nabla f(\\theta_k)$ is Euler's method
for the gradient flow $\\dot\\theta = -\\nabla f(\\theta)$. Elkabetz & Cohen (NeurIPS
2021) bound the distance $|\\theta_k - \\theta(kh)|$ through the smallest Hessian
eigenvalue along the flow: in the statement of their Theorem 1 (as the authors give
it, Cohen, *Off the convex path*, 2022),

$$|\\theta(t) - \\theta_{k = t/h}| \\le \\mathcal O\\Big(e^{-\\int_0^t
\\lambda_-(t')\\,dt'}\\; t\\, h\\Big), \\qquad \\lambda_-(t) := \\min\\big(
\\lambda_{\\min}(\\nabla^2 f(\\theta(t))), 0\\big).$$

The theorem comes from the fundamental theorem of numerical integration (Hairer,
Nørsett & Wanner, *Solving ODEs I*, Thm. II.3.4 and Lady Windermere's fan): the global
error is the sum of the local errors $\\delta_j = |\\theta(t_{j+1}) - \\theta(t_j) +
h\\nabla f(\\theta(t_j))|$ of the steps, each carried to $t_k$ by the flow, which
stretches a perturbation by at most $e^{-\\int\\lambda_{\\min}}$. With the curvature
taken on the flow (to first order in the distance) that is the explicit form

$$B_k = \\sum_{j<k} \\exp\\Big(-\\int_{t_{j+1}}^{t_k} \\lambda_-(s)\\,ds\\Big)\\,
\\delta_j,$$

which [`elkabetz_cohen_bound`][numerics.elkabetz_cohen_bound] evaluates
(`negative_part=False` keeps the contraction of positive curvature,
$e^{-\\int\\lambda_{\\min}}$, a sharper estimate than the theorem's).
[`gd_versus_flow`][numerics.gd_versus_flow] measures the distance for several step
sizes against a gradient flow integrated by diffrax at state tolerances (and again at
a hundredth of them, to show the reference is accurate), the extreme Hessian
eigenvalues along the flow ([`extreme_eigenvalues_along`][numerics.extreme_eigenvalues_along]),
the bound, and the distance from GD to GD's modified flows of order 1 and 2 (the
backward-error series: $O(h^{p+1})$ while it holds).

(Just over 500 lines: the bound, the per-step-size record and the one function that
fills it share their definitions.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._precision import uses_float64
from ._typing import Array, LossFunction, PyTree

__all__ = [
    "GDVersusFlow",
    "StepSizeRun",
    "elkabetz_cohen_bound",
    "gd_versus_flow",
]

DIVERGED = 1e6
"""A GD run has diverged once $|\\theta_k| > 10^6 (1 + |\\theta_0|)$ or is not finite."""


def elkabetz_cohen_bound(
    times: np.ndarray,
    lambda_min: np.ndarray,
    local_errors: np.ndarray,
    *,
    negative_part: bool = True,
) -> np.ndarray:
    """The Elkabetz-Cohen bound on $|\\theta_k - \\theta(t_k)|$, evaluated on a run.

    $B_k = \\sum_{j<k} \\exp(-\\int_{t_{j+1}}^{t_k} \\lambda(s)\\,ds)\\,\\delta_j$ with
    $\\lambda = \\min(\\lambda_{\\min}, 0)$ (the theorem's $\\lambda_-$) or, with
    `negative_part=False`, $\\lambda = \\lambda_{\\min}$. The integral is the
    trapezoidal rule on `times`.

    **Arguments:**

    - `times`: $t_0 = 0 < t_1 < \\dots < t_N$ (the GD times $t_k = kh$).
    - `lambda_min`: $\\lambda_{\\min}(\\nabla^2 f(\\theta(t_k)))$ on the flow, shape `(N+1,)`.
    - `local_errors`: $\\delta_j$, the local error of step $j$, shape `(N,)`.
    - `negative_part`: use $\\lambda_-$ (the paper's statement) or $\\lambda_{\\min}$.

    **Returns:** $B_k$, shape `(N+1,)` ($B_0 = 0$).

    !!! example
        ```python
        >>> import numpy as np, numerics
        >>> t = np.arange(4.0)                              # lambda_min = -1: e^{t}
        >>> numerics.elkabetz_cohen_bound(t, -np.ones(4), np.ones(3)).round(4)
        array([ 0.    ,  1.    ,  3.7183, 11.1073])

        ```

    !!! cite "Reference"
        Elkabetz & Cohen, *Continuous vs. discrete optimization of deep neural
        networks*, NeurIPS 2021 (Theorem 1 in the authors' statement, N. Cohen,
        *Does gradient flow over neural networks really represent gradient descent?*,
        Off the convex path, 2022); Hairer, Nørsett & Wanner, *Solving ordinary
        differential equations I*, Thm. II.3.4.
    """
    t = np.asarray(times, float)
    lam = np.asarray(lambda_min, float)
    if negative_part:
        lam = np.minimum(lam, 0.0)
    delta = np.asarray(local_errors, float)
    # Lambda(t_k) = int_0^{t_k} lam: the factor from t_{j+1} to t_k is
    # exp(-(Lambda_k - Lambda_{j+1}))
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (lam[1:] + lam[:-1]) * np.diff(t))])
    out = np.zeros(len(t))
    total = 0.0
    for k in range(1, len(t)):
        # carry the previous sum from t_{k-1} to t_k, then add step k-1's error
        total = total * np.exp(-(cum[k] - cum[k - 1])) + delta[k - 1]
        out[k] = total
    return out


@dataclass
class StepSizeRun:
    """One step size of [`gd_versus_flow`][numerics.gd_versus_flow].

    - `h`, `times` ($t_k = kh$ up to $T$), `losses` (GD's).
    - `distance`: $|\\theta_k - \\theta(t_k)|$ to the gradient flow.
    - `modified`: `{order: distances}` to GD's modified flows; `notes`: why one stops.
    - `local_errors`: $\\delta_j$ on the flow; `bound`: the Elkabetz-Cohen bound
      with $\\lambda_-$; `bound_full`: with $\\lambda_{\\min}$ (contraction credited).
    - `diverged_at`: the first divergent step, or `None`.
    - `slack`: the error of the reference flow (the gradient flow at two
      tolerances); `bound_holds` allows it.
    """

    h: float
    times: np.ndarray
    losses: np.ndarray
    distance: np.ndarray
    modified: dict[int, np.ndarray]
    notes: dict[int, str]
    local_errors: np.ndarray
    bound: np.ndarray
    bound_full: np.ndarray
    diverged_at: int | None = None
    slack: float = 0.0

    @property
    def bound_holds(self) -> bool:
        """The measured distance stays at or below the bound at every step, up to
        `slack` (the error of the reference flow, which the measured distance
        carries)."""
        ok = np.isfinite(self.distance)
        allowed = self.bound[ok] * (1 + 1e-9) + self.slack + 1e-15
        return bool(np.all(self.distance[ok] <= allowed))

    @property
    def bound_ratio(self) -> float:
        """bound / distance at $T$ (how loose the bound is)."""
        return float(self.bound[-1] / self.distance[-1])

    def to_json(self) -> dict[str, Any]:
        mod = {
            str(p): {
                "max_distance": _nanmax(d),
                "distance_at_T": float(d[-1]) if np.isfinite(d[-1]) else None,
                "note": self.notes.get(p, ""),
            }
            for p, d in self.modified.items()
        }
        return {
            "h": self.h,
            "steps": len(self.times) - 1,
            "diverged_at": self.diverged_at,
            "max_distance": _nanmax(self.distance),
            "distance_at_T": _finite(self.distance[-1]),
            "bound_at_T": _finite(self.bound[-1]),
            "bound_full_at_T": _finite(self.bound_full[-1]),
            "bound_holds": self.bound_holds,
            "final_loss": _finite(self.losses[-1]),
            "modified_flows": mod,
        }


def _nanmax(a: np.ndarray) -> float | None:
    a = np.asarray(a, float)
    return float(np.nanmax(a)) if np.isfinite(a).any() else None


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


@dataclass
class GDVersusFlow:
    """Result of [`gd_versus_flow`][numerics.gd_versus_flow].

    - `eig_times`, `flow_losses`, `lambda_min`, `lambda_max`, `residual_min`,
      `residual_max`: the flow and its extreme Hessian eigenvalues on a grid of $[0, T]$.
    - `reference_error`: $\\max_t |\\theta_{\\mathrm{tol}}(t) - \\theta_{\\mathrm{tight}}(t)|$,
      the gradient flow at the two `tolerances` (the error of the reference; `inf`
      when the tighter integration failed); `flow_steps`: the solver's accepted
      steps at `tol`.
    - `travel`: $\\max_t |\\theta(t) - \\theta(0)|$.
    - `runs`: one [`StepSizeRun`][numerics.StepSizeRun] per step size.
    """

    eig_times: np.ndarray
    flow_losses: np.ndarray
    lambda_min: np.ndarray
    lambda_max: np.ndarray
    residual_min: np.ndarray
    residual_max: np.ndarray
    reference_error: float
    tolerances: tuple[float, float]
    flow_steps: int
    travel: float
    runs: list[StepSizeRun]
    timing: dict[str, float] = field(default_factory=dict)

    def slopes(self) -> dict[str, float]:
        """Observed orders in $h$ of the distance at $T$: about 1 to gradient flow,
        $p + 1$ to the modified flow of order $p$ while the series holds."""
        from ._order import observed_order

        ok = [r for r in self.runs if r.diverged_at is None]
        hs = [r.h for r in ok]
        out = {"gradient-flow": observed_order(hs, [r.distance[-1] for r in ok])[0]}
        orders = sorted({p for r in ok for p in r.modified})
        for p in orders:
            errs = [r.modified[p][-1] if p in r.modified else np.nan for r in ok]
            out[f"modified-{p}"] = observed_order(hs, errs)[0]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "travel": self.travel,
            "reference_error": self.reference_error,
            "tolerances": list(self.tolerances),
            "flow_steps": self.flow_steps,
            "lambda_min_range": [
                float(self.lambda_min.min()),
                float(self.lambda_min.max()),
            ],
            "lambda_max_range": [
                float(self.lambda_max.min()),
                float(self.lambda_max.max()),
            ],
            "integral_lambda_minus": float(
                np.trapezoid(np.minimum(self.lambda_min, 0.0), self.eig_times)
            ),
            "eigenvalue_residual_max": float(
                max(self.residual_min.max(), self.residual_max.max())
            ),
            "slopes": self.slopes(),
            "runs": [r.to_json() for r in self.runs],
            "timing_s": self.timing,
        }


def _union_times(hs: Sequence[float], T: float, eig_times: np.ndarray) -> np.ndarray:
    grids = [h * np.arange(int(round(T / h)) + 1) for h in hs]
    return np.unique(np.round(np.concatenate([*grids, eig_times]), 12))


def _index(all_t: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.searchsorted(all_t, np.round(t, 12))


@uses_float64
def check_step_grid(hs: Sequence[float], T: float, horizon: str = "T") -> None:
    """Named errors for step sizes that are not positive, a horizon that is not
    positive, or a horizon that is not a whole number of steps of each step size
    (`horizon`: what the fix calls the horizon, e.g. a command-line option)."""
    from derive import DeriveError

    if not hs or min(hs) <= 0 or not T > 0:
        raise DeriveError(
            f"step sizes {list(hs)} and horizon T = {T}.", "Give positive h and T > 0."
        )
    for v in hs:
        if abs(round(T / v) * v - T) > 1e-9 * T:
            raise DeriveError(
                f"T = {T:g} is not a whole number of steps of h = {v:g}.",
                f"Choose {horizon} a multiple of every step size.",
            )


def gd_versus_flow(
    loss: LossFunction,
    x0: PyTree,
    h: Sequence[float],
    T: float,
    *,
    orders: Sequence[int] = (1, 2),
    tol: float = 1e-10,
    check_factor: float = 100.0,
    solver: str = "tsit5",
    max_steps: int = 200_000,
    eig_points: int = 41,
    eig_options: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> GDVersusFlow:
    """Gradient descent at several step sizes against the gradient flow, the
    Elkabetz-Cohen bound evaluated on the run, and GD's modified flows.

    **Arguments:**

    - `loss`: $f$, a scalar JAX function of a pytree; `x0`: the start.
    - `h`: the step sizes; `T`: the horizon ($t = kh$, so $T/h$ steps each).
    - `orders`: the orders of GD's modified flows to measure (`()` for none).
    - `tol`: the state tolerances of the flows (`rtol = atol`); the gradient flow
      is integrated again at `tol / check_factor` and the difference reported as
      the error of the reference.
    - `solver`: diffrax's `"tsit5"` or `"dopri8"`; `max_steps`: its budget.
    - `eig_points`: points on $[0, T]$ where $\\lambda_{\\min}$ and $\\lambda_{\\max}$
      are computed (interpolated linearly in between for the bound).
    - `eig_options`: keywords for [`extreme_eigenvalues_along`][numerics.extreme_eigenvalues_along].
    - `progress`: called with a short message per stage.

    **Returns:** a [`GDVersusFlow`][numerics.GDVersusFlow].

    Raises [`DeriveError`][derive.DeriveError] if the gradient flow cannot be
    integrated at `tol`. A step size at which GD diverges is kept, marked
    (`diverged_at`), its distances cut at the divergence.

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, -0.2]) * x ** 2)
        >>> res = numerics.gd_versus_flow(loss, jnp.array([1.0, 0.1]), [0.1, 0.05],
        ...                               T=2.0, orders=(1,), eig_points=5)
        >>> [r.bound_holds for r in res.runs]
        [True, True]
        >>> round(res.slopes()["gradient-flow"], 1), round(res.slopes()["modified-1"], 1)
        (1.0, 2.0)

        ```

    !!! cite "Reference"
        Elkabetz & Cohen, *Continuous vs. discrete optimization of deep neural
        networks*, NeurIPS 2021.
    """
    import derive
    from derive import DeriveError

    from ._fast_field import fast_field
    from ._integrate import integrate
    from ._spectrum_along import extreme_eigenvalues_along

    say = progress or (lambda message: None)
    hs = [float(v) for v in h]
    check_step_grid(hs, T)
    flat0, unravel = ravel_pytree(x0)
    w0 = jnp.asarray(flat0, jnp.float64)

    def f(z: Array) -> Array:
        return loss(unravel(z))

    grad = jax.grad(f)
    timing: dict[str, float] = {}
    started = time.perf_counter()

    # the gradient flow, once, at every time any step size needs, at two tolerances
    eig_times = np.linspace(0.0, T, int(eig_points))
    all_t = _union_times(hs, T, eig_times)

    def gf_field(t: Any, y: Array, args: Any) -> Array:
        return -grad(y)

    def solve_gf(y0: Array, tolerance: float) -> tuple[Array, Array, Array]:
        return integrate(
            gf_field,
            y0,
            jnp.asarray(all_t),
            None,
            solver=solver,
            rtol=tolerance,
            atol=tolerance,
            max_steps=max_steps,
        )

    tight = tol / check_factor
    say(f"gradient flow to T = {T:g} at tolerances {tol:g} and {tight:g}")
    gf, ok, n_steps = jax.jit(solve_gf, static_argnums=1)(w0, tol)
    if not bool(ok):
        raise DeriveError(
            f"the gradient flow could not be integrated to T = {T:g} at tolerance "
            f"{tol:g} within {max_steps} steps (a non-smooth loss, e.g. relu, makes "
            "the adaptive solver step down at every kink).",
            "Loosen tol, raise max_steps or shorten T.",
        )
    gf_tight, ok_tight, _ = jax.jit(solve_gf, static_argnums=1)(w0, tight)
    gf = np.asarray(gf)
    if bool(ok_tight):
        # the tighter solution is the reference; its distance to the looser one
        # bounds its own error from above
        reference_error = float(
            np.max(np.linalg.norm(gf - np.asarray(gf_tight), axis=1))
        )
        gf = np.asarray(gf_tight)
    else:
        reference_error = float("inf")
    timing["gradient_flow_s"] = time.perf_counter() - started

    t0 = time.perf_counter()
    say(f"extreme Hessian eigenvalues at {len(eig_times)} points of the flow")
    eig = extreme_eigenvalues_along(
        f, jnp.asarray(gf[_index(all_t, eig_times)]), **(eig_options or {})
    )
    timing["eigenvalues_s"] = time.perf_counter() - t0

    # GD for every step size at once (vmapped over h, as long as the smallest needs)
    t0 = time.perf_counter()
    say(f"gradient descent at h = {', '.join(f'{v:g}' for v in hs)}")
    n_max = max(int(round(T / v)) for v in hs)
    bound_norm = DIVERGED * (1.0 + float(jnp.linalg.norm(w0)))

    def gd_run(hv: Array) -> tuple[Array, Array]:
        def step(w: Array, _: None) -> tuple[Array, tuple[Array, Array]]:
            new = w - hv * grad(w)
            bad = ~jnp.all(jnp.isfinite(new)) | (jnp.linalg.norm(new) > bound_norm)
            new = jnp.where(bad | ~jnp.all(jnp.isfinite(w)), jnp.nan, new)
            return new, (new, f(new))

        _, (ws, ls) = jax.lax.scan(step, w0, None, length=n_max)
        return ws, ls

    ws_all, ls_all = jax.jit(jax.vmap(gd_run))(jnp.asarray(hs))
    ws_all, ls_all = np.asarray(ws_all), np.asarray(ls_all)
    timing["descent_s"] = time.perf_counter() - t0

    # GD's modified flows, each order once for every step size (vmapped over h)
    t0 = time.perf_counter()
    ts_pad = np.full((len(hs), n_max + 1), T)
    for i, v in enumerate(hs):
        n = int(round(T / v))
        ts_pad[i, : n + 1] = v * np.arange(n + 1)
    modified: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for p in orders:
        say(f"modified flow of order {p} at every step size")
        fld = fast_field(
            derive.bseries_flow(derive.gd(), int(p)), f, int(p), method="jvp"
        )

        def solve_mf(hv: Array, ts: Array, fld: Any = fld) -> tuple[Array, Array]:
            ys, ok, _ = integrate(
                fld,
                w0,
                ts,
                {"h": hv},
                solver=solver,
                rtol=tol,
                atol=tol,
                max_steps=max_steps,
            )
            return ys, ok

        ys, oks = jax.jit(jax.vmap(solve_mf))(jnp.asarray(hs), jnp.asarray(ts_pad))
        modified[int(p)] = (np.asarray(ys), np.asarray(oks))
    timing["modified_flows_s"] = time.perf_counter() - t0

    # distances, local errors and the bound per step size
    local_grad = jax.jit(jax.vmap(grad))
    runs = []
    for i, v in enumerate(hs):
        n = int(round(T / v))
        times = v * np.arange(n + 1)
        flow = gf[_index(all_t, times)]
        positions = np.concatenate([np.asarray(w0)[None], ws_all[i, :n]], axis=0)
        losses = np.concatenate([[float(f(w0))], ls_all[i, :n]])
        bad = ~np.all(np.isfinite(positions), axis=1)
        diverged = int(np.argmax(bad)) if bad.any() else None
        distance = np.linalg.norm(positions - flow, axis=1)
        g = np.asarray(local_grad(jnp.asarray(flow[:-1])))
        local = np.linalg.norm(flow[1:] - flow[:-1] + v * g, axis=1)
        lam = np.interp(times, eig_times, eig.minimum)
        mod, notes = {}, {}
        for p, (ys, oks) in modified.items():
            d = np.linalg.norm(positions - ys[i, : n + 1], axis=1)
            if not bool(oks[i]):
                notes[p] = "the integration failed before T"
                finite = np.isfinite(ys[i, : n + 1]).all(axis=1)
                d[~finite] = np.nan
            mod[p] = d
        if diverged is not None:
            notes = {p: "GD diverged" for p in mod}
        runs.append(
            StepSizeRun(
                h=v,
                times=times,
                losses=losses,
                distance=distance,
                modified=mod,
                notes=notes,
                local_errors=local,
                bound=elkabetz_cohen_bound(times, lam, local),
                bound_full=elkabetz_cohen_bound(times, lam, local, negative_part=False),
                diverged_at=diverged,
                slack=reference_error if np.isfinite(reference_error) else 0.0,
            )
        )
    flow_eig = gf[_index(all_t, eig_times)]
    timing["total_s"] = time.perf_counter() - started
    return GDVersusFlow(
        eig_times=eig_times,
        flow_losses=np.asarray(jax.vmap(f)(jnp.asarray(flow_eig))),
        lambda_min=eig.minimum,
        lambda_max=eig.maximum,
        residual_min=eig.residual_min,
        residual_max=eig.residual_max,
        reference_error=reference_error,
        tolerances=(tol, tight),
        flow_steps=int(n_steps),
        travel=float(np.max(np.linalg.norm(gf - np.asarray(w0), axis=1))),
        runs=runs,
        timing=timing,
    )
