"""Mini-batch iterates and the numerical order test of epoch flows.

The iterates run the optimizer's traced program (the same definition `derive` derived
the flow from: `derive.sgd()`, `derive.sgdm(mu)`, any recurrence) with the gradient
of batch $c_n$ at step $n$; the batch sequence is an input, so fixed orders, random
reshuffling and sampling with replacement run through the same compiled `lax.scan`
(the batch is picked by `lax.switch`), vmappable over sequences and step sizes.

[`epoch_flow_order`][numerics.epoch_flow_order] checks a fixed-order epoch flow of
[`derive.minibatch_flow`][derive.minibatch_flow] against the iterates: the global
error at the epoch boundaries $t = K m h \\le T$ of the order-$p$ flow must fall like
$h^{p+1}$ (momentum methods start on the epoch's slow manifold, from
`MinibatchFlow.manifold_states`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import derive

from ._iterates import State, run_program
from ._precision import uses_float64
from ._pytree import norm
from ._typing import (
    Array,
    ArrayLike,
    GradientFunction,
    LossFunction,
    Parameters,
    PyTree,
)

__all__ = [
    "minibatch_iterates",
    "batch_sequence",
    "epoch_flow_order",
    "EpochFlowOrder",
]


def batch_sequence(key: Array, n_steps: int, batches: int, sampling: str) -> Array:
    """The batch of every step: `"fixed"` (0, 1, ..., m-1 repeated), `"shuffle"` (a
    fresh random permutation every epoch of `batches` steps) or `"replacement"`
    (independent uniform draws). A traced `key` is fine (vmap over seeds).

    !!! example
        ```python
        >>> import jax, numerics
        >>> numerics.batch_sequence(jax.random.PRNGKey(0), 6, 3, "fixed").tolist()
        [0, 1, 2, 0, 1, 2]

        ```
    """
    from derive import DeriveError

    if sampling == "fixed":
        return jnp.arange(n_steps) % batches
    if sampling == "replacement":
        return jax.random.randint(key, (n_steps,), 0, batches)
    if sampling == "shuffle":
        epochs = -(-n_steps // batches)
        keys = jax.random.split(key, epochs)
        orders = jax.vmap(lambda k: jax.random.permutation(k, batches))(keys)
        return orders.reshape(-1)[:n_steps]
    raise DeriveError(
        f"unknown sampling {sampling!r}.", "Use 'shuffle', 'replacement' or 'fixed'."
    )


def minibatch_step(
    rec: derive.Recurrence,
    grads: Sequence[GradientFunction],
    h: Any,
    params: Mapping[str, float],
) -> Callable[[State, Array], State]:
    """`(state, batch) -> new state` for one step of `rec` on batch `batch`."""
    program = rec.coefficient_values(h, **params)

    def step(state: State, batch: Array) -> State:
        def grad(z: PyTree) -> PyTree:
            return jax.lax.switch(batch, grads, z)

        return run_program(rec, program, grad, state)

    return step


@uses_float64
def minibatch_iterates(
    optimizer: derive.Recurrence,
    losses: Sequence[LossFunction],
    x0: PyTree,
    h: ArrayLike,
    sequence: ArrayLike,
    *,
    params: Parameters | None = None,
    state: Sequence[PyTree] | None = None,
    every: int = 1,
) -> PyTree:
    """Run a mini-batch optimizer: step $n$ uses the gradient of `losses[sequence[n]]`.

    **Arguments:**

    - `optimizer`: a `derive.Recurrence` (`derive.sgd()`, `derive.sgdm(0.9)`, ...).
    - `losses`: the per-batch losses, JAX functions of a pytree.
    - `x0`: the initial position.
    - `h`: the step size (may be traced).
    - `sequence`: the batch index of every step (an integer array; see
      [`batch_sequence`][numerics.batch_sequence]).
    - `params`: numbers for symbolic hyper-parameters.
    - `state`: the full initial state (default: every other state at rest,
      $\\alpha_j x_0$, e.g. zero momentum).
    - `every`: record the position every `every` steps (e.g. the number of batches,
      for epoch boundaries).

    **Returns:** the positions at steps $0, e, 2e, \\dots$ (leading axis).

    !!! example
        ```python
        >>> import derive, numerics, jax.numpy as jnp
        >>> losses = [lambda x: (x - 1.0) ** 2 / 2, lambda x: (x + 1.0) ** 2 / 2]
        >>> xs = numerics.minibatch_iterates(derive.sgd(), losses, jnp.array(0.0), 0.5,
        ...                                  jnp.array([0, 1, 0, 1]))
        >>> xs.tolist()
        [0.0, 0.5, -0.25, 0.375, -0.3125]

        ```
    """
    from ._iterates import numeric_parameters
    from ._manifold_start import ManifoldStart

    rec = optimizer
    values = numeric_parameters(rec, params)
    grads = [jax.grad(f) for f in losses]
    step = minibatch_step(rec, grads, h, values)
    steps = jnp.asarray(sequence)
    if state is None:
        x0 = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), x0)
        state = tuple(ManifoldStart(rec, 0, values)(losses[0], x0, h))
    every = max(1, int(every))
    n = steps.shape[0] // every
    chunks = steps[: n * every].reshape(n, every)

    def body(state: State, batches: Array) -> tuple[State, PyTree]:
        for j in range(every):
            state = step(state, batches[j])
        return state, state[0]

    _, xs = jax.lax.scan(body, tuple(state), chunks)
    return jax.tree_util.tree_map(
        lambda a, b: jnp.concatenate([jnp.asarray(a)[None], b]), state[0], xs
    )


@dataclass(frozen=True)
class EpochFlowOrder:
    """Result of [`epoch_flow_order`][numerics.epoch_flow_order].

    - `hs`: the step sizes; `errors[p]`: the global errors of the order-`p` flow at the
      epoch boundaries in $[0, T]$; `slopes[p]`, `expected[p]` $= p + 1$.
    - `passed`: every slope within `tolerance` of its prediction.
    """

    hs: list[float]
    orders: list[int]
    errors: list[list[float]]
    slopes: list[float]
    expected: list[int]
    tolerance: float

    @property
    def passed(self) -> bool:
        return all(
            np.isfinite(s) and abs(s - e) <= self.tolerance
            for s, e in zip(self.slopes, self.expected, strict=True)
        )


@uses_float64
def epoch_flow_order(
    optimizer: derive.Recurrence,
    losses: Sequence[str],
    variables: str,
    x0: ArrayLike,
    T: float,
    *,
    epochs: Sequence[int] = (8, 16, 32, 64),
    orders: Sequence[int] = (0, 1, 2),
    saves: int = 8,
    tolerance: float = 0.25,
) -> EpochFlowOrder:
    """The numerical order test of the fixed-order epoch flow against the iterates.

    **Arguments:**

    - `optimizer`: a `derive.Recurrence` (`derive.sgd()`, `derive.sgdm(1/2)`).
    - `losses`: the per-batch losses as text in `variables` (one per batch, $m$).
    - `x0`: the initial point; `T`: the horizon.
    - `epochs`: numbers $E$ of epochs in $[0, T]$; the step sizes are $h = T/(m E)$
      (each a multiple of `saves`).
    - `orders`: the truncation orders $p$ to test (slope $p + 1$ each).
    - `saves`: the error is the largest over `saves` equally spaced epoch boundaries
      (and $T$).

    **Returns:** an [`EpochFlowOrder`][numerics.EpochFlowOrder].

    All orders are integrated as one system (diffrax Dopri8, `rtol = atol = 1e-12`),
    vmapped over the step sizes: one compilation.
    """
    import sympy

    from ._integrate import integrate
    from ._losses import loss_from_expression
    from ._order import observed_order

    m = len(losses)
    if any(e % saves for e in epochs):
        raise derive.DeriveError(
            f"every number of epochs must be a multiple of saves = {saves}.", ""
        )
    jax_losses = [loss_from_expression(f, variables) for f in losses]
    flow = derive.minibatch_flow(optimizer, max(orders), batches=m, sampling="fixed")
    module = derive.codegen(flow, loss=list(losses), variables=variables).load()
    start = jnp.asarray(x0, jnp.float64)
    hs = [T / (m * e) for e in epochs]
    fields = [module.make_vector_field(p) for p in orders]

    def field(t: Any, y: Array, args: Mapping[str, Any]) -> Array:
        return jnp.stack([f(t, y[k], args) for k, f in enumerate(fields)])

    def solve(h: Array) -> tuple[Array, Array]:
        ts = jnp.linspace(0.0, T, saves + 1)
        y0 = jnp.broadcast_to(start, (len(orders), start.shape[0]))
        ys, ok, _ = integrate(field, y0, ts, {"h": h})
        return ys, ok

    flows, oks = jax.jit(jax.vmap(solve))(jnp.asarray(hs))
    names = [v.strip() for v in variables.split(",")]
    states = None
    if len(optimizer.states) > 1:
        states = flow.manifold_states(list(losses), variables)
        lambdas = {
            s: sympy.lambdify([*map(sympy.Symbol, names), sympy.Symbol("h")], e)
            for s, e in states.items()
        }
    errors: list[list[float]] = [[] for _ in orders]
    for i, (h, e) in enumerate(zip(hs, epochs, strict=True)):
        state = None
        if states is not None:
            state = tuple(
                jnp.asarray(lambdas[s](*map(float, start), h), jnp.float64)
                for s in optimizer.states
            )
        sequence = jnp.arange(e * m) % m
        xs = minibatch_iterates(
            optimizer, jax_losses, start, h, sequence, state=state, every=m * e // saves
        )
        for k in range(len(orders)):
            diff = flows[i][:, k, :] - xs
            err = float(jnp.max(norm(diff, batch_dims=1))) if oks[i] else np.nan
            errors[k].append(err)
    slopes = [observed_order(hs, err, floor=1e-13)[0] for err in errors]
    return EpochFlowOrder(
        hs=hs,
        orders=list(orders),
        errors=errors,
        slopes=slopes,
        expected=[p + 1 for p in orders],
        tolerance=tolerance,
    )
