"""Conditions of validity: where a derivation's denominators vanish (`beta != 1`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sympy

__all__ = ["nonzero_conditions"]


def nonzero_conditions(expressions: Iterable[sympy.Expr]) -> list[str]:
    """`"beta != 1"` for every factor of the SymPy `expressions` that involves a
    symbol, solved for that symbol where there is one solution (`"p + q != 0"`
    otherwise); sorted and without repeats.

    !!! example
        ```python
        >>> import sympy
        >>> from derive._conditions import nonzero_conditions
        >>> b = sympy.Symbol("beta")
        >>> nonzero_conditions([(1 - b) ** 3, 2 * b])
        ['beta != 0', 'beta != 1']

        ```
    """
    import sympy

    out = set()
    for expr in expressions:
        for fac in sympy.Mul.make_args(sympy.factor(expr)):
            base = fac.as_base_exp()[0]
            if base.free_symbols:
                # solve only factors linear in some symbol: for higher degrees the
                # roots are no simpler than the factor (and root isolation of a
                # degree-40 polynomial takes minutes)
                linear = base.is_polynomial() and any(
                    sympy.degree(base, s) == 1 for s in base.free_symbols
                )
                if not linear:
                    out.add(f"{base} != 0")
                    continue
                sol = sympy.solve(sympy.Eq(base, 0), dict=True)
                if sol and len(sol) == 1 and len(sol[0]) == 1:
                    ((s, v),) = sol[0].items()
                    out.add(f"{s} != {v}")
                else:
                    out.add(f"{base} != 0")
    return sorted(out)
