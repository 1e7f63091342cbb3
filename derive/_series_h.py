"""Power-series expansion in $h$ of rational functions of $(p_1, \\dots, p_k, h)$.

Used only for recurrences that are not homogeneous in $h$ (see `_manifold`), where the
coefficient of a tree is an exact rational function of $h$ that has to be expanded.
"""

from __future__ import annotations

import flint

from ._coefficients import (
    Coefficient,
    Field,
    RationalFunctionField,
    as_rational_function,
    field_for,
)
from ._errors import DeriveError

__all__ = ["h_series"]


def _split(
    poly: flint.fmpq_mpoly, names: tuple[str, ...], hi: int, target: Field
) -> dict[int, Coefficient]:
    """Polynomial in (params, h) -> {h power: element of target}."""
    keep = [i for i in range(len(names)) if i != hi]
    parts: dict[int, dict[tuple[int, ...], flint.fmpq]] = {}
    for monom, c in poly.to_dict().items():
        parts.setdefault(monom[hi], {})[tuple(monom[i] for i in keep)] = c
    out: dict[int, Coefficient] = {}
    for k, d in parts.items():
        if isinstance(target, RationalFunctionField):
            out[k] = target.from_polys(target.ctx.from_dict(d), target.poly_one)
        else:
            out[k] = target.convert(next(iter(d.values())))
    return out


def h_series(
    coefficient: Coefficient, params: tuple[str, ...], upto: int
) -> list[Coefficient]:
    """Coefficients of $h^0, \\dots, h^{\\text{upto}}$ of `coefficient`, a rational
    function over $\\mathbb{Q}(\\text{params}, h)$, over $\\mathbb{Q}(\\text{params})$.

    Raises [`DeriveError`][derive.DeriveError] when it has a pole at $h = 0$.
    """
    rf = as_rational_function(coefficient)
    target = field_for(params)
    names = rf.field.names
    hi = names.index("h")
    num = _split(rf.num, names, hi, target)
    den = _split(rf.den, names, hi, target)
    d0 = den.get(0)
    if d0 is None or not d0:
        raise DeriveError(
            "a coefficient of the expansion has a pole at h = 0, so the recurrence is "
            "not a small-step method (is h in a denominator?).",
            "Write coefficients as polynomials in h, e.g. x - h*grad(x).",
        )
    inv = target.one / d0
    out: list[Coefficient] = []
    for k in range(upto + 1):
        c = num.get(k, target.zero)
        for j in range(1, k + 1):
            dj = den.get(j)
            if dj is not None and out[k - j]:
                c = c - dj * out[k - j]
        out.append(c * inv)
    return out
