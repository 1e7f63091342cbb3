"""Matrix-free curvature along a flow: extreme Hessian eigenvalues from Hessian-vector
products, for models too large for a dense Hessian.

Hessian-vector products are forward over reverse (`jax.jvp` of `jax.grad`); a
warm-started power iteration gives the spectral radius $\\rho$ and a second one on
$H - \\rho I$ the other end of the spectrum. [`numerics.verify`][numerics.verify]
switches to these above `DENSE_LIMIT` parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ._typing import Array, ArrayLike, LossFunction, PyTree

__all__ = [
    "DENSE_LIMIT",
    "Pilot",
    "extreme_eigenvalues",
    "matrix_free_pilot",
    "pilot_result",
    "rk4_step",
    "top_curvature",
]

DENSE_LIMIT = 600
"""Above this many parameters the curvature is measured matrix-free."""

POWER_STEPS = 30

_Operator = Callable[[Array], Array]

# the pilot's loop state: time, point, top vector, top and bottom so far, steps
_Carry = tuple[Array, Array, Array, Array, Array, Array]


class Pilot(TypedDict):
    """The curvature met along the leading-order flow (see `pilot_result`)."""

    top: float
    bottom: float
    spectral: float
    travel: float
    ok: bool
    steps: int


def extreme_eigenvalues(
    hvp: _Operator, v0: Array, steps: int = POWER_STEPS
) -> tuple[Array, Array, Array]:
    """(lambda_max, lambda_min, top vector) of a symmetric operator by two power
    iterations (the second on the shifted operator), warm-started at `v0`."""

    def power(op: _Operator, v: Array) -> tuple[Array, Array]:
        def body(_: Array, v: Array) -> Array:
            w = op(v)
            return w / jnp.maximum(jnp.linalg.norm(w), 1e-300)

        v = jax.lax.fori_loop(0, steps, body, v / jnp.linalg.norm(v))
        return jnp.vdot(v, op(v)), v

    lam, v = power(hvp, v0)
    rho = jnp.abs(lam)
    other, _ = power(lambda u: hvp(u) - rho * u, jnp.roll(v0, 1) + 0.5)
    other = other + rho
    return jnp.maximum(lam, other), jnp.minimum(lam, other), v


def rk4_step(g: _Operator, z: Array, dt: ArrayLike) -> Array:
    """One classical Runge-Kutta step of $\\dot z = g(z)$ (the curvature pilots' integrator)."""
    k1 = g(z)
    k2 = g(z + dt / 2 * k1)
    k3 = g(z + dt / 2 * k2)
    k4 = g(z + dt * k3)
    return z + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def matrix_free_pilot(
    loss: LossFunction, x0: PyTree, c0: float, T: float, max_steps: int = 4096
) -> Pilot:
    """Curvature along the leading-order flow $\\dot x = c_0 g$ on $[0, T]$, matrix-free.

    The same measurement as `verify`'s (classical RK4, step $0.1/(c_0 \\rho)$, extreme
    Hessian eigenvalues recorded), with power iterations on Hessian-vector products
    instead of a dense Hessian. Returns the same dictionary.
    """
    flat0, unravel = ravel_pytree(x0)

    def f(z: Array) -> Array:
        return loss(unravel(z))

    grad = jax.grad(f)

    def g(z: Array) -> Array:
        return -c0 * grad(z)

    def eig(z: Array, v: Array) -> tuple[Array, Array, Array]:
        hvp = lambda u: jax.jvp(grad, (z,), (u,))[1]  # noqa: E731
        return extreme_eigenvalues(hvp, v)

    def cond(c: _Carry) -> Array:
        t, z, v, top, bottom, n = c
        return (t < T) & (n < max_steps) & jnp.all(jnp.isfinite(z))

    def body(c: _Carry) -> _Carry:
        t, z, v, top, bottom, n = c
        hi, lo, v = eig(z, v)
        rho = c0 * jnp.maximum(jnp.abs(hi), jnp.abs(lo))
        dt = jnp.minimum(jnp.where(rho > 0, 0.1 / rho, T), T - t)
        return (
            t + dt,
            rk4_step(g, z, dt),
            v,
            jnp.maximum(top, hi),
            jnp.minimum(bottom, lo),
            n + 1,
        )

    @jax.jit
    def run(z0: Array) -> tuple[Array, Array, Array, Array, Array]:
        v0 = jnp.cos(jnp.arange(z0.size, dtype=z0.dtype)) + 1.0
        hi, lo, v = eig(z0, v0)
        init = (jnp.zeros(()), z0, v, hi, lo, jnp.zeros((), int))
        t, z, v, top, bottom, n = jax.lax.while_loop(cond, body, init)
        hi, lo, _ = eig(z, v)
        return t, z, jnp.maximum(top, hi), jnp.minimum(bottom, lo), n

    t, z, top, bottom, n = run(flat0)
    return pilot_result(t, z, top, bottom, n, flat0, T)


def pilot_result(
    t: Array,
    z: Array,
    top: Array,
    bottom: Array,
    n: Array,
    z0: Array,
    T: float,
) -> Pilot:
    """The curvature pilots' summary: extreme eigenvalues met, spectral radius, distance
    travelled, whether the flow reached `T` finite, and the number of steps."""
    hi, lo = float(top), float(bottom)
    return {
        "top": hi,
        "bottom": lo,
        "spectral": max(abs(hi), abs(lo)),
        "travel": float(jnp.linalg.norm(z - z0)),
        "ok": bool(float(t) >= T * (1 - 1e-12)) and bool(jnp.all(jnp.isfinite(z))),
        "steps": int(n),
    }


def top_curvature(loss: LossFunction, x: PyTree) -> float:
    """$\\max |\\lambda(H)|$ of `loss` at the pytree `x`, matrix-free."""
    flat, unravel = ravel_pytree(x)
    grad = jax.grad(lambda z: loss(unravel(z)))

    @jax.jit
    def top(z: Array) -> Array:
        hi, lo, _ = extreme_eigenvalues(
            lambda u: jax.jvp(grad, (z,), (u,))[1],
            jnp.cos(jnp.arange(z.size, dtype=z.dtype)) + 1.0,
        )
        return jnp.maximum(jnp.abs(hi), jnp.abs(lo))

    return float(top(flat))
