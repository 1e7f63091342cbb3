"""The plan of an order test for a componentwise (adaptive) optimizer.

For an adaptive flow the leading field is not a multiple of $g$ ($g/(|g| +
\\varepsilon)$ for Adam), so the small parameter is measured on the flow itself: at a
point $x$ the $k$-th correction is about $(h \\kappa(x))^k$ times the leading term, with

$$\\kappa(x) = \\max_{1 \\le k \\le P+1} \\left(\\frac{|F_k(x)|}{|F_0(x)|}\\right)^{1/k}$$

(for gradient descent $\\kappa \\approx L/2$; for Adam in the sign regime
$\\kappa \\sim |\\nabla^2 f| / ((1 - \\beta_2) |\\nabla f|)$), and the scale $L$ is never
taken below the spectral radius of $F_0'$ along the flow (the stiffest direction,
which norms of whole vectors miss on networks). The leading-order flow is
followed with RK4 over $[0, T]$, $T$ the loss's gradient-flow horizon over $c_0 =
|F_0(x_0)|/|g(x_0)|$; the horizon is cut where $\\kappa$ grows beyond four times its
start (a gradient component approaching zero, where the flow is singular for small
$\\varepsilon$). The step sizes are $h = \\varepsilon / L$, $L = \\max_t \\kappa$ or that radius, for
$\\varepsilon$ in the usual range, whole numbers of steps. There is no linear stability
screening (the update is not linear); divergent iterates are still detected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from derive import DeriveError

from .._curvature import DENSE_LIMIT, top_curvature
from .._loss import Loss
from .._pytree import norm
from .._stability import hessian_eigenvalues
from .._typing import LossFunction, PyTree
from .budget import (
    DEFAULT_MAX_ITERATIONS,
    chunk_length,
    format_bytes,
    memory_budget,
)
from .checks import check_horizon, check_step_counts, check_step_sizes
from .plan import DEFAULT_EPSILON, DEFAULT_NH, QUICK_EPSILON, QUICK_NH, Plan

__all__ = ["plan_componentwise"]

PILOT_STEPS = 40
GROWTH = 4.0
POWER_ITERATIONS = 30
SPECTRAL_EVERY = 10


def plan_componentwise(
    loss_fn: LossFunction,
    loss_obj: Loss | None,
    x0: PyTree,
    num: Mapping[str, float],
    module: ModuleType,
    *,
    order: int,
    T: float | None,
    hs: Sequence[float] | None,
    quick: bool,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    memory: float | None = None,
) -> Plan:
    """Choose $T$, the step sizes and the chunks of the comparison (see the module
    docs); `module` is the generated flow through order `order + 1`."""
    check_horizon(T)
    check_step_sizes(hs)
    args = {**num, "h": 0.0}
    P1 = module.ORDER

    @jax.jit
    def ratios(x: PyTree) -> tuple[Any, Any]:
        F = module.terms_by_order(loss_fn, x, args, P1)
        n0 = norm(F[0])
        r = jnp.stack(
            [(norm(F[k]) / n0) ** (1.0 / k) for k in range(1, P1 + 1)]
            or [jnp.zeros(())]
        )
        return jnp.max(r), n0

    @jax.jit
    def field0(x: PyTree) -> PyTree:
        return module.terms_by_order(loss_fn, x, args, 0)[0]

    @jax.jit
    def spectral(x: PyTree) -> Any:
        """The spectral radius of $F_0'(x)$ by power iteration (its eigenvalues are
        real: $F_0' = D g'$ with $D$ a positive diagonal, plus multiples of $I$)."""
        flat, unravel = ravel_pytree(x)

        def apply(u: Any) -> Any:
            tangent = jax.jvp(field0, (x,), (unravel(u),))[1]
            return ravel_pytree(tangent)[0]

        def body(_: int, u: Any) -> Any:
            w = apply(u)
            return w / (jnp.linalg.norm(w) + 1e-300)

        u0 = jnp.cos(jnp.arange(flat.size, dtype=flat.dtype)) + 1.0
        u = jax.lax.fori_loop(0, POWER_ITERATIONS, body, u0 / jnp.linalg.norm(u0))
        return jnp.linalg.norm(apply(u))

    g0 = float(norm(jax.grad(loss_fn)(x0)))
    kappa0, n0 = (float(v) for v in ratios(x0))
    if not (g0 > 0 and n0 > 0) or not math.isfinite(kappa0):
        zero = sum(
            int(np.sum(np.asarray(v) == 0))
            for v in jax.tree_util.tree_leaves(jax.grad(loss_fn)(x0))
        )
        raise DeriveError(
            "the gradient or the modified field vanishes or is not finite at x0"
            + (
                f" ({zero} gradient components are exactly zero there, where |g| in "
                "the flow is not smooth: with eps = 0 the quotient g/|g| is singular, "
                "and with eps outside the square root the flow contains sign(g))"
                if zero
                else ""
            )
            + ": there is nothing to measure.",
            "Start away from critical points and from points with a zero gradient "
            "component (a network input that is always zero gives one), or put eps "
            "inside the square root (eps_inside_sqrt=True), whose flow is smooth.",
        )
    c0 = n0 / g0
    horizon: float | None
    T_given = T is not None
    if T is None:
        horizon = getattr(loss_obj, "horizon", None)
        if horizon is None:
            if (
                sum(int(np.size(v)) for v in jax.tree_util.tree_leaves(x0))
                > DENSE_LIMIT
            ):
                L0 = top_curvature(loss_fn, x0)
            else:
                L0 = float(np.abs(np.asarray(hessian_eigenvalues(loss_fn, x0))).max())
            horizon = 3.0 / L0 if L0 > 0 else 1.0
        T = horizon / c0
        cut = True
    else:
        horizon = float(T) * c0
        cut = False
    T = float(T)
    if not T > 0:
        raise DeriveError(f"T must be positive, got {T}.", "")
    # the pilot: RK4 on the leading-order flow, recording kappa
    dt = T / PILOT_STEPS
    x = x0
    kappas = [kappa0]
    radii = [float(spectral(x0))]
    t = 0.0
    for step in range(PILOT_STEPS):
        k1 = field0(x)
        k2 = field0(jax.tree_util.tree_map(lambda a, b: a + 0.5 * dt * b, x, k1))
        k3 = field0(jax.tree_util.tree_map(lambda a, b: a + 0.5 * dt * b, x, k2))
        k4 = field0(jax.tree_util.tree_map(lambda a, b: a + dt * b, x, k3))
        x_new = jax.tree_util.tree_map(
            lambda a, p, q, r, s: a + dt / 6 * (p + 2 * q + 2 * r + s),
            x,
            k1,
            k2,
            k3,
            k4,
        )
        kappa = float(ratios(x_new)[0])
        if cut and (not math.isfinite(kappa) or kappa > GROWTH * kappa0):
            break
        x, t = x_new, t + dt
        kappas.append(kappa)
        if (step + 1) % SPECTRAL_EVERY == 0:
            radii.append(float(spectral(x)))
    radii.append(float(spectral(x)))
    if cut and t < T:
        T = max(t, dt)
        horizon = T * c0
    travel = float(norm(jax.tree_util.tree_map(jnp.subtract, x, x0)))
    # the correction ratios see the whole vector; the linearisation of F_0 sees the
    # stiffest direction (on networks it is the larger of the two)
    L = max(max(kappas), max(radii))
    pilot = {
        "top": L,
        "bottom": min(kappas),
        "spectral": L,
        "travel": travel,
        "ok": True,
        "steps": len(kappas) - 1,
    }
    eps_range, n_h = (
        (QUICK_EPSILON, QUICK_NH) if quick else (DEFAULT_EPSILON, DEFAULT_NH)
    )
    if hs is None:
        eps = np.geomspace(eps_range[1], eps_range[0], n_h)
        counts = np.unique(np.maximum(np.round(T * L / eps), 1))
        h_values = np.sort(T / counts)[::-1]
        chosen = "automatic"
    else:
        h_values = np.asarray(sorted((float(h) for h in hs), reverse=True))
        if h_values.size == 0 or not np.all(h_values > 0):
            raise DeriveError("the step sizes must be positive numbers.", "")
        chosen = "given"
    check_step_counts(list(h_values), T, max_iterations, given_T=T_given)
    steps = np.floor(T / h_values + 1e-9).astype(int)
    if np.any(steps < 1):
        raise DeriveError(
            f"a step size is longer than the horizon T = {T:.6g}.",
            "Give smaller step sizes or a longer T.",
        )
    unstable = np.zeros(len(h_values), dtype=bool)
    n_max = int(steps.max())
    dim = sum(int(np.size(v)) for v in jax.tree_util.tree_leaves(x0))
    budget = memory_budget(memory)
    chunk = chunk_length(n_max, dim, order + 1, budget)
    if chunk < 1:
        raise DeriveError(
            f"one step of the comparison needs more than the {format_bytes(budget)} "
            f"it may use ({dim:,} parameters, {order + 1} flows).",
            "Test a lower --order or a smaller model, or free memory.",
        )
    notes = (
        [
            f"compared in chunks of {chunk:,} steps (memory budget {format_bytes(budget)})"
        ]
        if chunk < n_max
        else []
    )
    return Plan(
        T,
        float(horizon),
        h_values,
        steps,
        unstable,
        n_max,
        chosen,
        c0,
        1.0,
        L,
        math.inf,
        pilot,  # type: ignore[arg-type]
        powers=[p + 1 for p in range(order + 1)],
        method_order=1,
        chunk=chunk,
        memory=budget,
        max_iterations=max_iterations,
        notes=notes,
        ratio=float(h_values.max() / h_values.min()),
        n_h=len(h_values),
    )
