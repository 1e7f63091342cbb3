"""Exact coefficient fields: rationals and rational functions of hyper-parameters.

Every coefficient the engine computes lives in one of two fields:

- $\\mathbb{Q}$, as `flint.fmpq` (C arithmetic from FLINT), when every hyper-parameter
  has a numerical value;
- $\\mathbb{Q}(p_1, \\dots, p_k)$, as [`RationalFunction`][derive.RationalFunction]: a
  reduced quotient of two `flint.fmpq_mpoly` polynomials, when some are symbols.

Both support `+ - * /` with each other's kind of integer and rational constants. SymPy
is imported only to print or convert, never to compute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import flint

from ._field import Field
from ._rational_function import Operand as Operand
from ._rational_function import RationalFunction, RationalFunctionField
from ._rational_function import linear_combination as linear_combination
from ._rational_function import rational_function_field as rational_function_field

if TYPE_CHECKING:
    import sympy

__all__ = [
    "Coefficient",
    "ExactNumber",
    "Field",
    "RationalField",
    "RationalFunctionField",
    "RationalFunction",
    "evaluate",
]


class RationalField(Field):
    """The rationals, as `flint.fmpq`."""

    zero: flint.fmpq
    one: flint.fmpq

    def __init__(self) -> None:
        self.zero = flint.fmpq(0)
        self.one = flint.fmpq(1)

    def convert(self, value: Coefficient | ExactNumber) -> flint.fmpq:
        if isinstance(value, flint.fmpq):
            return value
        if isinstance(value, int):
            return flint.fmpq(value)
        if isinstance(value, Fraction):
            return flint.fmpq(value.numerator, value.denominator)
        if isinstance(value, RationalFunction):
            if not value.is_constant():
                raise ValueError(f"{value} is not a constant")
            return value.constant_value()
        raise TypeError(f"cannot convert {value!r} to a rational number")

    def to_sympy(self, x: Coefficient) -> sympy.Expr:
        import sympy

        q = self.convert(x)
        return sympy.Rational(int(q.p), int(q.q))

    def __repr__(self) -> str:
        return "QQ"


QQ = RationalField()
"""The field of rationals, $\\mathbb{Q}$: coefficients of flows whose hyper-parameters
all have values."""

Coefficient: TypeAlias = flint.fmpq | RationalFunction
"""An exact coefficient: a `flint.fmpq` (a rational number), or a
[`RationalFunction`][derive.RationalFunction] of the symbolic hyper-parameters (and,
inside the engine, of `h`)."""

ExactNumber: TypeAlias = int | Fraction | flint.fmpq
"""An exact rational constant, as every field converts it."""


def field_for(names: tuple[str, ...]) -> Field:
    """$\\mathbb{Q}$ when `names` is empty, else $\\mathbb{Q}(\\text{names})$."""
    return rational_function_field(tuple(names)) if names else QQ


def as_rational_function(x: Coefficient) -> RationalFunction:
    """`x` itself, checked to be a [`RationalFunction`][derive.RationalFunction] (an
    element of a field with variables)."""
    if not isinstance(x, RationalFunction):
        raise TypeError(f"expected a rational function, got {x!r}")
    return x


@overload
def evaluate(
    coefficient: flint.fmpq | int | Fraction, values: Mapping[str, Any] | None = None
) -> float: ...


@overload
def evaluate(
    coefficient: Coefficient, values: Mapping[str, Any] | None = None
) -> Any: ...


def evaluate(
    coefficient: Coefficient | int | Fraction, values: Mapping[str, Any] | None = None
) -> Any:
    """An exact coefficient at numbers: the one way from exact to floating point.

    **Arguments:**

    - `coefficient`: a `flint.fmpq`, a [`RationalFunction`][derive.RationalFunction],
      an `int` or a `Fraction`.
    - `values`: numbers for the variables of a rational function (hyper-parameters,
      possibly `h`), by name. Anything with `+`, `*` and `**` works: floats, NumPy or
      JAX arrays (the result then has their type).

    **Returns:** a float for a constant, else the value computed with `values`.

    **Raises:** `KeyError` naming a variable that has no value.

    !!! example
        ```python
        >>> import derive
        >>> flow = derive.modified_flow(derive.heavy_ball(), order=1)
        >>> [derive.evaluate(t.coefficient, {"beta": 0.5}) for t in flow.terms]
        [2.0, -6.0]

        ```
    """
    if isinstance(coefficient, RationalFunction):
        names = coefficient.field.names
        env = values or {}
        missing = [n for n in names if n not in env]
        if missing:
            raise KeyError(f"no value for {', '.join(missing)}")
        point = [env[n] for n in names]
        return _polynomial_value(coefficient.num, point) / _polynomial_value(
            coefficient.den, point
        )
    if isinstance(coefficient, flint.fmpq):
        return float(Fraction(int(coefficient.p), int(coefficient.q)))
    return float(coefficient)


def _polynomial_value(poly: flint.fmpq_mpoly, point: Sequence[Any]) -> Any:
    total: Any = 0.0
    for monom, c in poly.to_dict().items():
        term = float(Fraction(int(c.p), int(c.q)))
        for v, k in zip(point, monom, strict=True):
            if k:
                term = term * v ** int(k)
        total = total + term
    return total
