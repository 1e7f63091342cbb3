"""Optimizers as recurrences: the intermediate representation.

An optimizer is a straight-line program on its state: affine combinations of values
and gradient calls `grad(y)` at such combinations (nested calls allowed), and for
adaptive optimizers componentwise instructions (`derive._componentwise.ir`: products,
powers, `abs`, `exp`, `log`). Plain Python functions and text specs become a
[`Recurrence`][derive.Recurrence] through the tracer (`derive._trace`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from fractions import Fraction
from typing import Any, Literal, TypeAlias, cast

from ._coefficients import (
    RationalFunction,
    RationalFunctionField,
    evaluate,
)
from ._componentwise.ir import (
    ComponentwiseInstruction,
    describe,
    evaluate_step,
    is_componentwise,
    numeric_step,
)
from ._errors import DeriveError

__all__ = [
    "Combine",
    "Grad",
    "Instruction",
    "Recurrence",
    "NumericInstruction",
    "NumericStep",
]


@dataclass(frozen=True)
class Combine:
    """A new value $\\sum_k c_k v_k$: `terms` are `(value index, coefficient)` pairs."""

    terms: tuple[tuple[int, RationalFunction], ...]


@dataclass(frozen=True)
class Grad:
    """A new value $\\nabla f(v)$ for the value with index `arg` (note: $\\nabla f = -g$)."""

    arg: int


Instruction: TypeAlias = Combine | Grad | ComponentwiseInstruction
"""One instruction of a program."""

NumericInstruction: TypeAlias = (
    tuple[Literal["grad"], int] | tuple[Literal["combine"], list[tuple[int, Any]]]
)
"""One instruction with numbers for coefficients: `("grad", value index)` or
`("combine", [(value index, number), ...])`."""

NumericStep: TypeAlias = (
    NumericInstruction
    | tuple[Literal["constant"]]
    | tuple[Literal["multiply"], int, int]
    | tuple[Literal["power"], int, Fraction]
    | tuple[Literal["apply"], str, int]
)
"""One instruction of [`numeric_program`][derive.Recurrence.numeric_program]: a
`NumericInstruction`, or a componentwise one: `("constant",)` (the vector of ones),
`("multiply", a, b)`, `("power", a, exponent)` or `("apply", "abs" | "exp" | "log",
a)`, with value indices `a`, `b`."""


@dataclass(frozen=True, eq=False)
class Recurrence:
    """An optimizer as a straight-line program on its state.

    Values are numbered: `0..len(states)-1` are the current states (`states[0]` is the
    position), then one value per instruction. `outputs[j]` is the value that becomes
    state `j` after one step. Coefficients are exact elements of `field`, the rational
    functions of the symbolic hyper-parameters and of `h`.

    **Attributes:**

    - `name`: a short name for records (`"heavy-ball"`).
    - `states`: state names, position first.
    - `parameters`: the hyper-parameters that stay symbolic.
    - `values`: the hyper-parameters given numerically, as exact `Fraction`s.
    - `field`: the coefficient field $\\mathbb{Q}(\\text{parameters}, h)$.
    - `instructions`, `outputs`: the program. The B-series engine reads
      `instructions` as affine combinations and gradient calls; a recurrence with
      componentwise instructions (`componentwise` true: RMSProp, Adam, ...) holds them
      in the same tuple, and its full program is typed as `program`.
    - `function`: the Python function that was traced, if any (the numerics run it).
    - `source`: the text spec it was parsed from, if any.
    """

    name: str
    states: tuple[str, ...]
    parameters: tuple[str, ...]
    values: Mapping[str, Fraction]
    field: RationalFunctionField
    instructions: tuple[Combine | Grad, ...]
    outputs: tuple[int, ...]
    function: Callable[..., Any] | None = None
    source: str | None = None
    description: str = ""
    extra: Mapping[str, Any] = dataclass_field(default_factory=dict)

    @property
    def parameter_texts(self) -> dict[str, str]:
        """Every hyper-parameter as exact text: its value (`"9/10"`) when it has one,
        its name when it stays a symbol (`{"beta": "beta"}`)."""
        out = {p: p for p in self.parameters}
        out.update({k: str(v) for k, v in self.values.items()})
        return out

    @property
    def componentwise(self) -> bool:
        """Whether the program has componentwise instructions (an adaptive
        optimizer): its modified flow comes from the componentwise engine."""
        return is_componentwise(self.instructions)

    def require_affine(self, what: str) -> None:
        """Raise a [`DeriveError`][derive.DeriveError] if the program has
        componentwise instructions: `what` (e.g. "the invariant manifold") is
        available for the B-series class only."""
        if self.componentwise:
            raise DeriveError(
                f"{what} is available for optimizers whose gradients enter through "
                f"affine combinations (B-series); {self.name!r} has componentwise "
                "operations (an adaptive optimizer).",
                "Use derive.modified_flow for its modified flow, and the numerics' "
                "automatic-differentiation route (numerics.modified_field) for other "
                "analyses.",
            )

    @property
    def program(self) -> tuple[Instruction, ...]:
        """The instructions, typed with the componentwise ones."""
        return cast(tuple[Instruction, ...], self.instructions)

    @property
    def n_grad_calls(self) -> int:
        return sum(isinstance(i, Grad) for i in self.instructions)

    def coefficient_values(self, h: Any, **params: Any) -> list[NumericInstruction]:
        """The program with every coefficient evaluated at numbers (floats allowed).

        Returns a list parallel to `instructions`: `("grad", arg)` or
        `("combine", [(value, number), ...])`. For a componentwise recurrence use
        [`numeric_program`][derive.Recurrence.numeric_program].
        """
        if self.componentwise:
            raise DeriveError(
                f"{self.name} has componentwise instructions; its numerical program "
                "is numeric_program(h, **params).",
                "Call numeric_program, or run() for one step.",
            )
        return cast(list[NumericInstruction], self.numeric_program(h, **params))

    def numeric_program(self, h: Any, **params: Any) -> list[NumericStep]:
        """The program with numbers for coefficients, componentwise instructions
        included (see `NumericStep`): `("grad", arg)`, `("combine", [(value,
        number), ...])`, `("constant",)`, `("multiply", a, b)`, `("power", a, p)`,
        `("apply", name, a)`.

        !!! example
            ```python
            >>> import derive
            >>> [ins[0] for ins in derive.rmsprop().numeric_program(0.1, beta2=0.9,
            ...                                                     eps=1e-8)][:4]
            ['grad', 'combine', 'multiply', 'combine']

            ```
        """
        missing = set(self.parameters) - set(params)
        if missing:
            raise DeriveError(
                f"no value for the symbolic hyper-parameter(s) {sorted(missing)}.",
                "Give every symbolic hyper-parameter a number to run the recurrence.",
            )
        env = {**params, "h": h}
        out: list[NumericStep] = []
        for ins in self.program:
            if isinstance(ins, Grad):
                out.append(("grad", ins.arg))
            elif isinstance(ins, Combine):
                out.append(("combine", [(v, evaluate(c, env)) for v, c in ins.terms]))
            else:
                out.append(numeric_step(ins))
        return out

    def run(
        self,
        state: Sequence[Any],
        grad: Callable[[Any], Any],
        h: Any,
        xp: Any = None,
        **params: Any,
    ) -> tuple[Any, ...]:
        """One step of the recurrence on numbers or arrays.

        **Arguments:**

        - `state`: a tuple with one value per state (arrays support `+` and `*`).
        - `grad`: a function returning $\\nabla f$ at a point.
        - `h`, `**params`: numbers for the step size and the symbolic hyper-parameters.
        - `xp`: the array namespace of componentwise instructions (default NumPy).

        **Returns:** the new state tuple.

        !!! example
            ```python
            >>> import derive
            >>> derive.heavy_ball(0.5).run((1.0, 1.0), lambda x: 2 * x, h=0.1)
            (0.8, 1.0)

            ```
        """
        program = self.numeric_program(h, **params)
        values = list(state)
        if len(values) != len(self.states):
            raise DeriveError(
                f"{len(values)} state values for the states {list(self.states)}.", ""
            )
        for ins in program:
            if ins[0] == "grad":
                values.append(grad(values[ins[1]]))
            elif ins[0] != "combine":
                if xp is None:
                    import numpy as xp
                values.append(evaluate_step(ins, values, xp))
            else:
                acc = None
                for v, c in ins[1]:
                    term = c * values[v]
                    acc = term if acc is None else acc + term
                values.append(acc)
        return tuple(values[o] for o in self.outputs)

    def pretty(self) -> str:
        """The program as readable lines (`v3 = beta*x - beta*x_prev`, ...)."""
        names = list(self.states)
        lines = []
        for k, ins in enumerate(self.program):
            name = f"v{len(self.states) + k}"
            if isinstance(ins, Grad):
                lines.append(f"{name} = grad({names[ins.arg]})")
            elif not isinstance(ins, Combine):
                lines.append(f"{name} = {describe(ins, names)}")
            else:
                parts = [f"({c})*{names[i]}" for i, c in ins.terms]
                lines.append(f"{name} = " + " + ".join(parts))
            names.append(name)
        for s, o in zip(self.states, self.outputs, strict=True):
            lines.append(f"{s}+ = {names[o]}")
        return "\n".join(lines)
