"""The vector calculus of the componentwise engine: expressions in $g$, its derivatives
and elementwise functions, in canonical form.

A vector field is a sum of terms $c \\odot K$: $c$ an elementwise function of $g$
([`Function`][derive._componentwise.functions.Function], exact coefficients) and $K$ a
skeleton, a Hadamard product of atoms:

- $x$, the position (for weight decay);
- $g^{(k)}(x)[u_1, \\dots, u_k]$, $k \\ge 1$, the $k$-th derivative of $g = -\\nabla f$
  applied to directions $u_i = \\hat c_i \\odot K_i$ (multilinear and symmetric, so
  scalar factors are pulled out, $\\hat c_i$ normalised and the directions sorted);
- placeholders $U_j$ for the unknown terms of the slow manifold during the solve.

$g$ itself is the function $s\\,a$ (see `functions`). Equal terms merge: atoms,
directions and skeletons are interned, so equal structures are the same object, and
functions have canonical forms. The derivative along a vector field $w$ follows the
product rule with $D c[w] = (dc/dg) \\odot g'[w]$ for elementwise functions (the rule
that closes the calculus), $D x[w] = w$ and
$D g^{(k)}[u_1..u_k][w] = g^{(k+1)}[u_1..u_k, w] + \\sum_i g^{(k)}[.., D u_i[w], ..]$.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import product
from typing import TypeAlias

from .._coefficients import Coefficient, RationalFunction
from .._errors import DeriveError
from .functions import Function, FunctionAlgebra

__all__ = ["Atom", "Direction", "Expression", "Calculus", "Skeleton"]

Skeleton: TypeAlias = tuple[int, ...]
"""Sorted atom indices (with repeats): a Hadamard product of atoms."""


@dataclass(frozen=True, eq=False)
class Direction:
    """A direction $\\hat c \\odot K$ of a derivative (normalised, interned)."""

    index: int
    function: Function
    skeleton: Skeleton


@dataclass(frozen=True, eq=False)
class Atom:
    """An atom: `kind` is `"x"`, `"unknown"` (placeholder `index`) or `"diff"`
    ($g^{(k)}$ applied to `directions`, $k$ = their number)."""

    index: int
    kind: str
    directions: tuple[Direction, ...] = ()
    unknown: int = -1

    @property
    def order(self) -> int:
        return len(self.directions)


class Expression:
    """A vector field $\\sum_K c_K \\odot K$ (immutable; build with a `Calculus`)."""

    __slots__ = ("terms",)

    def __init__(self, terms: dict[Skeleton, Function]):
        self.terms = terms

    def __iter__(self) -> Iterator[tuple[Skeleton, Function]]:
        return iter(self.terms.items())

    def is_zero(self) -> bool:
        return not self.terms

    def __repr__(self) -> str:
        return f"Expression({len(self.terms)} terms)"


class Calculus:
    """Interning tables and caches of one derivation.

    **Arguments:**

    - `algebra`: the elementwise functions of $g$ (its parameters are the symbolic
      hyper-parameters).
    """

    def __init__(self, algebra: FunctionAlgebra):
        self.algebra = algebra
        self.atoms: list[Atom] = []
        self._atoms: dict[tuple[object, ...], Atom] = {}
        self.directions: list[Direction] = []
        self._directions: dict[tuple[object, ...], Direction] = {}
        self._expand: dict[
            int, tuple[Expression, list[tuple[RationalFunction, Direction]]]
        ] = {}
        self._d_atom: dict[tuple[int, int], tuple[Expression, Expression]] = {}
        self._dg: dict[tuple[object, ...], Function] = {}
        self.zero = Expression({})
        self.one = Expression({(): algebra.one})
        self.x = self.atom_expression(self._atom(("x",), "x"))

    # ------------------------------------------------------------------ interning
    def _atom(
        self,
        key: tuple[object, ...],
        kind: str,
        directions: tuple[Direction, ...] = (),
        unknown: int = -1,
    ) -> Atom:
        atom = self._atoms.get(key)
        if atom is None:
            atom = Atom(len(self.atoms), kind, directions, unknown)
            self.atoms.append(atom)
            self._atoms[key] = atom
        return atom

    def direction(self, function: Function, skeleton: Skeleton) -> Direction:
        key = (function.key, skeleton)
        d = self._directions.get(key)
        if d is None:
            d = Direction(len(self.directions), function, skeleton)
            self.directions.append(d)
            self._directions[key] = d
        return d

    def diff_atom(self, directions: Iterable[Direction]) -> Atom:
        ds = tuple(sorted(directions, key=lambda d: d.index))
        if not ds:
            raise ValueError("a derivative atom needs at least one direction")
        return self._atom(("diff", tuple(d.index for d in ds)), "diff", ds)

    def unknown(self, j: int) -> Expression:
        """The placeholder $U_j$."""
        return self.atom_expression(self._atom(("unknown", j), "unknown", unknown=j))

    def atom_expression(self, atom: Atom) -> Expression:
        return Expression({(atom.index,): self.algebra.one})

    def function(self, c: Function) -> Expression:
        """An elementwise function as a vector field (empty skeleton)."""
        return Expression({(): c} if c.terms else {})

    def constant(self, c: Coefficient | int) -> Expression:
        return self.function(self.algebra.constant(c))

    # ------------------------------------------------------------------ arithmetic
    def add(self, *exprs: Expression) -> Expression:
        if len(exprs) == 1:
            return exprs[0]
        out: dict[Skeleton, Function] = {}
        for e in exprs:
            for k, c in e.terms.items():
                out[k] = out[k] + c if k in out else c
        return Expression({k: c for k, c in out.items() if c.terms})

    def sub(self, a: Expression, b: Expression) -> Expression:
        return self.add(a, self.scale(b, -1))

    def scale(self, e: Expression, c: Coefficient | int) -> Expression:
        """`c * e` for a scalar (a number or a rational function of the parameters)."""
        if not c:
            return self.zero
        if c == 1:
            return e
        return Expression({k: f.scaled(c) for k, f in e.terms.items()})

    def times_function(self, e: Expression, c: Function) -> Expression:
        """$c \\odot e$ for an elementwise function $c$."""
        if not c.terms:
            return self.zero
        out: dict[Skeleton, Function] = {}
        for k, f in e.terms.items():
            p = f * c
            if p.terms:
                out[k] = p
        return Expression(out)

    def hadamard(self, a: Expression, b: Expression) -> Expression:
        """$a \\odot b$."""
        out: dict[Skeleton, Function] = {}
        for k1, c1 in a.terms.items():
            for k2, c2 in b.terms.items():
                k = tuple(sorted(k1 + k2)) if k1 and k2 else (k1 or k2)
                p = c1 * c2
                out[k] = out[k] + p if k in out else p
        return Expression({k: c for k, c in out.items() if c.terms})

    # ------------------------------------------------------------------ queries
    def as_function(self, e: Expression) -> Function | None:
        """The elementwise function `e` is, or None if it has atoms."""
        if not e.terms:
            return self.algebra.zero
        if set(e.terms) != {()}:
            return None
        return e.terms[()]

    def has_unknowns(self, e: Expression) -> bool:
        return any(self.atoms[i].kind == "unknown" for k in e.terms for i in k) or any(
            self._nested_unknown(self.atoms[i]) for k in e.terms for i in k
        )

    def _nested_unknown(self, atom: Atom) -> bool:
        return atom.kind == "diff" and any(
            self.atoms[i].kind == "unknown" or self._nested_unknown(self.atoms[i])
            for d in atom.directions
            for i in d.skeleton
        )

    def involves_position(self, e: Expression) -> bool:
        x = self.x_index
        return any(x in k for k in e.terms)

    @property
    def x_index(self) -> int:
        return next(iter(self.x.terms))[0]

    def linear_in_unknowns(
        self, e: Expression
    ) -> tuple[Expression, dict[int, Function]] | None:
        """`(rest, {j: c_j})` with $e = \\text{rest} + \\sum_j c_j \\odot U_j$, or None
        if `e` is not of this form (an unknown in a product or a derivative)."""
        rest: dict[Skeleton, Function] = {}
        coefs: dict[int, Function] = {}
        for k, c in e.terms.items():
            unknown = [i for i in k if self.atoms[i].kind == "unknown"]
            if not unknown and not any(self._nested_unknown(self.atoms[i]) for i in k):
                rest[k] = c
                continue
            if len(k) != 1 or len(unknown) != 1:
                return None
            j = self.atoms[unknown[0]].unknown
            coefs[j] = coefs[j] + c if j in coefs else c
        return Expression(rest), {j: c for j, c in coefs.items() if c.terms}

    # ------------------------------------------------------------------ derivatives
    def expand(self, w: Expression) -> list[tuple[RationalFunction, Direction]]:
        """`w` as scalar multiples of normalised directions (cached by identity)."""
        got = self._expand.get(id(w))
        if got is not None and got[0] is w:
            return got[1]
        out = []
        for k, c in w.terms.items():
            for lam, phi in c.monomials():
                out.append((lam, self.direction(phi, k)))
        self._expand[id(w)] = (w, out)
        return out

    def derivative_of_g(
        self, atoms_dirs: list[list[tuple[RationalFunction, Direction]]]
    ) -> Expression:
        """$g^{(k)}[w_1, \\dots, w_k]$ for expanded directions (multilinear)."""
        out: dict[Skeleton, Function] = {}
        alg = self.algebra
        for choice in product(*atoms_dirs):
            lam: RationalFunction | int = 1
            for c, _ in choice:
                lam = c * lam
            atom = self.diff_atom(d for _, d in choice)
            k = (atom.index,)
            f = alg.constant(lam)
            out[k] = out[k] + f if k in out else f
        return Expression({k: c for k, c in out.items() if c.terms})

    def g_derivative(self, *ws: Expression) -> Expression:
        """$g^{(k)}[w_1, \\dots, w_k]$ for vector fields $w_i$."""
        return self.derivative_of_g([self.expand(w) for w in ws])

    def direction_expression(self, d: Direction) -> Expression:
        return Expression({d.skeleton: d.function})

    def _d_function(self, c: Function) -> Function:
        got = self._dg.get(c.key)
        if got is None:
            got = c.d_dg()
            self._dg[c.key] = got
        return got

    def derivative(self, e: Expression, w: Expression) -> Expression:
        """$D e[w]$, the derivative of the field `e` along the field `w` (at the same
        point; for Lie derivatives $L_w e$)."""
        parts: list[Expression] = []
        gw: Expression | None = None
        for k, c in e.terms.items():
            dc = self._d_function(c)
            if dc.terms:
                if gw is None:
                    gw = self.g_derivative(w)
                parts.append(
                    self.times_function(
                        self.hadamard(gw, Expression({k: self.algebra.one})), dc
                    )
                )
            for pos, i in enumerate(k):
                if pos and k[pos - 1] == i:  # repeated atom: count it by multiplicity
                    continue
                mult = k.count(i)
                rest = k[:pos] + k[pos + mult :] + (i,) * (mult - 1)
                da = self.atom_derivative(self.atoms[i], w)
                if da.terms:
                    term = self.hadamard(da, Expression({tuple(sorted(rest)): c}))
                    parts.append(self.scale(term, mult) if mult > 1 else term)
        return self.add(self.zero, *parts) if parts else self.zero

    def atom_derivative(self, atom: Atom, w: Expression) -> Expression:
        key = (atom.index, id(w))
        got = self._d_atom.get(key)
        if got is not None and got[0] is w:
            return got[1]
        if atom.kind == "x":
            out = w
        elif atom.kind == "unknown":
            raise DeriveError(
                "the slow manifold's equations differentiate an unknown state (the "
                "update of the position depends on a moment at h = 0).",
                "Write the position update as x + h*(...), so that it moves by O(h).",
            )
        else:
            dirs = [self.expand(self.direction_expression(d)) for d in atom.directions]
            parts = [self.derivative_of_g([*dirs, self.expand(w)])]
            for i, d in enumerate(atom.directions):
                dd = self.derivative(self.direction_expression(d), w)
                if dd.terms:
                    parts.append(
                        self.derivative_of_g(
                            dirs[:i] + [self.expand(dd)] + dirs[i + 1 :]
                        )
                    )
            out = self.add(*parts)
        self._d_atom[key] = (w, out)
        return out
