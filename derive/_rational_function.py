"""Rational functions of hyper-parameters: $\\mathbb{Q}(p_1, \\dots, p_k)$ in FLINT.

An element is a numerator, a `flint.fmpq_mpoly`, over a denominator kept factored as
powers of the irreducible polynomials its field has met (`derive._denominators`):
products and sums take no gcd, and the reduced quotient that `num`, `den`, hashing and
printing show is computed only when one of them asks for it. The reduced form is the
one a gcd after every operation would give, so every printed or compared result is the
same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from functools import cache
from typing import TYPE_CHECKING, TypeAlias

import flint

from ._denominators import (
    Denominators,
    Exponents,
    add_exponents,
    difference,
    max_exponents,
    strip,
)
from ._field import Field
from ._poly_budget import MAX_TERMS, check_power_size, check_product_size

if TYPE_CHECKING:
    import sympy

    from ._coefficients import Coefficient, ExactNumber

__all__ = [
    "RationalFunction",
    "RationalFunctionField",
    "rational_function_field",
    "linear_combination",
    "Operand",
]


class RationalFunction:
    """A rational function `num/den` over $\\mathbb{Q}$.

    `num` and `den` are the reduced form: no common factor, the denominator with leading
    coefficient 1 in lexicographic order. Arithmetic does not compute it: the
    denominator is kept as powers of the field's known irreducible factors and the
    quotient is reduced only when `num`, `den`, a hash or a printout asks for it (see
    `derive._denominators`); results are the same.
    """

    __slots__ = ("_num", "_exps", "_reduced", "field")

    _num: flint.fmpq_mpoly
    _exps: Exponents
    _reduced: bool
    field: RationalFunctionField

    def __init__(
        self,
        num: flint.fmpq_mpoly,
        den: flint.fmpq_mpoly,
        field: RationalFunctionField,
        *,
        reduce: bool = True,
    ):
        if den.is_zero():
            raise ZeroDivisionError("division by zero in a rational function")
        exps: Exponents = ()
        if not den.is_one():
            c, exps = field.denominators.factor(den)
            if c != 1:
                num = num / c
        self._num = num
        self._exps = exps if not num.is_zero() else ()
        self._reduced = not reduce or not self._exps
        self.field = field

    # --- the reduced form
    def _reduce(self) -> None:
        self._num, self._exps = self.field.denominators.reduce(self._num, self._exps)
        self._reduced = True

    @property
    def num(self) -> flint.fmpq_mpoly:
        """The numerator of the reduced form."""
        if not self._reduced:
            self._reduce()
        return self._num

    @property
    def den(self) -> flint.fmpq_mpoly:
        """The denominator of the reduced form (leading coefficient 1)."""
        if not self._reduced:
            self._reduce()
        return self.field.denominators.product(self._exps)

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
        if not self._reduced:
            self._reduce()
        return not self._exps and self._num.is_constant()

    def constant_value(self) -> flint.fmpq:
        if self._num.is_zero():
            return flint.fmpq(0)
        if not self._reduced:
            self._reduce()
        return flint.fmpq(self._num.leading_coefficient()) / flint.fmpq(
            self.den.leading_coefficient()
        )

    def is_zero(self) -> bool:
        return self._num.is_zero()

    # --- arithmetic
    def __add__(self, other: Operand) -> RationalFunction:
        F = self.field
        if isinstance(other, RationalFunction) and other.field is F:
            o = other
        elif isinstance(other, int | flint.fmpq):
            if not other:
                return self
            e = self._exps
            if not e:
                return _make(self._num + other, (), F, True)
            # gcd(n + c D, D) = gcd(n, D): a reduced quotient stays reduced
            return _make(
                self._num + F.denominators.product(e) * other, e, F, self._reduced
            )
        else:
            c = self._coerce(other)
            if c is None:
                return NotImplemented
            o = c
        b = o._num
        if b.is_zero():
            return self
        a = self._num
        if a.is_zero():
            return o
        ea, eb = self._exps, o._exps
        if ea == eb:
            return _make(a + b, ea, F, not ea)
        product = F.denominators.product
        if not eb:
            return _make(a + b * product(ea), ea, F, self._reduced)
        if not ea:
            return _make(a * product(eb) + b, eb, F, o._reduced)
        e = max_exponents(ea, eb)
        return _make(
            a * product(difference(e, ea)) + b * product(difference(e, eb)), e, F
        )

    __radd__ = __add__

    def __neg__(self) -> RationalFunction:
        return _make(-self._num, self._exps, self.field, self._reduced)

    def __sub__(self, other: Operand) -> RationalFunction:
        if isinstance(other, RationalFunction | int | flint.fmpq):
            return self + (-other)
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
        F = self.field
        if type(other) is RationalFunction and other.field is F:
            o = other
        elif isinstance(other, int | flint.fmpq):
            if not other:
                return F.zero
            return _make(self._num * other, self._exps, F, self._reduced)
        else:
            c = self._coerce(other)
            if c is None:
                return NotImplemented
            o = c
        ea, eb = self._exps, o._exps
        if not eb:
            # a polynomial or a constant factor: reduced if a constant times a
            # reduced quotient, or a product of polynomials
            b = o._num
            if b.is_constant():
                return _make(self._num * b, ea, F, self._reduced)
            if len(self._num) * len(b) > MAX_TERMS:
                check_product_size(self._num, b)
            return _make(self._num * b, ea, F, not ea)
        if not ea:
            a = self._num
            if a.is_constant():
                return _make(a * o._num, eb, F, o._reduced)
            if len(a) * len(o._num) > MAX_TERMS:
                check_product_size(a, o._num)
            return _make(a * o._num, eb, F)
        if len(self._num) * len(o._num) > MAX_TERMS:
            check_product_size(self._num, o._num)
        if len(ea) == 1 and len(eb) == 1:
            return _make(self._num * o._num, (ea[0] + eb[0],), F)
        return _make(self._num * o._num, add_exponents(ea, eb), F)

    __rmul__ = __mul__

    def __truediv__(self, other: Operand) -> RationalFunction:
        F = self.field
        if isinstance(other, int | flint.fmpq):
            if not other:
                raise ZeroDivisionError(f"division by zero: ({self}) / 0")
            return _make(self._num / other, self._exps, F, self._reduced)
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        if o._num.is_zero():
            raise ZeroDivisionError(f"division by zero: ({self}) / ({o})")
        # self / o = (a / D(ea)) * (D(eb) / (c D(fb))) with o's numerator c D(fb)
        c, fb = F.denominators.factor(o._num)
        up, down = o._exps, add_exponents(self._exps, fb)
        if up and down:
            common = [min(x, y) for x, y in zip(up, down, strict=False)]
            up, down = difference(up, tuple(common)), difference(down, tuple(common))
            down = strip(list(down))
        num = self._num * F.denominators.product(up)
        if c != 1:
            num = num / c
        return _make(num, down, F)

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
        if self._num.is_zero():
            return self.field.one if n == 0 else self
        if n > 1 and len(self._num) > 1:
            check_power_size(self._num, n)
        return _make(
            self._num**n,
            tuple([k * n for k in self._exps]) if n else (),
            self.field,
            self._reduced,
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RationalFunction) and other.field is self.field:
            o = other
        elif isinstance(other, int | flint.fmpq):
            e = self._exps
            if not e:
                return bool(self._num == other)
            return bool(self._num == self.field.denominators.product(e) * other)
        else:
            c = self._coerce(other)
            if c is None:
                return NotImplemented
            o = c
        ea, eb = self._exps, o._exps
        if ea == eb:
            return bool(self._num == o._num)
        e = max_exponents(ea, eb)
        product = self.field.denominators.product
        return bool(
            self._num * product(difference(e, ea))
            == o._num * product(difference(e, eb))
        )

    def __hash__(self) -> int:
        return hash((str(self.num), str(self.den)))

    def __bool__(self) -> bool:
        return not self._num.is_zero()

    def __repr__(self) -> str:
        num, den = self.num, self.den
        if den.is_one():
            return f"{num}"
        return f"({num})/({den})"


def _make(
    num: flint.fmpq_mpoly,
    exps: Exponents,
    field: RationalFunctionField,
    reduced: bool = False,
) -> RationalFunction:
    """A rational function from a numerator and its denominator's exponents."""
    out = object.__new__(RationalFunction)
    out._num = num
    if num.is_zero():
        out._exps, out._reduced = (), True
    else:
        out._exps, out._reduced = exps, reduced or not exps
    out.field = field
    return out


