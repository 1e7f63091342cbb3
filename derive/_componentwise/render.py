"""Text and LaTeX of elementwise functions, derivative atoms and vector fields.

The notation ($\\odot$ and a legend, below): $g = -\\nabla f$; $|g|$, $g^2$,
$\\sqrt{g^2 + \\varepsilon}$, quotients and powers of vectors act componentwise;
$g'[u] = Dg(x)[u] = -\\nabla^2 f(x)\\, u$, $g''[u, v] = D^2 g(x)[u, v]$, and so on.
Elementwise functions are printed by SymPy from their exact form, with $|g|$, $g$ and
square roots of their own ($\\sqrt{P}/P^2$ is written $P^{-3/2}$); even powers of
$|g|$ are written as powers of $g$.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from .._coefficients import RationalFunction
from .expressions import Atom, Calculus, Direction
from .functions import ABS_G, Function, FunctionAlgebra

if TYPE_CHECKING:
    import sympy
    from sympy.printing.printer import Printer

__all__ = [
    "CONVENTIONS",
    "LEGEND",
    "LEGEND_LATEX",
    "function_sympy",
    "function_text",
    "function_latex",
    "skeleton_text",
    "skeleton_latex",
    "product_text",
    "product_latex",
    "scaled_latex",
]

CONVENTIONS = (
    "loss f, g = -grad f, step h, time t = n h (x_n ~ x(n h)); the modified flow is "
    "dx/dt = sum_k h^k F_k(x), each term coefficient * h^power * (elementwise function "
    "of g) ⊙ (derivatives of g); the moments start on their slow manifold (bias "
    "correction is a transient); gradient descent is x+ = x + h g(x)"
)
"""The conventions of a componentwise flow, as stated in its text and JSON."""

LEGEND = (
    "g = -grad f; ⊙ is the componentwise (Hadamard) product; |g|, g^2, sqrt(...), "
    "quotients and powers of vectors act componentwise; g'[u] = Dg(x)[u] = -H(x) u, "
    "g''[u,v] = D^2 g(x)[u,v], g'''[u,v,w] = D^3 g(x)[u,v,w] (multilinear, symmetric)"
)
"""The notation of componentwise flows, stated in their outputs."""

LEGEND_LATEX = (
    "g = -\\nabla f;\\ \\odot \\text{ is the componentwise (Hadamard) product; } "
    "|g|,\\ g^2,\\ \\sqrt{\\cdot}, \\text{ quotients and powers act componentwise; } "
    "g'[u] = Dg(x)[u] = -\\nabla^2 f(x)\\,u,\\ g''[u,v] = D^2 g(x)[u,v]"
)


@cache
def symbols() -> tuple[sympy.Symbol, sympy.Symbol]:
    """The SymPy symbols that print as `|g|` (positive) and `g`."""
    import sympy

    return sympy.Symbol("_abs_g", positive=True), sympy.Symbol("_g")


def _printers() -> tuple[type[Printer], type[Printer]]:
    import sympy
    from sympy.printing.latex import LatexPrinter
    from sympy.printing.str import StrPrinter

    _A, _G = symbols()

    names = {"eps": "\\varepsilon", "epsilon": "\\varepsilon"}

    class TextPrinter(StrPrinter):
        def _print_Symbol(self, expr: sympy.Symbol) -> str:
            if expr == _A:
                return "|g|"
            if expr == _G:
                return "g"
            return str(super()._print_Symbol(expr))

        def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
            if expr.exp.is_Rational and expr.exp < 0:
                if expr.exp == -1:
                    shown = self._print(expr.base)
                    if expr.base.is_Add or expr.base.is_Mul:
                        shown = f"({shown})"
                else:
                    shown = self._print(sympy.Pow(expr.base, -expr.exp, evaluate=False))
                return f"1/{shown}"
            if expr.base == _A and expr.exp.is_Integer and expr.exp % 2 == 0:
                expr = sympy.Pow(_G, expr.exp, evaluate=False)
            return str(super()._print_Pow(expr, rational)).replace("**", "^")

    class TexPrinter(LatexPrinter):
        def _print_Symbol(self, expr: sympy.Symbol, style: str = "plain") -> str:
            if expr == _A:
                return "|g|"
            if expr == _G:
                return "g"
            if expr.name in names:
                return names[expr.name]
            return str(super()._print_Symbol(expr))

        def _print_Pow(self, expr: sympy.Pow) -> str:
            if expr.base == _A and expr.exp.is_Integer and expr.exp % 2 == 0:
                expr = sympy.Pow(_G, expr.exp, evaluate=False)
            return str(super()._print_Pow(expr))

    return TextPrinter, TexPrinter


@cache
def _printer_classes() -> tuple[type[Printer], type[Printer]]:
    return _printers()


def text_of(expr: sympy.Expr) -> str:
    """SymPy text with `|g|`, `g` and `^` for powers."""
    return str(_printer_classes()[0]().doprint(expr))


def latex_of(expr: sympy.Expr) -> str:
    return str(_printer_classes()[1]().doprint(expr))


def scaled_latex(coefficient: sympy.Expr, name: str) -> str:
    """`c name` in LaTeX with the parameters' Greek names (`eps` is
    $\\varepsilon$), the coefficient in parentheses when it is a sum."""
    from .._render.coefficients import is_sum

    if coefficient == 1:
        return name
    if coefficient == -1:
        return "-" + name
    if is_sum(coefficient):
        if coefficient.is_Add:
            shown = f"\\left({latex_of(coefficient)}\\right)"
        else:
            shown = f"-\\left({latex_of(coefficient.args[1])}\\right)"
    else:
        shown = latex_of(coefficient)
    return f"{shown}\\, {name}"


def function_sympy(c: Function) -> sympy.Expr:
    """An elementwise function as a SymPy expression in $|g|$ (`_abs_g`), $g$ (`_g`),
    the parameters, square roots, signs, exponentials and logarithms; numerators and
    denominators factored (FLINT), factors with numerical coefficients made monic
    (`|g| + 1/100000000`)."""
    import sympy

    _A, _G = symbols()
    alg = c.algebra
    total = sympy.Integer(0)
    for key, r in c.terms.items():
        expr = _factored(alg, r)
        sign = False
        for index, e in key:
            gen = alg.generators[index]
            if gen.kind == "sign_g":
                sign = bool(e % 2)
                continue
            expr = expr * _generator_sympy(c, index) ** e
        if sign:  # s * R = g * (R / |g|), sign(g) alone
            expr = sympy.sign(_G) if expr == 1 else _G * expr / _A
        total += expr
    return total


def _factored(alg: FunctionAlgebra, r: RationalFunction) -> sympy.Expr:
    import sympy

    _A, _ = symbols()
    field = alg.field
    a = sympy.Symbol(ABS_G)
    ai = alg._ai
    coeff = sympy.Integer(1)
    parts = []
    for poly, sign in ((r.num, 1), (r.den, -1)):
        c, factors = poly.factor()
        coeff *= sympy.Rational(int(c.p), int(c.q)) ** sign
        for f, e in factors:
            monos = f.monoms()
            numeric = all(all(m[j] == 0 for j in range(ai)) for m in monos)
            if numeric and any(m[ai] for m in monos):
                top = max(m[ai] for m in monos)
                lead = next(f.coeffs()[k] for k, m in enumerate(monos) if m[ai] == top)
                f = f / lead
                coeff *= sympy.Rational(int(lead.p), int(lead.q)) ** (sign * int(e))
            base = field.to_sympy(
                RationalFunction(f, field.poly_one, field, reduce=False)
            )
            parts.append(sympy.Pow(base.subs(a, _A), sign * int(e)))
    return sympy.Mul(coeff, *parts)


def _generator_sympy(c: Function, index: int) -> sympy.Expr:
    import sympy

    gen = c.algebra.generators[index]
    assert gen.argument is not None
    arg = function_sympy(gen.argument)
    return {
        "radical": sympy.sqrt,
        "sign": sympy.sign,
        "exp": sympy.exp,
        "log": sympy.log,
    }[gen.kind](arg)


def function_text(c: Function) -> str:
    return text_of(function_sympy(c))


def function_latex(c: Function) -> str:
    return latex_of(function_sympy(c))


def _primes(k: int) -> str:
    return "'" * k if k <= 3 else f"^({k})"


def atom_text(calc: Calculus, atom: Atom) -> str:
    if atom.kind == "x":
        return "x"
    if atom.kind == "unknown":
        return f"U{atom.unknown}"
    inner = ", ".join(direction_text(calc, d) for d in atom.directions)
    return f"g{_primes(atom.order)}[{inner}]"


def atom_latex(calc: Calculus, atom: Atom) -> str:
    if atom.kind == "x":
        return "x"
    if atom.kind == "unknown":
        return f"U_{{{atom.unknown}}}"
    inner = ", ".join(direction_latex(calc, d) for d in atom.directions)
    k = atom.order
    head = "g" + ("'" * k if k <= 3 else f"^{{({k})}}")
    return f"{head}\\left[{inner}\\right]"


def skeleton_text(calc: Calculus, skeleton: Sequence[int]) -> str:
    return " ⊙ ".join(atom_text(calc, calc.atoms[i]) for i in skeleton)


def skeleton_latex(calc: Calculus, skeleton: Sequence[int]) -> str:
    return " \\odot ".join(atom_latex(calc, calc.atoms[i]) for i in skeleton)


def _is_one(c: Function) -> bool:
    return c == c.algebra.one


def _wrap_text(s: str) -> str:
    simple = all(ch not in s for ch in " +-/*") or (
        s.startswith("(") and s.endswith(")") and s.count("(") == 1
    )
    return s if simple else f"({s})"


def product_text(calc: Calculus, c: Function, skeleton: Sequence[int]) -> str:
    """`c ⊙ K` as text (`(|g|/(|g| + eps)^2) ⊙ g'[g/(|g| + eps)]`)."""
    if not skeleton:
        return function_text(c)
    body = skeleton_text(calc, skeleton)
    if _is_one(c):
        return body
    return f"{_wrap_text(function_text(c))} ⊙ {body}"


def product_latex(calc: Calculus, c: Function, skeleton: Sequence[int]) -> str:
    if not skeleton:
        return function_latex(c)
    body = skeleton_latex(calc, skeleton)
    if _is_one(c):
        return body
    shown = function_latex(c)
    if "+" in shown or "-" in shown.lstrip("-"):
        if not shown.startswith("\\frac"):
            shown = f"\\left({shown}\\right)"
    return f"{shown} \\odot {body}"


def direction_text(calc: Calculus, d: Direction) -> str:
    return product_text(calc, d.function, d.skeleton)


def direction_latex(calc: Calculus, d: Direction) -> str:
    return product_latex(calc, d.function, d.skeleton)
