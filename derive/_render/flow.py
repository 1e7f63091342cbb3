"""Text, LaTeX and JSON of a modified flow and its modified loss."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._conventions import CONVENTIONS
from .latex import ROW_LIMIT, aligned_series
from .names import differential_latex, differential_text, scalar_latex, scalar_text
from .printers import (
    h_power_latex,
    h_power_text,
    scaled_latex,
    scaled_text,
    signed_sum,
    text,
)
from .record import describe_loss, finish, inputs, toolkit

if TYPE_CHECKING:
    from .._concrete import LossExpression, Variables
    from .._flow import ExplicitField, ModifiedFlow, ModifiedLoss, Term
    from .._trees import TreeTable
    from .view import FlowView

__all__ = [
    "add_concrete",
    "loss_latex_lines",
    "potential_latex_lines",
    "aligned_latex",
    "coefficient_text",
    "loss_lines",
    "potential_latex",
    "potential_text",
    "power_lines",
    "record_of",
    "scaled_power_latex",
    "flow_latex",
    "flow_record",
    "flow_text",
    "header_lines",
    "loss_latex",
    "loss_text",
    "term_latex",
    "terms_text",
]


def header_lines(flow: ModifiedFlow) -> list[str]:
    """The first two lines of a flow's text: what it is, and the conventions."""
    params = ", ".join(f"{k} = {v}" for k, v in flow.parameters.items()) or "none"
    return [
        f"Modified flow of {flow.recurrence.name} through order {flow.order} "
        f"(parameters: {params})",
        f"conventions: {CONVENTIONS}",
    ]


def terms_text(terms: Sequence[Term], table: TreeTable) -> str:
    """`c1 F(t1) + c2 F(t2) ...` for a list of terms."""
    return signed_sum(
        [scaled_text(t.sympy, differential_text(table, t.index)) for t in terms]
    )


def power_lines(
    by_power: dict[int, list[Term]], order: int, name: Callable[[Term], str]
) -> list[str]:
    """`dx/dt = ...` and one `      + h^k * (...)` line per power of $h$, each term
    `c name(term)`."""
    lines = []
    for k in range(order + 1):
        body = signed_sum([scaled_text(t.sympy, name(t)) for t in by_power.get(k, [])])
        if k == 0:
            lines.append(f"dx/dt = {body}")
        else:
            lines.append(f"      + {h_power_text(k)} * ({body})")
    return lines


def loss_lines(flow: FlowView) -> list[str]:
    """Where the modified loss stops, and the conditions of validity (the footer of
    a flow's text)."""
    lines = []
    ml = flow.modified_loss
    if ml.through_order >= 0:
        lines.append(f"modified loss through order {ml.through_order}: {ml.text}")
    else:
        lines.append("modified loss: none (the leading term is not a gradient)")
    if ml.through_order < flow.order:
        lines.append(
            f"the h^{ml.through_order + 1} term is not a gradient field for a generic "
            "loss (non-gradient remainder from that order on)"
        )
    if flow.conditions:
        lines.append("valid for: " + ", ".join(flow.conditions))
    lines += [f"WARNING: {w}" for w in getattr(flow, "warnings", [])]
    return lines


def flow_text(flow: ModifiedFlow, header: bool = True) -> str:
    """Readable text: one line per power of $h$ (see `ModifiedFlow.text`)."""
    lines = header_lines(flow) if header else []
    lines += power_lines(
        flow.by_power(), flow.order, lambda t: differential_text(flow.table, t.index)
    )
    if header:
        lines += loss_lines(flow)
    return "\n".join(lines)


def aligned_latex(by_power: dict[int, list[Term]], name: Callable[[Term], str]) -> str:
    """An `aligned` block `\\dot x &= ... \\\\ &\\quad + h(...)`, long rows broken
    term by term."""
    rows = [
        (h_power_latex(k), [scaled_latex(t.sympy, name(t)) for t in terms])
        for k, terms in sorted(by_power.items())
    ]
    return aligned_series("\\dot x", rows)


def flow_latex(flow: ModifiedFlow) -> str:
    """An `aligned` block for the modified equation (after a `% WARNING` comment
    line per warning of the flow)."""
    block = aligned_latex(
        flow.by_power(), lambda t: differential_latex(flow.table, t.index)
    )
    notes = [f"% WARNING: {w}\n" for w in getattr(flow, "warnings", [])]
    return "".join(notes) + block


def term_latex(table: TreeTable, term: Term) -> str:
    """One term `c h^k F(t)` in LaTeX."""
    return scaled_power_latex(term, differential_latex(table, term.index))


def scaled_power_latex(term: Term, name: str) -> str:
    """`c h^k name` in LaTeX."""
    hk = h_power_latex(term.power)
    return scaled_latex(term.sympy, (hk + "\\," if hk else "") + name)


def flow_record(
    flow: ModifiedFlow,
    loss: LossExpression | None = None,
    variables: Variables | None = None,
) -> dict[str, Any]:
    """The JSON record of `derive flow --format json` (see the README's contract)."""
    record = record_of(
        flow,
        lambda t: differential_text(flow.table, t.index),
        lambda t: differential_latex(flow.table, t.index),
        [t.is_gradient for t in flow.gradient_tests],
    )
    if loss is not None:
        ml = flow.modified_loss
        field = flow.on(loss, variables or ())  # no variables: DeriveError
        explicit = ml.on(loss, variables or ()) if ml.through_order >= 0 else None
        add_concrete(record, flow, field, explicit)
        from .._concrete_gradient import concrete_gradient

        record["gradient_on_loss"] = concrete_gradient(flow, field).to_dict()
    return finish(
        record,
        "optimizer-flows.flow/1",
        inputs("flow", flow.recurrence, flow.order, loss, variables),
    )


