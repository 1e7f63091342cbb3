"""Renderings of a mini-batch flow: text, LaTeX and the JSON record (a mixin of
[`MinibatchFlow`][derive.MinibatchFlow])."""

from __future__ import annotations

import json

from ._conventions import CONVENTIONS
from ._flow import Term, _latex_wrap, _sympy_str, _wrap

__all__ = ["MinibatchRendering", "SAMPLING_TEXT"]

SAMPLING_TEXT = {
    "fixed": "fixed order: batch c at step c of every epoch",
    "shuffle": "random reshuffling: every epoch a uniformly random order",
    "replacement": "sampling with replacement: every step an independent, uniform "
    "batch; windows of m steps",
}


class MinibatchRendering:
    """Text, LaTeX and JSON of a mini-batch flow."""

    def _title(self) -> str:
        m = self.batches
        what = (
            "Modified flow of one epoch"
            if self.sampling == "fixed"
            else "Expected modified flow"
        )
        params = ", ".join(f"{k} = {v}" for k, v in self.parameters.items()) or "none"
        return (
            f"{what} of {self.recurrence.name} with {m} batches "
            f"({SAMPLING_TEXT[self.sampling]}) through order {self.order} "
            f"(parameters: {params})"
        )

    def notation(self) -> str:
        """What the symbols of the flow mean (one paragraph)."""
        m = "m" if self.batches == "m" else f"m = {self.batches}"
        if self.sampling == "fixed":
            text = (
                f"batches: losses f_1..f_m ({m}), g_c = -grad f_c; step j of every "
                "epoch uses batch j; the flow's solution at t = K m h matches the "
                "iterate after K epochs up to O(h^(p+1)) (momentum: started on the "
                "epoch's slow manifold); t = n h counts steps"
            )
        else:
            text = (
                f"batches: f = (1/m) sum_k f_k over {m} batches, g = -grad f, "
                "d_k = g_k - g = -grad e_k with e_k = f_k - f; <...> averages each "
                "batch index (k, l, j) uniformly over the batches, independently; the "
                "flow of the expected epoch map E[Phi] (its solution at t = m h matches "
                "the mean iterate after one epoch up to O(h^(p+2))); t = n h counts "
                "steps"
            )
            if len(self.recurrence.states) > 1:
                text += (
                    "; momentum: each order's epoch map is taken on its own slow "
                    "manifold, as when one shuffled order is repeated every epoch; "
                    "reshuffling every epoch carries the previous order's momentum "
                    "across the boundary, which this expectation leaves out"
                )
        return text

    def text(self, header: bool = True) -> str:
        """Readable text: one line per power of $h$."""
        lines = []
        if header:
            lines += [self._title(), self.notation(), f"conventions: {CONVENTIONS}"]
        groups = self.by_power()
        for k in range(self.order + 1):
            parts = []
            for t in groups[k]:
                c = self.coefficient_text(t)
                name = self.differential_text(t)
                if c == "1":
                    parts.append(name)
                elif c == "-1":
                    parts.append("-" + name)
                else:
                    parts.append(f"{_wrap(c)} {name}")
            body = " + ".join(parts).replace("+ -", "- ") if parts else "0"
            hk = "" if k == 0 else ("h * " if k == 1 else f"h^{k} * ")
            lines.append(f"dx/dt = {body}" if k == 0 else f"      + {hk}({body})")
        if header:
            ml = self.modified_loss
            if ml.through_order >= 0:
                lines.append(
                    f"modified loss through order {ml.through_order}: {ml.text}"
                )
            else:
                lines.append("modified loss: none (the leading term is not a gradient)")
            if ml.through_order < self.order:
                lines.append(
                    f"the h^{ml.through_order + 1} term is not a gradient field "
                    "(non-gradient remainder from that order on)"
                )
            if self.conditions:
                lines.append("valid for: " + ", ".join(self.conditions))
        return "\n".join(lines)

    def term_latex(self, term: Term) -> str:
        import sympy

        c = sympy.latex(term.sympy)
        p = term.power
        hk = "" if p == 0 else ("h\\," if p == 1 else f"h^{{{p}}}\\,")
        body = f"{hk}{self.differential_latex(term)}"
        if c in ("1", "-1"):
            return body if c == "1" else "-" + body
        return f"{_latex_wrap(c)}\\, {body}"

    def latex(self) -> str:
        """LaTeX for the flow (an `aligned` environment)."""
        import sympy

        rows = []
        for k, terms in self.by_power().items():
            parts = []
            for t in terms:
                c = sympy.latex(t.sympy)
                name = self.differential_latex(t)
                if c == "1":
                    parts.append(name)
                elif c == "-1":
                    parts.append("-" + name)
                else:
                    parts.append(f"{_latex_wrap(c)}\\, {name}")
            if not parts:
                continue
            body = " + ".join(parts).replace("+ -", "- ")
            hk = "" if k == 0 else ("h" if k == 1 else f"h^{{{k}}}")
            rows.append(body if k == 0 else f"{hk}\\left({body}\\right)")
        body = " \\\\\n&\\quad + ".join(rows)
        return "\\begin{aligned}\n\\dot x &= " + body + "\n\\end{aligned}"

    def to_dict(self, losses=None, variables=None) -> dict:
        """The JSON record: the keys of [`ModifiedFlow.to_dict`][derive.ModifiedFlow],
        plus `batches`, `sampling` and `notation`."""
        from ._version import DISTRIBUTION, __version__

        ml = self.modified_loss
        record = {
            "optimizer": self.recurrence.name,
            "order": self.order,
            "conventions": CONVENTIONS,
            "parameters": self.parameters,
            "states": list(self.recurrence.states),
            "batches": self.batches,
            "sampling": self.sampling,
            "notation": self.notation(),
            "terms": [
                {
                    "power": t.power,
                    "tree": t.tree,
                    "differential": self.differential_text(t),
                    "coefficient": self.coefficient_text(t),
                    "latex": self.term_latex(t),
                }
                for t in self.terms
            ],
            "modified_loss": None
            if ml.through_order < 0
            else {
                "through_order": ml.through_order,
                "expression": ml.text,
                "latex": ml.latex,
            },
            "gradient_orders": [ok for ok, _ in self.gradient_tests],
            "conditions": self.conditions,
            "toolkit": {"name": DISTRIBUTION, "version": __version__},
        }
        if self.recurrence.source:
            record["spec"] = self.recurrence.source
        if losses is not None:
            field = self.on(losses, variables)
            record["loss"] = {
                "expression": _sympy_str(field.loss),
                "variables": [str(v) for v in field.variables],
                "batch_losses": [_sympy_str(b.loss) for b in field.concrete.batch],
            }
            record["vector_field"] = [_sympy_str(e) for e in field.components]
            record["symbols"] = [str(v) for v in field.variables] + [
                "h",
                *self.recurrence.parameters,
            ]
            if ml.through_order >= 0:
                record["modified_loss"]["explicit"] = _sympy_str(
                    ml.on(losses, variables)
                )
        return record

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(**kwargs), indent=2)
