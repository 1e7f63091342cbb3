"""Names of elementary differentials and of scalar tree invariants, as text and LaTeX.

Elementary differentials of $g = -\\nabla f$: $F(\\bullet) = g$, $F([t]) = g' F(t)$,
$F([t_1, \\dots, t_k]) = g^{(k)}(F(t_1), \\dots, F(t_k))$, so `[[]]` is `g'g`,
`[[],[]]` is `g''(g,g)` and `[[[]]]` is `g'g'g`.

Scalar invariants of the loss (for modified losses): the contraction $S(\\tau)$ of the
derivative tensors of $f$ along a free tree $\\tau$, written from a rooted form
$t = [t_1, \\dots, t_k]$ as $\\nabla^k f(G(t_1), \\dots, G(t_k))$ with $G(\\bullet) =
\\nabla f$ and $G([u_1..u_m]) = \\nabla^{m+1} f(G(u_1), \\dots, G(u_m))$; so the edge is
$|\\nabla f|^2$ and the path on three vertices $\\nabla f^\\top \\nabla^2 f\\, \\nabla f$.
"""

from __future__ import annotations

from ._trees import TreeTable

__all__ = ["differential_text", "differential_latex", "scalar_text", "scalar_latex"]


def _primes(k: int) -> str:
    return "'" * k if k <= 3 else f"^({k})"


def differential_text(table: TreeTable, i: int) -> str:
    """Text name of $F(t)$, e.g. `g''(g,g'g)`."""
    kids = table.children[i]
    if not kids:
        return "g"
    if len(kids) == 1:
        return "g'" + differential_text(table, kids[0])
    return (
        f"g{_primes(len(kids))}("
        + ",".join(differential_text(table, k) for k in kids)
        + ")"
    )


def differential_latex(table: TreeTable, i: int) -> str:
    """LaTeX of $F(t)$, e.g. `g''(g, g'g)`."""
    kids = table.children[i]
    if not kids:
        return "g"
    if len(kids) == 1:
        return "g'" + differential_latex(table, kids[0])
    k = len(kids)
    head = "g" + ("'" * k if k <= 3 else f"^{{({k})}}")
    return head + "(" + ", ".join(differential_latex(table, c) for c in kids) + ")"


def _gtext(table: TreeTable, i: int) -> str:
    kids = table.children[i]
    if not kids:
        return "grad f"
    if len(kids) == 1:
        return "H " + _gtext(table, kids[0])
    return f"D^{len(kids) + 1}f(" + ", ".join(_gtext(table, k) for k in kids) + ")"


def _glatex(table: TreeTable, i: int) -> str:
    kids = table.children[i]
    if not kids:
        return "\\nabla f"
    if len(kids) == 1:
        return "\\nabla^2 f\\, " + _glatex(table, kids[0])
    return (
        f"\\nabla^{{{len(kids) + 1}}} f("
        + ", ".join(_glatex(table, k) for k in kids)
        + ")"
    )


def scalar_text(table: TreeTable, i: int) -> str:
    """Text of the scalar invariant of the free tree rooted as tree `i`."""
    kids = table.children[i]
    if not kids:
        return "f"
    if len(kids) == 1:
        if not table.children[kids[0]]:
            return "|grad f|^2"
        return f"<grad f, {_gtext(table, kids[0])}>"
    if len(kids) == 2:
        return f"<{_gtext(table, kids[0])}, H {_gtext(table, kids[1])}>"
    return f"D^{len(kids)}f(" + ", ".join(_gtext(table, k) for k in kids) + ")"


def scalar_latex(table: TreeTable, i: int) -> str:
    """LaTeX of the scalar invariant of the free tree rooted as tree `i`."""
    kids = table.children[i]
    if not kids:
        return "f"
    if len(kids) == 1:
        if not table.children[kids[0]]:
            return "\\|\\nabla f\\|^2"
        return f"\\nabla f^\\top {_glatex(table, kids[0])}"
    if len(kids) == 2:
        a, b = (_glatex(table, k) for k in kids)
        return (
            f"({a})^\\top \\nabla^2 f\\, {b}"
            if table.children[kids[0]]
            else (f"\\nabla f^\\top \\nabla^2 f\\, {b}")
        )
    return (
        f"\\nabla^{{{len(kids)}}} f(" + ", ".join(_glatex(table, k) for k in kids) + ")"
    )


def pretty_coefficient(expr):
    """A coefficient in the form papers use: factored, with factors like $1 - \\beta$
    (positive constant term) instead of $\\beta - 1$, and the sign in front.

    The result is an unevaluated SymPy expression equal to `expr`; `str` of it parses
    back (with `locals={"beta": Symbol("beta")}`, since SymPy's parser reads `beta` as
    the beta function otherwise).

    !!! example
        ```python
        >>> import sympy
        >>> from derive._render import pretty_coefficient
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
    coeff = sp.Rational(cn) / sp.Rational(cd)

    def normalise(factors):
        nonlocal coeff
        out = []
        for base, e in factors:
            const = base.as_coeff_Add()[0]
            if const < 0 or (const == 0 and sp.Poly(base).LC() < 0):
                base = sp.expand(-base)
                coeff *= (-1) ** e
            out.append(sp.Pow(base, e))
        return out

    numer = sp.Mul(*normalise(fn))
    denom = sp.Mul(*normalise(fd))
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
