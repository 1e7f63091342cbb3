"""Text, LaTeX and JSON of an invariant manifold: its states, reduced flow, attraction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._conventions import CONVENTIONS
from .coefficients import coefficient_expr, is_sum
from .flow import flow_latex, flow_record, flow_text, term_latex, terms_text
from .latex import aligned_series
from .names import differential_latex, differential_text
from .printers import (
    h_power_latex,
    h_power_text,
    latex,
    scaled_latex,
    text,
)
from .record import describe_loss, finish, inputs, toolkit

if TYPE_CHECKING:
    import sympy

    from .._attraction import Attraction
    from .._concrete import LossExpression, Variables
    from .._invariant_manifold import InvariantManifold, ManifoldState
    from .._trees import TreeTable

__all__ = [
    "state_text",
    "state_latex",
    "manifold_text",
    "manifold_latex",
    "manifold_latex_blocks",
    "manifold_record",
    "attraction_record",
    "polynomial_text",
]


def _latex_name(name: str) -> str:
    if "_" in name:
        base, sub = name.split("_", 1)
        return f"{base}_{{\\mathrm{{{sub}}}}}"
    return name


def _alpha_parts(state: ManifoldState, as_latex: bool) -> list[str]:
    out = []
    sep = "\\," if as_latex else " "
    for k, c in state.alpha:
        expr = coefficient_expr(c)
        hk = h_power_latex(k) if as_latex else h_power_text(k)
        if expr == 1:
            coef = ""
        elif as_latex:
            coef = (
                f"\\left({latex(expr)}\\right)" if is_sum(expr) else latex(expr)
            ) + sep
        else:
            coef = (f"({text(expr)})" if is_sum(expr) else text(expr)) + sep
        out.append((hk + sep if hk else "") + coef + "x")
    return out


def state_text(state: ManifoldState, table: TreeTable) -> str:
    """`name = alpha x + h * (...) + ...`, one line per power of $h$."""
    rows = _alpha_parts(state, False)
    for k, terms in sorted(state.by_power().items()):
        body = terms_text(terms, table)
        rows.append(body if k == 0 else f"{h_power_text(k)} * ({body})")
    head = f"{state.name} = "
    pad = " " * (len(head) - 2)
    lines = [head + (rows[0] if rows else "0")]
    lines += [f"{pad}+ {row}" for row in rows[1:]]
    return "\n".join(lines)


def state_latex(state: ManifoldState, table: TreeTable) -> str:
    """`x_{\\mathrm{prev}} &= x + h\\left(...\\right) + ...` (rows of an `aligned`
    block, long rows broken term by term)."""
    rows: list[tuple[str, list[str]]] = [("", _alpha_parts(state, True))]
    rows += [
        (
            h_power_latex(k),
            [scaled_latex(t.sympy, differential_latex(table, t.index)) for t in terms],
        )
        for k, terms in sorted(state.by_power().items())
    ]
    block = aligned_series(_latex_name(state.name), rows)
    return block.removeprefix("\\begin{aligned}\n").removesuffix("\n\\end{aligned}")


def polynomial_text(attraction: Attraction) -> str:
    """The characteristic polynomial as a product over its roots, as text."""
    import sympy

    zeta = sympy.Symbol("zeta")
    if sympy.degree(sympy.expand(attraction.polynomial), zeta) != (
        len(attraction.parasitic_roots) + 1
    ):
        return text(attraction.polynomial)
    factors = ["(zeta - 1)"]
    for r in attraction.parasitic_roots:
        if r == 0:
            factors.append("zeta")
        elif r.is_number and r.is_real and r < 0:
            factors.append(f"(zeta + {text(-r)})")
        else:
            shown = f"({text(r)})" if r.is_Add else text(r)
            factors.append(f"(zeta - {shown})")
    return "*".join(factors)


def manifold_text(manifold: InvariantManifold, header: bool = True) -> str:
    """The states on the manifold, the reduced flow and the attraction, as text."""
    lines = []
    if header:
        params = ", ".join(f"{k} = {v}" for k, v in manifold.flow.parameters.items())
        lines += [
            f"Invariant (slow) manifold of {manifold.recurrence.name} through order "
            f"{manifold.order} (parameters: {params or 'none'})",
            f"conventions: {CONVENTIONS}",
        ]
    if manifold.states:
        lines.append(
            f"on the manifold (trees with up to {manifold.order + 1} nodes; "
            f"error O(h^{manifold.order + 2}) for previous iterates):"
        )
        for s in manifold.states:
            lines += ["  " + row for row in state_text(s, manifold.table).splitlines()]
    else:
        lines.append(
            "no auxiliary states: the manifold is the whole space (a one-step method)."
        )
    lines.append("reduced flow on the manifold (the modified flow):")
    lines += ["  " + row for row in flow_text(manifold.flow, False).splitlines() if row]
    a = manifold.attraction
    lines.append("attraction:")
    lines.append(
        "  linear part of the update at h = 0: "
        + text(a.matrix.tolist())
        + f"; characteristic polynomial {polynomial_text(a)}"
    )
    if a.parasitic_roots:
        lines.append(
            "  principal root 1; parasitic root(s): "
            + ", ".join(text(r) for r in a.parasitic_roots)
        )
        lines.append(
            f"  per step: {text(a.per_step)}; per unit time: "
            f"{text(a.per_unit_time)} (deviations ~ exp(t log(rho)/h), t = n h)"
        )
    lines.append("  " + a.statement)
    if manifold.flow.conditions:
        lines.append("valid for: " + ", ".join(manifold.flow.conditions))
    return "\n".join(lines)


def manifold_latex_blocks(manifold: InvariantManifold) -> list[str]:
    """The pieces of a manifold's LaTeX, each for a display environment of its own:
    the states (an `aligned` block), the reduced flow (one too) and the attraction."""
    rows = [state_latex(s, manifold.table) for s in manifold.states]
    out = []
    if rows:
        out.append("\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}")
    out.append(flow_latex(manifold.flow))
    a = manifold.attraction
    if a.parasitic_roots:
        roots = ", ".join(latex(r) for r in a.parasitic_roots)
        out.append(
            f"\\zeta \\in \\{{{roots}\\}}, \\quad \\rho = {latex(a.per_step)}, \\quad "
            f"\\frac{{\\log \\rho}}{{h}} = {latex(a.per_unit_time)}"
        )
    return out


def manifold_latex(manifold: InvariantManifold) -> str:
    """`aligned` blocks: the states, the reduced flow and the attraction rate."""
    return "\n".join(manifold_latex_blocks(manifold))


def attraction_record(a: Attraction) -> dict[str, Any]:
    """The `attraction` entry of a manifold's record."""

    def s(e: sympy.Expr | None) -> str | None:
        return None if e is None else text(e)

    rho = a.per_step
    numeric = (
        rho is not None and not rho.free_symbols and bool(rho.is_number)
    ) or False
    return {
        "matrix_at_h0": [[s(e) for e in row] for row in a.matrix.tolist()],
        "characteristic_polynomial": polynomial_text(a),
        "principal_root": "1",
        "parasitic_roots": [s(r) for r in a.parasitic_roots],
        "per_step": s(rho),
        "per_step_value": float(rho) if numeric and rho is not None else None,
        "per_unit_time": s(a.per_unit_time),
        "per_unit_time_latex": None
        if a.per_unit_time is None
        else latex(a.per_unit_time),
        "attracting": a.attracting,
        "condition": a.condition,
        "statement": a.statement,
    }


