"""One step of any optimizer as a smooth map $(x, S, h) \\mapsto (x^+, S^+)$ in JAX.

The automatic-differentiation route (`numerics._modified_field`) differentiates this
map. It is built from

- a `derive` definition (a built-in name, a spec, an update function, a
  [`Recurrence`][derive.Recurrence]): its program, componentwise instructions included;
- an `optax.GradientTransformation` (anything with `init` and `update`):
  $x^+ = x + h\\,u$ with `u, S+ = tx.update(grad f(x), S, x)`, so the transformation
  is built with learning rate 1 (e.g. `optax.adam(1.0)`, whose updates include the
  minus sign). Integer entries of the state (step counters) are frozen at $10^9$, so
  that bias corrections $1 - \\beta^{n}$ have decayed to 1: with constant
  hyper-parameters they are a transient, and the flow describes what follows it;
- a general function `step(x, state, h, grad) -> (x+, state+)` with `init(x)`.

The state $S$ is split into its floating-point leaves (solved for on the slow
manifold) and the rest (kept as given).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

import derive

from ._pytree import combine
from ._typing import LossFunction, Parameters, PyTree

__all__ = ["UpdateStep", "update_step", "FROZEN_COUNT"]

FROZEN_COUNT = 10**9
"""The value integer state entries (step counters) are frozen at."""

StepFunction = Callable[
    [PyTree, PyTree, Any, Callable[[PyTree], PyTree]], tuple[PyTree, PyTree]
]


@dataclass
class UpdateStep:
    """An optimizer step as a map on (position, floating state).

    **Attributes:**

    - `apply(x, S, h) -> (x+, S+)`: one step; `S` the floating leaves, as a list.
    - `state0(x)`: a template of `S` (shapes and dtypes; values are not used).
    - `name`: for messages and records.
    """

    apply: Callable[[PyTree, list[Any], Any], tuple[PyTree, list[Any]]]
    state0: Callable[[PyTree], list[Any]]
    name: str


def _is_transformation(obj: object) -> bool:
    return (
        hasattr(obj, "init")
        and hasattr(obj, "update")
        and not isinstance(obj, derive.Recurrence)
    )


def update_step(
    optimizer: object,
    loss: LossFunction,
    *,
    params: Parameters | None = None,
    init: Callable[[PyTree], PyTree] | PyTree | None = None,
) -> UpdateStep:
    """The step of `optimizer` on `loss` as an [`UpdateStep`][numerics._update_step.UpdateStep].

    **Arguments:**

    - `optimizer`: a `derive` definition, an optax `GradientTransformation`, or a
      function `step(x, state, h, grad) -> (x+, state+)` (then `init` is required).
    - `loss`: the loss, a JAX function of a pytree.
    - `params`: numbers for the hyper-parameters of a `derive` definition.
    - `init`: for a step function, `init(x)` giving the state (or the state itself).

    !!! example
        ```python
        >>> import derive, numerics
        >>> import jax.numpy as jnp
        >>> step = numerics.update_step(derive.gd(), lambda z: (z**2).sum() / 2)
        >>> x = jnp.array([1.0, 2.0])
        >>> step.apply(x, step.state0(x), 0.1)  # x - h x, no state
        (Array([0.9, 1.8], dtype=float64), [])

        ```
    """
    grad = jax.grad(loss)
    if _is_transformation(optimizer):
        return _from_transformation(optimizer, grad)
    if init is not None or (
        callable(optimizer)
        and not isinstance(optimizer, derive.Recurrence | str)
        and _looks_like_step(optimizer)
    ):
        if init is None:
            raise derive.DeriveError(
                "a step function was given without its initial state.",
                "Pass init=lambda x: state (a pytree shaped like the optimizer's "
                "state).",
            )
        return _from_function(optimizer, init, grad)  # type: ignore[arg-type]
    from ._iterates import as_recurrence

    rec, numbers = as_recurrence(optimizer, params)  # type: ignore[arg-type]
    return _from_recurrence(rec, numbers, grad)


def _looks_like_step(fn: object) -> bool:
    import inspect

    try:
        names = list(inspect.signature(fn).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return names[:4] == ["x", "state", "h", "grad"]


def _from_recurrence(
    rec: derive.Recurrence,
    numbers: Mapping[str, float],
    grad: Callable[[PyTree], PyTree],
) -> UpdateStep:
    run = program_step(rec, numbers, grad)
    m = len(rec.states)

    def state0(x: PyTree) -> list[Any]:
        return [x for _ in range(m - 1)]

    def apply(x: PyTree, S: list[Any], h: Any) -> tuple[PyTree, list[Any]]:
        new = run((x, *S), h)
        return new[0], list(new[1:])

    return UpdateStep(apply, state0, rec.name)


def _split(tree: PyTree) -> tuple[list[Any], list[bool], Any]:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    floating = [jnp.issubdtype(jnp.asarray(v).dtype, jnp.floating) for v in leaves]
    return leaves, floating, treedef


def _from_transformation(tx: Any, grad: Callable[[PyTree], PyTree]) -> UpdateStep:
    def update(x: PyTree, state: PyTree, h: Any) -> tuple[PyTree, PyTree]:
        updates, new = tx.update(grad(x), state, x)
        return jax.tree_util.tree_map(lambda p, u: p + h * u, x, updates), new

    return _floating_state(
        tx.init,
        update,
        lambda v: jnp.full_like(v, FROZEN_COUNT),
        type(tx).__name__,
    )


def _from_function(
    step: StepFunction,
    init: Callable[[PyTree], PyTree] | PyTree,
    grad: Callable[[PyTree], PyTree],
) -> UpdateStep:
    return _floating_state(
        init if callable(init) else (lambda x: init),
        lambda x, state, h: step(x, state, h, grad),
        lambda v: v,
        getattr(step, "__name__", "step"),
    )


def _floating_state(
    init: Callable[[PyTree], PyTree],
    update: Callable[[PyTree, PyTree, Any], tuple[PyTree, PyTree]],
    frozen: Callable[[Any], Any],
    name: str,
) -> UpdateStep:
    """An `UpdateStep` whose state is the floating-point leaves of a pytree state
    (`init(x)`, advanced by `update(x, state, h) -> (x+, state+)`); the other leaves
    (step counts) are rebuilt from the template by `frozen(leaf)` at every step."""

    def template(x: PyTree) -> tuple[list[Any], list[bool], Any]:
        return _split(init(x))

    def state0(x: PyTree) -> list[Any]:
        leaves, floating, _ = template(x)
        return [v for v, f in zip(leaves, floating, strict=True) if f]

    def apply(x: PyTree, S: list[Any], h: Any) -> tuple[PyTree, list[Any]]:
        leaves, floating, treedef = template(x)
        it = iter(S)
        full = [
            next(it) if f else frozen(v) for v, f in zip(leaves, floating, strict=True)
        ]
        x_new, new = update(x, jax.tree_util.tree_unflatten(treedef, full), h)
        new_leaves = jax.tree_util.tree_leaves(new)
        return x_new, [v for v, f in zip(new_leaves, floating, strict=True) if f]

    return UpdateStep(apply, state0, name)


def program_step(
    rec: derive.Recurrence, numbers: Mapping[str, Any], grad: Callable[[PyTree], PyTree]
) -> Callable[[Sequence[PyTree], Any], tuple[PyTree, ...]]:
    """`(state, h) -> new state` from the recurrence's program, componentwise
    instructions included (leafwise on pytrees)."""
    outputs = rec.outputs

    def run(state: Sequence[PyTree], h: Any) -> tuple[PyTree, ...]:
        program = rec.numeric_program(h, **numbers)
        values = list(state)
        for ins in program:
            values.append(evaluate(ins, values, grad))
        return tuple(values[o] for o in outputs)

    return run


def evaluate(
    ins: Sequence[Any], values: Sequence[PyTree], grad: Callable[[PyTree], PyTree]
) -> PyTree:
    """The value of one instruction of `Recurrence.numeric_program` on pytrees."""
    kind = ins[0]
    if kind == "grad":
        return grad(values[ins[1]])
    if kind == "combine":
        data = ins[1]
        return combine([c for _, c in data], [values[v] for v, _ in data])
    tm = jax.tree_util.tree_map
    if kind == "constant":
        return tm(jnp.ones_like, values[0])
    if kind == "multiply":
        return tm(jnp.multiply, values[ins[1]], values[ins[2]])
    if kind == "power":
        p = ins[2]
        if p == 0.5:
            return tm(jnp.sqrt, values[ins[1]])
        if p.denominator == 1 and p < 0:
            return tm(lambda v: 1.0 / v ** int(-p), values[ins[1]])
        return tm(
            lambda v: v ** (int(p) if p.denominator == 1 else float(p)), values[ins[1]]
        )
    fn = {"abs": jnp.abs, "exp": jnp.exp, "log": jnp.log}[ins[1]]
    return tm(fn, values[ins[2]])
