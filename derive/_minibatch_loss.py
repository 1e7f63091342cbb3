"""The modified loss of a mini-batch flow, where its terms are gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._colored_render import Naming, scalar_latex, scalar_text
from ._colored_trees import ColoredTreeTable
from ._render.coefficients import coefficient_expr
from ._render.flow import potential_latex, potential_latex_lines, potential_text
from ._render.printers import scaled_latex, scaled_text

if TYPE_CHECKING:
    import sympy

    from ._colored_concrete import ConcreteBatches
    from ._concrete import LossExpression, Variables
    from ._minibatch import MinibatchFlow, Potential

__all__ = ["MinibatchModifiedLoss"]


@dataclass
class MinibatchModifiedLoss:
    """$\\tilde f = f + h \\tilde f_1 + \\dots$ through `through_order` (-1: none);
    `parts[k]` lists `(free tree representative, coefficient)` of power $k$."""

    flow: MinibatchFlow
    through_order: int
    parts: list[Potential]

    def _pieces(
        self,
        scaled: Callable[[sympy.Expr, str], str],
        name_of: Callable[[ColoredTreeTable, int, Naming], str],
    ) -> list[list[str]]:
        table, naming = self.flow.table, self.flow.naming
        return [
            [
                scaled(coefficient_expr(c), name_of(table, rep, naming))
                for rep, c in potential
            ]
            for potential in self.parts
        ]

    @property
    def text(self) -> str:
        """The modified loss as text."""
        return potential_text(self._pieces(scaled_text, scalar_text))

    @property
    def latex(self) -> str:
        """The modified loss as LaTeX (`\\tilde f = ...`)."""
        return potential_latex(self._pieces(scaled_latex, scalar_latex))

    def latex_lines(self) -> list[str]:
        """The modified loss as display lines (see `ModifiedLoss.latex_lines`)."""
        return potential_latex_lines(self._pieces(scaled_latex, scalar_latex))

    def on(
        self,
        losses: Sequence[LossExpression] | ConcreteBatches,
        variables: Variables | None,
    ) -> sympy.Expr:
        """The modified loss as a SymPy expression for concrete per-batch losses."""
        import sympy

        from ._minibatch_concrete import concrete_batches

        flow = self.flow
        cb = concrete_batches(flow, losses, variables)
        h = sympy.Symbol("h")
        total = sympy.Integer(0)
        for k, potential in enumerate(self.parts):
            for rep, c in potential:
                cs = flow.field.to_sympy(c)
                if flow.batches == "m":
                    cs = cs.subs(sympy.Symbol("m"), cb.m)
                scalar = (
                    cb.averaged_scalar(flow.table, rep)
                    if flow.expected
                    else cb.batch_scalar(flow.table, rep)
                )
                total += cs * h**k * scalar
        return sympy.expand(total)
