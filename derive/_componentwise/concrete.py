"""A componentwise modified flow on a concrete SymPy loss: explicit vector fields.

Each atom and elementwise function becomes SymPy expressions, one per coordinate:
$g = -\\nabla f$, $|g_i|$ as `Abs`, $\\operatorname{sign} g_i$ as `sign`, square
roots as `sqrt`, and $g^{(k)}[u_1, \\dots, u_k]$ as the $k$-th directional derivative
of $g$ (the directions are substituted into placeholders, so they are never
differentiated: `derive._concrete.ConcreteLoss`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy

from .._concrete import ConcreteLoss
from .._errors import DeriveError
from .expressions import Atom, Calculus, Direction, Expression
from .functions import ABS_G, Function

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ConcreteEvaluator"]


class ConcreteEvaluator:
    """Evaluates expressions of one derivation on one concrete loss (memoised)."""

    def __init__(self, calculus: Calculus, loss: ConcreteLoss):
        self.calc = calculus
        self.loss = loss
        self.d = len(loss.variables)
        self._atoms: dict[int, list[sympy.Expr]] = {}
        self._dirs: dict[int, list[sympy.Expr]] = {}
        self._gens: dict[tuple[int, int], sympy.Expr] = {}
        self._cache: dict[tuple[int, ...], dict[int, list[sympy.Expr]]] = {}
        self._a = sympy.Symbol(ABS_G)

    # ------------------------------------------------------------------ functions
    def function(self, c: Function, i: int) -> sympy.Expr:
        """Component `i` of the elementwise function `c`."""
        alg = c.algebra
        gi = self.loss.field[i]
        total = sympy.Integer(0)
        for key, r in c.terms.items():
            term = alg.field.to_sympy(r).subs(self._a, sympy.Abs(gi))
            for index, e in key:
                term = term * self.generator(alg, index, i) ** e
            total += term
        return total

    def generator(self, alg: object, index: int, i: int) -> sympy.Expr:
        got = self._gens.get((index, i))
        if got is not None:
            return got
        from .functions import FunctionAlgebra

        assert isinstance(alg, FunctionAlgebra)
        gen = alg.generators[index]
        if gen.kind == "sign_g":
            value = sympy.sign(self.loss.field[i])
        else:
            assert gen.argument is not None
            arg = self.function(gen.argument, i)
            value = {
                "radical": sympy.sqrt,
                "sign": sympy.sign,
                "exp": sympy.exp,
                "log": sympy.log,
            }[gen.kind](arg)
        self._gens[(index, i)] = value
        return value

    # ------------------------------------------------------------------ vectors
    def atom(self, atom: Atom) -> list[sympy.Expr]:
        got = self._atoms.get(atom.index)
        if got is not None:
            return got
        if atom.kind == "x":
            value = list(self.loss.variables)
        elif atom.kind == "unknown":
            raise DeriveError("an unsolved state remains in the flow.", "")
        else:
            args = [self.direction(d) for d in atom.directions]
            value = self.loss._apply(self.loss.field, args, self.loss._multi)
        self._atoms[atom.index] = value
        return value

    def direction(self, d: Direction) -> list[sympy.Expr]:
        got = self._dirs.get(d.index)
        if got is None:
            got = self.term(d.skeleton, d.function)
            self._dirs[d.index] = got
        return got

    def term(self, skeleton: Sequence[int], c: Function) -> list[sympy.Expr]:
        out = [self.function(c, i) for i in range(self.d)]
        for a in skeleton:
            vec = self.atom(self.calc.atoms[a])
            out = [p * q for p, q in zip(out, vec, strict=True)]
        return out

    def expression(self, e: Expression) -> list[sympy.Expr]:
        """The field `e`, one SymPy expression per coordinate."""
        total = [sympy.Integer(0)] * self.d
        for k, c in e.terms.items():
            total = [a + b for a, b in zip(total, self.term(k, c), strict=True)]
        return total
