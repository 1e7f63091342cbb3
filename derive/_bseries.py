"""B-series algebra with exact coefficients.

A B-series is stored as its coefficients $a(t)$ on the trees of a
[`TreeTable`][derive.TreeTable] (a list indexed by tree) plus $a(\\emptyset)$, with the
normalisation of Hairer, Lubich & Wanner (HLW), *Geometric Numerical Integration*,
2nd ed., section III.1:

$$B(a, y) = a(\\emptyset)\\, y + \\sum_{t} \\frac{a(t)}{\\sigma(t)} F(t)(y).$$

Powers of the step size are part of the coefficients (a numerical method with
$h$-homogeneous coefficients has $a(t) \\propto h^{|t|}$; the engine works at $h = 1$
and restores the powers). The operations are the ones the modified-flow engine needs:
composition (HLW Theorem III.1.10), insertion into the vector field (HLW Lemma III.1.9),
the Lie derivative (HLW Lemma IX.9.1), the exponential (exact flow) and the logarithm
(modified vector field, HLW section IX.9), and the inverse.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import flint

from ._coefficients import QQ, Coefficient, ExactNumber, Field, linear_combination
from ._trees import NestedTree, TreeTable, tree_table

__all__ = [
    "BSeries",
    "compose",
    "inverse",
    "insert_into_field",
    "lie_derivative",
    "exponential",
    "logarithm",
]


class BSeries:
    """Coefficients of a B-series on all trees with at most `max_nodes` nodes.

    **Arguments:**

    - `coefficients`: a sequence indexed by tree (see [`TreeTable`][derive.TreeTable]),
      or a mapping from bracket strings to values (missing trees are zero).
    - `max_nodes`: truncation: trees with more nodes are dropped.
    - `empty`: the coefficient $a(\\emptyset)$ of the identity (1 for a one-step map,
      0 for a vector field).
    - `field`: the coefficient field (default: the rationals).

    !!! example
        ```python
        >>> from derive import BSeries, logarithm
        >>> euler = BSeries({"[]": 1}, max_nodes=3, empty=1)   # x + h g(x)
        >>> field = logarithm(euler)                            # its modified field
        >>> [(t, str(c)) for t, c in field.items()]
        [('[]', '1'), ('[[]]', '-1/2'), ('[[[]]]', '1/3'), ('[[],[]]', '1/6')]

        ```
    """

    __slots__ = ("coefficients", "max_nodes", "empty", "field", "table")

    def __init__(
        self,
        coefficients: Sequence[Coefficient | ExactNumber]
        | Mapping[str | NestedTree | int, Coefficient | ExactNumber],
        max_nodes: int,
        empty: Coefficient | ExactNumber = 0,
        field: Field = QQ,
    ):
        self.table: TreeTable = tree_table(max_nodes)
        self.max_nodes = max_nodes
        self.field = field
        n = len(self.table.up_to(max_nodes))
        coef: list[Coefficient]
        if isinstance(coefficients, Mapping):
            coef = [field.zero] * n
            for key, value in coefficients.items():
                i = self.table.index_of(key) if isinstance(key, str | tuple) else key
                if i < n:
                    coef[i] = field.convert(value)
        else:
            coef = [field.convert(c) for c in list(coefficients)[:n]]
            coef += [field.zero] * (n - len(coef))
        self.coefficients = coef
        self.empty: Coefficient = field.convert(empty)

    def __getitem__(self, tree: str | NestedTree | int) -> Coefficient:
        i = self.table.index_of(tree) if isinstance(tree, str | tuple) else tree
        return self.coefficients[i]

    def items(self) -> list[tuple[str, Coefficient]]:
        """`(bracket, coefficient)` for the nonzero coefficients, by tree index."""
        return [
            (self.table.bracket(i), c)
            for i, c in enumerate(self.coefficients)
            if not self.field.is_zero(c)
        ]

    def __repr__(self) -> str:
        body = ", ".join(f"{t}: {c}" for t, c in self.items())
        return f"BSeries(empty={self.empty}, {{{body}}})"


def _like(a: BSeries, coef: list[Coefficient], empty: Coefficient) -> BSeries:
    out = BSeries.__new__(BSeries)
    out.table, out.max_nodes, out.field = a.table, a.max_nodes, a.field
    out.coefficients, out.empty = coef, empty
    return out


def _check(a: BSeries, b: BSeries) -> None:
    if a.max_nodes != b.max_nodes or a.field is not b.field:
        raise ValueError(
            "B-series with different truncations or fields cannot be combined"
        )


class ForestProducts:
    """$\\prod_{p \\in F} a(p)$ for the forests $F$ of admissible cuts, memoised.

    A forest is given as the tree that has it as children (see
    `TreeTable.admissible_forest_cuts`); the product over the forest of $t \\circ u$
    is the product over that of $t$ times $a(u)$, one multiplication per forest
    however many cuts prune it. Entries of `a` may be filled in while this is in use,
    tree by tree in index order: a forest is only asked for once the coefficients of
    its trees are final.
    """

    __slots__ = ("_table", "_a", "_memo")

    def __init__(self, table: TreeTable, a: Sequence[Coefficient], one: Coefficient):
        self._table = table
        self._a = a
        self._memo: dict[int, Coefficient] = {0: one}

    def __call__(self, forest: int) -> Coefficient:
        v = self._memo.get(forest)
        if v is None:
            t, u = self._table.butcher_factors(forest)
            v = self(t)
            if v:
                v = v * self._a[u]
            self._memo[forest] = v
        return v


def compose_coefficients(
    table: TreeTable,
    n: int,
    inner: Sequence[Coefficient],
    outer: Sequence[Coefficient],
    outer_empty: Coefficient,
    zero: Coefficient,
    one: Coefficient | None = None,
) -> list[Coefficient]:
    """Coefficients of $B(b, B(a, y))$ for trees `0..n-1` (HLW Theorem III.1.10).

    `inner` is $a$ (with $a(\\emptyset) = 1$), `outer` is $b$; `one` is the field's
    one (by default `zero + 1`).
    """
    products = ForestProducts(table, inner, zero + 1 if one is None else one)
    out = []
    for i in range(n):
        acc = inner[i] * outer_empty if outer_empty else zero
        for root, forest, mult in table.admissible_forest_cuts(i):
            term = outer[root]
            if not term:
                continue
            p = products(forest)
            if p:
                term = term * p
                acc = acc + (term * mult if mult != 1 else term)
        out.append(acc)
    return out


def compose(outer: BSeries, inner: BSeries) -> BSeries:
    """The B-series of $B(\\text{outer}, B(\\text{inner}, y))$: first `inner`, then `outer`.

    `inner` must be a one-step map (`inner.empty == 1`).

    !!! example
        ```python
        >>> from derive import BSeries, compose
        >>> euler = BSeries({"[]": 1}, max_nodes=3, empty=1)
        >>> two_steps = compose(euler, euler)
        >>> [(t, str(c)) for t, c in two_steps.items()]
        [('[]', '2'), ('[[]]', '1'), ('[[],[]]', '1')]

        ```
    """
    _check(outer, inner)
    if inner.empty != 1:
        raise ValueError("the inner series of a composition must have a(empty) = 1")
    n = len(inner.coefficients)
    coef = compose_coefficients(
        inner.table,
        n,
        inner.coefficients,
        outer.coefficients,
        outer.empty,
        outer.field.zero,
        outer.field.one,
    )
    return _like(inner, coef, outer.empty)


def inverse(a: BSeries) -> BSeries:
    """The inverse map of a one-step B-series: `compose(inverse(a), a)` is the identity.

    !!! example
        ```python
        >>> from derive import BSeries, inverse
        >>> euler = BSeries({"[]": 1}, max_nodes=3, empty=1)
        >>> [(t, str(c)) for t, c in inverse(euler).items()]
        [('[]', '-1'), ('[[]]', '1'), ('[[[]]]', '-1'), ('[[],[]]', '-1')]

        ```
    """
    if a.empty != 1:
        raise ValueError("only a one-step map (a(empty) = 1) has a B-series inverse")
    table, zero = a.table, a.field.zero
    n = len(a.coefficients)
    b = [zero] * n
    products = ForestProducts(table, a.coefficients, a.field.one)
    # (b . a)(t) = a(t) + b(t) + sum over proper cuts b(R) prod a(P) = 0
    for i in range(n):
        acc = a.coefficients[i]
        for root, forest, mult in table.admissible_forest_cuts(i):
            if root == i:
                continue
            term = b[root]
            if term:
                p = products(forest)
                if p:
                    acc = acc + term * p * mult
        b[i] = -acc
    return _like(a, b, a.field.one)


def insertion_coefficient(
    table: TreeTable, i: int, arg: Sequence[Coefficient], one: Coefficient
) -> Coefficient:
    """Coefficient of tree `i` in $g(B(a, y))$ with $a(\\emptyset) = 1$: $\\prod_k a(t_k)$
    over the children $t_k$ of the tree (HLW Lemma III.1.9)."""
    c = one
    for k in table.children[i]:
        c = c * arg[k]
        if not c:
            return c
    return c


def insert_into_field(a: BSeries) -> BSeries:
    """The B-series of $g(B(a, y))$: the vector field evaluated at a B-series point.

    !!! example
        ```python
        >>> from derive import BSeries, insert_into_field
        >>> euler = BSeries({"[]": 1}, max_nodes=3, empty=1)
        >>> [(t, str(c)) for t, c in insert_into_field(euler).items()]
        [('[]', '1'), ('[[]]', '1'), ('[[],[]]', '1')]

        ```
    """
    if a.empty != 1:
        raise ValueError(
            "the field can only be expanded at a point y + O(h): a(empty) = 1"
        )
    one = a.field.one
    coef = [
        insertion_coefficient(a.table, i, a.coefficients, one)
        for i in range(len(a.coefficients))
    ]
    return _like(a, coef, a.field.zero)


def lie_derivative(a: BSeries, b: BSeries) -> BSeries:
    """$\\partial_b a$: the series of $B(a, y)'\\, B(b, y)$ for a vector field $b$
    ($b(\\emptyset) = 0$), HLW Lemma IX.9.1."""
    _check(a, b)
    if b.empty != 0:
        raise ValueError(
            "the Lie derivative is taken along a vector field: b(empty) = 0"
        )
    table, zero = a.table, a.field.zero
    coef = []
    for i in range(len(a.coefficients)):
        acc = a.empty * b.coefficients[i] if a.empty else zero
        for trunk, branch, mult in table.edge_cuts(i):
            acc = acc + a.coefficients[trunk] * b.coefficients[branch] * mult
        coef.append(acc)
    return _like(a, coef, zero)


def exponential(b: BSeries) -> BSeries:
    """The time-one flow $\\exp(b)$ of the vector field $B(b, \\cdot)$ as a one-step map.

    $\\exp(b) = \\sum_j \\partial_b^j e / j!$ with $e$ the identity.

    !!! example
        ```python
        >>> from derive import BSeries, exponential
        >>> flow = exponential(BSeries({"[]": 1}, max_nodes=3))   # exact flow: 1/gamma(t)
        >>> [(t, str(c)) for t, c in flow.items()]
        [('[]', '1'), ('[[]]', '1/2'), ('[[[]]]', '1/6'), ('[[],[]]', '1/3')]

        ```
    """
    field = b.field
    term = _like(b, [field.zero] * len(b.coefficients), field.one)  # e
    total = list(term.coefficients)
    for j in range(1, b.max_nodes + 1):
        term = lie_derivative(term, b)
        scale = field.convert(1) / math.factorial(j)
        total = [s + c * scale for s, c in zip(total, term.coefficients, strict=True)]
    return _like(b, total, field.one)


def logarithm_coefficients(
    table: TreeTable,
    n: int,
    a: Sequence[Coefficient],
    zero: Coefficient,
    one: Coefficient,
    convert: Callable[[int], Coefficient],
) -> list[Coefficient]:
    """The modified field $b = \\log a$ on trees `0..n-1` for a one-step map $a$.

    Solves $a = e + b + \\sum_{j \\ge 2} \\partial_b^{j-1} b / j!$ tree by tree
    (HLW section IX.9): with $D_1 = b$ and $D_j(t) = \\sum_{\\text{edges}}
    D_{j-1}(\\theta)\\, b(t \\setminus \\theta)$, $b(t) = a(t) - \\sum_{j=2}^{|t|} D_j(t)/j!$.
    $D_j(\\theta)$ vanishes for $j > |\\theta|$, so each edge costs $|\\theta|$ products;
    over $\\mathbb{Q}$ the $D_j(t)$ of a tree are one FLINT polynomial in an auxiliary
    variable and each edge costs one vector operation.
    """
    if isinstance(zero, flint.fmpq):
        return _rational_logarithm(table, n, a)
    size = table.size
    inv_fact = [flint.fmpq(1, math.factorial(j)) for j in range(table.max_nodes + 2)]
    b: list[Coefficient] = [zero] * n
    # D[i][j] = D_j(i) for j = 1..|i| (D[i][0] unused)
    D: list[list[Coefficient]] = []
    for i in range(n):
        parts: list[list[Coefficient]] = [[] for _ in range(size[i] + 1)]
        for trunk, branch, mult in table.edge_cuts(i):
            y = b[branch]
            if not y:
                continue
            if mult != 1:
                y = y * mult
            d = D[trunk]
            for j in range(1, size[trunk] + 1):
                x = d[j]
                if x:
                    parts[j + 1].append(x * y)
        acc = [linear_combination(p, zero) for p in parts]
        v = a[i]
        for j in range(2, size[i] + 1):
            if acc[j]:
                v = v - acc[j] * inv_fact[j]
        acc[1] = v
        b[i] = v
        D.append(acc)
    return b


def _rational_logarithm(
    table: TreeTable, n: int, a: Sequence[Coefficient]
) -> list[Coefficient]:
    """`logarithm_coefficients` over $\\mathbb{Q}$: for each tree the polynomial
    $E_t(\\tau) = \\sum_j D_j(t) \\tau^j / j!$ (the flow of $b$ at time $\\tau$),
    with $E_t' = b(t) + \\sum_{\\text{edges}} E_\\theta\\, b(t \\setminus \\theta)$
    and $a(t) = E_t(1)$.

    The largest trees are nobody's trunk, so for them only $E_t(1) = b(t) +
    \\sum_{\\text{edges}} b(t \\setminus \\theta) \\int_0^1 E_\\theta$ matters: a sum of
    numbers, not of polynomials, over their edge cuts (most of the cuts: 41,000 of
    63,000 up to 12 nodes), done on integers over one common denominator
    (`_integer_edge_sums`)."""
    if n == 0:
        return []
    poly = flint.fmpq_poly
    tau = poly([0, 1])
    q = [QQ.convert(c) for c in a[:n]]
    b = [flint.fmpq(0)] * n
    E: list[flint.fmpq_poly] = []
    edge_cuts = table.edge_cuts

    def integral_of_edge_sum(i: int) -> flint.fmpq_poly:
        s = poly()
        for trunk, branch, mult in edge_cuts(i):
            y = b[branch]
            if y:
                s += E[trunk] * (y * mult if mult != 1 else y)
        return s.integral()

    first_last = table.of_size(table.size[n - 1])[0]
    for i in range(first_last):
        integral = integral_of_edge_sum(i)
        v = q[i] - integral(1)
        b[i] = v
        E.append(integral + tau * v)
    largest = range(first_last, n)
    means = [e.integral()(1) for e in E]  # int_0^1 E_theta
    sums = _integer_edge_sums(table, largest, means, b)
    for i in largest:
        # unrelated denominators (no sums): the polynomial route, without E_t
        total = integral_of_edge_sum(i)(1) if sums is None else sums[i - first_last]
        b[i] = q[i] - total
    out: list[Coefficient] = list(b)
    return out


def _integer_edge_sums(
    table: TreeTable,
    trees: range,
    trunk_values: Sequence[flint.fmpq],
    branch_values: Sequence[flint.fmpq],
) -> list[flint.fmpq] | None:
    """$\\sum_{\\text{edges}} x(\\theta)\\, y(t \\setminus \\theta)$ for each tree $t$ of
    `trees` (whose trunks and branches are smaller than they are), or `None` when the
    common denominators are large.

    With $x = X/D_x$ and $y = Y/D_y$ over common denominators, each cut is a product of
    Python integers and each sum is reduced once. The common denominators are the lcm
    of small numbers for the methods in use (for gradient descent $D_y = 27720$ up to
    12 nodes); for unrelated denominators they explode, and `None` says so."""
    count = trees.start
    dx = dy = 1
    for v in trunk_values[:count]:
        dx = math.lcm(dx, int(v.q))
        if dx.bit_length() > 128:
            return None
    for v in branch_values[:count]:
        dy = math.lcm(dy, int(v.q))
        if dy.bit_length() > 128:
            return None
    X = [int(v.p) * (dx // int(v.q)) for v in trunk_values[:count]]
    Y = [int(v.p) * (dy // int(v.q)) for v in branch_values[:count]]
    edge_cuts, grafts, children = table.edge_cuts, table.grafts, table.children
    sums = []
    for i in trees:
        # the edges of t o u without its cut table: those of t (u grafted on the
        # trunk), the edge to u, those of u (the trunk grafted onto t); a sum needs
        # no merging of equal pairs
        total = 0
        if children[i]:
            t, u = table.butcher_factors(i)
            onto = grafts[u]
            total = X[t] * Y[u]
            for trunk, branch, mult in edge_cuts(t):
                total += X[onto[trunk]] * Y[branch] * mult
            for trunk, branch, mult in edge_cuts(u):
                total += X[grafts[trunk][t]] * Y[branch] * mult
        sums.append(flint.fmpq(total, dx * dy))
    return sums


def logarithm(a: BSeries) -> BSeries:
    """The modified vector field of a one-step map: $b$ with $\\exp(b) = a$.

    Its coefficients give the modified equation $\\dot y = \\sum_t b(t)/\\sigma(t)\\,
    F(t)(y)$ whose time-one flow is the map (in powers of $h$ when $a(t) \\propto
    h^{|t|}$).

    !!! example
        ```python
        >>> from derive import BSeries, logarithm
        >>> gd = BSeries({"[]": 1}, max_nodes=2, empty=1)
        >>> [(t, str(c)) for t, c in logarithm(gd).items()]
        [('[]', '1'), ('[[]]', '-1/2')]

        ```
    """
    if a.empty != 1:
        raise ValueError("only a one-step map (a(empty) = 1) has a logarithm")
    field = a.field
    coef = logarithm_coefficients(
        a.table,
        len(a.coefficients),
        a.coefficients,
        field.zero,
        field.one,
        field.convert,
    )
    return _like(a, coef, field.zero)
