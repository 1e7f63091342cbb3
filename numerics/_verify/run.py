"""The runs of an order test: the iterates, the flows of every order, their distance."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

import derive

from .._integrate import integrate
from .._iterates import Start, make_runner
from .._pytree import norm
from .._typing import Array, LossFunction, PyTree, VectorField
from .plan import Plan

__all__ = ["run_iterates", "flow_errors", "all_orders_field"]


def run_iterates(
    rec: derive.Recurrence,
    loss_fn: LossFunction,
    x0: PyTree,
    num: Mapping[str, float],
    plan: Plan,
    manifold: derive.SlowManifold | None,
    order: int,
    start: Start | None = None,
) -> tuple[PyTree, NDArray[np.int_], list[str]]:
    """The iterates for every step size, started on the slow manifold (the flow's,
    solved once, or `start`); returns `(positions, diverged_at, status)` with
    `status[k]` one of `"ok"`, `"unstable"` and `"diverged"`."""
    runner = make_runner(
        rec,
        loss_fn,
        plan.n_max,
        params=num,
        init=start if start is not None else "manifold",
        manifold_nodes=order + 2,
        manifold=manifold,  # solved on trees with order + 2 nodes already
    )
    positions, first_bad, _ = jax.jit(jax.vmap(runner, in_axes=(None, 0)))(
        x0, jnp.asarray(plan.h)
    )
    diverged_at = np.asarray(first_bad)
    status = []
    for k in range(len(plan.h)):
        d = int(diverged_at[k])
        if plan.unstable[k]:
            status.append("unstable")
        elif 0 <= d <= plan.steps[k]:
            status.append("diverged")
        else:
            status.append("ok")
    return positions, diverged_at, status


def all_orders_field(
    module: ModuleType, loss: LossFunction, P: int, x0: PyTree
) -> tuple[VectorField, PyTree]:
    """One field for the truncations $p = 0..P$ of the generated flow, stacked on a
    leading axis of every leaf (`jax.vmap` over $p$, so the generated code is traced
    once): the order-$p$ copy is $\\sum_{k \\le p} h^k F_k$ with the $F_k$ from the
    module's `terms_by_order`, exactly what its `make_vector_field(loss, order=p)`
    computes. Modules without `terms_by_order` are integrated order by order with
    `make_vector_field` instead.
    """
    orders = jnp.arange(P + 1)
    y0 = jax.tree_util.tree_map(lambda v: jnp.stack([v] * (P + 1)), x0)
    if hasattr(module, "terms_by_order"):

        def one(y: PyTree, p: Array, args: Mapping[str, Any]) -> PyTree:
            F = module.terms_by_order(loss, y, args, P)
            h = args["h"]

            def keep(k: int, tree: PyTree) -> PyTree:
                return jax.tree_util.tree_map(lambda v: jnp.where(p >= k, v, 0.0), tree)

            total = keep(P, F[P])
            for k in range(P - 1, -1, -1):
                total = jax.tree_util.tree_map(
                    lambda a, b: a + h * b, keep(k, F[k]), total
                )
            return total

        def stacked(t: Any, ys: PyTree, args: Mapping[str, Any]) -> PyTree:
            return jax.vmap(one, in_axes=(0, 0, None))(ys, orders, args)

        return stacked, y0
    fields = [module.make_vector_field(loss, order=p) for p in range(P + 1)]

    def field(t: Any, ys: PyTree, args: Mapping[str, Any]) -> PyTree:
        parts = [
            f(t, jax.tree_util.tree_map(lambda v, k=k: v[k], ys), args)
            for k, f in enumerate(fields)
        ]
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *parts)

    return field, y0


def flow_errors(
    module: ModuleType,
    loss_fn: LossFunction,
    x0: PyTree,
    num: Mapping[str, float],
    plan: Plan,
    positions: PyTree,
    status: list[str],
    order: int,
    *,
    solver: str,
    rtol: float,
    atol: float,
    max_steps: int,
) -> tuple[NDArray[np.float64], NDArray[np.int_]]:
    """The global errors $\\max_{nh \\le T} |x_n - x_p(nh)|$ for every order $p$ and
    step size whose iterates ran (`NaN` elsewhere); updates `status` where a flow
    fails. Returns `(errors, flow_steps)`."""
    P = order
    h_values, steps, n_max, T = plan.h, plan.steps, plan.n_max, plan.T
    errors = np.full((P + 1, len(h_values)), np.nan)
    flow_steps = np.zeros(len(h_values), dtype=int)
    run = np.array([s == "ok" for s in status])
    if not np.any(run):
        return errors, flow_steps
    field, y0 = all_orders_field(module, loss_fn, P, x0)

    def solve(h: Array) -> tuple[PyTree, Array, Array]:
        n = jnp.arange(n_max + 1)
        ts = jnp.minimum(n * h, T)
        args = {"h": h, **num}
        return integrate(
            field,
            y0,
            ts,
            args,
            t1=T,
            solver=solver,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
        )

    idx = np.flatnonzero(run)
    ys, solved, nsteps = jax.jit(jax.vmap(solve))(jnp.asarray(h_values[idx]))
    ok = np.asarray(solved)
    flow_steps[idx] = np.asarray(nsteps)
    pos = jax.tree_util.tree_map(lambda v: v[idx], positions)
    mask = jnp.arange(n_max + 1)[None, :] <= jnp.asarray(steps[idx])[:, None]
    for p in range(P + 1):
        diff = jax.tree_util.tree_map(lambda a, b, p=p: a - b[:, :, p], pos, ys)
        e = jnp.where(mask, norm(diff, batch_dims=2), 0.0)
        errors[p, idx] = np.asarray(jnp.max(e, axis=1))
    for j, k in enumerate(idx):
        if not ok[j]:
            status[k] = "flow failed"
            errors[:, k] = np.nan
    return errors, flow_steps
