"""The matrix-free mode of `codegen`: the flow for any loss written in JAX, on pytrees.

The module embeds the text of [`derive.matrix_free`][derive.matrix_free] (the one copy
of the matrix-free derivatives, which `numerics` imports) and adds the flow's exact
coefficients, one function per elementary differential and the diffrax-ready fields.
Every elementary differential is computed once per evaluation and reused by the trees
that contain it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from .._render import differential_text
from .output import ARGS_CHECK, args_check_call
from .python import assignment, coefficient_code, literal, quote

if TYPE_CHECKING:
    from .._flow import ModifiedFlow, Term
    from .._render.view import FlowView
    from .._trees import TreeTable

__all__ = [
    "matrix_free_body",
    "constants",
    "coefficients_function",
    "runtime_text",
    "tree_name",
]

_MARKER = (
    "# ---- embedded in generated modules from here on (derive.matrix_free) ----\n"
)

CHECK_ORDER = [
    "",
    "",
    "def _check_order(order):",
    "    if not 0 <= order <= ORDER:",
    '        raise ValueError(f"order must be between 0 and {ORDER}, got {order}")',
]


@cache
def runtime_text() -> str:
    """The part of `derive/matrix_free.py` that generated modules embed (read as text:
    `derive` never imports JAX)."""
    source = resources.files("derive").joinpath("matrix_free.py").read_text("utf-8")
    start = source.index(_MARKER) + len(_MARKER)
    return (
        "\n# Matrix-free derivatives: the text of derive.matrix_free, embedded verbatim.\n"
        + source[start:]
    )


def tree_name(table: TreeTable, i: int) -> str:
    """`g` for a leaf; `g` + one `p` per child, then the children (`_`-separated)."""
    kids = table.children[i]
    if not kids:
        return "g"
    names = [tree_name(table, c) for c in kids]
    if len(kids) == 1:
        return "gp" + names[0]
    return "g" + "p" * len(kids) + "_" + "_".join(names)


def _needed_trees(flow: ModifiedFlow) -> dict[int, int]:
    """Tree index -> lowest truncation order at which its differential is needed."""
    table = flow.table
    need: dict[int, int] = {}

    def visit(i: int, power: int) -> None:
        if need.get(i, power + 1) <= power:
            return
        need[i] = power
        for c in set(table.children[i]):
            visit(c, power)

    for t in flow.terms:
        visit(t.index, t.power)
    need.setdefault(0, 0)  # g itself is always computed (and is F([]))
    return need


_TERMS_BY_ORDER = '''

def terms_by_order(loss, y, args, order=ORDER):
    """[F_0(y), ..., F_order(y)] (pytrees like y): the flow is sum_k h^k F_k(y).

    `loss` maps a pytree to a scalar; `args` holds the symbolic parameters.
    """
    _check_order(order)
    F = _differentials(loss, y, order)
    c = coefficients(args)
    out = []
    for k in range(order + 1):
        parts = [tree_scale(c[p, tree], F[tree]) for p, tree, _ in TERMS if p == k]
        out.append(tree_add(*parts) if parts else tree_zeros_like(y))
    return out
'''
"""`terms_by_order` of a B-series module (its F_k from the elementary differentials)."""

FIELDS = '''

def _flow(loss, y, args, order):
    F = terms_by_order(loss, y, args, order)
    h = args["h"]
    total = F[order]
    for term in reversed(F[:order]):  # Horner: F_0 + h (F_1 + h (F_2 + ...))
        total = tree_add(term, tree_scale(h, total))
    return total


def make_vector_field(loss, order=ORDER):
    """The truncated flow as `field(t, y, args)` for `diffrax.ODETerm`.

    `args` is a dict with "h" and one entry per name in SYMBOLIC_PARAMETERS;
    `order` (at most ORDER) keeps the terms with powers of h up to it.
    """
    _check_order(order)

    def field(t, y, args):
        return _flow(loss, y, args, order)

    return field


def vector_field(t, y, args):
    """The flow through ORDER as `(t, y, args)`, with the loss in `args["loss"]`."""
    return _flow(args["loss"], y, args, ORDER)
'''
"""`_flow`, `make_vector_field` and `vector_field` from `terms_by_order`: the same in
every matrix-free module (B-series and componentwise)."""


def constants(
    flow: FlowView,
    extra: Sequence[str] = (),
    *,
    differential: Callable[[Term], str],
    tree: str = "tree",
    before_terms: Sequence[str] = (),
) -> list[str]:
    """The module's constants: `OPTIMIZER`, `ORDER`, `extra` lines, `PARAMETERS`,
    `SYMBOLIC_PARAMETERS`, a paragraph of `before_terms` lines (e.g. the loss of the
    explicit mode) and `TERMS` (power of h, tree, elementary differential, as
    `differential` names it)."""
    name = differential
    lines = [
        "",
        f"OPTIMIZER = {literal(flow.recurrence.name)}",
        f"ORDER = {flow.order}",
        *extra,
        f"PARAMETERS = {literal(dict(flow.parameters))}",
        f"SYMBOLIC_PARAMETERS = {literal(tuple(flow.recurrence.parameters))}",
        "",
        *([*before_terms, ""] if before_terms else []),
        f"# (power of h, {tree}, elementary differential) of each term",
        "TERMS = (",
    ]
    for t in flow.terms:
        lines.append(f"    ({t.power}, {quote(t.tree)}, {quote(name(t))}),")
    lines.append(")")
    return lines


def coefficients_function(flow: FlowView, tree: str = "tree") -> list[str]:
    """`coefficients(args)`: the exact coefficients at the symbolic parameters."""
    params = list(flow.recurrence.parameters)
    doc = f"Exact coefficients keyed by (power of h, {tree})"
    if params:
        at = ", ".join(f'args["{p}"]' for p in params)
        if len(doc) + len(at) + 16 <= 81:
            doc = f"{doc}, at {at}."
        else:
            doc = f"{doc}.\n\n    The symbolic parameters are read from {at}.\n    "
    else:
        doc += "."
    lines = [*(ARGS_CHECK if params else [])]
    lines += ["", "", "def coefficients(args):", f'    """{doc}"""']
    if not params:
        lines.append("    del args  # every parameter has a value")
    else:  # one assignment, so that a parameter may even be called `args`
        lines.append(args_check_call())
        lines.append(
            f"    {', '.join(params)} = " + ", ".join(f'args["{p}"]' for p in params)
        )
    lines.append("    return {")
    for t in flow.terms:
        key = f"({t.power}, {quote(t.tree)})"
        lines += assignment("        ", key, coefficient_code(t.sympy), suffix=",")
    lines.append("    }")
    return lines


def matrix_free_body(flow: ModifiedFlow) -> str:
    table = flow.table
    need = _needed_trees(flow)
    lines = [runtime_text().rstrip("\n"), ""]
    lines += constants(flow, differential=lambda t: differential_text(table, t.index))
    lines += CHECK_ORDER
    lines += coefficients_function(flow)
    # one function per elementary differential, in terms of its children's values
    for i in sorted(need):
        kids = table.children[i]
        if not kids:
            continue
        fname = "F_" + tree_name(table, i)
        unique = list(dict.fromkeys(tree_name(table, c) for c in kids))
        call = ", ".join(tree_name(table, c) for c in kids)
        lines += [
            "",
            "",
            f"def {fname}(dg, {', '.join(unique)}):",
            f'    """F({table.bracket(i)}) = {differential_text(table, i)}."""',
            f"    return dg({call})",
        ]
    # every needed differential once, children first
    lines += [
        "",
        "",
        "def _differentials(loss, y, order=ORDER):",
        '    """F(tree) at y for each tree the terms through `order` need, once."""',
        "    g, dg = derivatives(loss, y)",
        '    F = {"[]": g}',
    ]
    by_order: dict[int, list[int]] = {}
    for i, k in need.items():
        if table.children[i]:
            by_order.setdefault(k, []).append(i)
    for k in sorted(by_order):
        lines.append(f"    if order >= {k}:")
        for i in sorted(by_order[k]):
            args = ", ".join(
                f"F[{quote(table.bracket(c))}]"
                for c in dict.fromkeys(table.children[i])
            )
            lines.append(
                f"        F[{quote(table.bracket(i))}] = "
                f"F_{tree_name(table, i)}(dg, {args})"
            )
    lines.append("    return F")
    lines.append((_TERMS_BY_ORDER + FIELDS).rstrip("\n"))
    return "\n".join(lines) + "\n"