def manifold_record(
    manifold: InvariantManifold,
    loss: LossExpression | None = None,
    variables: Variables | None = None,
) -> dict[str, Any]:
    """The JSON record: states, reduced flow (the `derive flow` record), attraction."""
    table = manifold.table
    states = []
    for s in manifold.states:
        states.append(
            {
                "name": s.name,
                "alpha": [
                    {"power": k, "coefficient": text(coefficient_expr(c))}
                    for k, c in s.alpha
                ],
                "terms": [
                    {
                        "power": t.power,
                        "tree": t.tree,
                        "differential": differential_text(table, t.index),
                        "coefficient": text(t.sympy),
                        "latex": term_latex(table, t),
                    }
                    for t in s.terms
                ],
                "text": state_text(s, table),
                "latex": state_latex(s, table),
            }
        )
    record: dict[str, Any] = {
        "optimizer": manifold.recurrence.name,
        "order": manifold.order,
        "conventions": CONVENTIONS,
        "parameters": manifold.flow.parameters,
        "states": states,
        "reduced_flow": flow_record(manifold.flow),
        "attraction": attraction_record(manifold.attraction),
        "conditions": manifold.flow.conditions,
        "toolkit": toolkit(),
    }
    if loss is not None:
        explicit = manifold.on(loss, variables or ())  # none: DeriveError
        record["loss"] = describe_loss(explicit.loss, explicit.variables)
        record["explicit_states"] = {
            k: [text(e) for e in v] for k, v in explicit.states.items()
        }
    return finish(
        record,
        "optimizer-flows.manifold/1",
        inputs("manifold", manifold.recurrence, manifold.order, loss, variables),
    )
