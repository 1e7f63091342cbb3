"""The modified loss of a mini-batch flow, where its terms are gradients."""

from __future__ import annotations

from dataclasses import dataclass

from ._colored_render import scalar_latex, scalar_text
from ._flow import _latex_wrap, _sympy_str, _wrap
from ._render import pretty_coefficient

__all__ = ["MinibatchModifiedLoss"]


@dataclass
class MinibatchModifiedLoss:
    """$\\tilde f = f + h \\tilde f_1 + \\dots$ through `through_order` (-1: none);
    `parts[k]` lists `(free tree representative, coefficient)` of power $k$."""

    flow: object  # the MinibatchFlow
    through_order: int
    parts: list

    def _pieces(self, latex: bool):
        table, naming = self.flow.table, self.flow.naming
        out = []
        for k, potential in enumerate(self.parts):
            inner = []
            for rep, c in potential:
                cs = pretty_coefficient(self.flow.field.to_sympy(c))
                name = (scalar_latex if latex else scalar_text)(table, rep, naming)
                inner.append((cs, name))
            out.append((k, inner))
        return out

    @property
    def text(self) -> str:
        rows = []
        for k, inner in self._pieces(False):
            parts = []
            for c, name in inner:
                s = _sympy_str(c)
                parts.append(
                    name
                    if s == "1"
                    else ("-" + name if s == "-1" else f"{_wrap(s)} {name}")
                )
            if not parts:
                continue
            body = " + ".join(parts).replace("+ -", "- ")
            rows.append(
                body if k == 0 else (f"h*({body})" if k == 1 else f"h^{k}*({body})")
            )
        return " + ".join(rows) if rows else "0"

    @property
    def latex(self) -> str:
        import sympy

        rows = []
        for k, inner in self._pieces(True):
            parts = []
            for c, name in inner:
                s = sympy.latex(c)
                parts.append(
                    name
                    if s == "1"
                    else ("-" + name if s == "-1" else f"{_latex_wrap(s)}\\, {name}")
                )
            if not parts:
                continue
            body = " + ".join(parts).replace("+ -", "- ")
            hk = "" if k == 0 else ("h" if k == 1 else f"h^{{{k}}}")
            rows.append(body if k == 0 else f"{hk}\\left({body}\\right)")
        return "\\tilde f = " + " + ".join(rows)

    def on(self, losses, variables):
        """The modified loss as a SymPy expression for concrete per-batch losses."""
        import sympy

        flow = self.flow
        cb = flow._concrete(losses, variables)
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
