"""Exact numbers and field elements from what users write: ints, floats (by their
shortest decimal: `0.9` is $9/10$), fractions, strings and SymPy numbers."""

from __future__ import annotations

import numbers
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeAlias

import flint

from ._coefficients import (
    RationalFunction,
    RationalFunctionField,
)
from ._errors import DeriveError

if TYPE_CHECKING:
    import sympy

__all__ = ["ExactValue", "exact_number", "to_field"]

ExactValue: TypeAlias = int | float | Fraction | str | flint.fmpq | numbers.Real
"""A number given by a user, read exactly by `exact_number`: an int, a float (by its
shortest decimal), a Fraction, a decimal or fraction string, or a SymPy or NumPy
number (both are `numbers.Real`s)."""


def exact_number(value: object) -> Fraction:
    """An exact rational from an int, float, Fraction, decimal string or SymPy number.

    Floats are read from their shortest decimal representation, so `0.9` gives 9/10.

    !!! example
        ```python
        >>> from derive import exact_number
        >>> exact_number(0.9), exact_number("1/3"), exact_number(2)
        (Fraction(9, 10), Fraction(1, 3), Fraction(2, 1))

        ```
    """
    if isinstance(value, bool):
        raise DeriveError(
            f"{value!r} is not a number.", "Give a number such as 0.9 or 1/2."
        )
    if isinstance(value, int | Fraction):
        return Fraction(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise DeriveError(
                f"{value!r} is not a finite number.", "Give a finite value."
            )
        return Fraction(repr(value))
    if isinstance(value, flint.fmpq):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, str):
        from ._text.expression import ParseError, parse_number

        try:
            r = parse_number(value)
        except ParseError as e:
            raise DeriveError(str(e), "") from None
        return Fraction(int(r.p), int(r.q))
    # SymPy and NumPy numbers, recognised by module so neither is imported here
    mod = type(value).__module__
    number: Any = value
    if mod.startswith("sympy"):
        if getattr(number, "is_Rational", False):
            return Fraction(int(number.p), int(number.q))
        if getattr(number, "is_Float", False):
            return Fraction(str(number))
    if mod.startswith("numpy"):
        return exact_number(number.item())
    raise DeriveError(
        f"{value!r} is not an exact number.",
        "Give an int, a float, a Fraction or '1/2'.",
    )


def to_field(
    value: object, field: RationalFunctionField, what: str = "a value"
) -> RationalFunction:
    """Convert a number, field element or SymPy rational expression into `field`."""
    if isinstance(value, RationalFunction):
        return field.convert(value)
    mod = type(value).__module__
    if mod.startswith("sympy") and not getattr(value, "is_Number", False):
        return _sympy_to_field(value, field, what)
    try:
        q = exact_number(value)
    except DeriveError:
        raise DeriveError(
            f"{what} of the optimizer is {value!r}, which is not a number, h or a "
            "hyper-parameter.",
            "Use exact numbers, h and the declared hyper-parameters in coefficients.",
        ) from None
    return field.convert(q)


def _sympy_to_field(
    expr: sympy.Expr, field: RationalFunctionField, what: str
) -> RationalFunction:
    import sympy

    syms = {s.name for s in expr.free_symbols}
    unknown = syms - set(field.names)
    if unknown:
        raise DeriveError(
            f"{what} uses unknown symbols {sorted(unknown)}; known: {list(field.names)}.",
            "Declare every hyper-parameter as a keyword-only argument of the optimizer.",
        )
    gens = [sympy.Symbol(n) for n in field.names]
    expr = expr.subs({s: sympy.Symbol(s.name) for s in expr.free_symbols})
    if not expr.is_rational_function(*gens):
        raise DeriveError(
            f"{what} {expr} is not a rational function of {list(field.names)}.",
            "Coefficients must be rational in h and the hyper-parameters; introduce a "
            "new hyper-parameter for anything else (e.g. s for sqrt(beta)).",
        )
    num, den = sympy.fraction(sympy.together(expr))

    def poly(p: sympy.Expr) -> flint.fmpq_mpoly:
        P = sympy.Poly(p, *gens, domain="QQ")
        return field.ctx.from_dict(
            {m: flint.fmpq(int(c.p), int(c.q)) for m, c in P.terms()}
        )

    return field.from_polys(poly(num), poly(den))
