"""Text, LaTeX and JSON of a modified flow and its modified loss."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._conventions import CONVENTIONS
from .names import differential_latex, differential_text, scalar_latex, scalar_text
from .printers import (
    h_power_latex,
    h_power_text,
    scaled_latex,
    scaled_text,
    signed_sum,
    text,
)
from .record import describe_loss, toolkit

if TYPE_CHECKING:
    from .._concrete import LossExpression, Variables
    from .._flow import ModifiedFlow, ModifiedLoss, Term
    from .._trees import TreeTable

__all__ = [
    "coefficient_text",
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


def flow_text(flow: ModifiedFlow, header: bool = True) -> str:
    """Readable text: one line per power of $h$ (see `ModifiedFlow.text`)."""
    lines = header_lines(flow) if header else []
    groups = flow.by_power()
    for k in range(flow.order + 1):
        body = terms_text(groups[k], flow.table)
        if k == 0:
            lines.append(f"dx/dt = {body}")
        else:
            lines.append(f"      + {h_power_text(k)} * ({body})")
    if header:
        ml = flow.modified_loss
        if ml.through_order >= 0:
            lines.append(f"modified loss through order {ml.through_order}: {ml.text}")
        else:
            lines.append("modified loss: none (the leading term is not a gradient)")
        if ml.through_order < flow.order:
            lines.append(
                f"the h^{ml.through_order + 1} term is not a gradient field "
                "(non-gradient remainder from that order on)"
            )
        if flow.conditions:
            lines.append("valid for: " + ", ".join(flow.conditions))
    return "\n".join(lines)


def flow_latex(flow: ModifiedFlow) -> str:
    """An `aligned` block for the modified equation."""
    rows = []
    for k, terms in flow.by_power().items():
        if not terms:
            continue
        body = signed_sum(
            [
                scaled_latex(t.sympy, differential_latex(flow.table, t.index))
                for t in terms
            ]
        )
        rows.append(body if k == 0 else f"{h_power_latex(k)}\\left({body}\\right)")
    body = " \\\\\n&\\quad + ".join(rows)
    return "\\begin{aligned}\n\\dot x &= " + body + "\n\\end{aligned}"


def term_latex(table: TreeTable, term: Term) -> str:
    """One term `c h^k F(t)` in LaTeX."""
    hk = h_power_latex(term.power)
    name = (hk + "\\," if hk else "") + differential_latex(table, term.index)
    return scaled_latex(term.sympy, name)


def flow_record(
    flow: ModifiedFlow,
    loss: LossExpression | None = None,
    variables: Variables | None = None,
) -> dict[str, Any]:
    """The JSON record of `derive flow --format json` (see the README's contract)."""
    ml = flow.modified_loss
    record: dict[str, Any] = {
        "optimizer": flow.recurrence.name,
        "order": flow.order,
        "conventions": CONVENTIONS,
        "parameters": flow.parameters,
        "states": list(flow.recurrence.states),
        "terms": [
            {
                "power": t.power,
                "tree": t.tree,
                "differential": differential_text(flow.table, t.index),
                "coefficient": text(t.sympy),
                "latex": term_latex(flow.table, t),
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
        "gradient_orders": [t.is_gradient for t in flow.gradient_tests],
        "conditions": flow.conditions,
        "toolkit": toolkit(),
    }
    if flow.recurrence.source:
        record["spec"] = flow.recurrence.source
    if loss is not None:
        field = flow.on(loss, variables or ())  # no variables: DeriveError
        record["loss"] = describe_loss(field.loss, field.variables)
        record["vector_field"] = [text(e) for e in field.components]
        # names to declare as symbols when parsing the strings back (SymPy's parser
        # would otherwise read e.g. `beta` or `gamma` as special functions)
        record["symbols"] = [str(v) for v in field.variables] + [
            "h",
            *flow.recurrence.parameters,
        ]
        if ml.through_order >= 0:
            record["modified_loss"]["explicit"] = text(ml.on(loss, variables or ()))
    return record


def _loss_pieces(
    modified_loss: ModifiedLoss,
    scaled: Callable[[Any, str], str],
    name_of: Callable[[TreeTable, int], str],
) -> list[tuple[int, list[str]]]:
    from .coefficients import coefficient_expr

    table = modified_loss.flow.table
    out = []
    for k, test in enumerate(modified_loss.parts):
        parts = [
            scaled(coefficient_expr(c), name_of(table, rep))
            for rep, c in test.potential
        ]
        out.append((k, parts))
    return out


def loss_text(modified_loss: ModifiedLoss) -> str:
    """`f + h*(1/4 |grad f|^2) + ...`."""
    rows = []
    for k, parts in _loss_pieces(modified_loss, scaled_text, scalar_text):
        if not parts:
            continue
        body = signed_sum(parts)
        rows.append(
            body if k == 0 else (f"h*({body})" if k == 1 else f"h^{k}*({body})")
        )
    return " + ".join(rows) if rows else "0"


def loss_latex(modified_loss: ModifiedLoss) -> str:
    """`\\tilde f = f + h\\left(...\\right) + ...`."""
    rows = []
    for k, parts in _loss_pieces(modified_loss, scaled_latex, scalar_latex):
        if not parts:
            continue
        body = signed_sum(parts)
        rows.append(body if k == 0 else f"{h_power_latex(k)}\\left({body}\\right)")
    return "\\tilde f = " + " + ".join(rows)


def coefficient_text(term: Term) -> str:
    """The exact coefficient of a term as SymPy text."""
    return text(term.sympy)
