"""Renderings of a mini-batch flow: text, LaTeX and the JSON record (a mixin of
[`MinibatchFlow`][derive.MinibatchFlow])."""

from __future__ import annotations

import json

from ._conventions import CONVENTIONS
from ._flow import Term
from ._render.flow import (
    aligned_latex,
    loss_lines,
    power_lines,
    scaled_power_latex,
)
from ._render.printers import text
from ._render.record import finish, inputs, toolkit

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
        lines += power_lines(self.by_power(), self.order, self.differential_text)
        if header:
            lines += loss_lines(self)
        return "\n".join(lines)

    def term_latex(self, term: Term) -> str:
        """One term `c h^k F(t)` in LaTeX."""
        return scaled_power_latex(term, self.differential_latex(term))

    def latex(self) -> str:
        """LaTeX for the flow (an `aligned` environment)."""
        return aligned_latex(self.by_power(), self.differential_latex)

    def to_dict(self, losses=None, variables=None) -> dict:
        """The JSON record: the keys of [`ModifiedFlow.to_dict`][derive.ModifiedFlow],
        plus `batches`, `sampling` and `notation`."""
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
            "toolkit": toolkit(),
        }
        if self.recurrence.source:
            record["spec"] = self.recurrence.source
        if losses is not None:
            field = self.on(losses, variables)
            record["loss"] = {
                "expression": text(field.loss),
                "variables": [str(v) for v in field.variables],
                "batch_losses": [text(b.loss) for b in field.concrete.batch],
            }
            record["vector_field"] = [text(e) for e in field.components]
            record["symbols"] = [str(v) for v in field.variables] + [
                "h",
                *self.recurrence.parameters,
            ]
            if ml.through_order >= 0:
                record["modified_loss"]["explicit"] = text(ml.on(losses, variables))
        return finish(
            record,
            "optimizer-flows.minibatch-flow/1",
            inputs(
                "flow",
                self.recurrence,
                self.order,
                words=[
                    f"--batches {self.batches}",
                    f"--sampling {self.sampling}",
                    *(
                        [
                            "--batch-losses " + " ".join(f"'{b}'" for b in losses),
                            f"--vars {variables if isinstance(variables, str) else ','.join(map(str, variables))}",
                        ]
                        if losses is not None
                        else []
                    ),
                ],
                batches=self.batches,
                sampling=self.sampling,
                batch_losses=None if losses is None else [str(b) for b in losses],
            ),
        )

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(**kwargs), indent=2)