class RationalFunctionField(Field):
    """$\\mathbb{Q}(p_1, \\dots, p_k)$ for the named variables `names`."""

    zero: RationalFunction
    one: RationalFunction

    def __init__(self, names: tuple[str, ...]):
        self.names = tuple(names)
        self.ctx = flint.fmpq_mpoly_ctx.get(self.names, "lex")
        self.poly_one = self.ctx.from_dict({(0,) * len(self.names): 1})
        self.poly_zero = self.ctx.from_dict({})
        self.denominators = Denominators(self.poly_one)
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
            return _make(self.poly_one * flint.fmpq(value), (), self, True)
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


Operand: TypeAlias = RationalFunction | int | Fraction | flint.fmpq
"""What arithmetic with a [`RationalFunction`][derive.RationalFunction] accepts."""


def linear_combination(terms: Iterable[Coefficient], zero: Coefficient) -> Coefficient:
    """The sum of `terms`, elements of the field whose zero is `zero`.

    For rational functions the numerators over the same denominator are added first
    and each group is brought to the common denominator once, instead of once per
    term as repeated `+` would.
    """
    if not isinstance(zero, RationalFunction):
        total: Coefficient = zero
        for t in terms:
            total = total + t
        return total
    groups: dict[Exponents, flint.fmpq_mpoly] = {}
    get = groups.get
    for t in terms:
        if not isinstance(t, RationalFunction):
            t = zero.field.convert(t)
        e = t._exps
        g = get(e)
        groups[e] = t._num if g is None else g + t._num
    field = zero.field
    if not groups:
        return zero
    if len(groups) == 1:
        ((e, num),) = groups.items()
        return _make(num, e, field)
    top: Exponents = ()
    for e in groups:
        top = max_exponents(top, e)
    product = field.denominators.product
    num = field.poly_zero
    for e, n in groups.items():
        num = num + (n if e == top else n * product(difference(top, e)))
    return _make(num, top, field)
