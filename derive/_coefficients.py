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
from functools import cache
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import flint

from ._poly_budget import MAX_TERMS, check_power_size, check_product_size

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


class Field:
    """The field exact coefficients live in: $\\mathbb{Q}$ or
    $\\mathbb{Q}(p_1, \\dots, p_k)$.

    The two kinds are the rationals (elements `flint.fmpq`, no `names`) and the
    rational functions of the variables `names` (elements
    [`RationalFunction`][derive.RationalFunction]); both give `zero`, `one`, `convert`
    (from exact numbers and from each other's elements) and `to_sympy`. A
    [`Term`][derive.Term] carries the field of its coefficient.

    !!! example
        ```python
        >>> import derive
        >>> flow = derive.modified_flow(derive.heavy_ball(), order=1)
        >>> field = flow.terms[1].field
        >>> field.names, field.to_sympy(field.one / 3)
        (('beta',), 1/3)

        ```
    """

    names: tuple[str, ...] = ()
    zero: Coefficient
    one: Coefficient

    def is_zero(self, x: Coefficient) -> bool:
        return x == 0

    def convert(
        self, value: Coefficient | ExactNumber
    ) -> Coefficient:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_sympy(self, x: Coefficient) -> sympy.Expr:  # pragma: no cover - abstract
        raise NotImplementedError


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


class RationalFunction:
    """A rational function `num/den` over $\\mathbb{Q}$, kept reduced with a monic-like
    denominator (leading coefficient 1 in lexicographic order)."""

    __slots__ = ("num", "den", "field")

    def __init__(
        self,
        num: flint.fmpq_mpoly,
        den: flint.fmpq_mpoly,
        field: RationalFunctionField,
        *,
        reduce: bool = True,
    ):
        if reduce:
            if den.is_zero():
                raise ZeroDivisionError("division by zero in a rational function")
            if not den.is_one():
                if den.is_constant():
                    c = den.leading_coefficient()
                    num = num / c
                    den = field.poly_one
                else:
                    g = num.gcd(den)
                    if not g.is_one():
                        num = num / g
                        den = den / g
                    c = den.leading_coefficient()
                    if c != 1:
                        num = num / c
                        den = den / c
        self.num = num
        self.den = den
        self.field = field

    # --- helpers
    def _coerce(self, other: object) -> RationalFunction | None:
        if isinstance(other, RationalFunction):
            if other.field is not self.field:
                return self.field.convert(other)
            return other
        if not isinstance(other, int | Fraction | flint.fmpq):
            return None
        return self.field.convert(other)

    def is_constant(self) -> bool:
        return self.num.is_constant() and self.den.is_constant()

    def constant_value(self) -> flint.fmpq:
        if self.num.is_zero():
            return flint.fmpq(0)
        return flint.fmpq(self.num.leading_coefficient()) / flint.fmpq(
            self.den.leading_coefficient()
        )

    def is_zero(self) -> bool:
        return self.num.is_zero()

    # --- arithmetic
    def __add__(self, other: Operand) -> RationalFunction:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        if self.den == o.den:
            if self.den.is_one():
                return RationalFunction(
                    self.num + o.num, self.den, self.field, reduce=False
                )
            return RationalFunction(self.num + o.num, self.den, self.field)
        return RationalFunction(
            self.num * o.den + o.num * self.den, self.den * o.den, self.field
        )

    __radd__ = __add__

    def __neg__(self) -> RationalFunction:
        return RationalFunction(-self.num, self.den, self.field, reduce=False)

    def __sub__(self, other: Operand) -> RationalFunction:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return self + (-o)

    def __rsub__(self, other: Operand) -> RationalFunction:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return o + (-self)

    def __mul__(self, other: Operand) -> RationalFunction:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        if len(self.num) * len(o.num) + len(self.den) * len(o.den) > MAX_TERMS:
            check_product_size(self, o)
        if self.den.is_one() and o.den.is_one():
            return RationalFunction(
                self.num * o.num, self.den, self.field, reduce=False
            )
        return RationalFunction(self.num * o.num, self.den * o.den, self.field)

    __rmul__ = __mul__

    def __truediv__(self, other: Operand) -> RationalFunction:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        if o.num.is_zero():
            raise ZeroDivisionError(f"division by zero: ({self}) / ({o})")
        return RationalFunction(self.num * o.den, self.den * o.num, self.field)

    def __rtruediv__(self, other: Operand) -> RationalFunction:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return o / self

    def __pow__(self, n: int) -> RationalFunction:
        if not isinstance(n, int):
            return NotImplemented
        if n < 0:
            return self.field.one / (self**-n)
        if n > 1 and (len(self.num) > 1 or len(self.den) > 1):
            check_power_size(self, n)
        return RationalFunction(self.num**n, self.den**n, self.field, reduce=False)

    def __eq__(self, other: object) -> bool:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return self.num == o.num and self.den == o.den

    def __hash__(self) -> int:
        return hash((str(self.num), str(self.den)))

    def __bool__(self) -> bool:
        return not self.num.is_zero()

    def __repr__(self) -> str:
        if self.den.is_one():
            return f"{self.num}"
        return f"({self.num})/({self.den})"


