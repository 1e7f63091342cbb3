"""Warnings printed with a modified flow wherever it is printed (text, LaTeX, JSON).

A modified flow describes the iterates only near an attracting slow manifold. When a
parasitic root of the update's linear part has modulus >= 1 (heavy ball with
beta = 3 or beta = -1, a spec with `v = 2*v - ...`), the flow still exists as a formal
series but the iterates leave the manifold: every rendering says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import DeriveError

if TYPE_CHECKING:
    from ._flow import ModifiedFlow

__all__ = ["flow_warnings"]


def flow_warnings(flow: ModifiedFlow) -> list[str]:
    """One sentence per problem of `flow` that its coefficients do not show: today, a
    slow manifold that is not attracting (decided where every hyper-parameter has a
    value; with symbolic ones see `derive manifold` for the condition).

    !!! example
        ```python
        >>> import derive
        >>> derive.modified_flow(derive.heavy_ball(3), order=0).warnings
        ['the slow manifold is NOT attracting: the parasitic root(s) 3 have modulus >= 1 (largest 3); iterates started off it move away, so this flow does not describe them (see derive manifold)']
        >>> derive.modified_flow(derive.heavy_ball(0.5), order=0).warnings
        []

        ```
    """
    from ._attraction import attraction_of

    rec = flow.recurrence
    if rec.parameters or len(rec.states) < 2:
        return []
    try:
        attraction = attraction_of(rec, flow.manifold)
    except DeriveError:
        return []
    if attraction.attracting is not False:
        return []
    statement = attraction.statement
    statement = statement.replace("NOT attracting: ", "", 1)
    head, _, _ = statement.partition("; deviations")
    return [
        f"the slow manifold is NOT attracting: {head}; iterates started off it move "
        "away, so this flow does not describe them (see derive manifold)"
    ]
