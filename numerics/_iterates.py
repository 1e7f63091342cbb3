"""Discrete iterates of an optimizer, from the same definition that `derive` traced.

The update runs as the recurrence's straight-line program (`Recurrence.
coefficient_values`): gradient calls are `jax.grad` of the loss, affine combinations are
leafwise sums over pytrees. That program is exactly what the symbolic engine derived the
modified flow from, for built-ins, traced Python functions and text specs alike; the
Python function itself can be run instead (`via="function"`, on pytrees wrapped so that
`+`, `-` and scalar `*` act leafwise), and the tests check that both agree. Steps run in
`jax.lax.scan`; `h`, `x0` and the hyper-parameters may be traced, so runs `jax.vmap`
over step sizes and initial points.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import jax
import jax.numpy as jnp

import derive

from ._componentwise_start import ComponentwiseStart
from ._manifold_start import ManifoldStart
from ._precision import uses_float64
from ._pytree import TreeVector, norm
from ._typing import Array, GradientFunction, LossFunction, Parameters, PyTree
from ._update_step import evaluate

__all__ = [
    "iterates",
    "Iterates",
    "make_runner",
    "make_stepper",
    "as_recurrence",
    "numeric_parameters",
    "initial_point",
    "run_program",
]

DEFAULT_BLOWUP = 1e8
"""Iterates are declared divergent once $|x_n| > 10^8 (1 + |x_0|)$ or non-finite."""

State = tuple[PyTree, ...]
"""The optimizer's state, position first."""

Step = Callable[[State], State]

Runner = Callable[[PyTree, Any], tuple[PyTree, Array, State]]
"""`(x0, h) -> (positions, first divergent step or -1, initial state)`."""

Start = Callable[[LossFunction, PyTree, Any], State]
"""`(loss, x0, h) -> initial state`, as [`ManifoldStart`][numerics.ManifoldStart]."""


def as_recurrence(
    optimizer: derive.OptimizerDefinition, params: Parameters | None = None
) -> tuple[derive.Recurrence, dict[str, float]]:
    """A `derive.Recurrence` and the numbers for its symbolic parameters.

    `optimizer` is anything [`derive.optimizer`][derive.optimizer] takes: a
    `Recurrence`, a built-in name (`"heavy-ball"`), a text spec or a plain Python
    update function. For a `Recurrence`, `params` give numbers to its symbolic
    parameters; otherwise they fix hyper-parameters exactly, as for
    `derive.optimizer`.
    """
    params = dict(params or {})
    if isinstance(optimizer, derive.Recurrence):
        return optimizer, numeric_parameters(optimizer, params)
    rec = derive.optimizer_from(optimizer, params)
    return rec, numeric_parameters(rec, {})


def numeric_parameters(
    rec: derive.Recurrence, params: Parameters | None
) -> dict[str, float]:
    """Numbers for every symbolic parameter of `rec` (`DeriveError` if one is missing)."""
    from derive import DeriveError

    params = dict(params or {})
    unknown = sorted(set(params) - set(rec.parameters) - set(rec.values))
    if unknown:
        raise DeriveError(
            f"unknown parameter(s) {unknown} for {rec.name}; its parameters are "
            f"{list(rec.values) + list(rec.parameters) or 'none'}.",
            "Check the spelling.",
        )
    fixed = sorted(set(params) & set(rec.values))
    for k in fixed:
        if Fraction(params[k]).limit_denominator(10**12) != rec.values[k]:
            raise DeriveError(
                f"{k} = {params[k]} was given, but the optimizer has "
                f"{k} = {rec.values[k]}.",
                "Give the value once, when building the optimizer.",
            )
    missing = [p for p in rec.parameters if p not in params]
    if missing:
        raise DeriveError(
            f"no value for the symbolic hyper-parameter(s) {missing} of {rec.name}.",
            "Give numbers, e.g. params={'beta': 0.9} (on the command line "
            "--param beta=0.9).",
        )
    return {p: float(params[p]) for p in rec.parameters}


@dataclass(frozen=True)
class Iterates:
    """Result of [`iterates`][numerics.iterates].

    **Attributes:**

    - `positions`: the pytree of positions $x_0, \\dots, x_N$ (leading axis $N + 1$).
    - `initial_state`: the full initial state (position first).
    - `h`, `n_steps`, `init`: the inputs.
    - `diverged_at`: the first step $n$ whose position is non-finite or has norm above
      $10^8 (1 + |x_0|)$, or `None`.
    """

    positions: PyTree
    initial_state: State
    h: float
    n_steps: int
    init: str
    diverged_at: int | None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def times(self) -> Array:
        """$t_n = n h$."""
        return self.h * jnp.arange(self.n_steps + 1)

    def __repr__(self) -> str:
        status = f"diverged at step {self.diverged_at}" if self.diverged else "finite"
        return (
            f"Iterates(h={self.h}, n_steps={self.n_steps}, init={self.init!r}, "
            f"{status})"
        )


