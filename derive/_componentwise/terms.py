"""The terms of a componentwise modified flow: coefficient, elementwise factor, atoms.

$F_k = \\sum_K c_K \\odot K$ is split for display and records into terms
$\\lambda \\, \\phi \\odot K$: $\\lambda$ an exact scalar (a rational function of the
symbolic hyper-parameters, printed factored as papers print coefficients), $\\phi$ one
monomial of the numerator of $c_K$ in $|g|$ over its denominator (so that, e.g.,
Adam's first correction reads
$\\frac{\\beta_2 - \\beta_1}{(1-\\beta_1)(1-\\beta_2)} \\frac{|g|}{(|g| + \\varepsilon)^2}
\\odot g'[\\ldots] - \\ldots$), and $K$ the derivative atoms. The split is canonical
(`Function.monomials`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import flint

from .._coefficients import (
    Coefficient,
    Field,
    RationalFunction,
    field_for,
    rational_function_field,
)
from .._render.coefficients import coefficient_expr
from .expressions import Calculus, Expression, Skeleton
from .functions import Function
from .render import product_latex, product_text

if TYPE_CHECKING:
    import sympy

__all__ = ["ComponentwiseTerm", "split_terms", "to_scalar"]


@dataclass(frozen=True, eq=False)
class ComponentwiseTerm:
    """One term `coefficient * h**power * factor ⊙ atoms` of a componentwise flow.

    **Attributes:**

    - `power`: the power of $h$.
    - `coefficient`: exact (`flint.fmpq` or a
      [`RationalFunction`][derive.RationalFunction] of the symbolic parameters), in
      `field`; `sympy` is it factored.
    - `factor`: the elementwise function $\\phi$ of $g$.
    - `skeleton`: the derivative atoms (indices into the derivation's calculus).
    - `vector_text`, `vector_latex`: $\\phi \\odot K$ as text and LaTeX.
    """

    power: int
    coefficient: Coefficient
    field: Field
    factor: Function
    skeleton: Skeleton
    vector_text: str
    vector_latex: str

    @cached_property
    def sympy(self) -> sympy.Expr:
        """The coefficient as a factored SymPy expression."""
        return coefficient_expr(self.coefficient)

    @property
    def tree(self) -> None:
        """Componentwise terms have no tree (kept for the record's layout)."""
        return None


def to_scalar(rf: RationalFunction, params: tuple[str, ...]) -> Coefficient:
    """A rational function of the parameters (in the algebra's field, free of $|g|$)
    in the field of the parameters ($\\mathbb{Q}$ when there are none)."""
    n = len(params)
    num = {m[:n]: c for m, c in rf.num.to_dict().items()}
    den = {m[:n]: c for m, c in rf.den.to_dict().items()}
    if not params:
        return flint.fmpq(num.get((), 0)) / flint.fmpq(den[()])
    target = rational_function_field(params)
    return target.from_polys(target.ctx.from_dict(num), target.ctx.from_dict(den))


def split_terms(
    calc: Calculus, power: int, F: Expression, params: tuple[str, ...]
) -> list[ComponentwiseTerm]:
    """The display terms of $F_k$ (`power` = $k$), in a canonical order."""
    out: list[ComponentwiseTerm] = []
    field = field_for(params)
    for skeleton, c in F.terms.items():
        for lam, phi in c.monomials():
            coefficient = to_scalar(lam, params)
            if not coefficient:
                continue
            out.append(
                ComponentwiseTerm(
                    power=power,
                    coefficient=coefficient,
                    field=field,
                    factor=phi,
                    skeleton=skeleton,
                    vector_text=product_text(calc, phi, skeleton),
                    vector_latex=product_latex(calc, phi, skeleton),
                )
            )
    return sorted(out, key=lambda t: (_degree(calc, t.skeleton), t.vector_text))


def _degree(calc: Calculus, skeleton: Sequence[int]) -> int:
    """The number of derivatives in the atoms (for the order of display)."""
    total = 0
    for i in skeleton:
        a = calc.atoms[i]
        total += a.order + sum(_degree(calc, d.skeleton) for d in a.directions)
    return total
