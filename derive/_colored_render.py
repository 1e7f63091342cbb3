"""Names of colored elementary differentials and scalar invariants, as text and LaTeX.

A node of color $c$ evaluates the field named by `names[c]` (text, LaTeX): for a fixed
batch order the batch fields $g_1, \\dots, g_m$; for an expectation over orders the
full-batch field $g$ (color 0) and the deviations $d_k = g_k - g$ of the deviation
blocks (colors 1, 2, 3 with batch indices k, l, j). The conventions of
`derive._render` carry over: $F([t]_c) = g_c' F(t)$, $F([t_1, \\dots, t_k]_c) =
g_c^{(k)}(F(t_1), \\dots, F(t_k))$, and the scalar invariant of a tree rooted as
$[t_1, \\dots, t_k]$ is $\\nabla^k \\ell_{\\text{root}}(G(t_1), \\dots, G(t_k))$, with
$\\ell_c$ the loss of color $c$ and $G$ built from gradients and higher derivatives.
"""

from __future__ import annotations

from collections.abc import Callable

from ._colored_trees import ColoredTreeTable

__all__ = [
    "Naming",
    "batch_naming",
    "deviation_naming",
    "differential_text",
    "differential_latex",
    "scalar_text",
    "scalar_latex",
]


class Naming:
    """How colors print: field names, loss names (text and LaTeX) and whether a tree
    is averaged over batch indices (`averaged(colors)`)."""

    def __init__(
        self,
        field_text: Callable[[int], str],
        field_latex: Callable[[int], str],
        loss_text: Callable[[int], str],
        loss_latex: Callable[[int], str],
        averaged: Callable[[set[int]], bool] = lambda colors: False,
    ):
        self.field_text = field_text
        self.field_latex = field_latex
        self.loss_text = loss_text
        self.loss_latex = loss_latex
        self.averaged = averaged


def batch_naming() -> Naming:
    """Colors are batches: $g_c = -\\nabla f_c$."""
    return Naming(
        lambda c: f"g_{c}",
        lambda c: f"g_{{{c}}}",
        lambda c: f"f_{c}",
        lambda c: f"f_{{{c}}}",
    )


def deviation_naming() -> Naming:
    """Color 0 is $g = -\\nabla f$; color $b \\ge 1$ is $d = g_k - g = -\\nabla e_k$
    with $e_k = f_k - f$, for the $b$-th batch index (k, l, j)."""
    letters = "klj"
    return Naming(
        lambda c: "g" if c == 0 else f"d_{letters[c - 1]}",
        lambda c: "g" if c == 0 else f"\\delta_{{{letters[c - 1]}}}",
        lambda c: "f" if c == 0 else f"e_{letters[c - 1]}",
        lambda c: "f" if c == 0 else f"e_{{{letters[c - 1]}}}",
        averaged=lambda colors: any(c > 0 for c in colors),
    )


def _primes(k: int) -> str:
    return "'" * k if k <= 3 else f"^({k})"


def _kids(table: ColoredTreeTable, i: int) -> list[int]:
    return sorted(table.children[i], key=table.canonical_key)


def _differential(table: ColoredTreeTable, i: int, names: Naming, latex: bool) -> str:
    name = (names.field_latex if latex else names.field_text)(table.color[i])
    kids = _kids(table, i)
    if not kids:
        return name
    parts = [_differential(table, k, names, latex) for k in kids]
    if len(kids) == 1:
        return f"{name}'" + parts[0]
    k = len(kids)
    if latex:
        head = name + ("'" * k if k <= 3 else f"^{{({k})}}")
        return head + "(" + ", ".join(parts) + ")"
    return f"{name}{_primes(k)}(" + ",".join(parts) + ")"


def _average(
    text: str, table: ColoredTreeTable, i: int, names: Naming, latex: bool
) -> str:
    if not names.averaged(set(table.colors(i))):
        return text
    return f"\\langle {text} \\rangle" if latex else f"<{text}>"


def differential_text(table: ColoredTreeTable, i: int, names: Naming) -> str:
    """Text of $F(t)$ (averaged as `<...>` when the naming says so), e.g.
    `<g''(d_k,d_k)>` or `g_2'g_1`."""
    return _average(_differential(table, i, names, False), table, i, names, False)


def differential_latex(table: ColoredTreeTable, i: int, names: Naming) -> str:
    """LaTeX of $F(t)$, e.g. `\\langle g''(\\delta_{k}, \\delta_{k}) \\rangle`."""
    return _average(_differential(table, i, names, True), table, i, names, True)


def _gtext(table: ColoredTreeTable, i: int, names: Naming) -> str:
    loss = names.loss_text(table.color[i])
    kids = _kids(table, i)
    if not kids:
        return f"grad {loss}"
    if len(kids) == 1:
        return f"H({loss}) " + _gtext(table, kids[0], names)
    return (
        f"D^{len(kids) + 1}{loss}("
        + ", ".join(_gtext(table, k, names) for k in kids)
        + ")"
    )


def _glatex(table: ColoredTreeTable, i: int, names: Naming) -> str:
    loss = names.loss_latex(table.color[i])
    kids = _kids(table, i)
    if not kids:
        return f"\\nabla {loss}"
    if len(kids) == 1:
        return f"\\nabla^2 {loss}\\, " + _glatex(table, kids[0], names)
    args = ", ".join(_glatex(table, k, names) for k in kids)
    return f"\\nabla^{{{len(kids) + 1}}} {loss}({args})"


def scalar_text(table: ColoredTreeTable, i: int, names: Naming) -> str:
    """Text of the scalar invariant of the colored free tree rooted as tree `i`."""
    loss = names.loss_text(table.color[i])
    kids = _kids(table, i)
    if not kids:
        body = loss
    elif len(kids) == 1:
        k = kids[0]
        if not table.children[k] and table.color[k] == table.color[i]:
            body = f"|grad {loss}|^2"
        else:
            body = f"grad {loss} . {_gtext(table, k, names)}"
    elif len(kids) == 2:
        a, b = (_gtext(table, k, names) for k in kids)
        body = f"{a} . H({loss}) {b}"
    else:
        body = (
            f"D^{len(kids)}{loss}("
            + ", ".join(_gtext(table, k, names) for k in kids)
            + ")"
        )
    return _average(body, table, i, names, False)


def scalar_latex(table: ColoredTreeTable, i: int, names: Naming) -> str:
    """LaTeX of the scalar invariant of the colored free tree rooted as tree `i`."""
    loss = names.loss_latex(table.color[i])
    kids = _kids(table, i)
    if not kids:
        body = loss
    elif len(kids) == 1:
        k = kids[0]
        if not table.children[k] and table.color[k] == table.color[i]:
            body = f"\\|\\nabla {loss}\\|^2"
        else:
            body = f"\\nabla {loss}^\\top {_glatex(table, k, names)}"
    elif len(kids) == 2:
        a, b = (_glatex(table, k, names) for k in kids)
        body = f"({a})^\\top \\nabla^2 {loss}\\, {b}"
    else:
        args = ", ".join(_glatex(table, k, names) for k in kids)
        body = f"\\nabla^{{{len(kids)}}} {loss}({args})"
    return _average(body, table, i, names, True)