def initial_point(loss: LossFunction, x0: PyTree | None) -> PyTree:
    """`x0` as float64 arrays: a 1-D array for a [`Loss`][numerics.Loss] (default: its
    recommended start), any pytree otherwise."""
    from derive import DeriveError

    from ._losses import Loss

    if isinstance(loss, Loss):
        if x0 is None:
            if loss.start is None:
                raise DeriveError(
                    f"the loss {loss.name!r} has no recommended start and no x0 "
                    "was given.",
                    "Pass an initial point, e.g. x0=(0.5, 0.5) (on the command line "
                    "--x0 0.5,0.5).",
                )
            x0 = loss.start
        x = jnp.asarray(x0, dtype=jnp.float64)
        if x.shape != (loss.dimension,):
            raise DeriveError(
                f"x0 has shape {x.shape}, but the loss {loss.name!r} has "
                f"{loss.dimension} variables.",
                f"Give {loss.dimension} numbers.",
            )
        return x
    if x0 is None:
        raise DeriveError(
            "no initial point x0 was given.", "Pass x0 (any pytree of arrays)."
        )
    return jax.tree_util.tree_map(lambda v: jnp.asarray(v, dtype=jnp.float64), x0)


def run_program(
    rec: derive.Recurrence,
    program: Sequence[Sequence[Any]],
    grad: GradientFunction,
    state: State,
) -> State:
    """One step of `rec` on pytrees: `program` is `rec.numeric_program(h, ...)` (or
    `rec.coefficient_values(h, ...)`); gradient calls go through `grad` (e.g. the
    gradient of this step's batch), affine combinations are leafwise sums and
    componentwise instructions act leafwise. Returns every new state."""
    values = list(state)
    for ins in program:
        values.append(evaluate(ins, values, grad))
    return tuple(values[o] for o in rec.outputs)


def _program_step(
    rec: derive.Recurrence, grad: GradientFunction, h: Any, params: Mapping[str, Any]
) -> Step:
    """One step of the recurrence's program on pytrees (all states returned),
    componentwise instructions included."""
    program = rec.numeric_program(h, **params)

    def step(state: State) -> State:
        return run_program(rec, program, grad, state)

    return step


def _function_step(
    rec: derive.Recurrence, grad: GradientFunction, h: Any, params: Mapping[str, Any]
) -> Step:
    from derive import DeriveError

    fn = rec.function
    if fn is None:
        raise DeriveError(
            f"{rec.name} has no Python function to run (it was built from a spec).",
            "Use via='program' (the default), which runs the traced program.",
        )
    if rec.componentwise:
        raise DeriveError(
            f"{rec.name} is componentwise; its function runs on arrays, not on the "
            "pytree wrappers of via='function'.",
            "Use via='program' (the default), which runs the traced program.",
        )
    kwargs: dict[str, Any] = {k: float(v) for k, v in rec.values.items()}
    kwargs.update(params)
    m = len(rec.states)

    def wrapped_grad(v: TreeVector) -> TreeVector:
        return TreeVector(grad(v.tree))

    def step(state: State) -> State:
        out = fn(*(TreeVector(s) for s in state), grad=wrapped_grad, h=h, **kwargs)
        if isinstance(out, tuple | list):
            return tuple(o.tree for o in out)
        return (out.tree, *state[: m - 1])

    return step


Stepper = tuple[Callable[[PyTree, Any], State], Callable[[State, Any], State]]
"""`(start, step)`: `start(x0, h)` is the initial state, `step(state, h)` one step."""


def make_stepper(
    rec: derive.Recurrence,
    loss: LossFunction,
    *,
    params: Parameters | None = None,
    init: str | Sequence[PyTree] | Start = "manifold",
    manifold_nodes: int = 5,
    manifold: derive.SlowManifold | None = None,
    via: str = "program",
) -> Stepper:
    """`(start, step)` for `rec` on `loss`: pure functions of traced `h`, for runs
    that drive the steps themselves (the chunked comparison of
    [`verify`][numerics.verify]). See [`iterates`][numerics.iterates] for the
    arguments."""
    from derive import DeriveError

    numbers = numeric_parameters(rec, params)
    grad = jax.grad(loss)
    if via not in ("program", "function"):
        raise DeriveError(f"via={via!r}: use 'program' or 'function'.", "")
    make_step = _program_step if via == "program" else _function_step
    start: Start
    if callable(init):
        start = init
    elif isinstance(init, str) and rec.componentwise:
        if init not in ("manifold", "rest"):
            raise DeriveError(
                f"init={init!r}: use 'manifold', 'rest' or a tuple of initial states.",
                "",
            )
        order = max(manifold_nodes - 1, 0) if init == "manifold" else None
        start = ComponentwiseStart(rec, order, numbers)
    elif isinstance(init, str):
        if init == "manifold":
            start = ManifoldStart(rec, manifold_nodes, numbers, manifold=manifold)
        elif init == "rest":
            start = ManifoldStart(rec, 0, numbers)
        else:
            raise DeriveError(
                f"init={init!r}: use 'manifold', 'rest' or a tuple of initial states.",
                "",
            )
    else:
        given = tuple(init)
        if len(given) != len(rec.states):
            raise DeriveError(
                f"init has {len(given)} states; {rec.name} has {list(rec.states)}.", ""
            )

        def given_start(loss_: LossFunction, x: PyTree, h: Any) -> State:
            return given

        start = given_start

    def begin(x0: PyTree, h: Any) -> State:
        return tuple(start(loss, x0, h))

    def step(state: State, h: Any) -> State:
        return make_step(rec, grad, h, numbers)(state)

    return begin, step


