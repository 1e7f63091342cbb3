"""Renderings of a mini-batch flow: text, LaTeX and the JSON record (the methods of
[`MinibatchFlow`][derive.MinibatchFlow] call these), on the shared rendering layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._conventions import CONVENTIONS
from ._render.flow import (
    add_concrete,
    aligned_latex,
    loss_lines,
    power_lines,
    record_of,
    scaled_power_latex,
)
from ._render.printers import text
from ._render.record import finish, inputs

if TYPE_CHECKING:
    from ._concrete import LossExpression, Variables
    from ._flow import Term
    from ._minibatch import MinibatchFlow

__all__ = [
    "SAMPLING_TEXT",
    "flow_latex",
    "flow_record",
    "flow_text",
    "notation",
    "term_latex",
]

SAMPLING_TEXT = {
    "fixed": "fixed order: batch c at step c of every epoch",
    "shuffle": "random reshuffling: every epoch a uniformly random order",
    "replacement": "sampling with replacement: every step an independent, uniform "
    "batch; windows of m steps",
}


def _title(flow: MinibatchFlow) -> str:
    m = flow.batches
    what = (
        "Modified flow of one epoch"
        if flow.sampling == "fixed"
        else "Expected modified flow"
    )
    params = ", ".join(f"{k} = {v}" for k, v in flow.parameters.items()) or "none"
    return (
        f"{what} of {flow.recurrence.name} with {m} batches "
        f"({SAMPLING_TEXT[flow.sampling]}) through order {flow.order} "
        f"(parameters: {params})"
    )


def notation(flow: MinibatchFlow) -> str:
    """What the symbols of the flow mean (one paragraph)."""
    m = "m" if flow.batches == "m" else f"m = {flow.batches}"
    if flow.sampling == "fixed":
        out = (
            f"batches: losses f_1..f_m ({m}), g_c = -grad f_c; step j of every "
            "epoch uses batch j; the flow's solution at t = K m h matches the "
            "iterate after K epochs up to O(h^(p+1)) (momentum: started on the "
            "epoch's slow manifold); t = n h counts steps"
        )
    else:
        out = (
            f"batches: f = (1/m) sum_k f_k over {m} batches, g = -grad f, "
            "d_k = g_k - g = -grad e_k with e_k = f_k - f; <...> averages each "
            "batch index (k, l, j) uniformly over the batches, independently; the "
            "flow of the expected epoch map E[Phi] (its solution at t = m h matches "
            "the mean iterate after one epoch up to O(h^(p+2))); t = n h counts "
            "steps"
        )
        if len(flow.recurrence.states) > 1:
            out += (
                "; momentum: each order's epoch map is taken on its own slow "
                "manifold, as when one shuffled order is repeated every epoch; "
                "reshuffling every epoch carries the previous order's momentum "
                "across the boundary, which this expectation leaves out"
            )
    return out


def flow_text(flow: MinibatchFlow, header: bool = True) -> str:
    """Readable text: one line per power of $h$."""
    lines = []
    if header:
        lines += [_title(flow), notation(flow), f"conventions: {CONVENTIONS}"]
    lines += power_lines(flow.by_power(), flow.order, flow.differential_text)
    if header:
        lines += loss_lines(flow)
    return "\n".join(lines)


def term_latex(flow: MinibatchFlow, term: Term) -> str:
    """One term `c h^k F(t)` in LaTeX."""
    return scaled_power_latex(term, flow.differential_latex(term))


def flow_latex(flow: MinibatchFlow) -> str:
    """LaTeX for the flow (an `aligned` environment)."""
    return aligned_latex(flow.by_power(), flow.differential_latex)


def flow_record(
    flow: MinibatchFlow,
    losses: Sequence[LossExpression] | None = None,
    variables: Variables | None = None,
) -> dict[str, Any]:
    """The JSON record: the keys of [`ModifiedFlow.to_dict`][derive.ModifiedFlow],
    plus `batches`, `sampling` and `notation`."""
    record = record_of(
        flow,
        flow.differential_text,
        flow.differential_latex,
        [ok for ok, _ in flow.gradient_tests],
        {
            "batches": flow.batches,
            "sampling": flow.sampling,
            "notation": notation(flow),
        },
    )
    if losses is not None:
        ml = flow.modified_loss
        field = flow.on(losses, variables)
        explicit = ml.on(losses, variables) if ml.through_order >= 0 else None
        batch_losses = [text(b.loss) for b in field.concrete.batch]
        add_concrete(record, flow, field, explicit, batch_losses=batch_losses)
        # the per-loss curl test (derive._concrete_gradient) covers deterministic
        # flows; for a mini-batch flow the key is there, undecided
        record["gradient_on_loss"] = None
    words = [f"--batches {flow.batches}", f"--sampling {flow.sampling}"]
    if losses is not None and variables is not None:
        shown = (
            variables if isinstance(variables, str) else ",".join(map(str, variables))
        )
        words += [
            "--batch-losses " + " ".join(f"'{b}'" for b in losses),
            f"--vars {shown}",
        ]
    return finish(
        record,
        "optimizer-flows.minibatch-flow/1",
        inputs(
            "flow",
            flow.recurrence,
            flow.order,
            words=words,
            batches=flow.batches,
            sampling=flow.sampling,
            batch_losses=None if losses is None else [str(b) for b in losses],
        ),
    )
