"""`ComponentwiseFlow`: the modified flow of an adaptive (componentwise) optimizer.

Made by [`modified_flow`][derive.modified_flow] whenever the optimizer's program has
componentwise instructions; it offers what a [`ModifiedFlow`][derive.ModifiedFlow]
offers (terms by power of $h$, text, LaTeX, the JSON record, the explicit field on a
concrete loss, truncation, conditions of validity) in the notation of
`derive._componentwise.render` (elementwise functions of $g$, $\\odot$, derivative
atoms $g^{(k)}[\\ldots]$), plus the moments on the slow manifold.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .._recurrence import Recurrence
from .._render.flow import power_lines
from .._render.printers import (
    h_power_latex,
    h_power_text,
    scaled_text,
    signed_sum,
    text,
)
from .._render.record import describe_loss, toolkit
from .render import CONVENTIONS, LEGEND, LEGEND_LATEX, function_text, scaled_latex
from .solve import Solution, solve
from .terms import ComponentwiseTerm, split_terms

if TYPE_CHECKING:
    import sympy

    from .._concrete import ConcreteLoss, LossExpression, Variables
    from .._flow import ExplicitField

__all__ = ["ComponentwiseFlow", "componentwise_flow", "ASSUMPTIONS"]

ASSUMPTIONS = (
    "symbolic hyper-parameters are taken positive; |.| and quotients are smooth away "
    "from the zeros listed in the conditions"
)


def componentwise_flow(rec: Recurrence, order: int) -> ComponentwiseFlow:
    """The componentwise engine's modified flow of `rec` through `order`."""
    return ComponentwiseFlow(solve(rec, order), order)


LONG_TERM = 240
"""Characters of LaTeX above which a term's vector goes on a line of its own."""


