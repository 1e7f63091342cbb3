"""Componentwise instructions of the recurrence IR, and their numerical evaluation.

Besides affine combinations and gradient calls (`derive._recurrence`), an adaptive
optimizer's program uses operations that act on vectors component by component:

| instruction | value | written as |
|---|---|---|
| `Constant()` | the vector of ones $\\mathbb 1$ (constants added to vectors: `v + eps`) | `v + eps` |
| `Multiply(a, b)` | $a \\odot b$ (Hadamard product) | `a * b` |
| `Power(a, p)` | $a^p$ componentwise, $p$ rational (quotients are powers $-1$) | `a**p`, `a / b`, `sqrt(a)` |
| `Apply(name, a)` | $|a|$, $e^a$ or $\\log a$ componentwise | `abs(a)`, `exp(a)`, `log(a)` |

`abs` is smooth away from zero, so the modified flow holds where its argument stays
away from zero at $h = 0$ (the flow states it). Non-smooth operations (`sign`, `max`,
`min`, comparisons) are refused: a modified flow needs derivatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, TypeAlias

from .._errors import DeriveError

__all__ = [
    "Constant",
    "Multiply",
    "Power",
    "Apply",
    "ComponentwiseInstruction",
    "FUNCTIONS",
    "NONSMOOTH",
    "is_componentwise",
    "numeric_step",
    "evaluate_step",
    "describe",
]

FUNCTIONS = ("abs", "exp", "log")
"""The elementwise functions of `Apply` (square roots are `Power(a, 1/2)`)."""

NONSMOOTH = (
    "sign",
    "maximum",
    "minimum",
    "max",
    "min",
    "where",
    "clip",
    "floor",
    "ceil",
    "round",
)
"""Names refused with a message: a modified flow needs a smooth update."""


@dataclass(frozen=True)
class Constant:
    """A new value $\\mathbb 1$, the vector of ones (shaped like the position)."""


@dataclass(frozen=True)
class Multiply:
    """A new value $a \\odot b$ for the values with indices `a` and `b`."""

    a: int
    b: int


@dataclass(frozen=True)
class Power:
    """A new value $a^p$ componentwise, for a rational exponent `p`."""

    a: int
    exponent: Fraction


@dataclass(frozen=True)
class Apply:
    """A new value $\\phi(a)$ componentwise, $\\phi$ one of `abs`, `exp`, `log`."""

    function: Literal["abs", "exp", "log"]
    a: int


ComponentwiseInstruction: TypeAlias = Constant | Multiply | Power | Apply
"""An instruction acting on vectors component by component."""


def is_componentwise(instructions: Sequence[object]) -> bool:
    """Whether a program uses componentwise instructions (and so needs the
    componentwise engine rather than B-series)."""
    return any(isinstance(i, Constant | Multiply | Power | Apply) for i in instructions)


def describe(ins: ComponentwiseInstruction, names: Sequence[str]) -> str:
    """One instruction as text (`v3 = v1 * v2`), for `Recurrence.pretty`."""
    if isinstance(ins, Constant):
        return "1"
    if isinstance(ins, Multiply):
        return f"{names[ins.a]} * {names[ins.b]}"
    if isinstance(ins, Power):
        if ins.exponent == Fraction(1, 2):
            return f"sqrt({names[ins.a]})"
        return f"{names[ins.a]}**({ins.exponent})"
    return f"{ins.function}({names[ins.a]})"


Namespace: TypeAlias = Any
"""An array namespace with `sqrt`, `abs`, `exp`, `log` and `ones_like` (NumPy,
`jax.numpy`)."""


def numeric_step(ins: ComponentwiseInstruction) -> tuple[Any, ...]:
    """The plain-tuple form of an instruction in `Recurrence.numeric_program`."""
    if isinstance(ins, Constant):
        return ("constant",)
    if isinstance(ins, Multiply):
        return ("multiply", ins.a, ins.b)
    if isinstance(ins, Power):
        return ("power", ins.a, ins.exponent)
    return ("apply", ins.function, ins.a)


def evaluate_step(step: Sequence[Any], values: Sequence[Any], xp: Namespace) -> Any:
    """The value of one componentwise step of `numeric_program` on numbers or arrays
    (`values[0]` is the position: `("constant",)` takes its shape)."""
    kind = step[0]
    if kind == "constant":
        return xp.ones_like(values[0])
    if kind == "multiply":
        return values[step[1]] * values[step[2]]
    if kind == "power":
        v, p = values[step[1]], Fraction(step[2])
        if p == Fraction(1, 2):
            return xp.sqrt(v)
        if p.denominator == 1:
            n = int(p)
            return v**n if n >= 0 else 1.0 / v ** (-n)
        return v ** float(p)
    fn = {"abs": xp.abs, "exp": xp.exp, "log": xp.log}.get(step[1])
    if fn is None:  # pragma: no cover - the tracer builds only these
        raise DeriveError(f"unknown elementwise function {step[1]!r}.", "")
    return fn(values[step[2]])
