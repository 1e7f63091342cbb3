"""The explicit mode of `codegen`: the field on one concrete loss, in `jax.numpy`.

The field comes from [`ModifiedFlow.on`][derive.ModifiedFlow.on]; the common
subexpressions of all its components are computed once (`sympy.cse`). Meant for small
models and for checking the matrix-free module: its size grows quickly with the order.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._render import differential_text
from .matrix_free import constants
from .output import ARGS_CHECK, args_check_call
from .python import (
    LINE_LENGTH,
    assignment,
    expression_printer,
    literal,
    quote,
    spaced,
)

if TYPE_CHECKING:
    import sympy
    from sympy.printing.printer import Printer

    from .._concrete import LossExpression, Variables
    from .._flow import ModifiedFlow

__all__ = ["explicit_body", "explicit_module", "explicit_parts"]


_RESERVED = {
    "state", "args", "order", "jnp", "jax", "t", "y", "h", "k", "F", "loss", "field",
    "term", "total", "ORDER", "LOSS", "VARIABLES", "TERMS", "value", "missing", "p",
    "OPTIMIZER", "PARAMETERS", "SYMBOLIC_PARAMETERS", "coefficients", "F_k",
    "terms_by_order", "make_vector_field", "vector_field",
}  # fmt: skip


def _taken(name: str) -> bool:
    """Whether a local name would shadow something the module uses: a reserved
    name, a keyword, a built-in, or the name of a term list `F_0`, `F_1`, ..."""
    return (
        name in _RESERVED
        or keyword.iskeyword(name)
        or name in vars(builtins)
        or re.fullmatch(r"F_\d+|s\d+", name) is not None
    )


def explicit_body(
    flow: ModifiedFlow, loss: LossExpression, variables: Variables
) -> tuple[str, list[str], tuple[str, list[str]]]:
    """(module body, header lines, (loss text, variable names))."""
    import sympy

    explicit = flow.on(loss, variables)
    concrete = explicit.concrete
    names = [v.name for v in explicit.variables]
    # per power of h: sum of coefficient * F(tree), components in the variables
    orders = []
    for k in range(flow.order + 1):
        comps = [sympy.Integer(0)] * len(names)
        for t in flow.terms:
            if t.power != k:
                continue
            F = concrete.differential(flow.table, t.index)
            comps = [a + t.sympy * f for a, f in zip(comps, F, strict=True)]
        orders.append(comps)
    return explicit_parts(
        orders,
        names,
        list(flow.recurrence.parameters),
        explicit.loss,
        lambda loss_lines: constants(
            flow,
            differential=lambda t: differential_text(flow.table, t.index),
            before_terms=loss_lines,
        ),
    )


def explicit_parts(
    orders: list[list[sympy.Expr]],
    names: list[str],
    params: list[str],
    loss: sympy.Expr,
    make_constants: Callable[[list[str]], list[str]],
) -> tuple[str, list[str], tuple[str, list[str]]]:
    """(module body, header lines, (loss text, variable names)) of an explicit module
    from its field by power of $h$; `make_constants(loss_lines)` gives the module's
    constants with the `LOSS` and `VARIABLES` lines placed among them (shared by the
    B-series and the componentwise writers)."""
    import sympy

    loss_text = sympy.sstr(loss)
    constants_ = make_constants(
        [f"LOSS = {quote(loss_text)}", f"VARIABLES = {literal(tuple(names))}"]
    )
    body = explicit_module(orders, names, params, constants_, loss=loss)
    extra = [
        f"Loss: {loss_text}",
        f"Variables: {', '.join(names)} (the state is a 1-D array in this order)",
    ]
    return body, extra, (loss_text, names)


def explicit_module(
    orders: list[list[sympy.Expr]],
    names: list[str],
    params: list[str],
    constants_: list[str],
    *,
    loss: sympy.Expr | None = None,
) -> str:
    """The body of an explicit module: `constants_`, then the field given by
    `orders[k][i]` (component `i` of $F_k$, in the variables `names` and the symbolic
    `params`), written out in `jax.numpy` with the common subexpressions of all the
    components computed once, and, with `loss`, a `loss(state)` function."""
    import sympy

    local = _local_names([*names, *params])
    rename = {sympy.Symbol(n): sympy.Symbol(local[n]) for n in [*names, *params]}
    flat = [c.xreplace(rename) for comps in orders for c in comps]
    exclude = set(rename.values()) | {sympy.Symbol(r) for r in _RESERVED}
    replacements, reduced = sympy.cse(
        flat, symbols=sympy.numbered_symbols("s", exclude=exclude), order="none"
    )
    printer = expression_printer()
    unpack = _unpack_line([local[n] for n in names])
    lines = ["", "import jax.numpy as jnp", *constants_]
    lines += [
        "",
        "",
        "def _check_order(order):",
        "    if not 0 <= order <= ORDER:",
        '        raise ValueError(f"order must be between 0 and {ORDER}, got {order}")',
        "",
        "",
        "def _stack(components, state):",
        "    return jnp.stack([jnp.zeros_like(state[0]) + c for c in components])",
        *(ARGS_CHECK if params else []),
    ]
    if loss is not None:
        loss_params = [p for p in params if sympy.Symbol(p) in loss.free_symbols]
        lines += [
            "",
            "",
            *_loss_function(loss.xreplace(rename), loss_params, local, unpack, printer),
        ]
    lines += [
        "",
        "",
        "def terms_by_order(state, args, order=ORDER):",
        '    """[F_0, ..., F_order] at `state` (1-D arrays): dx/dt = sum h^k F_k."""',
        "    _check_order(order)",
        f"    {unpack}",
    ]
    if params:  # one assignment: every right side is read before any name is bound
        lines.append(args_check_call())
        lines.append(
            f"    {', '.join(local[p] for p in params)} = "
            + ", ".join(f'args["{p}"]' for p in params)
        )
    else:
        lines.append("    del args  # every parameter has a value")
    for sym, expr in replacements:
        lines += assignment("    ", str(sym), spaced(printer.doprint(expr)))
    d = len(names)
    order = len(orders) - 1
    for k in range(order + 1):
        comps = [spaced(printer.doprint(e)) for e in reduced[k * d : (k + 1) * d]]
        lines += _list_assignment(f"F_{k}", comps)
    lines += [
        "    F = [" + ", ".join(f"F_{k}" for k in range(order + 1)) + "]",
        "    return [_stack(F_k, state) for F_k in F[: order + 1]]",
        "",
        "",
        "def _flow(state, args, order):",
        "    F = terms_by_order(state, args, order)",
        '    h = args["h"]',
        "    total = F[order]",
        "    for term in reversed(F[:order]):  # Horner: F_0 + h (F_1 + h (F_2 + ...))",
        "        total = term + h * total",
        "    return total",
        "",
        "",
        "def make_vector_field(order=ORDER):",
        '    """The flow truncated at `order`, as `field(t, y, args)` (y: 1-D)."""',
        "    _check_order(order)",
        "",
        "    def field(t, y, args):",
        "        return _flow(y, args, order)",
        "",
        "    return field",
        "",
        "",
        "def vector_field(t, y, args):",
        '    """The flow through ORDER, `(t, y, args)`; y: 1-D array of VARIABLES."""',
        "    return _flow(y, args, ORDER)",
    ]
    return "\n".join(lines) + "\n"


def _loss_function(
    expr: sympy.Expr,
    params: list[str],
    local: dict[str, str],
    unpack: str,
    printer: Printer,
) -> list[str]:
    if not params:
        return [
            "def loss(state):",
            '    """The loss LOSS at `state`, a 1-D array of VARIABLES."""',
            f"    {unpack}",
            *assignment("    ", "value", spaced(printer.doprint(expr))),
            "    return value",
        ]
    return [
        "def loss(state, args):",
        '    """The loss LOSS at `state` (1-D array of VARIABLES) and `args`."""',
        f"    {unpack}",
        args_check_call(),
        f"    {', '.join(local[p] for p in params)} = "
        + ", ".join(f'args["{p}"]' for p in params),
        *assignment("    ", "value", spaced(printer.doprint(expr))),
        "    return value",
    ]


def _list_assignment(target: str, items: list[str]) -> list[str]:
    """`target = [a, b, ...]`, one item per line when the line would be too long."""
    line = f"    {target} = [{', '.join(items)}]"
    if len(line) <= LINE_LENGTH:
        return [line]
    out = [f"    {target} = ["]
    for item in items:
        out += assignment("        ", "", item, suffix=",", separator="")
    return [*out, "    ]"]


def _local_names(names: list[str]) -> dict[str, str]:
    """Python names for loss variables and parameters that clash with nothing."""
    out: dict[str, str] = {}
    taken = set(names)
    for n in names:
        py = n if not n.startswith("_") else "v" + n
        while _taken(py) or (py != n and py in taken):
            py += "_"
        taken.add(py)
        out[n] = py
    return out


def _unpack_line(names: list[str]) -> str:
    if len(names) == 1:
        return f"{names[0]} = state[0]"
    return (
        ", ".join(names) + " = " + ", ".join(f"state[{i}]" for i in range(len(names)))
    )
