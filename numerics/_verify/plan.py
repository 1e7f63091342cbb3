"""The plan of an order test: horizon $T$, step sizes, curvature and stability.

See [`verify`][numerics.verify] for how $T$ and $h$ are chosen: the small parameter is
$\\varepsilon = h L \\kappa$, with $L$ the largest $|\\lambda|$ of the Hessian along
the leading-order trajectory and $\\kappa$ the growth of the flow's coefficients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpy.typing import NDArray

from derive import DeriveError, ModifiedFlow, Recurrence, evaluate

from .._curvature import (
    DENSE_LIMIT,
    Pilot,
    matrix_free_pilot,
    pilot_result,
    rk4_step,
    top_curvature,
)
from .._loss import Loss
from .._pytree import norm
from .._stability import hessian_eigenvalues, stability_limit
from .._typing import Array, LossFunction, PyTree

__all__ = ["Plan", "plan_test", "coefficient_scales", "kappa_of"]

DEFAULT_EPSILON = (0.02, 0.16)
DEFAULT_NH = 5
QUICK_EPSILON = (0.03, 0.12)
QUICK_NH = 4
MAX_ELEMENTS = 200_000_000  # positions stored: steps x step sizes x (orders + 1) x dim

# the pilot's loop state: time, point, top and bottom eigenvalues so far, steps
_Carry = tuple[Array, Array, Array, Array, Array]


def coefficient_scales(
    flow: ModifiedFlow, params: Mapping[str, float]
) -> tuple[float, list[float]]:
    """$c_0$ and $B_k$ (sum of |coefficients| of the $h^k$ terms) at the parameters."""
    sums = [0.0] * (flow.order + 1)
    c0 = 0.0
    for t in flow.terms:
        value = abs(evaluate(t.coefficient, params))
        sums[t.power] += value
        if t.power == 0 and t.tree == "[]":
            c0 = value
    return c0, sums


def kappa_of(sums: list[float]) -> float:
    """$\\kappa = \\max_k (B_k/B_0)^{1/k}$, the growth of the flow's coefficients."""
    B0 = sums[0]
    if B0 <= 0:
        return 1.0
    ks = [(sums[k] / B0) ** (1.0 / k) for k in range(1, len(sums)) if sums[k] > 0]
    return max(ks) if ks else 1.0


def _size(x: PyTree) -> int:
    return sum(int(jnp.size(leaf)) for leaf in jax.tree_util.tree_leaves(x))


def pilot(
    loss: LossFunction, x0: PyTree, c0: float, T: float, max_steps: int = 4096
) -> Pilot:
    """Curvature along the leading-order flow $\\dot x = c_0 g$ on $[0, T]$.

    Classical RK4 with the step $0.1/(c_0 \\rho(H))$ from the Hessian's spectral
    radius at every step (well inside RK4's stability region), recording the extreme
    Hessian eigenvalues met. The Hessian is dense (fine for a few thousand parameters).
    """
    flat0, unravel = ravel_pytree(x0)
    if flat0.size > DENSE_LIMIT:
        return matrix_free_pilot(loss, x0, c0, T, max_steps)

    def f(z: Array) -> Array:
        return loss(unravel(z))

    def g(z: Array) -> Array:
        return -c0 * jax.grad(f)(z)

    def eig(z: Array) -> Array:
        return hessian_eigenvalues(f, z)

    def cond(c: _Carry) -> Array:
        t, z, top, bottom, n = c
        return (t < T) & (n < max_steps) & jnp.all(jnp.isfinite(z))

    def body(c: _Carry) -> _Carry:
        t, z, top, bottom, n = c
        ev = eig(z)
        rho = c0 * jnp.max(jnp.abs(ev))
        dt = jnp.minimum(jnp.where(rho > 0, 0.1 / rho, T), T - t)
        return (
            t + dt,
            rk4_step(g, z, dt),
            jnp.maximum(top, ev[-1]),
            jnp.minimum(bottom, ev[0]),
            n + 1,
        )

    @jax.jit
    def run(z0: Array) -> _Carry:
        ev0 = eig(z0)
        init = (jnp.zeros(()), z0, ev0[-1], ev0[0], jnp.zeros((), int))
        t, z, top, bottom, n = jax.lax.while_loop(cond, body, init)
        ev = eig(z)
        return t, z, jnp.maximum(top, ev[-1]), jnp.minimum(bottom, ev[0]), n

    t, z, top, bottom, n = run(flat0)
    return pilot_result(t, z, top, bottom, n, flat0, T)


