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

from .._trees import TreeTable

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
