"""What the renderings and the code generator read from a flow.

A full-batch [`ModifiedFlow`][derive.ModifiedFlow] and a mini-batch
[`MinibatchFlow`][derive.MinibatchFlow] differ in their trees (plain or colored) and in
how their elementary differentials are named, but a provenance header, a table of
terms, the constants of a generated module and the footer of a flow's text read the
same few members of either. These protocols name them, so that one function serves
both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .._flow import Term
    from .._recurrence import Recurrence

__all__ = ["FlowView", "ModifiedLossView"]


class ModifiedLossView(Protocol):
    """A modified loss as the renderings read it: the order it reaches (-1: none)
    and its text and LaTeX."""

    @property
    def through_order(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def latex(self) -> str: ...

    def latex_lines(self) -> list[str]: ...


class FlowView(Protocol):
    """A modified flow as the renderings and the code generator read it: the
    optimizer, the order, the exact terms with their coefficients as text, the
    hyper-parameters as exact strings, the conditions of validity and the modified
    loss."""

    @property
    def recurrence(self) -> Recurrence: ...

    @property
    def order(self) -> int: ...

    @property
    def terms(self) -> Sequence[Term]: ...

    @property
    def parameters(self) -> Mapping[str, str]: ...

    @property
    def conditions(self) -> list[str]: ...

    @property
    def modified_loss(self) -> ModifiedLossView: ...

    def coefficient_text(self, term: Term) -> str: ...
