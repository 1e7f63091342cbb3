"""Colored elementary differentials and scalars on concrete per-batch SymPy losses.

For losses $f_1, \\dots, f_m$ in the same variables this evaluates $F(t)$ for colored
trees whose colors name batches ($g_c = -\\nabla f_c$), and the decorated trees of the
deviation form: color 0 is $g = -\\nabla f$ with $f = \\frac1m \\sum_k f_k$, a
deviation block is $d_k = -\\nabla e_k$ with $e_k = f_k - f$, averaged over its batch
index $k$ (several blocks: independent indices). Derivatives are taken by
`derive._concrete.ConcreteLoss`, one per loss, memoised.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TypeAlias

import sympy

from ._colored_trees import ColoredTreeTable
from ._concrete import ConcreteLoss, LossExpression, Variables
from ._errors import DeriveError

__all__ = ["ConcreteBatches"]

Assignment: TypeAlias = tuple[int, ...] | None
"""`None`: colors are batches 1..m; else the batch (0-based) of each deviation block
(color b >= 1 is block b), color 0 being the full loss."""


class ConcreteBatches:
    """Per-batch losses with memoised colored differentials.

    **Arguments:**

    - `losses`: the per-batch losses (SymPy expressions or strings), one per batch.
    - `variables`: the coordinates (names, symbols, or `"x,y"`).
    - `parameters`: hyper-parameter names allowed in string losses.

    !!! example
        ```python
        >>> from derive import colored_tree_table
        >>> from derive._colored_concrete import ConcreteBatches
        >>> batches = ConcreteBatches(["x**2/2", "3*x**2/2"], "x")
        >>> batches.full.loss, batches.deviation[0].loss
        (x**2, -x**2/2)
        >>> table = colored_tree_table()
        >>> batches.batch_differential(table, table.index_of("[[]_1]_2"))   # g_2'g_1
        [3*x]

        ```
    """

    def __init__(
        self,
        losses: Iterable[LossExpression],
        variables: Variables,
        parameters: tuple[str, ...] = (),
    ):
        losses = list(losses)
        if not losses:
            raise DeriveError("no per-batch losses were given.", "Give one per batch.")
        self.batch = [ConcreteLoss(loss, variables, parameters) for loss in losses]
        self.variables = self.batch[0].variables
        mean = sympy.Add(*(b.loss for b in self.batch)) / len(self.batch)
        names = [v.name for v in self.variables]
        self.full = ConcreteLoss(mean, names, parameters)
        self.deviation = [
            ConcreteLoss(b.loss - mean, names, parameters) for b in self.batch
        ]
        self.m = len(losses)
        self._memo: dict[tuple[int, Assignment], list[sympy.Expr]] = {}

    # ------------------------------------------------------------------ batches
    def _loss_for(self, color: int, assignment: Assignment) -> ConcreteLoss:
        if assignment is None:  # colors are batches 1..m
            if not 1 <= color <= self.m:
                raise DeriveError(
                    f"color {color} names no batch: there are {self.m} losses.",
                    "Give one loss per batch.",
                )
            return self.batch[color - 1]
        if color == 0:
            return self.full
        return self.deviation[assignment[color - 1]]

    def _F(
        self, table: ColoredTreeTable, i: int, assignment: Assignment
    ) -> list[sympy.Expr]:
        key = (i, assignment)
        got = self._memo.get(key)
        if got is None:
            cl = self._loss_for(table.color[i], assignment)
            args = [self._F(table, k, assignment) for k in table.children[i]]
            got = cl._apply(cl.field, args, cl._multi) if args else list(cl.field)
            self._memo[key] = got
        return got

    def batch_differential(self, table: ColoredTreeTable, i: int) -> list[sympy.Expr]:
        """$F(t)$ with color $c$ meaning batch $c$ (1-based)."""
        return self._F(table, i, None)

    def averaged_differential(
        self, table: ColoredTreeTable, i: int
    ) -> list[sympy.Expr]:
        """$\\langle F(d) \\rangle$ of decorated tree `i` (color 0: $g$, colors
        $1..r$: deviation blocks, averaged)."""
        r = max(table.colors(i))
        total = [sympy.Integer(0)] * len(self.variables)
        for assignment in itertools.product(range(self.m), repeat=r):
            F = self._F(table, i, tuple(assignment))
            total = [a + b for a, b in zip(total, F, strict=True)]
        return [t / self.m**r for t in total]

    # ------------------------------------------------------------------ scalars
    def _scalar(
        self, table: ColoredTreeTable, i: int, assignment: Assignment
    ) -> sympy.Expr:
        args: list[list[sympy.Expr]] = []
        for c in table.children[i]:
            sign = -1 if table.size[c] % 2 else 1
            args.append([sign * e for e in self._F(table, c, assignment)])
        cl = self._loss_for(table.color[i], assignment)
        if not args:
            return cl.loss
        return cl._apply([cl.loss], args, cl._fmulti)[0]

    def batch_scalar(self, table: ColoredTreeTable, i: int) -> sympy.Expr:
        """The scalar invariant of the colored free tree rooted as `i` (batches)."""
        return self._scalar(table, i, None)

    def averaged_scalar(self, table: ColoredTreeTable, i: int) -> sympy.Expr:
        """The averaged scalar invariant of decorated tree `i`."""
        r = max(table.colors(i))
        total = sympy.Integer(0)
        for assignment in itertools.product(range(self.m), repeat=r):
            total += self._scalar(table, i, tuple(assignment))
        return total / self.m**r
