"""The runs of an order test: iterates and flows compared in chunks, one step size at a
time, without holding every iterate.

For each step size $h$ the comparison advances in chunks of at most `chunk` steps: the
iterates take the steps (a `fori_loop` writing into a buffer of `chunk` positions), the
flows of every truncation order are integrated over the same stretch of time and saved
at the iterate times $t_n = n h$, and the running maximum of $|x_n - x_p(n h)|$ per
order is kept; the optimizer state and the flow states carry over to the next chunk.
Memory is therefore bounded by the chunk, not by the number of steps, and one compiled
function serves every chunk and every step size ($h$, the first step and the count are
traced).

The pieces are generic: a [`Comparison`][numerics._verify.run.Comparison] holds a
`start(x0, h)` and a `step(state, h)` for the iterates and a stacked vector field for
the flows, so a method that is not a B-series (a componentwise optimizer, say) is
compared by the same code once it provides these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

import derive

from .._integrate import integrate
from .._iterates import DEFAULT_BLOWUP, Start, make_stepper
from .._pytree import norm
from .._typing import Array, LossFunction, PyTree, VectorField

__all__ = [
    "Comparison",
    "Comparer",
    "StepResult",
    "recurrence_comparison",
    "all_orders_field",
]

State = tuple[PyTree, ...]


@dataclass(frozen=True)
class Comparison:
    """What an order test compares, all from the same start `x0`.

    - `start(x0, h)`: the method's initial state (position first), e.g. on the slow
      manifold; `step(state, h)`: one step. Both are traced with `h` traced.
    - `field(t, ys, args)`: the flows of the truncation orders $0..P$ stacked on a
      leading axis of every leaf (`args` holds `"h"` and `args`' numbers);
      `y0`: their stacked initial state.
    - `args`: numbers for the field's hyper-parameters.
    - `orders`: $P + 1$.
    """

    start: Callable[[PyTree, Any], State]
    step: Callable[[State, Any], State]
    field: VectorField
    y0: PyTree
    args: Mapping[str, float]
    orders: int


@dataclass
class StepResult:
    """The comparison at one step size: per-order errors (`NaN` where not measured),
    the first divergent step (or -1), the flow solver's accepted steps, the status
    (`ok`, `unstable`, `diverged`, `flow failed`) and the number of chunks."""

    errors: NDArray[np.float64]
    diverged_at: int
    flow_steps: int
    status: str
    chunks: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def recurrence_comparison(
    rec: derive.Recurrence,
    loss_fn: LossFunction,
    x0: PyTree,
    num: Mapping[str, float],
    manifold: derive.SlowManifold | None,
    module: ModuleType,
    order: int,
    start: Start | None = None,
) -> Comparison:
    """The comparison for a recurrence and its generated flow module: iterates started
    on the slow manifold (`manifold`, the flow's, solved once on trees with up to
    `order + 2` nodes; or `start`, e.g. a componentwise optimizer's), flows of every
    truncation $p \\le$ `order` from `all_orders_field`."""
    begin, step = make_stepper(
        rec,
        loss_fn,
        params=num,
        init=start if start is not None else "manifold",
        manifold_nodes=order + 2,
        manifold=manifold,
    )
    field_, y0 = all_orders_field(module, loss_fn, order, x0)
    return Comparison(begin, step, field_, y0, dict(num), order + 1)


class Comparer:
    """Runs a [`Comparison`][numerics._verify.run.Comparison] one step size at a time,
    in chunks of `chunk` steps, with the functions compiled once for all step sizes.

    **Arguments:** the comparison, the start `x0`, the horizon `T`, the chunk length,
    the diffrax settings (`solver`, `rtol`, `atol`, `max_steps` per chunk) and the
    divergence bound factor.
    """

    def __init__(
        self,
        comparison: Comparison,
        x0: PyTree,
        T: float,
        chunk: int,
        *,
        solver: str,
        rtol: float,
        atol: float,
        max_steps: int,
        blowup: float = DEFAULT_BLOWUP,
    ):
        self.comparison = comparison
        self.x0 = x0
        self.T = float(T)
        self.chunk = int(chunk)
        self.bound = float(blowup * (1.0 + float(norm(x0))))
        self._begin = jax.jit(comparison.start)
        m, T_ = self.chunk, self.T
        step, field_ = comparison.step, comparison.field
        buffer = jax.tree_util.tree_map(
            lambda v: jnp.zeros((m, *jnp.shape(v)), jnp.result_type(v)), x0
        )
        bound = self.bound

        def iterate(state: State, h: Array, count: Array) -> tuple[State, PyTree]:
            def body(j: Array, carry: tuple[State, PyTree]) -> tuple[State, PyTree]:
                s, xs = carry
                new = step(s, h)
                xs = jax.tree_util.tree_map(lambda b, v: b.at[j].set(v), xs, new[0])
                return tuple(new), xs

            return jax.lax.fori_loop(0, count, body, (tuple(state), buffer))

        def first_bad(xs: PyTree, valid: Array) -> Array:
            norms = norm(xs, batch_dims=1)
            bad = valid & (~jnp.isfinite(norms) | (norms > bound))
            return jnp.where(jnp.any(bad), jnp.argmax(bad), -1)

        def advance(
            state: State, y: PyTree, h: Array, n0: Array, count: Array
        ) -> tuple[State, PyTree, Array, Array, Array, Array]:
            state, xs = iterate(state, h, count)
            j = jnp.arange(m)
            valid = j < count
            t_end = jnp.minimum((n0 + count) * h, T_)
            ts = jnp.minimum((n0 + 1 + j) * h, t_end)
            ys, ok, nsteps = integrate(
                field_,
                y,
                ts,
                {"h": h, **comparison.args},
                t0=jnp.minimum(n0 * h, T_),
                t1=t_end,
                solver=solver,
                rtol=rtol,
                atol=atol,
                max_steps=max_steps,
            )
            diff = jax.tree_util.tree_map(lambda a, b: a[:, None] - b, xs, ys)
            e = jnp.where(valid[:, None], norm(diff, batch_dims=2), 0.0)
            y_end = jax.tree_util.tree_map(lambda v: v[count - 1], ys)
            return state, y_end, jnp.max(e, axis=0), first_bad(xs, valid), ok, nsteps

        def advance_iterates(
            state: State, h: Array, count: Array
        ) -> tuple[State, Array]:
            state, xs = iterate(state, h, count)
            return state, first_bad(xs, jnp.arange(m) < count)

        self._advance = jax.jit(advance)
        self._advance_iterates = jax.jit(advance_iterates)

    def run(self, h: float, steps: int, unstable: bool = False) -> StepResult:
        """Compare at one step size over `steps` steps (only the iterates, to show where
        they blow up, when `unstable`)."""
        P1 = self.comparison.orders
        errors = np.zeros(P1)
        h_ = jnp.asarray(h, dtype=jnp.float64)
        state = self._begin(self.x0, h_)
        y = self.comparison.y0
        n0, flow_steps, chunks = 0, 0, 0
        while n0 < steps:
            count = min(self.chunk, steps - n0)
            chunks += 1
            if unstable:
                state, bad = self._advance_iterates(state, h_, count)
                if int(bad) >= 0:
                    return StepResult(
                        np.full(P1, np.nan), n0 + 1 + int(bad), 0, "unstable", chunks
                    )
            else:
                state, y, err, bad, ok, nsteps = self._advance(state, y, h_, n0, count)
                flow_steps += int(nsteps)
                if int(bad) >= 0:
                    return StepResult(
                        np.full(P1, np.nan),
                        n0 + 1 + int(bad),
                        flow_steps,
                        "diverged",
                        chunks,
                    )
                if not bool(ok):
                    return StepResult(
                        np.full(P1, np.nan), -1, flow_steps, "flow failed", chunks
                    )
                errors = np.maximum(errors, np.asarray(err))
            n0 += count
        if unstable:
            return StepResult(np.full(P1, np.nan), -1, 0, "unstable", chunks)
        return StepResult(errors, -1, flow_steps, "ok", chunks)


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

    def field_(t: Any, ys: PyTree, args: Mapping[str, Any]) -> PyTree:
        parts = [
            f(t, jax.tree_util.tree_map(lambda v, k=k: v[k], ys), args)
            for k, f in enumerate(fields)
        ]
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *parts)

    return field_, y0