def make_runner(
    rec: derive.Recurrence,
    loss: LossFunction,
    n_steps: int,
    *,
    params: Parameters | None = None,
    init: str | Sequence[PyTree] | Start = "manifold",
    manifold_nodes: int = 5,
    manifold: derive.SlowManifold | None = None,
    via: str = "program",
    blowup: float = DEFAULT_BLOWUP,
) -> Runner:
    """A pure function `(x0, h) -> (positions, diverged_at, initial_state)` for
    `jax.jit` and `jax.vmap`.

    `diverged_at` is the first divergent step, or -1. See
    [`iterates`][numerics.iterates] for the arguments; `manifold` is the
    recurrence's `derive.SlowManifold` when it is already solved (see
    [`ManifoldStart`][numerics.ManifoldStart]).
    """
    begin, step = make_stepper(
        rec,
        loss,
        params=params,
        init=init,
        manifold_nodes=manifold_nodes,
        manifold=manifold,
        via=via,
    )

    def run(x0: PyTree, h: Any) -> tuple[PyTree, Array, State]:
        state = begin(x0, h)

        def body(state: State, _: None) -> tuple[State, PyTree]:
            new = step(state, h)
            return new, new[0]

        _, xs = jax.lax.scan(body, tuple(state), None, length=n_steps)
        positions = jax.tree_util.tree_map(
            lambda a, b: jnp.concatenate([jnp.asarray(a)[None], b]), state[0], xs
        )
        norms = norm(positions, batch_dims=1)
        bound = blowup * (1.0 + norm(x0))
        bad = ~jnp.isfinite(norms) | (norms > bound)
        first = jnp.where(jnp.any(bad), jnp.argmax(bad), -1)
        return positions, first, tuple(state)

    return run


@uses_float64
def iterates(
    recurrence: derive.OptimizerDefinition,
    loss: LossFunction,
    x0: PyTree | None,
    h: float,
    n_steps: int,
    *,
    params: Parameters | None = None,
    init: str | Sequence[PyTree] | Start = "manifold",
    manifold_nodes: int = 5,
    via: str = "program",
    blowup: float = DEFAULT_BLOWUP,
) -> Iterates:
    """Run an optimizer for `n_steps` steps on a JAX loss, in float64.

    **Arguments:**

    - `recurrence`: a `derive.Recurrence` (`derive.heavy_ball(0.9)`,
      `derive.parse_spec(...)`, ...), a built-in name, or a plain update function.
    - `loss`: $f$, a JAX function of a pytree (or a [`Loss`][numerics.Loss]).
    - `x0`: the initial position, any pytree of arrays (`None`: the loss's start).
    - `h`: the step size.
    - `n_steps`: the number of steps $N$.
    - `params`: numbers for symbolic hyper-parameters (for a name or a function: the
      hyper-parameters).
    - `init`: `"manifold"` (default) starts the other states on the slow manifold, with
      trees up to `manifold_nodes` nodes (off by $O(h^{\\text{nodes}+1})$; for a
      componentwise optimizer, the moments through $h^{\\text{nodes}-1}$); `"rest"`
      puts them at $\\alpha_j x_0$ ($x_{-1} = x_0$, zero velocity; zero moments for a
      componentwise optimizer), which leaves an offset that hides every correction
      beyond the leading order; a tuple of initial states; or a function
      `(loss, x0, h) -> states`.
    - `via`: `"program"` runs the traced program (works for specs); `"function"` runs
      the Python update function on pytrees.
    - `blowup`: the divergence bound factor.

    **Returns:** [`Iterates`][numerics.Iterates]; `diverged_at` reports a blow-up.

    !!! example
        ```python
        >>> import derive, numerics
        >>> loss = numerics.get_loss("quadratic")           # diag(1, 10)
        >>> run = numerics.iterates(derive.gd(), loss, None, h=0.3, n_steps=50)
        >>> run.diverged, run.diverged_at                   # 0.3 > 2/10
        (True, 28)

        ```
    """
    from derive import DeriveError

    rec, numbers = as_recurrence(recurrence, params)
    x0 = initial_point(loss, x0)
    n_steps = int(n_steps)
    if n_steps < 0:
        raise DeriveError(f"n_steps must be non-negative, got {n_steps}.", "")
    runner = make_runner(
        rec,
        loss,
        n_steps,
        params=numbers,
        init=init,
        manifold_nodes=manifold_nodes,
        via=via,
        blowup=blowup,
    )
    positions, first_bad, state0 = jax.jit(runner)(x0, jnp.float64(h))
    first = int(first_bad)
    label = (
        init if isinstance(init, str) else ("function" if callable(init) else "given")
    )
    return Iterates(
        positions=positions,
        initial_state=state0,
        h=float(h),
        n_steps=n_steps,
        init=label,
        diverged_at=None if first < 0 else first,
    )