@dataclass
class Plan:
    """Horizon, step sizes and what was learnt about the problem choosing them.

    - `T`, `horizon` (in gradient-flow time), `h` (decreasing), `steps` (per $h$),
      `unstable` (per $h$: at or beyond the linear stability limit), `n_max`
      (steps to run), `chosen` (`"automatic"` or `"given"`).
    - `c0`, `kappa`, `L`, `limit` (the stability limit), `pilot` (extreme Hessian
      eigenvalues along the leading-order flow).
    """

    T: float
    horizon: float
    h: NDArray[np.float64]
    steps: NDArray[np.int_]
    unstable: NDArray[np.bool_]
    n_max: int
    chosen: str
    c0: float
    kappa: float
    L: float
    limit: float
    pilot: Pilot

    def epsilon(self) -> list[float]:
        """$\\varepsilon = h L \\kappa$ per step size."""
        return [float(h * self.L * self.kappa) for h in self.h]


def plan_test(
    rec: Recurrence,
    loss_fn: LossFunction,
    loss_obj: Loss | None,
    x0: PyTree,
    num: Mapping[str, float],
    *,
    c0: float,
    kappa: float,
    order: int,
    T: float | None,
    hs: Sequence[float] | None,
    quick: bool,
) -> Plan:
    """Choose $T$ and the step sizes (see [`verify`][numerics.verify])."""
    g0 = float(norm(jax.grad(loss_fn)(x0)))
    if not g0 > 0:
        raise DeriveError(
            "the gradient vanishes at x0: the iterates and every flow stay put, so "
            "there is no error to measure.",
            "Start away from critical points (e.g. the loss's recommended start).",
        )
    horizon: float | None
    if T is None:
        horizon = getattr(loss_obj, "horizon", None)
        if horizon is None:
            if _size(x0) > DENSE_LIMIT:
                L0 = top_curvature(loss_fn, x0)
            else:
                L0 = float(np.abs(np.asarray(hessian_eigenvalues(loss_fn, x0))).max())
            horizon = 3.0 / L0 if L0 > 0 else 1.0
        T = horizon / c0
    else:
        horizon = float(T) * c0
    T = float(T)
    if not T > 0:
        raise DeriveError(f"T must be positive, got {T}.", "")
    found = pilot(loss_fn, x0, c0, T)
    L = max(found["spectral"], 1e-12)
    limit = stability_limit(rec, max(found["top"], 0.0), num)

    eps_range, n_h = (
        (QUICK_EPSILON, QUICK_NH) if quick else (DEFAULT_EPSILON, DEFAULT_NH)
    )
    if hs is None:
        eps = np.geomspace(eps_range[1], eps_range[0], n_h)
        h_values = eps / (L * kappa)
        if math.isfinite(limit) and h_values.max() > 0.5 * limit:
            h_values = h_values * (0.5 * limit / h_values.max())
        # whole numbers of steps, so that every run ends exactly at T
        counts = np.unique(np.maximum(np.round(T / h_values), 1))
        h_values = np.sort(T / counts)[::-1]
        chosen = "automatic"
    else:
        h_values = np.asarray(sorted((float(h) for h in hs), reverse=True))
        if h_values.size == 0 or not np.all(h_values > 0):
            raise DeriveError("the step sizes must be positive numbers.", "")
        chosen = "given"
    h_values = np.asarray(h_values, dtype=float)
    steps = np.floor(T / h_values + 1e-9).astype(int)
    unstable = np.array([h >= limit for h in h_values])
    if np.any(steps < 1):
        raise DeriveError(
            f"a step size is longer than the horizon T = {T:.6g}.",
            "Give smaller step sizes or a longer T.",
        )
    n_max = int(steps[~unstable].max()) if np.any(~unstable) else int(steps.max())
    dim = sum(int(np.size(v)) for v in jax.tree_util.tree_leaves(x0))
    if (n_max + 1) * len(h_values) * (order + 2) * dim > MAX_ELEMENTS:
        raise DeriveError(
            f"the test needs {n_max} steps for each of {len(h_values)} step sizes, "
            "more than fits in memory.",
            "Give a shorter T or larger step sizes.",
        )
    return Plan(
        T, horizon, h_values, steps, unstable, n_max, chosen, c0, kappa, L, limit, found
    )
