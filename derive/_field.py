"""The field exact coefficients live in: the common interface of $\\mathbb{Q}$ and
$\\mathbb{Q}(p_1, \\dots, p_k)$ (see `derive._coefficients`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sympy

    from ._coefficients import Coefficient, ExactNumber

__all__ = ["Field"]


class Field:
    """The field exact coefficients live in: $\\mathbb{Q}$ or
    $\\mathbb{Q}(p_1, \\dots, p_k)$.

    The two kinds are the rationals (elements `flint.fmpq`, no `names`) and the
    rational functions of the variables `names` (elements
    [`RationalFunction`][derive.RationalFunction]); both give `zero`, `one`, `convert`
    (from exact numbers and from each other's elements) and `to_sympy`. A
    [`Term`][derive.Term] carries the field of its coefficient.

    !!! example
        ```python
        >>> import derive
        >>> flow = derive.modified_flow(derive.heavy_ball(), order=1)
        >>> field = flow.terms[1].field
        >>> field.names, field.to_sympy(field.one / 3)
        (('beta',), 1/3)

        ```
    """

    names: tuple[str, ...] = ()
    zero: Coefficient
    one: Coefficient

    def is_zero(self, x: Coefficient) -> bool:
        return x == 0

    def convert(
        self, value: Coefficient | ExactNumber
    ) -> Coefficient:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_sympy(self, x: Coefficient) -> sympy.Expr:  # pragma: no cover - abstract
        raise NotImplementedError
