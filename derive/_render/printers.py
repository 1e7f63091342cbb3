"""The pieces every text and LaTeX rendering is made of, on SymPy's printers.

A term is a coefficient (a SymPy expression from
[`coefficient_expr`][derive._render.coefficients.coefficient_expr]) times a name (an
elementary differential, a scalar invariant, a monomial); whether the coefficient needs
parentheses is read from the expression's structure, never from the printed string.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .coefficients import is_sum

if TYPE_CHECKING:
    import sympy

__all__ = [
    "text",
    "latex",
    "scaled_text",
    "scaled_latex",
    "sign_and_magnitude",
    "signed_sum",
    "h_power_text",
    "h_power_latex",
]


def text(expr: object) -> str:
    """SymPy's string printer (`str` that parses back)."""
    import sympy

    return sympy.sstr(expr)


def latex(expr: object) -> str:
    """SymPy's LaTeX printer."""
    import sympy

    return sympy.latex(expr)


def _wrapped(
    expr: sympy.Expr, printer: Callable[[object], str], left: str, right: str
) -> str:
    if not is_sum(expr):
        return printer(expr)
    if expr.is_Add:
        return f"{left}{printer(expr)}{right}"
    return f"-{left}{printer(expr.args[1])}{right}"


def scaled_text(coefficient: sympy.Expr, name: str) -> str:
    """`c name` as text: `name`, `-name`, `2 name`, `(1 - beta) name`.

    !!! example
        ```python
        >>> import sympy
        >>> from derive._render.printers import scaled_text
        >>> b = sympy.Symbol("beta")
        >>> scaled_text(1 - b, "g'g"), scaled_text(sympy.Integer(-1), "g")
        ("(1 - beta) g'g", '-g')

        ```
    """
    if coefficient == 1:
        return name
    if coefficient == -1:
        return "-" + name
    return f"{_wrapped(coefficient, text, '(', ')')} {name}"


def scaled_latex(coefficient: sympy.Expr, name: str) -> str:
    """`c name` as LaTeX, the coefficient in `\\left(...\\right)` when it is a sum."""
    if coefficient == 1:
        return name
    if coefficient == -1:
        return "-" + name
    shown = _wrapped(coefficient, latex, "\\left(", "\\right)")
    return f"{shown}\\, {name}"


def sign_and_magnitude(expr: sympy.Expr) -> tuple[bool, sympy.Expr]:
    """`(negative, |expr|)` for a coefficient as written by `coefficient_expr` (a
    number, `res` or `-1 * res`), read from its structure."""
    if expr.is_Number:
        return bool(expr < 0), abs(expr)
    if expr.is_Mul and len(expr.args) == 2 and expr.args[0] == -1:
        return True, expr.args[1]
    return False, expr


def signed_sum(parts: list[str]) -> str:
    """Terms joined by ` + `, a negative term (`-x`, or `- \\frac{..}` as SymPy's
    LaTeX printer writes it) joined by ` - `."""
    if not parts:
        return "0"
    out = parts[0]
    for part in parts[1:]:
        out += f" - {part[1:].lstrip()}" if part.startswith("-") else f" + {part}"
    return out


def h_power_text(k: int) -> str:
    """`""`, `h`, `h^2`, ..."""
    return "" if k == 0 else ("h" if k == 1 else f"h^{k}")


def h_power_latex(k: int) -> str:
    """`""`, `h`, `h^{2}`, ..."""
    return "" if k == 0 else ("h" if k == 1 else f"h^{{{k}}}")
