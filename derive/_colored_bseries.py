"""Series over colored trees: composition, Lie derivative, exponential and logarithm.

A colored series is $B(a, y) = a(\\emptyset) y + \\sum_t a(t)/\\sigma(t)\\, F(t)(y)$ over
the colored trees of a [`ColoredTreeTable`][derive.ColoredTreeTable], with the
normalisation of [`BSeries`][derive.BSeries]. The formulas are those of uncolored
B-series (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed.: Theorem
III.1.10 for composition, Lemma IX.9.1 for the Lie derivative, section IX.9 for the
logarithm) with the cut tables of colored trees: colors ride along, since every
operation only regroups the nodes of a tree.

Coefficients are computed lazily and memoised, tree by tree, from a function of the
tree index, so a series can live on the (possibly huge) set of trees with many colors
while only the trees that a computation asks for are ever evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias

from ._coefficients import QQ, Coefficient, ExactNumber, Field
from ._colored_trees import ColoredTreeTable, NestedColoredTree, colored_tree_table

__all__ = [
    "ColoredSeries",
    "colored_compose",
    "colored_logarithm",
    "colored_exponential",
    "colored_step",
]

ColoredTree: TypeAlias = str | NestedColoredTree | int
"""A colored tree: bracket notation, nested `(color, children)`, or a table index."""


class ColoredSeries:
    """A series over colored trees with lazily computed, memoised coefficients.

    **Arguments:**

    - `coefficient`: a function `tree index -> coefficient` (a field element), or a
      mapping from bracket strings or indices to values (missing trees are zero).
    - `empty`: $a(\\emptyset)$: 1 for a map $y \\mapsto y + \\dots$, 0 for a field.
    - `field`: the coefficient field (default: the rationals).
    - `table`: the tree table (default: the shared one).

    !!! example
        ```python
        >>> from derive import ColoredSeries, colored_compose, colored_logarithm
        >>> step1 = ColoredSeries({"[]_1": 1}, empty=1)   # y + h g_1(y)
        >>> step2 = ColoredSeries({"[]_2": 1}, empty=1)   # y + h g_2(y)
        >>> field = colored_logarithm(colored_compose(step2, step1))
        >>> str(field["[[]_1]_2"]), str(field["[[]_2]_1"]), str(field["[[]_1]_1"])
        ('1/2', '-1/2', '-1/2')

        ```
    """

    __slots__ = ("_fn", "_memo", "empty", "field", "table")

    def __init__(
        self,
        coefficient: Callable[[int], Coefficient]
        | Mapping[ColoredTree, Coefficient | ExactNumber],
        empty: Coefficient | ExactNumber = 0,
        field: Field = QQ,
        table: ColoredTreeTable | None = None,
    ):
        self.table = colored_tree_table() if table is None else table
        self.field = field
        self.empty: Coefficient = field.convert(empty)
        self._memo: dict[int, Coefficient] = {}
        self._fn: Callable[[int], Coefficient]
        if callable(coefficient):
            self._fn = coefficient
        else:
            values: dict[int, Coefficient] = {}
            for key, value in dict(coefficient).items():
                i = self.table.index_of(key) if isinstance(key, str | tuple) else key
                values[i] = field.convert(value)
            zero = field.zero
            self._fn = lambda i: values.get(i, zero)

    def __getitem__(self, tree: ColoredTree) -> Coefficient:
        i = self.table.index_of(tree) if isinstance(tree, str | tuple) else int(tree)
        got = self._memo.get(i)
        if got is None:
            got = self._fn(i)
            self._memo[i] = got
        return got

    def items(self, trees: Iterable[int]) -> list[tuple[str, Coefficient]]:
        """`(bracket, coefficient)` for the nonzero coefficients among `trees`."""
        out = []
        for i in trees:
            c = self[i]
            if not self.field.is_zero(c):
                out.append((self.table.bracket(i), c))
        return out


def colored_step(
    color: int, field: Field = QQ, table: ColoredTreeTable | None = None
) -> ColoredSeries:
    """The Euler step $y \\mapsto y + h\\, g_c(y)$ with field `color` (at $h = 1$).

    !!! example
        ```python
        >>> from derive import colored_step
        >>> str(colored_step(3)["[]_3"]), str(colored_step(3)["[]_1"])
        ('1', '0')

        ```
    """
    table = colored_tree_table() if table is None else table
    leaf = table.lookup(color)
    zero, one = field.zero, field.one
    return ColoredSeries(
        lambda i: one if i == leaf else zero, empty=1, field=field, table=table
    )


def colored_compose(outer: ColoredSeries, inner: ColoredSeries) -> ColoredSeries:
    """$B(\\text{outer}, B(\\text{inner}, y))$: first `inner`, then `outer`
    (`inner` must be a map, $a(\\emptyset) = 1$)."""
    if inner.empty != 1:
        raise ValueError("the inner series of a composition must have a(empty) = 1")
    table, field = inner.table, inner.field
    zero = field.zero
    e = outer.empty

    def coefficient(i: int) -> Coefficient:
        acc = inner[i] * e if e else zero
        for root, forest, mult in table.admissible_cuts(i):
            term = outer[root]
            if not term:
                continue
            for p in forest:
                term = term * inner[p]
                if not term:
                    break
            else:
                acc = acc + (term * mult if mult != 1 else term)
        return acc

    return ColoredSeries(coefficient, empty=e, field=field, table=table)


def _lie(a: ColoredSeries, b: ColoredSeries) -> ColoredSeries:
    """$\\partial_b a$ for a field $b$ (HLW Lemma IX.9.1)."""
    table, zero = a.table, a.field.zero

    def coefficient(i: int) -> Coefficient:
        acc = a.empty * b[i] if a.empty else zero
        for trunk, branch, mult in table.edge_cuts(i):
            x = a[trunk]
            if x:
                y = b[branch]
                if y:
                    acc = acc + x * y * mult
        return acc

    return ColoredSeries(coefficient, empty=0, field=a.field, table=table)


def colored_exponential(b: ColoredSeries) -> ColoredSeries:
    """The time-one flow of the field $B(b, \\cdot)$: $\\sum_j \\partial_b^j e / j!$.

    !!! example
        ```python
        >>> from derive import ColoredSeries, colored_exponential
        >>> flow = colored_exponential(ColoredSeries({"[]_1": 1}))
        >>> str(flow["[[]_1,[]_1]_1"])   # 1/gamma(t), as for one color
        '1/3'

        ```
    """
    if b.empty != 0:
        raise ValueError("the exponential is taken of a vector field: b(empty) = 0")
    table, field = b.table, b.field
    zero = field.zero
    identity = ColoredSeries(lambda i: zero, empty=1, field=field, table=table)
    powers: list[ColoredSeries] = [identity]

    def coefficient(i: int) -> Coefficient:
        n = table.size[i]
        while len(powers) <= n:
            powers.append(_lie(powers[-1], b))
        acc = zero
        for j in range(1, n + 1):
            x = powers[j][i]
            if x:
                acc = acc + x * (field.convert(1) / math.factorial(j))
        return acc

    return ColoredSeries(coefficient, empty=1, field=field, table=table)


def colored_logarithm(a: ColoredSeries) -> ColoredSeries:
    """The field $b$ whose time-one flow is the map $a$: $\\exp(b) = a$ (HLW IX.9).

    Tree by tree, $b(t) = a(t) - \\sum_{j \\ge 2} D_j(t)/j!$ with $D_1 = b$ and
    $D_j(t) = \\sum_{\\text{edge cuts}} D_{j-1}(\\text{trunk})\\, b(\\text{branch})$.
    """
    if a.empty != 1:
        raise ValueError("only a map (a(empty) = 1) has a logarithm")
    table, field = a.table, a.field
    zero = field.zero
    inv_fact: list[Coefficient] = []
    D: dict[tuple[int, int], Coefficient] = {}
    b_memo: dict[int, Coefficient] = {}

    def b(i: int) -> Coefficient:
        got = b_memo.get(i)
        if got is None:
            got = _b(i)
            b_memo[i] = got
        return got

    def d(j: int, i: int) -> Coefficient:
        if j == 1:
            return b(i)
        key = (j, i)
        got = D.get(key)
        if got is None:
            got = zero
            for trunk, branch, mult in table.edge_cuts(i):
                if table.size[trunk] < j - 1:
                    continue
                x = d(j - 1, trunk)
                if x:
                    y = b(branch)
                    if y:
                        got = got + (x * y * mult if mult != 1 else x * y)
            D[key] = got
        return got

    def _b(i: int) -> Coefficient:
        n = table.size[i]
        while len(inv_fact) <= n:
            inv_fact.append(field.convert(1) / math.factorial(len(inv_fact)))
        acc = a[i]
        for j in range(2, n + 1):
            x = d(j, i)
            if x:
                acc = acc - x * inv_fact[j]
        return acc

    return ColoredSeries(b, empty=0, field=field, table=table)
