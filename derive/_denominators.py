"""Denominators kept factored: products of powers of known irreducible polynomials.

The denominators met in the engine's derivations are products of powers of a few
polynomials: the determinant of the slow-manifold solve ($1 - \\beta$ for heavy ball),
the pivots of the small exact linear systems, the constant terms of $h$-expansions. A
[`RationalFunction`][derive.RationalFunction] therefore stores its numerator as a FLINT
polynomial and its denominator as a tuple of exponents over the irreducible factors its
field has met so far (a `Denominators` registry, one per field). Then

- a product adds exponents and multiplies numerators,
- a sum lifts both numerators to the larger exponents and adds them,

and neither takes a gcd, which costs some twenty multiplications of the same polynomials.
The quotient is reduced (common factors of numerator and denominator cancelled) only when
its numerator or denominator is looked at, by exact trial division by the registered
factors; with irreducible, pairwise distinct, monic factors this gives the same reduced
form (denominator with leading coefficient 1 in lexicographic order) that a gcd would.
Factoring happens only in a division by a non-constant polynomial, which is rare
(pivots of small systems, one per $h$-expansion).
"""

from __future__ import annotations

import flint
from flint.utils.flint_exceptions import DomainError

__all__ = [
    "Exponents",
    "Denominators",
    "add_exponents",
    "difference",
    "max_exponents",
    "strip",
]

Exponents = tuple[int, ...]
"""Exponents of a field's registered factors, by index; no trailing zeros."""


def add_exponents(a: Exponents, b: Exponents) -> Exponents:
    """The exponents of a product of two denominators."""
    if not b:
        return a
    if not a:
        return b
    if len(a) < len(b):
        a, b = b, a
    return tuple([x + y for x, y in zip(a, b, strict=False)]) + a[len(b) :]


def max_exponents(a: Exponents, b: Exponents) -> Exponents:
    """The exponents of the least common multiple of two denominators."""
    if len(a) < len(b):
        a, b = b, a
    return tuple([max(x, y) for x, y in zip(a, b, strict=False)]) + a[len(b) :]


def difference(a: Exponents, b: Exponents) -> Exponents:
    """`a - b` for `b <= a` entrywise (trailing zeros are allowed in the result)."""
    return tuple([x - y for x, y in zip(a, b, strict=False)]) + a[len(b) :]


def strip(e: list[int]) -> Exponents:
    while e and not e[-1]:
        e.pop()
    return tuple(e)


class Denominators:
    """The irreducible factors one field's denominators are made of.

    Factors are monic in the field's lexicographic order and pairwise distinct, so a
    product of their powers is monic too and the reduced form of a quotient is unique.

    **Arguments:**

    - `one`: the polynomial 1 of the field's polynomial ring.
    """

    def __init__(self, one: flint.fmpq_mpoly):
        self.one = one
        self.factors: list[flint.fmpq_mpoly] = []
        self._index: dict[str, int] = {}
        self._products: dict[Exponents, flint.fmpq_mpoly] = {(): one}
        self._factored: dict[str, tuple[flint.fmpq, Exponents]] = {}

    def product(self, e: Exponents) -> flint.fmpq_mpoly:
        """The expanded polynomial $\\prod_k f_k^{e_k}$ (cached)."""
        p = self._products.get(e)
        if p is None:
            p = self.one
            for f, k in zip(self.factors, e, strict=False):
                if k:
                    p = p * f**k
            self._products[e] = p
        return p

    def register(self, factor: flint.fmpq_mpoly) -> int:
        """The index of an irreducible monic factor, added if new."""
        key = str(factor)
        i = self._index.get(key)
        if i is None:
            i = len(self.factors)
            self.factors.append(factor)
            self._index[key] = i
        return i

    def factor(self, poly: flint.fmpq_mpoly) -> tuple[flint.fmpq, Exponents]:
        """`(c, e)` with `poly` $= c \\prod_k f_k^{e_k}$, registering new factors.

        `poly` must be nonzero.
        """
        if poly.is_constant():
            return flint.fmpq(poly.leading_coefficient()), ()
        key = str(poly)
        cached = self._factored.get(key)
        if cached is not None:
            return cached
        content, parts = poly.factor()
        c = flint.fmpq(content)
        exps: list[int] = []
        for f, k in parts:
            lc = flint.fmpq(f.leading_coefficient())
            if lc != 1:
                f = f / lc
                c = c * lc ** int(k)
            i = self.register(f)
            if i >= len(exps):
                exps += [0] * (i + 1 - len(exps))
            exps[i] += int(k)
        out = (c, strip(exps))
        self._factored[key] = out
        return out

    def reduce(
        self, num: flint.fmpq_mpoly, e: Exponents
    ) -> tuple[flint.fmpq_mpoly, Exponents]:
        """Cancel the factors that divide `num` from the denominator `e`."""
        if not e:
            return num, e
        if num.is_zero():
            return num, ()
        out = list(e)
        for k, ek in enumerate(out):
            if not ek:
                continue
            f = self.factors[k]
            while ek:
                try:
                    num = num / f
                except DomainError:
                    break
                ek -= 1
            out[k] = ek
        return num, strip(out)