def record_of(
    flow: FlowView,
    differential: Callable[[Term], str],
    latex: Callable[[Term], str],
    gradient_orders: list[bool],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON record of a flow without a concrete loss: `differential` and `latex`
    name a term's elementary differential, `gradient_orders` say which powers of $h$
    are gradients, `extra` entries follow `states`."""
    ml = flow.modified_loss
    return {
        "optimizer": flow.recurrence.name,
        "order": flow.order,
        "conventions": CONVENTIONS,
        "parameters": flow.parameters,
        "states": list(flow.recurrence.states),
        **(extra or {}),
        "terms": [
            {
                "power": t.power,
                "tree": t.tree,
                "differential": differential(t),
                "coefficient": text(t.sympy),
                "latex": scaled_power_latex(t, latex(t)),
            }
            for t in flow.terms
        ],
        "modified_loss": None
        if ml.through_order < 0
        else {
            "through_order": ml.through_order,
            "expression": ml.text,
            "latex": ml.latex,
        },
        "gradient_orders": gradient_orders,
        "conditions": flow.conditions,
        "warnings": list(getattr(flow, "warnings", [])),
        "toolkit": toolkit(),
        **({"spec": flow.recurrence.source} if flow.recurrence.source else {}),
    }


def add_concrete(
    record: dict[str, Any],
    flow: FlowView,
    field: ExplicitField[Any],
    explicit_loss: object | None,
    **loss_entries: Any,
) -> None:
    """Add to `record` the flow on a concrete loss: the loss (with `loss_entries`),
    the explicit vector field, the symbols to parse it back with, and the explicit
    modified loss when there is one."""
    record["loss"] = {**describe_loss(field.loss, field.variables), **loss_entries}
    record["vector_field"] = [text(e) for e in field.components]
    # names to declare as symbols when parsing the strings back (SymPy's parser
    # would otherwise read e.g. `beta` or `gamma` as special functions)
    record["symbols"] = [str(v) for v in field.variables] + [
        "h",
        *flow.recurrence.parameters,
    ]
    if explicit_loss is not None:
        record["modified_loss"]["explicit"] = text(explicit_loss)


def _loss_pieces(
    modified_loss: ModifiedLoss,
    scaled: Callable[[Any, str], str],
    name_of: Callable[[TreeTable, int], str],
) -> list[list[str]]:
    from .coefficients import coefficient_expr

    table = modified_loss.flow.table
    return [
        [scaled(coefficient_expr(c), name_of(table, rep)) for rep, c in test.potential]
        for test in modified_loss.parts
    ]


def potential_text(parts_by_order: Sequence[Sequence[str]]) -> str:
    """`f + h*(...) + h^2*(...)` from the scaled terms of each power of $h$."""
    rows = []
    for k, parts in enumerate(parts_by_order):
        if not parts:
            continue
        body = signed_sum(list(parts))
        rows.append(
            body if k == 0 else (f"h*({body})" if k == 1 else f"h^{k}*({body})")
        )
    return " + ".join(rows) if rows else "0"


def potential_latex_lines(parts_by_order: Sequence[Sequence[str]]) -> list[str]:
    """The lines of `\\tilde f = ...` for display: one line when it is short, else
    one line per power of $h$ (each continuation starting with `+`)."""
    rows = []
    for k, parts in enumerate(parts_by_order):
        if not parts:
            continue
        body = signed_sum(list(parts))
        rows.append(body if k == 0 else f"{h_power_latex(k)}\\left({body}\\right)")
    if not rows:
        return ["\\tilde f = 0"]
    one = "\\tilde f = " + " + ".join(rows)
    if len(one) <= ROW_LIMIT or len(rows) == 1:
        return [one]
    return ["\\tilde f = " + rows[0], *("+ " + r for r in rows[1:])]


def potential_latex(parts_by_order: Sequence[Sequence[str]]) -> str:
    """`\\tilde f = f + h\\left(...\\right) + ...` from the scaled LaTeX terms."""
    rows = []
    for k, parts in enumerate(parts_by_order):
        if not parts:
            continue
        body = signed_sum(list(parts))
        rows.append(body if k == 0 else f"{h_power_latex(k)}\\left({body}\\right)")
    return "\\tilde f = " + " + ".join(rows)


def loss_text(modified_loss: ModifiedLoss) -> str:
    """`f + h*(1/4 |grad f|^2) + ...`."""
    return potential_text(_loss_pieces(modified_loss, scaled_text, scalar_text))


def loss_latex_lines(modified_loss: ModifiedLoss) -> list[str]:
    """The modified loss as display lines (see `potential_latex_lines`)."""
    return potential_latex_lines(
        _loss_pieces(modified_loss, scaled_latex, scalar_latex)
    )


def loss_latex(modified_loss: ModifiedLoss) -> str:
    """`\\tilde f = f + h\\left(...\\right) + ...`."""
    return potential_latex(_loss_pieces(modified_loss, scaled_latex, scalar_latex))


def coefficient_text(term: Term) -> str:
    """The exact coefficient of a term as SymPy text."""
    return text(term.sympy)
