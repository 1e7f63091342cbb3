"""A bound on the size of exact coefficients, checked before FLINT multiplies.

FLINT aborts the whole process (no exception) when an allocation fails, so a
product of polynomials in many symbolic parameters, such as `(1 + p0 + ... + p11)**30`
(10^10 terms) or forty factors `(1 + p_i + p_j)`, must be refused before it is
formed. The number of terms of a product is at most the product of the numbers of
terms; of a power $P^n$ with $v$ variables and total degree $d$, at most
$\\min(|P|^n, \\binom{v + n d}{v})$. Past `MAX_TERMS` the derivation stops with a
[`DeriveError`][derive.DeriveError].
"""

from __future__ import annotations

import math
from typing import Any

from ._errors import DeriveError

__all__ = ["MAX_TERMS", "check_product_size", "check_power_size"]

MAX_TERMS = 2_000_000
"""Largest accepted bound on the terms of one product of exact coefficients (about
a few hundred megabytes in FLINT)."""


def _too_large(bound: int) -> DeriveError:
    return DeriveError(
        f"an exact coefficient would have up to {bound:.3g} terms (a polynomial in the "
        f"symbolic parameters), more than the limit of {MAX_TERMS:.3g}: the "
        "computation would exhaust memory.",
        "Give the symbolic parameters values (--param NAME=VALUE), or write the update "
        "with fewer products and powers of sums of parameters.",
    )


def _monomials(p: Any, degree: int) -> int | None:
    """Monomials of total degree <= `degree` in `p`'s variables (None if the FLINT
    version cannot say)."""
    try:
        nvars = int(p.context().nvars())
    except AttributeError:  # pragma: no cover - older python-flint
        return None
    return math.comb(nvars + degree, nvars)


def _degree(p: Any) -> int:
    try:
        return int(p.total_degree())
    except AttributeError:  # pragma: no cover - older python-flint
        return sum(int(d) for d in p.degrees())


def check_product_size(p: Any, q: Any) -> None:
    """Refuse the product of the FLINT polynomials `p` and `q` if it may have more
    than `MAX_TERMS` terms (the bound by degree is used when it is smaller than the
    product of the lengths). Rational functions call it on their numerators; their
    denominators are products of known factors, multiplied by adding exponents."""
    bound = len(p) * len(q)
    if bound > MAX_TERMS:
        by_degree = _monomials(p, _degree(p) + _degree(q))
        bound = bound if by_degree is None else min(bound, by_degree)
        if bound > MAX_TERMS:
            raise _too_large(bound)


def check_power_size(p: Any, n: int) -> None:
    """Refuse the power `p ** n` of a FLINT polynomial past `MAX_TERMS` terms (see
    the module docstring)."""
    if len(p) <= 1:
        return
    by_degree = _monomials(p, n * _degree(p))
    if by_degree is not None and by_degree <= MAX_TERMS:
        return
    if n * math.log(len(p)) > math.log(MAX_TERMS):
        by_length = len(p) ** min(n, 64)
        raise _too_large(by_length if by_degree is None else min(by_degree, by_length))
