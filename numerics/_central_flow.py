"""Central flows: the time-averaged trajectory of GD, scalar RMSProp and RMSProp at the
edge of stability (Cohen, Damian, Talwalkar, Kolter & Lee, ICLR 2025).

In the toolkit's conventions (loss $f$, step $h$ = the paper's $\\eta$, time $t = nh$,
so one unit of the paper's time is $h$ here) the central flow is

$$\\dot x = -D^{-1}\\Big[\\nabla f(x) + \\tfrac12 \\nabla_x \\langle H(x), \\Sigma(t)
\\rangle\\Big], \\qquad \\dot\\nu = \\frac{1-\\beta_2}{\\beta_2 h}\\Big[\\overline{g^2}
- \\nu\\Big],$$

with $D$ the optimizer's diagonal ([`numerics._preconditioned`]; $D = 1$ for GD) and
$\\overline{g^2} = \\nabla f^{\\odot 2} + \\mathrm{diag}(H\\Sigma H)$ (RMSProp) or
$|\\nabla f|^2 + \\mathrm{tr}(H\\Sigma H)$ (scalar RMSProp), the time-averaged squared
gradient. $\\Sigma = U X U^\\top$ lives on the critical eigenvectors of $H u = \\lambda
D u$ (those at $\\lambda = 2/h$, $D$-orthonormal), and $X \\succeq 0$ is the one choice
that keeps every such eigenvalue at or below $2/h$: with $A = U^\\top(\\tfrac2h D -
H)U$, $\\dot A = \\alpha + \\beta[X]$ along the flow, $X$ solves the complementarity
problem $X \\succeq 0 \\perp \\alpha + \\beta[X] \\succeq 0$
([`semidefinite_complementarity`][numerics.semidefinite_complementarity]; one critical
eigenvalue: $\\sigma^2 = 2\\langle -\\nabla f, \\nabla S\\rangle/|\\nabla S|^2$ for
GD). Below the threshold $X = 0$ and the central flow *is* the stable flow
($\\dot x = -\\nabla f$ for GD).

**Scheme.** `substeps` steps of size $\\tau = h/$`substeps` per optimizer step. Each
step first computes the top eigenpairs of $H u = \\lambda D u$ (LOBPCG warm-started
from the previous step, or with `eig_every > 1` a Rayleigh-Ritz refresh in the
span of the block and its image between LOBPCG solves), takes as candidates the
eigenvalues with $h\\lambda \\ge$ `threshold` (1.9), computes $\\nabla(u_i^\\top H
u_j)$ for the candidate pairs by nested `jax.jvp`, and solves the complementarity
problem with the drift-correcting term $A/\\tau$ added to $\\alpha$ (the reference
code's linearised constraint at the next substep): an eigenvalue approaches $2/h$
no faster than $e^{-t/\\tau}$ and is pulled back if it overshoots, so the critical
set may change at any step without event location. The oscillation terms
$\\tfrac12\\nabla\\langle H, \\Sigma\\rangle$ and $\\mathrm{diag}(H\\Sigma H)$ are then held
fixed over the step while the rest of the field is integrated by classical
Runge-Kutta (RK4): one eigen-solve, one set of third derivatives and one
complementarity problem per step, four gradients. The number of tracked
eigenpairs grows while the smallest one tracked rises above `track_threshold` (the
chunk of steps is then redone with one more).

The vector field (eigen-solve, complementarity problem, oscillation terms) is
`numerics._central_field`; this module holds the driver: the chunks of compiled
steps, the growing block of tracked eigenpairs and the named failures.

Predictions: the time-averaged loss $f + \\tfrac12\\langle H, \\Sigma\\rangle$ ($= f +
\\mathrm{tr}\\,\\Sigma/h$ for GD) and squared gradient norm $|\\nabla f|^2 +
\\mathrm{tr}(H\\Sigma H)$.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpy.typing import NDArray

from ._central_field import DENSE_LIMIT, CentralField, StepDiagnostics
from ._precision import uses_float64
from ._preconditioned import PreconditionedMethod, preconditioned_method
from ._smoothness import check_smooth
from ._typing import Array, ArrayLike, LossFunction, PyTree

__all__ = ["central_flow", "CentralFlowSolution"]

REFERENCE = (
    "Cohen, Damian, Talwalkar, Kolter & Lee, Understanding optimization in deep "
    "learning with central flows, ICLR 2025"
)
OVERSHOOT = 2.05
"""An effective sharpness above this stops the central flow with an error: the scheme
lets an eigenvalue overshoot 2 by $O(\\tau^2)$ within a step and pulls it back in the
next (`eigenvalues` records how far)."""

_Carry: TypeAlias = tuple[Array, Array, Array, Array]
"""The state between steps: `(x, nu, block W, t)`."""
_Chunk: TypeAlias = Callable[
    [Array, Array, Array, Array],
    tuple[_Carry, tuple[Array, Array, StepDiagnostics]],
]
"""A compiled chunk of steps: `(x, nu, W, t) -> (carry, (xs, nus, diagnostics))`,
the positions and states after each step and the diagnostics at its start."""


@dataclass
class CentralFlowSolution:
    """Result of [`central_flow`][numerics.central_flow], saved at $t_n = nh$.

    - `times` $(N+1,)$; `positions` $(N+1, n)$ flat parameters (`unravel` turns a
      row into the pytree); `nu`: the state $\\nu(t)$ (`None` for GD).
    - `losses`, `gradient_norms2`: $f$ and $|\\nabla f|^2$ at $x(t)$;
      `predicted_losses`, `predicted_gradient_norms2`: the time-averaged
      predictions $f + \\frac12\\langle H,\\Sigma\\rangle$, $|\\nabla f|^2 +
      \\mathrm{tr}(H\\Sigma H)$.
    - `eigenvalues` $(N+1, K)$: the tracked $h\\lambda_i$ (effective sharpnesses,
      compared with 2; NaN beyond the number tracked at that time).
    - `sigma2` $(N+1, K)$: the eigenvalues of $X$ (variances of the oscillation
      along the principal directions of $\\Sigma$); `active`: how many are above
      $10^{-8}$ of the largest over the run.
    - `residuals`: the largest relative LOBPCG residual among candidate eigenpairs
      per step; `iterations`: LOBPCG iterations per step (all stages).
    - `method`, `substeps`, `wall_s`, `field_evaluations`, `tracked`.
    """

    method: PreconditionedMethod
    times: NDArray[np.float64]
    positions: NDArray[np.float64]
    nu: NDArray[np.float64] | None
    losses: NDArray[np.float64]
    gradient_norms2: NDArray[np.float64]
    predicted_losses: NDArray[np.float64]
    predicted_gradient_norms2: NDArray[np.float64]
    eigenvalues: NDArray[np.float64]
    sigma2: NDArray[np.float64]
    active: NDArray[np.int_]
    residuals: NDArray[np.float64]
    iterations: NDArray[np.int_]
    substeps: int
    unravel: Callable[[Array], PyTree] | None = field(repr=False, default=None)
    wall_s: float = 0.0
    field_evaluations: int = 0
    tracked: int = 1

    @property
    def onset(self) -> float | None:
        """The first time at which $\\Sigma \\ne 0$ (the edge of stability), or `None`."""
        hit = np.flatnonzero(self.active > 0)
        return float(self.times[hit[0]]) if hit.size else None

    def position(self, n: int) -> PyTree:
        """The parameters at $t_n$ as a pytree (the flat row without `unravel`)."""
        row = jnp.asarray(self.positions[n])
        return row if self.unravel is None else self.unravel(row)


def _check_start(dg: StepDiagnostics, iterations: int, central: bool, h: float) -> None:
    """Named errors for a start whose eigenpairs did not converge or that is already
    beyond the edge of stability."""
    from derive import DeriveError

    res, top = float(dg.res[0]), float(dg.eig[0, 0])
    if not res <= 1e-3:
        raise DeriveError(
            f"no eigenvalue converged at the start (relative residual {res:.2e} "
            f"after {iterations} LOBPCG iterations).",
            "Raise lobpcg_iterations=.",
        )
    if central and top > 2.0 + 1e-3:  # a point of a central flow may sit at 2
        raise DeriveError(
            f"the start is already beyond the edge of stability: h * lambda_1 = "
            f"{top:.4g} > 2 at x0 (lambda_1 the top eigenvalue of H u = lambda D u). "
            "The optimizer starts by oscillating with growing amplitude (a catapult); "
            "the central flow models the time average from a stable start.",
            f"Use a smaller step (h < {2 * h / top:.4g}) or start where the "
            "optimizer is stable.",
        )


def _check_chunk(
    ws: NDArray[np.float64],
    w_new: Array,
    dg: StepDiagnostics,
    *,
    done: int,
    h: float,
    central: bool,
    iterations: int,
) -> None:
    """Named errors for a chunk of steps from step `done`: divergence (or a
    complementarity problem without solution), an eigenvalue past the overshoot
    limit, or eigenpairs that did not converge."""
    from derive import DeriveError

    length = len(ws)
    eig = np.asarray(dg.eig)
    bad = ~np.all(np.isfinite(ws), axis=1) | ~np.isfinite(np.asarray(dg.loss))
    if bad.any() or not np.all(np.isfinite(np.asarray(w_new))):
        at = done + (int(np.argmax(bad)) if bad.any() else length)
        sig = np.asarray(dg.sigma2)
        if central and not np.all(np.isfinite(sig[: max(at - done, 1)])):
            raise DeriveError(
                f"the central flow's complementarity problem has no solution near "
                f"t = {at * h:.4g}: no covariance Sigma can hold the critical "
                "eigenvalues at 2/h (their gradients do not oppose the loss "
                "gradient), so even the central flow leaves the stable region "
                "at this step size.",
                "Use a smaller step size h.",
            )
        raise DeriveError(
            f"the {'central' if central else 'stable'} flow diverged near "
            f"t = {at * h:.4g} (non-finite parameters or loss).",
            "Use a smaller step size h or a shorter horizon T.",
        )
    if central and np.nanmax(eig[:, 0]) > OVERSHOOT:
        at = done + int(np.argmax(eig[:, 0] > OVERSHOOT))
        raise DeriveError(
            f"the central flow left the stable region near t = {at * h:.4g} "
            f"(h * lambda_1 = {np.nanmax(eig[:, 0]):.4g} > 2): an eigenvalue "
            "rose past 2/h within a step, before it entered the complementarity "
            "problem (at h * lambda >= threshold) or faster than the scheme "
            "could hold it.",
            "Use more substeps (substeps=4), a lower threshold (threshold=1.5), "
            "or a smaller step size.",
        )
    res = np.asarray(dg.res)
    if np.nanmax(res) > 1e-2:
        at = done + int(np.argmax(res > 1e-2))
        raise DeriveError(
            f"no eigenvalue converged near t = {at * h:.4g} (relative LOBPCG "
            f"residual {np.nanmax(res):.2e} after {iterations} "
            "iterations), so the critical eigenvalues are unknown there.",
            "Raise lobpcg_iterations= or use more substeps (smaller moves "
            "between warm starts).",
        )


def _chunk(fld: CentralField, *, substeps: int, eig_every: int, length: int) -> _Chunk:
    """`length` optimizer steps of `substeps` RK4 steps each, compiled: the
    oscillation terms are computed at the first stage of a substep and held fixed
    over it; LOBPCG runs at the first substep of every `eig_every`-th step (and of
    the chunk), Rayleigh-Ritz refreshes elsewhere."""
    dt = fld.tau

    def rk4(carry: _Carry, full: Array) -> tuple[_Carry, StepDiagnostics]:
        w, nu, W, t = carry
        force, mx, W, d = fld(t, w, nu, W, full)
        k1w, k1n = fld.rates(t, w, nu, force, mx)
        half = dt / 2
        k2w, k2n = fld.rates(t + half, w + half * k1w, nu + half * k1n, force, mx)
        k3w, k3n = fld.rates(t + half, w + half * k2w, nu + half * k2n, force, mx)
        k4w, k4n = fld.rates(t + dt, w + dt * k3w, nu + dt * k3n, force, mx)
        w = w + dt / 6 * (k1w + 2 * k2w + 2 * k3w + k4w)
        nu = nu + dt / 6 * (k1n + 2 * k2n + 2 * k3n + k4n)
        return (w, nu, W, t + dt), d

    def step(
        carry: _Carry, i: Array
    ) -> tuple[_Carry, tuple[Array, Array, StepDiagnostics]]:
        due = (i % eig_every == 0) | (i == 0)
        fulls = (jnp.arange(substeps) % eig_every == 0) | (jnp.arange(substeps) == 0)
        carry, ds = jax.lax.scan(rk4, carry, fulls & due)
        w, nu, W, t = carry
        return carry, (w, nu, jax.tree_util.tree_map(lambda v: v[0], ds))

    @jax.jit
    def run(
        w: Array, nu: Array, W: Array, t: Array
    ) -> tuple[_Carry, tuple[Array, Array, StepDiagnostics]]:
        return jax.lax.scan(step, (w, nu, W, t), jnp.arange(length))

    return run


@uses_float64
def central_flow(
    loss: LossFunction,
    x0: PyTree,
    h: float,
    T: float,
    *,
    optimizer: str = "gd",
    beta2: float = 0.99,
    eps: float = 0.0,
    bias_correction: bool = False,
    nu0: ArrayLike | None = None,
    substeps: int = 1,
    k: int = 2,
    max_k: int = 8,
    threshold: float = 1.9,
    track_threshold: float = 1.8,
    lobpcg_iterations: int = 30,
    tol: float = 1e-6,
    eig_every: int = 1,
    chunk: int = 25,
    central: bool = True,
    progress: Callable[[str], None] | None = None,
) -> CentralFlowSolution:
    """Integrate the central flow of GD, scalar RMSProp or RMSProp from `x0` to `T`.

    **Arguments:**

    - `loss`: $f$, a scalar JAX function of a pytree (smooth: its third derivative
      is used).
    - `x0`: the initial parameters (a pytree).
    - `h`: the step size (the paper's learning rate $\\eta$); `T`: the horizon, in
      the toolkit's time $t = nh$ (so `T / h` optimizer steps).
    - `optimizer`: `"gd"`, `"scalar-rmsprop"` or `"rmsprop"`; `beta2`, `eps`,
      `bias_correction`: RMSProp's hyper-parameters; `nu0`: $\\nu_{-1}$ (default 0;
      the flow starts from the state after the first update, as the optimizer).
    - `substeps`: RK4 steps per optimizer step (default 1, $\\tau = h$).
    - `k`, `max_k`: eigenpairs tracked at the start, and at most; `threshold`: the
      effective sharpness $h\\lambda$ from which an eigenvalue enters the
      complementarity problem; `track_threshold`: track one more eigenpair while
      the smallest tracked one is above it.
    - `lobpcg_iterations`, `tol`: the warm-started LOBPCG (relative residual
      `tol`: eigenvalues then carry errors of order `tol`$^2$).
    - `eig_every`: LOBPCG at the first stage of every `eig_every`-th step (and of
      every chunk); the other stages refresh the eigenpairs by Rayleigh-Ritz (in
      the span of the block and its image at the first stage of a step).
    - `chunk`: optimizer steps per compiled chunk (checks and progress between).
    - `central`: `False` integrates the stable flow with the same scheme.
    - `progress`: called with a short message per chunk.

    **Returns:** a [`CentralFlowSolution`][numerics.CentralFlowSolution].

    Raises [`DeriveError`][derive.DeriveError] for a non-smooth loss, a start beyond
    the edge of stability ($h\\lambda_1 > 2$ at `x0`), eigenpairs that do not
    converge, a complementarity problem without solution (no $\\Sigma$ can hold the
    eigenvalues at $2/h$: the step is too large even for the central flow), or a
    flow that leaves the stable region or diverges.

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> # S(x) = 1 + x[1]^2 along x[0]: the loss pulls x[1] up, GD at h = 0.5
        >>> # stabilises S at 2/h = 4 (the central flow holds x[1]^2 = 3)
        >>> loss = lambda x: 0.5 * (1 + x[1] ** 2) * x[0] ** 2 - x[1] + 0.5 * jnp.sum(
        ...     x[2:] ** 2)
        >>> x0 = jnp.array([0.0, 1.0] + [0.0] * 10)
        >>> sol = numerics.central_flow(loss, x0, h=0.5, T=10.0, k=1, substeps=4)
        >>> round(float(sol.eigenvalues[-1, 0]), 6), sol.onset is not None
        (2.0, True)

        ```

    !!! cite "Reference"
        Cohen, Damian, Talwalkar, Kolter & Lee, *Understanding optimization in deep
        learning with central flows*, ICLR 2025 (arXiv 2410.24206).
    """
    from derive import DeriveError

    method = preconditioned_method(
        optimizer, h, beta2=beta2, eps=eps, bias_correction=bias_correction
    )
    if not (math.isfinite(T) and T > 0):
        raise DeriveError(f"the horizon must be positive, got T = {T}.", "")
    if int(chunk) < 1 or int(eig_every) < 1:
        raise DeriveError(
            f"chunk = {chunk} and eig_every = {eig_every} must be at least 1.",
            "Use e.g. chunk=25, eig_every=1 (the defaults).",
        )
    say: Callable[[str], None] = progress or (lambda message: None)
    flat0, unravel = ravel_pytree(x0)
    w0 = jnp.asarray(flat0, jnp.float64)
    n = w0.size

    def f(z: Array) -> Array:
        return loss(unravel(z))

    check_smooth(f, w0)
    n_steps = max(int(round(T / h)), 1)
    substeps = max(int(substeps), 1)
    dt = h / substeps
    cap = n if n <= DENSE_LIMIT else max(1, (n - 1) // 5)  # LOBPCG needs 5k < n
    K = int(min(max(k, 1), cap))
    max_k = int(min(max(max_k, K), cap))
    nu = method.initial_state(w0, jax.grad(f)(w0), nu0)
    if method.has_state and float(jnp.min(method.diagonal(nu, 0.0))) <= 0:
        raise DeriveError(
            "the preconditioner vanishes at the start (a zero gradient "
            "coordinate with eps = 0).",
            "Give eps > 0 (e.g. 1e-8) or a positive nu0.",
        )
    nu_first = nu
    W = jax.random.normal(jax.random.PRNGKey(0), (n, K), w0.dtype)
    compiled: dict[int, _Chunk] = {}
    length = min(int(chunk), n_steps + 1)

    def chunk_fn(K: int) -> _Chunk:
        if K not in compiled:
            fld = CentralField(
                method,
                f,
                K,
                threshold,
                lobpcg_iterations,
                tol,
                dt,
                central,
                expand=eig_every > 1,
            )
            compiled[K] = _chunk(
                fld, substeps=substeps, eig_every=eig_every, length=length
            )
        return compiled[K]

    started = time.perf_counter()
    names = ("loss", "g2", "pred_loss", "pred_g2", "res", "its", "eig", "sigma2")
    rows: dict[str, list[NDArray[Any]]] = {name: [] for name in ("w", "nu", *names)}
    w, t, done = w0, 0.0, 0
    evaluations = 0
    # diagnostics are taken at the start of each step: one step past T gives those
    # at T (its result is dropped)
    total = n_steps + 1
    while done < total:
        run = chunk_fn(K)
        (w_new, nu_new, W_new, t_new), (ws, nus, dg) = run(w, nu, W, jnp.asarray(t))
        evaluations += substeps * length
        if done == 0:
            _check_start(dg, lobpcg_iterations, central, h)
        if done + length > total:  # the last chunk ran past T: keep what is needed
            keep = total - done
            ws, nus = ws[:keep], nus[:keep]
            dg = StepDiagnostics._make(v[:keep] for v in dg)
            w_new, nu_new = ws[-1], nus[-1]
            t_new = jnp.asarray(keep * h + t)
        eig = np.asarray(dg.eig)
        if central and K < max_k and np.nanmax(eig[:, K - 1]) >= track_threshold:
            # an eigenvalue rose towards 2/h outside the tracked block: track one
            # more and redo the chunk
            extra = jax.random.normal(jax.random.PRNGKey(done + K), (n, 1), w.dtype)
            W = jnp.concatenate([W, extra], axis=1)
            K += 1
            say(f"{method.label()}: tracking {K} eigenpairs from t = {t:.4g}")
            continue
        _check_chunk(
            np.asarray(ws),
            w_new,
            dg,
            done=done,
            h=h,
            central=central,
            iterations=lobpcg_iterations,
        )
        rows["w"].append(np.asarray(ws))
        rows["nu"].append(np.asarray(nus))
        for name in ("loss", "g2", "pred_loss", "pred_g2", "res", "its"):
            rows[name].append(np.asarray(getattr(dg, name)))
        for name in ("eig", "sigma2"):
            a = np.full((len(ws), max_k), np.nan)
            a[:, :K] = np.asarray(getattr(dg, name))
            rows[name].append(a)
        w, nu, W, t = w_new, nu_new, W_new, float(t_new)
        done += len(ws)
        say(
            f"{method.label()}: t = {t:.4g} of {n_steps * h:.4g}, h lambda_1 = "
            f"{eig[-1, 0]:.4f}, tracking {K}, Sigma rank "
            f"{int(np.sum(np.asarray(dg.sigma2)[-1] > 0))}"
        )

    def stack(name: str) -> NDArray[Any]:
        return np.concatenate(rows[name], axis=0)

    # positions after each step: the start, then all but the extra step's result
    positions = np.concatenate([np.asarray(w0)[None], *rows["w"]], axis=0)[:total]
    nus_out = None
    if method.has_state:
        nus_out = np.concatenate([np.asarray(nu_first)[None], *rows["nu"]], axis=0)
        nus_out = nus_out[:total]
    sigma2 = stack("sigma2")
    # X's round-off (an interior point's 1e-20 on padded eigenvalues) is not an
    # oscillation: count eigenvalues of X above 1e-8 of the largest over the run
    scale = float(np.nanmax(np.abs(sigma2))) if np.isfinite(sigma2).any() else 0.0
    return CentralFlowSolution(
        method=method,
        times=h * np.arange(n_steps + 1, dtype=np.float64),
        positions=positions,
        nu=nus_out,
        losses=stack("loss"),
        gradient_norms2=stack("g2"),
        predicted_losses=stack("pred_loss"),
        predicted_gradient_norms2=stack("pred_g2"),
        eigenvalues=stack("eig"),
        sigma2=sigma2,
        active=np.sum(np.nan_to_num(sigma2) > max(1e-8 * scale, 1e-300), axis=1),
        residuals=stack("res"),
        iterations=stack("its"),
        substeps=substeps,
        unravel=unravel,
        wall_s=time.perf_counter() - started,
        field_evaluations=evaluations,
        tracked=K,
    )
