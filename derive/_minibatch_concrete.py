"""A mini-batch flow on concrete per-batch losses: its explicit field, and the states
on the epoch's slow manifold.

The colored elementary differentials come from
`derive._colored_concrete.ConcreteBatches`: for a fixed order a node of color $c$ is
$g_c = -\\nabla f_c$; for an expectation color 0 is $g = -\\nabla f$ and the deviation
blocks are averaged over their batch indices. SymPy is imported with this module, which
[`MinibatchFlow`][derive.MinibatchFlow] loads only when a concrete loss is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sympy

from ._colored_concrete import ConcreteBatches
from ._errors import DeriveError
from ._flow import ExplicitField

if TYPE_CHECKING:
    from ._concrete import LossExpression, Variables
    from ._flow import Term
    from ._minibatch import MinibatchFlow

__all__ = ["concrete_batches", "explicit_field", "manifold_states"]


def concrete_batches(
    flow: MinibatchFlow,
    losses: Sequence[LossExpression] | ConcreteBatches,
    variables: Variables | None,
) -> ConcreteBatches:
    """The per-batch losses of `flow` with memoised derivatives (one per batch)."""
    if isinstance(losses, ConcreteBatches):
        batches = losses
    else:
        batches = ConcreteBatches(losses, variables or (), flow.recurrence.parameters)
    if flow.batches != "m" and batches.m != flow.batches:
        raise DeriveError(
            f"{batches.m} per-batch losses were given for a flow of "
            f"{flow.batches} batches.",
            f"Give one loss per batch ({flow.batches}).",
        )
    return batches


def coefficient_sympy(flow: MinibatchFlow, term: Term, m: int) -> sympy.Expr:
    """The coefficient of `term` as SymPy, at `m` batches when `m` is a symbol."""
    c = term.sympy
    return c.subs(sympy.Symbol("m"), m) if flow.batches == "m" else c


def explicit_field(
    flow: MinibatchFlow,
    losses: Sequence[LossExpression] | ConcreteBatches,
    variables: Variables | None,
) -> ExplicitField[ConcreteBatches]:
    """The field of `flow` on concrete per-batch losses (see
    [`MinibatchFlow.on`][derive.MinibatchFlow.on])."""
    cb = concrete_batches(flow, losses, variables)
    h = sympy.Symbol("h")
    d = len(cb.variables)
    powers = [[sympy.Integer(0)] * d for _ in range(flow.order + 1)]
    for t in flow.terms:
        F = (
            cb.averaged_differential(flow.table, t.index)
            if flow.expected
            else cb.batch_differential(flow.table, t.index)
        )
        c = coefficient_sympy(flow, t, cb.m)
        powers[t.power] = [a + c * f for a, f in zip(powers[t.power], F, strict=True)]
    powers = [[sympy.factor(sympy.expand(e)) for e in row] for row in powers]
    comps = [
        sum((h**k * powers[k][i] for k in range(flow.order + 1)), sympy.Integer(0))
        for i in range(d)
    ]
    return ExplicitField(cb.full.loss, cb.variables, comps, cb, powers)


def manifold_states(
    flow: MinibatchFlow,
    losses: Sequence[LossExpression] | ConcreteBatches,
    variables: Variables | None,
) -> dict[str, list[sympy.Expr]]:
    """The states of a fixed-order flow on the epoch's slow manifold (see
    [`MinibatchFlow.manifold_states`][derive.MinibatchFlow.manifold_states])."""
    ep = flow.epoch
    if ep is None or not isinstance(flow.batches, int):  # an expectation
        raise DeriveError(
            "the slow manifold belongs to one epoch map: it is defined for a fixed "
            "batch order.",
            "Use sampling='fixed'.",
        )
    cb = concrete_batches(flow, losses, variables)
    table = flow.table
    h = sympy.Symbol("h")
    colors = tuple(range(1, flow.batches + 1))
    out = {}
    for j, name in enumerate(flow.recurrence.states):
        K = ep.field
        alpha = K.to_sympy(ep.alpha[j]) if ep.alpha[j] else sympy.Integer(0)
        if ep.homogeneous:
            alpha = alpha * h ** ep.weights[j]
        comps = [alpha * v for v in cb.variables]
        if j:
            for t in table.up_to(flow.order + 1, colors):
                c = ep.psi(j, t)
                if not c:
                    continue
                sigma = table.sigma[t]
                if ep.homogeneous:
                    coeff = K.to_sympy(c) * h ** (table.size[t] + ep.weights[j]) / sigma
                else:
                    coeff = K.to_sympy(c) / sigma
                F = cb.batch_differential(table, t)
                comps = [a + coeff * e for a, e in zip(comps, F, strict=True)]
        out[name] = [sympy.expand(e) for e in comps]
    return out