class ComponentwiseFlow:
    """The modified flow $\\dot x = F_0 + h F_1 + \\dots + h^p F_p$ of a componentwise
    optimizer, with exact coefficients; made by [`modified_flow`][derive.modified_flow].

    **Attributes:**

    - `recurrence`, `order`.
    - `terms`: the nonzero [`ComponentwiseTerm`][derive.ComponentwiseTerm]s, by
      power of $h$ (`coefficient * h**power * factor ⊙ atoms`).
    - `fields[k]`: $F_k$ in the engine's canonical form.
    - `conditions`: where the derivation holds (`beta1 != 1`, nonzero components).

    !!! example
        ```python
        >>> import derive
        >>> flow = derive.modified_flow(derive.rmsprop(eps=0), order=1)
        >>> print(flow.text(header=False))
        dx/dt = sign(g)
              + h * (beta2/(1 - beta2) (1/|g|) ⊙ g'[sign(g)])
        >>> flow.conditions
        ['beta2 != 1', '|g| != 0 (every gradient component nonzero)']

        ```
    """

    def __init__(self, solution: Solution, order: int):
        self.solution = solution
        self.recurrence = solution.recurrence
        self.order = order
        self.calculus = solution.calculus
        self.fields = solution.fields[: order + 1]
        params = self.recurrence.parameters
        self.terms: list[ComponentwiseTerm] = [
            t
            for k, F in enumerate(self.fields)
            for t in split_terms(self.calculus, k, F, params)
        ]

    engine = "componentwise"
    legend = LEGEND

    # ------------------------------------------------------------------ views
    def by_power(self) -> dict[int, list[ComponentwiseTerm]]:
        """Terms grouped by power of $h$."""
        out: dict[int, list[ComponentwiseTerm]] = {k: [] for k in range(self.order + 1)}
        for t in self.terms:
            out[t.power].append(t)
        return out

    @property
    def parameters(self) -> dict[str, str]:
        """Hyper-parameters as exact strings (symbols by their name)."""
        return self.recurrence.parameter_texts

    def truncate(self, order: int) -> ComponentwiseFlow:
        """The same flow through a lower order, without deriving again."""
        from .._errors import DeriveError

        if isinstance(order, bool) or not isinstance(order, int):
            raise DeriveError(f"order must be an integer, got {order!r}.", "")
        if not 0 <= order <= self.order:
            raise DeriveError(
                f"cannot truncate a flow of order {self.order} to order {order}.",
                f"Use an order from 0 to {self.order}.",
            )
        return ComponentwiseFlow(self.solution, order)

    @cached_property
    def conditions(self) -> list[str]:
        """Conditions of validity: nonzero pivots of the manifold's linear systems
        (`beta2 != 1`) and denominators that may vanish (`|g| != 0`)."""
        import sympy

        from .._conditions import nonzero_conditions

        params = self.recurrence.parameters
        out: list[str] = []
        if params:
            det = sympy.Integer(1)
            for p in self.solution.pivots:
                if p.is_constant():
                    det *= self.solution.algebra.field.to_sympy(p.constant_value())
            out += nonzero_conditions(sympy.fraction(sympy.factor(det)))
        for c in self.solution.algebra.conditions:
            shown = function_text(c)
            if shown == "|g|":
                out.append("|g| != 0 (every gradient component nonzero)")
            else:
                out.append(f"{shown} != 0 (componentwise)")
        return out

    # ------------------------------------------------------------------ text
    def coefficient_text(self, term: ComponentwiseTerm) -> str:
        return text(term.sympy)

    def text(self, header: bool = True) -> str:
        """Readable text: one line per power of $h$, the legend and the conditions."""
        lines = []
        if header:
            params = ", ".join(f"{k} = {v}" for k, v in self.parameters.items())
            lines += [
                f"Modified flow of {self.recurrence.name} through order {self.order} "
                f"(parameters: {params or 'none'})",
                f"conventions: {CONVENTIONS}",
                f"notation: {LEGEND}",
            ]
        lines += power_lines(self.by_power(), self.order, lambda t: t.vector_text)  # type: ignore[arg-type, attr-defined]
        if header:
            if self.conditions:
                lines.append("valid for: " + ", ".join(self.conditions))
            lines.append(f"assumptions: {ASSUMPTIONS}")
        return "\n".join(lines)

    def latex(self) -> str:
        """LaTeX for the modified equation (an `aligned` block), $\\odot$ notation,
        long rows broken term by term (as for B-series flows)."""
        from .._render.latex import aligned_series

        def term(t: ComponentwiseTerm) -> str:
            one_line = scaled_latex(t.sympy, t.vector_latex)
            if len(one_line) <= LONG_TERM or t.sympy in (1, -1):
                return one_line
            # a wide coefficient and a wide vector: the vector on the next line
            return scaled_latex(t.sympy, "\\\\\n&\\qquad\\qquad " + t.vector_latex)

        rows = [
            (h_power_latex(k), [term(t) for t in terms])
            for k, terms in sorted(self.by_power().items())
        ]
        return aligned_series("\\dot x", rows)

    def term_latex(self, term: ComponentwiseTerm) -> str:
        """One term `c h^k phi ⊙ K` in LaTeX."""
        hk = h_power_latex(term.power)
        return scaled_latex(term.sympy, (hk + "\\," if hk else "") + term.vector_latex)

    @property
    def legend_latex(self) -> str:
        return LEGEND_LATEX

    def manifold_text(self) -> list[str]:
        """The states on the slow manifold, one line each (`m = -g + h*(...)`)."""
        calc = self.calculus
        params = self.recurrence.parameters
        lines = []
        for j, name in enumerate(self.recurrence.states[1:], start=1):
            parts = []
            for k, e in enumerate(self.solution.manifold[j][: self.order + 1]):
                terms = split_terms(calc, k, e, params)
                body = signed_sum([scaled_text(t.sympy, t.vector_text) for t in terms])
                if terms:
                    parts.append(body if k == 0 else f"{h_power_text(k)}*({body})")
            lines.append(f"{name} = " + (" + ".join(parts) if parts else "0"))
        return lines

    # ------------------------------------------------------------------ records
    def to_dict(
        self, loss: LossExpression | None = None, variables: Variables | None = None
    ) -> dict[str, Any]:
        """The JSON record: the keys of `derive flow --format json` (`tree` is null,
        `modified_loss` and `gradient_orders` are null: not decided for
        componentwise flows), plus `engine`, `notation` and `manifold`."""
        record: dict[str, Any] = {
            "optimizer": self.recurrence.name,
            "order": self.order,
            "conventions": CONVENTIONS,
            "parameters": self.parameters,
            "states": list(self.recurrence.states),
            "terms": [
                {
                    "power": t.power,
                    "tree": None,
                    "differential": t.vector_text,
                    "coefficient": text(t.sympy),
                    "latex": self.term_latex(t),
                }
                for t in self.terms
            ],
            "modified_loss": None,
            "gradient_orders": None,
            "conditions": self.conditions,
            "toolkit": toolkit(),
            "engine": self.engine,
            "notation": LEGEND,
            "assumptions": ASSUMPTIONS,
            "manifold": self.manifold_text(),
        }
        if self.recurrence.source:
            record["spec"] = self.recurrence.source
        if loss is not None:
            field = self.on(loss, variables or ())
            record["loss"] = describe_loss(field.loss, field.variables)
            record["vector_field"] = [text(e) for e in field.components]
            record["symbols"] = [str(v) for v in field.variables] + [
                "h",
                *self.recurrence.parameters,
            ]
        return record

    def to_json(
        self, loss: LossExpression | None = None, variables: Variables | None = None
    ) -> str:
        return json.dumps(self.to_dict(loss, variables), indent=2, ensure_ascii=False)

    # ------------------------------------------------------------------ concrete loss
    def on(
        self, loss: LossExpression | ConcreteLoss, variables: Variables | None
    ) -> ExplicitField[Any]:
        """The explicit vector field on a concrete SymPy loss (`Abs` and `sign` for
        $|g_i|$ and the sign of $g_i$).

        !!! example
            ```python
            >>> import derive
            >>> flow = derive.modified_flow(derive.rmsprop(eps=1), order=0)
            >>> flow.on("x**2/2", "x").components
            [-Abs(x)*sign(x)/(Abs(x) + 1)]

            ```
        """
        import sympy

        from .._concrete import ConcreteLoss
        from .._flow import ExplicitField
        from .concrete import ConcreteEvaluator

        cl = (
            loss
            if isinstance(loss, ConcreteLoss)
            else ConcreteLoss(loss, variables or (), self.recurrence.parameters)
        )
        ev = ConcreteEvaluator(self.calculus, cl)
        h = sympy.Symbol("h")
        powers = [ev.expression(F) for F in self.fields]
        d = len(cl.variables)
        comps = [
            sum((h**k * powers[k][i] for k in range(self.order + 1)), sympy.Integer(0))
            for i in range(d)
        ]
        return ExplicitField(cl.loss, cl.variables, comps, cl, powers)

    def manifold_on(
        self, loss: LossExpression, variables: Variables
    ) -> dict[str, list[sympy.Expr]]:
        """The states on the slow manifold for a concrete loss, through `order`:
        `{name: [SymPy expression per variable]}` in the variables, `h` and the
        symbolic parameters."""
        import sympy

        from .._concrete import ConcreteLoss
        from .concrete import ConcreteEvaluator

        cl = ConcreteLoss(loss, variables, self.recurrence.parameters)
        ev = ConcreteEvaluator(self.calculus, cl)
        h = sympy.Symbol("h")
        out = {}
        for j, name in enumerate(self.recurrence.states):
            col = self.solution.manifold[j][: self.order + 1]
            parts = [ev.expression(e) for e in col]
            out[name] = [
                sum((h**k * p[i] for k, p in enumerate(parts)), sympy.Integer(0))
                for i in range(len(cl.variables))
            ]
        return out
