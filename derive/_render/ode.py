"""Text, LaTeX and JSON of a high-resolution (second-order-in-time) equation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._conventions import CONVENTIONS, ODE_CONVENTIONS
from .coefficients import is_sum
from .printers import h_power_latex, h_power_text, latex, sign_and_magnitude, text
from .record import describe_loss, finish, inputs, toolkit

if TYPE_CHECKING:
    import sympy

    from .._concrete import LossExpression, Variables
    from .._high_resolution.algebra import Monomial
    from .._high_resolution.equation import EquationTerm, HighResolutionODE

__all__ = [
    "monomial_text",
    "monomial_latex",
    "equation_text",
    "ode_text",
    "ode_latex",
    "ode_latex_lines",
    "ode_record",
]


def monomial_text(mono: Monomial) -> str:
    """Text of a monomial: `x'`, `x''`, `x^(3)`, `grad f(x)`, `H(x)[x']`,
    `D^3f(x)[x', x']`."""
    if mono[0] == "d":
        j = mono[1]
        return "x" + ("'" * j if j <= 2 else f"^({j})")
    args = mono[1]
    if not args:
        return "grad f(x)"
    inner = ", ".join(monomial_text(a) for a in args)
    if len(args) == 1:
        return f"H(x)[{inner}]"
    return f"D^{len(args) + 1}f(x)[{inner}]"


def monomial_latex(mono: Monomial) -> str:
    """LaTeX of a monomial: `\\dot x`, `\\nabla^2 f(x)\\,\\dot x`, ..."""
    if mono[0] == "d":
        j = mono[1]
        return {0: "x", 1: "\\dot x", 2: "\\ddot x"}.get(j, f"x^{{({j})}}")
    args = mono[1]
    if not args:
        return "\\nabla f(x)"
    if len(args) == 1:
        return f"\\nabla^2 f(x)\\, {monomial_latex(args[0])}"
    inner = ", ".join(monomial_latex(a) for a in args)
    return f"\\nabla^{{{len(args) + 1}}} f(x)[{inner}]"


def _sign_and_magnitude(expr: sympy.Expr, negate: bool) -> tuple[str, sympy.Expr]:
    """`("+", |expr|)` or `("-", |expr|)`, with the sign flipped by `negate`."""
    negative, magnitude = sign_and_magnitude(expr)
    return ("-" if negative != negate else "+"), magnitude


def _term_text(term: EquationTerm, negate: bool = False) -> str:
    """`+ h*(beta + 1)/2 x''` (with its sign in front)."""
    sign, value = _sign_and_magnitude(term.sympy, negate)
    hk = h_power_text(term.power)
    shown = f"({text(value)})" if is_sum(value) else text(value)
    if hk and value.is_Rational and value != 1:
        p, q = value.p, value.q
        coef = (f"{p}*" if p != 1 else "") + hk + (f"/{q}" if q != 1 else "")
    elif value == 1:
        coef = hk
    elif hk and value.is_Pow and value.exp == -1:  # 1/(...) reads as h/(...)
        coef = hk + shown[1:]
    elif hk:
        coef = f"{hk}*{shown}"
    else:
        coef = shown
    return f"{sign} {coef + ' ' if coef else ''}{monomial_text(term.monomial)}"


def _term_latex(term: EquationTerm, negate: bool = False) -> str:
    sign, value = _sign_and_magnitude(term.sympy, negate)
    hk = h_power_latex(term.power)
    coef = (
        ""
        if value == 1
        else (f"\\left({latex(value)}\\right)" if is_sum(value) else latex(value))
    )
    lead = " ".join(p for p in (hk, coef) if p)
    sep = "\\, " if lead else ""
    return f"{sign} {lead}{sep}{monomial_latex(term.monomial)}"


def _strip_plus(s: str) -> str:
    if s.startswith("+ "):
        return s[2:]
    return "-" + s[2:] if s.startswith("- ") else s


def _join(parts: list[str]) -> str:
    if not parts:
        return "0"
    return " ".join([_strip_plus(parts[0]), *parts[1:]])


def equation_text(ode: HighResolutionODE) -> str:
    """The equation on one line (`... = 0`, or `x' = ...` for `time_order=1`)."""
    if ode.time_order == 1:
        return "x' = " + _join([_term_text(t, True) for t in ode.right_hand_side()])
    return _join([_term_text(t) for t in ode.ordered_terms()]) + " = 0"


def _header_lines(ode: HighResolutionODE) -> list[str]:
    params = ", ".join(f"{k} = {v}" for k, v in ode.parameters.items()) or "none"
    kind = (
        "High-resolution (second order in time)"
        if ode.time_order == 2
        else "First-order reduction of the high-resolution"
    )
    return [
        f"{kind} modified equation of {ode.recurrence.name} through order "
        f"{ode.order} (parameters: {params})",
        f"conventions: {ODE_CONVENTIONS}",
    ]


def _footer_lines(ode: HighResolutionODE) -> list[str]:
    p = ode.order
    lines = []
    if ode.time_order == 2:
        lines.append(
            f"consistent to O(h^{p + 1}): with x'(0) on the slow manifold (the "
            "first-order reduction at x(0)), x(n h) matches the iterates up to "
            f"O(h^{p + 1}) on bounded times"
        )
    lines.append(
        "first-order reduction = modified flow: "
        + ("yes" if ode.agrees_with_modified_flow() else "NO")
    )
    if ode.conditions:
        lines.append("valid for: " + ", ".join(ode.conditions))
    return lines


def ode_text(ode: HighResolutionODE, header: bool = True) -> str:
    """Readable text, one term per line."""
    lines = _header_lines(ode) if header else []
    if ode.time_order == 1:
        parts = [_term_text(t, True) for t in ode.right_hand_side()]
        lines.append("x' = " + _strip_plus(parts[0]))
        lines += ["     " + p for p in parts[1:]]
    else:
        parts = [_term_text(t) for t in ode.ordered_terms()]
        lines.append("  " + _strip_plus(parts[0]))
        lines += parts[1:]
        lines.append("= 0")
    if header:
        lines += _footer_lines(ode)
    return "\n".join(lines)


def ode_latex_lines(ode: HighResolutionODE) -> list[str]:
    """The equation as display lines: one line when short, else one term per line
    (each continuation starting with its sign)."""
    from .latex import ROW_LIMIT

    one = ode_latex(ode)
    if len(one) <= ROW_LIMIT:
        return [one]
    if ode.time_order == 1:
        parts = [_term_latex(t, True) for t in ode.right_hand_side()]
        return [f"\\dot x = {_strip_plus(parts[0])}", *parts[1:]]
    parts = [_term_latex(t) for t in ode.ordered_terms()]
    return [_strip_plus(parts[0]), *parts[1:-1], parts[-1] + " = 0"]


def ode_latex(ode: HighResolutionODE) -> str:
    """LaTeX of the equation (`\\dot x`, `\\ddot x`, `\\nabla^2 f(x)\\,\\dot x`)."""
    if ode.time_order == 1:
        body = _join([_term_latex(t, True) for t in ode.right_hand_side()])
        return f"\\dot x = {body}"
    return _join([_term_latex(t) for t in ode.ordered_terms()]) + " = 0"


def ode_record(
    ode: HighResolutionODE,
    loss: LossExpression | None = None,
    variables: Variables | None = None,
) -> dict[str, Any]:
    """The JSON record: equation, terms, first-order reduction and its check."""
    record: dict[str, Any] = {
        "optimizer": ode.recurrence.name,
        "order": ode.order,
        "time_order": ode.time_order,
        "conventions": ODE_CONVENTIONS + "; " + CONVENTIONS,
        "parameters": ode.parameters,
        "states": list(ode.recurrence.states),
        "equation": equation_text(ode),
        "latex": ode_latex(ode),
        "terms": [
            {
                "power": t.power,
                "monomial": monomial_text(t.monomial),
                "latex": monomial_latex(t.monomial),
                "coefficient": text(t.sympy),
            }
            for t in ode.ordered_terms()
        ],
        "first_order_reduction": [
            {"power": t.power, "tree": t.tree, "coefficient": text(t.sympy)}
            for t in ode.reduction
        ],
        "agrees_with_modified_flow": ode.agrees_with_modified_flow(),
        "conditions": ode.conditions,
        "toolkit": toolkit(),
    }
    if ode.recurrence.source:
        record["spec"] = ode.recurrence.source
    if loss is not None:
        explicit = ode.on(loss, variables or ())  # none: DeriveError
        record["loss"] = describe_loss(explicit.loss, explicit.variables)
        record["explicit"] = {
            "velocity": [str(v) for v in explicit.velocity],
            "acceleration": [str(v) for v in explicit.acceleration],
            "equations": [text(e) for e in explicit.equations],
        }
    return finish(
        record,
        "optimizer-flows.ode/1",
        inputs(
            "ode",
            ode.recurrence,
            ode.order,
            loss,
            variables,
            words=[f"--time-order {ode.time_order}"],
            time_order=ode.time_order,
        ),
    )