class RationalFunctionField(Field):
    """$\\mathbb{Q}(p_1, \\dots, p_k)$ for the named variables `names`."""

    zero: RationalFunction
    one: RationalFunction

    def __init__(self, names: tuple[str, ...]):
        self.names = tuple(names)
        self.ctx = flint.fmpq_mpoly_ctx.get(self.names, "lex")
        self.poly_one = self.ctx.from_dict({(0,) * len(self.names): 1})
        self.poly_zero = self.ctx.from_dict({})
        self.zero = RationalFunction(self.poly_zero, self.poly_one, self, reduce=False)
        self.one = RationalFunction(self.poly_one, self.poly_one, self, reduce=False)

    def gen(self, name: str) -> RationalFunction:
        g = self.ctx.gens()[self.names.index(name)]
        return RationalFunction(g, self.poly_one, self, reduce=False)

    def from_polys(
        self, num: flint.fmpq_mpoly, den: flint.fmpq_mpoly
    ) -> RationalFunction:
        return RationalFunction(num, den, self)

    def convert(self, value: Coefficient | ExactNumber) -> RationalFunction:
        if isinstance(value, RationalFunction):
            if value.field is self:
                return value
            return RationalFunction(
                self._embed(value.num, value.field.names),
                self._embed(value.den, value.field.names),
                self,
            )
        if isinstance(value, int | flint.fmpq):
            return RationalFunction(
                self.poly_one * flint.fmpq(value), self.poly_one, self, reduce=False
            )
        if isinstance(value, Fraction):
            return self.convert(flint.fmpq(value.numerator, value.denominator))
        raise TypeError(f"cannot convert {value!r} to a rational function")

    def _embed(self, poly: flint.fmpq_mpoly, names: Sequence[str]) -> flint.fmpq_mpoly:
        missing = [n for n in names if n not in self.names]
        if missing:
            raise TypeError(f"variables {missing} are not in the field {self.names}")
        pos = [self.names.index(n) for n in names]
        out: dict[tuple[int, ...], flint.fmpq] = {}
        for monom, c in poly.to_dict().items():
            e = [0] * len(self.names)
            for i, k in zip(pos, monom, strict=True):
                e[i] = k
            out[tuple(e)] = c
        return self.ctx.from_dict(out)

    def to_sympy(self, x: Coefficient) -> sympy.Expr:
        import sympy

        x = self.convert(x)
        syms = [sympy.Symbol(n) for n in self.names]

        def poly(p: flint.fmpq_mpoly) -> sympy.Expr:
            expr = sympy.Integer(0)
            for monom, c in p.to_dict().items():
                term = sympy.Rational(int(c.p), int(c.q))
                for s, k in zip(syms, monom, strict=True):
                    if k:
                        term *= s**k
                expr += term
            return expr

        return poly(x.num) / poly(x.den)

    def __repr__(self) -> str:
        return f"QQ({', '.join(self.names)})"


@cache
def rational_function_field(names: tuple[str, ...]) -> RationalFunctionField:
    """The shared field $\\mathbb{Q}(\\text{names})$ (one instance per tuple of names)."""
    return RationalFunctionField(names)


QQ = RationalField()
"""The field of rationals, $\\mathbb{Q}$: coefficients of flows whose hyper-parameters
all have values."""

Coefficient: TypeAlias = flint.fmpq | RationalFunction
"""An exact coefficient: a `flint.fmpq` (a rational number), or a
[`RationalFunction`][derive.RationalFunction] of the symbolic hyper-parameters (and,
inside the engine, of `h`)."""

ExactNumber: TypeAlias = int | Fraction | flint.fmpq
"""An exact rational constant, as every field converts it."""

Operand: TypeAlias = RationalFunction | int | Fraction | flint.fmpq
"""What arithmetic with a [`RationalFunction`][derive.RationalFunction] accepts."""


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
