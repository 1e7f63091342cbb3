"""The plan of an order test: horizon $T$, step sizes, curvature and stability.

See [`verify`][numerics.verify] for how $T$ and $h$ are chosen: the small parameter is
$\\varepsilon = h L \\kappa$, with $L$ the largest $|\\lambda|$ of the Hessian along
the leading-order trajectory and $\\kappa$ the growth of the flow's coefficients; the
method's own order sets the expected slopes and how far below the largest step size the
errors stay measurable; the budget of steps and memory sets how long $T$ can be and how
the comparison is chunked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

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
from .budget import chunk_length, format_bytes, memory_budget
from .checks import (
    check_curvature,
    check_horizon,
    check_step_counts,
    check_step_sizes,
)

__all__ = [
    "Plan",
    "plan_test",
    "narrow_band",
    "coefficient_scales",
    "kappa_of",
    "leading_powers",
    "method_order",
]

DEFAULT_EPSILON = (0.02, 0.16)
DEFAULT_NH = 5
QUICK_EPSILON = (0.03, 0.12)
QUICK_NH = 4
MIN_RATIO = 2.0
"""The narrowest band of step sizes (largest over smallest) an order is fitted on."""
FLOOR_MARGIN = 3.0
"""The smallest error planned for is this many times the floor."""

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


def method_order(sums: Sequence[float]) -> int | None:
    """$q$: the first power $k \\ge 1$ whose terms do not vanish (`None` if all the
    derived ones do): a method of order $q$ has no terms in $h, \\dots, h^{q-1}$."""
    for k in range(1, len(sums)):
        if sums[k] > 0:
            return k
    return None


def leading_powers(sums: Sequence[float], order: int) -> list[int]:
    """Per truncation $p = 0..P$: the power of $h$ of its global error, the first
    $k > p$ whose terms do not vanish ($P + 2$ when none up to $P + 1$ does, a lower
    bound). For a method of order $q$, truncations $p < q - 1$ all have error
    $O(h^q)$."""
    out = []
    for p in range(order + 1):
        ks = [k for k in range(p + 1, min(len(sums), order + 2)) if sums[k] > 0]
        out.append(ks[0] if ks else order + 2)
    return out


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
    - `powers`: per order $p$, the power of $h$ of its error (the expected slope);
      `method_order`: $q$.
    - `chunk`: steps per chunk of the comparison; `memory`: the bytes it may hold;
      `max_iterations`: the most steps one step size may take.
    - `T_shortened_from`: the horizon before it was shortened to fit
      `max_iterations` (`None` if it was not); `notes`: what the plan changed and why.
    - `ratio`: largest over smallest step size of the band (automatic step sizes).
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
    powers: list[int] = field(default_factory=list)
    method_order: int | None = None
    chunk: int = 0
    memory: int = 0
    max_iterations: int = 0
    T_shortened_from: float | None = None
    notes: list[str] = field(default_factory=list)
    ratio: float = 0.0
    n_h: int = DEFAULT_NH

    def epsilon(self) -> list[float]:
        """$\\varepsilon = h L \\kappa$ per step size."""
        return [float(h * self.L * self.kappa) for h in self.h]


def _band(h_top: float, ratio: float, n_h: int, T: float) -> NDArray[np.float64]:
    """`n_h` step sizes from `h_top` down by `ratio`, geometric, each $T/N$ for a
    whole number $N$ (so that every run ends exactly at $T$), decreasing."""
    h_values = h_top / np.geomspace(1.0, ratio, n_h)
    counts = np.unique(np.maximum(np.round(T / h_values), 1))
    return np.asarray(np.sort(T / counts)[::-1], dtype=float)


def _horizon(loss_fn: LossFunction, loss_obj: Loss | None, x0: PyTree) -> float:
    horizon = getattr(loss_obj, "horizon", None)
    if horizon is not None:
        return float(horizon)
    if _size(x0) > DENSE_LIMIT:
        L0 = top_curvature(loss_fn, x0)
    else:
        with np.errstate(all="ignore"):
            L0 = float(np.abs(np.asarray(hessian_eigenvalues(loss_fn, x0))).max())
    check_curvature(L0, x0)
    return 3.0 / L0 if L0 > 0 else 1.0


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
    sums: Sequence[float] | None = None,
    max_iterations: int = 1_000_000,
    memory: float | None = None,
) -> Plan:
    """Choose $T$, the step sizes and the chunks (see [`verify`][numerics.verify])."""
    check_horizon(T)
    check_step_sizes(hs)
    g0 = float(norm(jax.grad(loss_fn)(x0)))
    if not g0 > 0:
        raise DeriveError(
            "the gradient vanishes at x0: the iterates and every flow stay put, so "
            "there is no error to measure.",
            "Start away from critical points (e.g. the loss's recommended start).",
        )
    given_T = T is not None
    if T is None:
        horizon = _horizon(loss_fn, loss_obj, x0)
        T = horizon / c0
    else:
        horizon = float(T) * c0
    T = float(T)
    found = pilot(loss_fn, x0, c0, T)
    if not math.isfinite(found["travel"]) or not math.isfinite(found["spectral"]):
        raise DeriveError(
            f"the leading-order flow from x0 does not stay finite up to T = {T:.6g}: "
            "the loss or its curvature blows up along the way (the iterates and the "
            "flows have nothing finite to compare).",
            "Give a shorter --T or another --x0.",
        )
    L = max(found["spectral"], 1e-12)
    limit = stability_limit(rec, max(found["top"], 0.0), num)
    if limit == 0.0:
        raise DeriveError(
            f"{rec.name} is unstable at every step size at the curvature "
            f"{found['top']:.6g} met along the flow.",
            "Check the optimizer's parameters ('derive manifold' prints its roots).",
        )
    powers = leading_powers(sums, order) if sums is not None else []
    q = method_order(sums) if sums is not None else None
    notes: list[str] = []
    T_before: float | None = None
    (eps_lo, eps_hi), n_h = (
        (QUICK_EPSILON, QUICK_NH) if quick else (DEFAULT_EPSILON, DEFAULT_NH)
    )
    ratio = eps_hi / eps_lo
    if hs is None:
        h_top = eps_hi / (L * kappa)
        if math.isfinite(limit) and h_top > 0.5 * limit:
            h_top = 0.5 * limit
        h_values = _band(h_top, ratio, n_h, T)
        n_needed = T / h_values.min()
        if n_needed > max_iterations:
            if given_T:
                check_step_counts([float(h_values.min())], T, max_iterations,
                                  given_T=True)  # fmt: skip
            T_before = T
            T = T * max_iterations / math.ceil(n_needed)
            horizon = T * c0
            h_values = _band(h_top, ratio, n_h, T)
            notes.append(
                f"T shortened from {T_before:.6g} to {T:.6g} (by a factor "
                f"{T_before / T:.3g}x) so that the smallest step size takes at most "
                f"max_iterations = {max_iterations:,} steps"
            )
        chosen = "automatic"
    else:
        h_values = np.asarray(sorted((float(h) for h in hs), reverse=True))
        check_step_counts(list(h_values), T, max_iterations, given_T=given_T)
        chosen = "given"
    steps = np.floor(T / h_values + 1e-9).astype(int)
    unstable = np.array([h >= limit for h in h_values])
    n_max = int(steps[~unstable].max()) if np.any(~unstable) else int(steps.max())
    dim = _size(x0)
    budget = memory_budget(memory)
    chunk = chunk_length(n_max, dim, order + 1, budget)
    if chunk < 1:
        raise DeriveError(
            f"one step of the comparison needs about "
            f"{format_bytes(2 * 8 * dim * (2 * order + 3))} ({dim:,} parameters, "
            f"{order + 1} flows), more than the {format_bytes(budget)} it may use.",
            "Test a lower --order or a smaller model, or free memory.",
        )
    if chunk < n_max:
        notes.append(
            f"compared in chunks of {chunk:,} steps (memory budget "
            f"{format_bytes(budget)})"
        )
    return Plan(
        T,
        horizon,
        h_values,
        steps,
        unstable,
        n_max,
        chosen,
        c0,
        kappa,
        L,
        limit,
        found,
        powers=powers,
        method_order=q,
        chunk=chunk,
        memory=budget,
        max_iterations=max_iterations,
        T_shortened_from=T_before,
        notes=notes,
        ratio=ratio if hs is None else float(h_values.max() / h_values.min()),
        n_h=n_h,
    )


def narrow_band(plan: Plan, top_errors: Sequence[float], floor: float) -> Plan:
    """The automatic band narrowed so that the highest order's errors stay measurable.

    `top_errors` are the errors per order at the largest step size. The highest order
    $P$ falls like $h^{k_P}$ (its leading power); where $e_P(h_{max}) / r^{k_P}$
    would drop below `FLOOR_MARGIN` times the floor, the band's ratio $r$ is reduced
    (not below `MIN_RATIO`), so no step size is spent where the error cannot be
    measured. A method of higher order (RK4: $k_P = P + 1$ with tiny constants) gets a
    narrow band near the largest step size instead of errors lost in the floor.
    """
    if plan.chosen != "automatic" or not plan.powers:
        return plan
    e_top = float(top_errors[-1])
    k = plan.powers[-1]
    if not (math.isfinite(e_top) and e_top > 0):
        return plan
    fits = (e_top / (FLOOR_MARGIN * floor)) ** (1.0 / k)
    ratio = float(min(plan.ratio, max(MIN_RATIO, fits)))
    if ratio >= plan.ratio * (1 - 1e-9):
        return plan
    h_values = _band(float(plan.h[0]), ratio, plan.n_h, plan.T)
    steps = np.floor(plan.T / h_values + 1e-9).astype(int)
    unstable = np.array([h >= plan.limit for h in h_values])
    n_max = int(steps[~unstable].max()) if np.any(~unstable) else int(steps.max())
    P = len(plan.powers) - 1
    note = (
        f"step sizes span a factor {ratio:.3g} instead of {plan.ratio:.3g}: the "
        f"order-{P} error, {e_top:.2e} at the largest step size, falls like h^{k} "
        f"and would reach {FLOOR_MARGIN:g} x the floor {floor:g} within a factor "
        f"{fits:.3g}"
    )
    return replace(
        plan,
        h=h_values,
        steps=steps,
        unstable=unstable,
        n_max=n_max,
        ratio=ratio,
        notes=[*plan.notes, note],
    )
