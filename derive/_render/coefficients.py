"""Exact coefficients as the SymPy expressions papers print: factored, with factors
like $1 - \\beta$ (positive constant term) and the sign in front.

Field elements are factored in FLINT (`fmpq_mpoly.factor`, fast) and only then turned
into SymPy; [`pretty_coefficient`][derive._render.coefficients.pretty_coefficient] does
the same for an arbitrary SymPy rational function. Both give the same unevaluated
expression, whose `str` parses back.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import flint

from .._coefficients import Coefficient, RationalFunction

if TYPE_CHECKING:
    import sympy

__all__ = ["coefficient_expr", "pretty_coefficient", "is_sum"]


def coefficient_expr(c: Coefficient | int | Fraction) -> sympy.Expr:
    """An exact coefficient (`flint.fmpq` or a
    [`RationalFunction`][derive.RationalFunction]) as a factored SymPy expression.

    !!! example
        ```python
        >>> import derive
        >>> from derive._render.coefficients import coefficient_expr
        >>> flow = derive.modified_flow(derive.heavy_ball(), order=1)
        >>> str(coefficient_expr(flow.terms[1].coefficient))
        '-(beta + 1)/(2*(1 - beta)**3)'

        ```
    """
    import sympy as sp

    if not isinstance(c, RationalFunction):
        q = Fraction(int(c.p), int(c.q)) if isinstance(c, flint.fmpq) else Fraction(c)
        return sp.Rational(q.numerator, q.denominator)
    if c.is_constant():
        v = c.constant_value()
        return sp.Rational(int(v.p), int(v.q))
    field = c.field
    cn, fn = c.num.factor()
    cd, fd = c.den.factor()
    coeff = sp.Rational(int(cn.p), int(cn.q)) / sp.Rational(int(cd.p), int(cd.q))

    def expr(poly: flint.fmpq_mpoly) -> sympy.Expr:
        return field.to_sympy(
            RationalFunction(poly, field.poly_one, field, reduce=False)
        )

    return _assemble(
        coeff, [(expr(p), int(e)) for p, e in fn], [(expr(p), int(e)) for p, e in fd]
    )


def pretty_coefficient(expr: sympy.Expr) -> sympy.Expr:
    """A SymPy rational function in the form papers use (see the module docs).

    The result is an unevaluated SymPy expression equal to `expr`; `str` of it parses
    back (with `locals={"beta": Symbol("beta")}`, since SymPy's parser reads `beta` as
    the beta function otherwise).

    !!! example
        ```python
        >>> import sympy
        >>> from derive._render.coefficients import pretty_coefficient
        >>> b = sympy.Symbol("beta")
        >>> str(pretty_coefficient((b + 1) / (2 * (b - 1) ** 3)))
        '-(beta + 1)/(2*(1 - beta)**3)'

        ```
    """
    import sympy as sp

    expr = sp.factor(sp.together(expr))
    if not expr.free_symbols:
        return expr
    num, den = sp.fraction(expr)
    cn, fn = sp.factor_list(num)
    cd, fd = sp.factor_list(den)
    return _assemble(sp.Rational(cn) / sp.Rational(cd), fn, fd)


def _assemble(
    coeff: sympy.Rational,
    numerator_factors: Sequence[tuple[sympy.Expr, int]],
    denominator_factors: Sequence[tuple[sympy.Expr, int]],
) -> sympy.Expr:
    """`coeff * prod(numerator) / prod(denominator)`, each factor with a positive
    constant term (or a positive leading coefficient when it has none), unevaluated
    so that it prints as written."""
    import sympy as sp

    def normalise(factors: Sequence[tuple[sympy.Expr, int]]) -> list[sympy.Expr]:
        nonlocal coeff
        out = []
        for base, e in factors:
            const = base.as_coeff_Add()[0]
            if const < 0 or (const == 0 and sp.Poly(base).LC() < 0):
                base = sp.expand(-base)
                coeff *= (-1) ** e
            out.append(sp.Pow(base, e))
        return out

    numer = sp.Mul(*normalise(numerator_factors))
    denom = sp.Mul(*normalise(denominator_factors))
    magnitude = abs(coeff)
    res = sp.Mul(magnitude, numer, sp.Pow(denom, -1))
    if isinstance(res, sp.Add):  # a rational times a single sum got distributed
        inner = (
            sp.Mul(magnitude.p, numer, evaluate=False) if magnitude.p != 1 else numer
        )
        res = (
            sp.Mul(
                inner, sp.Pow(magnitude.q * denom, -1, evaluate=False), evaluate=False
            )
            if (magnitude.q != 1 or denom != 1)
            else inner
        )
    if isinstance(res, sp.Pow) and res.exp.is_negative and res.exp != -1:
        # 1/(1 - beta)**3 rather than (1 - beta)**(-3)
        res = sp.Pow(sp.Pow(res.base, -res.exp), -1, evaluate=False)
    return sp.Mul(-1, res, evaluate=False) if coeff < 0 else res


def is_sum(expr: sympy.Expr) -> bool:
    """Whether `expr` prints as a sum at the top level (`a + b`, or `-(a + b)` as
    written by `_assemble`): then `c F(t)` needs parentheses around `c`."""
    if expr.is_Add:
        return True
    if expr.is_Mul and len(expr.args) == 2 and expr.args[0] == -1:
        return bool(expr.args[1].is_Add)
    return False
