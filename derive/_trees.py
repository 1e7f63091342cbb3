"""Rooted trees: enumeration, canonical forms, symmetry and the cut tables of B-series.

A rooted tree is written in nested brackets: a leaf is `[]`, a node with children
$t_1, \\dots, t_k$ is `[t1,...,tk]`. Internally every tree up to a given number of
nodes gets an integer index in a [`TreeTable`][derive.TreeTable]; a tree is identified
by the sorted tuple of its children's indices, so canonical forms, lookups and the
combinatorial tables that the series algebra needs are integer operations.

The tables follow Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed.
(2006), section III.1 (B-series, composition) and section IX.9 (the Lie derivative used
for the logarithm), with coefficients normalised by the symmetry $\\sigma(t)$ as there:
$B(a, y) = a(\\emptyset) y + \\sum_t a(t)/\\sigma(t)\\, F(t)(y)$.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from functools import cache
from typing import NoReturn, TypeAlias

__all__ = ["TreeTable", "tree_table", "parse_tree", "tree_counts", "NestedTree"]

NestedTree: TypeAlias = tuple["NestedTree", ...]
"""A rooted tree as nested tuples of its children (a leaf is `()`)."""


class TreeTable:
    """All rooted trees with at most `max_nodes` nodes, indexed in order of size.

    **Arguments:**

    - `max_nodes`: the largest number of nodes (at least 1).

    Use [`tree_table`][derive.tree_table] to get a shared, lazily extended instance.

    `grafts[u][t]` is the Butcher product $t \\circ u$ (tree `u` grafted onto the root
    of tree `t`), as nested dictionaries that fill themselves on first lookup: the
    same as `graft(t, u)`, for loops that graft many times.

    !!! example
        ```python
        >>> from derive import tree_table
        >>> table = tree_table(4)
        >>> [table.bracket(i) for i in table.of_size(3)]
        ['[[[]]]', '[[],[]]']
        >>> table.sigma[table.index_of("[[],[]]")]
        2
        >>> leaf, chain = table.index_of("[]"), table.index_of("[[]]")
        >>> table.bracket(table.grafts[leaf][chain])      # [[]] o [] = [[],[]]
        '[[],[]]'

        ```
    """

    def __init__(self, max_nodes: int):
        if max_nodes < 1:
            raise ValueError(f"max_nodes must be at least 1, got {max_nodes}")
        self.max_nodes = 0
        self.children: list[tuple[int, ...]] = []  # sorted ascending
        self.size: list[int] = []
        self.sigma: list[int] = []
        self._index: dict[tuple[int, ...], int] = {}
        self._by_size: list[list[int]] = [[]]
        self._last_keys: list[list[int]] = [[]]
        self._edge_cuts: dict[int, list[tuple[int, int, int]]] = {}
        self._admissible: dict[int, list[tuple[int, int, int]]] = {}
        # grafts[u][t] = t o u (the Butcher product), dictionaries that fill themselves:
        # one lookup per graft in the loops over edge cuts
        self.grafts: Mapping[int, Mapping[int, int]] = _GraftTable(self)
        self._factors: list[tuple[int, int]] = []
        self._merge: dict[tuple[int, int], int] = {}
        self._bracket: dict[int, str] = {}
        self.extend(max_nodes)

    # ------------------------------------------------------------------ building
    def extend(self, max_nodes: int) -> None:
        """Add the trees with up to `max_nodes` nodes (no-op if already there).

        A tree of $n$ nodes is $t \\circ u$ with $u$ its largest child and $t$ a tree
        whose children are at most $u$; the trees of each size are listed by their
        largest child, descending, so the admissible $t$ of a given size form a suffix
        of their size's list. This is the order of the non-decreasing tuples of
        children enumerated largest index first.
        """
        for n in range(self.max_nodes + 1, max_nodes + 1):
            new = []
            size, children = self.size, self.children
            if n == 1:
                new.append(self._add((), 1, -1, -1))
            for u in range(len(children) - 1, -1, -1):
                rest = n - size[u]  # nodes of t
                if rest == 1:
                    new.append(self._add((u,), n, 0, u))
                    continue
                group = self._by_size[rest]
                start = bisect.bisect_left(self._last_keys[rest], -u)
                for t in group[start:]:
                    new.append(self._add((*children[t], u), n, t, u))
            self._by_size.append(new)
            self._last_keys.append(
                [-children[i][-1] if children[i] else 1 for i in new]
            )
            self.max_nodes = n

    def _add(self, kids: tuple[int, ...], n: int, t: int, u: int) -> int:
        """Add the tree with children `kids` $= t \\circ u$ (`u = -1` for the leaf)."""
        idx = len(self.children)
        self.children.append(kids)
        self.size.append(n)
        if u < 0:
            sigma = 1
        else:
            # sigma(t o u) = sigma(t) sigma(u) k, with k copies of u among the children
            k = 1
            while k < len(kids) and kids[-1 - k] == u:
                k += 1
            sigma = self.sigma[t] * self.sigma[u] * k
        self.sigma.append(sigma)
        self._index[kids] = idx
        self._factors.append((t, u))
        return idx

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self.children)

    def of_size(self, n: int) -> list[int]:
        """Indices of the trees with exactly `n` nodes."""
        if n > self.max_nodes:
            self.extend(n)
        return list(self._by_size[n])

    def up_to(self, n: int) -> range:
        """Indices of the trees with at most `n` nodes (a prefix of the table)."""
        if n > self.max_nodes:
            self.extend(n)
        return range(sum(len(s) for s in self._by_size[: n + 1]))

    def lookup(self, kids: Iterable[int]) -> int:
        """Index of the tree whose children are the multiset `kids` of indices."""
        key = tuple(sorted(kids))
        try:
            return self._index[key]
        except KeyError:
            n = 1 + sum(self.size[k] for k in key)
            self.extend(n)
            return self._index[key]

    def index_of(self, tree: str | NestedTree) -> int:
        """Index of a tree given in bracket notation or as nested tuples."""
        if isinstance(tree, str):
            tree = parse_tree(tree)

        def walk(t: NestedTree) -> int:
            return self.lookup(walk(c) for c in t)

        return walk(tree)

    def bracket(self, i: int) -> str:
        """The canonical bracket notation of tree `i`, e.g. `[[],[[]]]`."""
        s = self._bracket.get(i)
        if s is None:
            s = "[" + ",".join(self.bracket(c) for c in self.children[i]) + "]"
            self._bracket[i] = s
        return s

    def nested(self, i: int) -> NestedTree:
        """Tree `i` as nested tuples (a leaf is `()`)."""
        return tuple(self.nested(c) for c in self.children[i])

    def gamma(self, i: int) -> int:
        """The density $\\gamma(t) = |t| \\prod_i \\gamma(t_i)$."""
        g = self.size[i]
        for c in self.children[i]:
            g *= self.gamma(c)
        return g

    def is_tall(self, i: int) -> bool:
        """Whether tree `i` is a chain (every node has at most one child)."""
        while self.children[i]:
            if len(self.children[i]) > 1:
                return False
            i = self.children[i][0]
        return True

    # ------------------------------------------------------------------ cut tables
    # Every tree with children is a Butcher product t = t' o u: u is its last child
    # (largest index) grafted onto the root of t', the tree of the other children. Its
    # edges are those of t', the edge from the root to u and those of u, so both cut
    # tables of t follow from the tables of t' and u (smaller trees) by grafting and
    # merging: linear in the size of the result, with no multiset enumeration.
    def graft(self, t: int, u: int) -> int:
        """The Butcher product $t \\circ u$: tree `u` grafted onto the root of tree `t`.

        Seen as forests (the children of a root), it adds the tree `u` to the forest `t`.
        """
        return self.grafts[u][t]

    def merge(self, f: int, p: int) -> int:
        """The forest of the children of `f` and of `p` together, as the tree that has
        them as children (forests are trees without their root)."""
        if not self.children[p]:
            return f
        if not self.children[f]:
            return p
        key = (f, p)
        g = self._merge.get(key)
        if g is None:
            g = self.lookup(self.children[f] + self.children[p])
            self._merge[key] = g
        return g

    def butcher_factors(self, i: int) -> tuple[int, int]:
        """`(t, u)` with tree `i` $= t \\circ u$ and `u` its last child (not for a leaf)."""
        if not self.children[i]:
            raise ValueError("a leaf is not a Butcher product")
        return self._factors[i]

    def edge_cuts(self, i: int) -> list[tuple[int, int, int]]:
        """Cuts of exactly one edge of tree `i`: `(trunk, branch, multiplicity)`.

        The trunk keeps the root; the branch is the subtree hanging below the cut edge.
        Multiplicities count the edges of the (unlabelled) tree that give the same pair.
        This is the table of the Lie derivative of HLW Lemma IX.9.1.
        """
        cached = self._edge_cuts.get(i)
        if cached is not None:
            return cached
        if not self.children[i]:
            out: list[tuple[int, int, int]] = []
        else:
            t, u = self._factors[i]
            # memo lookups inline (dictionaries that fill themselves): this loop runs
            # once per edge cut, the largest table of the engine
            onto, grafts = self.grafts[u], self.grafts
            out = [(onto[a], b, m) for a, b, m in self.edge_cuts(t)]
            out.append((t, u, 1))
            out += [(grafts[a][t], b, m) for a, b, m in self.edge_cuts(u)]
            if u in self.children[t]:
                # with u repeated, cutting a copy of u, or the same edge inside two
                # copies, gives the same pair (otherwise all pairs differ: grafting is
                # injective)
                acc: dict[tuple[int, int], int] = {}
                for a, b, m in out:
                    acc[a, b] = acc.get((a, b), 0) + m
                out = [(a, b, m) for (a, b), m in acc.items()]
        self._edge_cuts[i] = out
        return out

    def admissible_forest_cuts(self, i: int) -> list[tuple[int, int, int]]:
        """`admissible_cuts` with each pruned forest given as the index of the tree
        that has it as children (the leaf for the empty forest): `(root part, forest
        tree, multiplicity)`.

        Products over a forest are then values of one tree, shared by every cut, every
        tree and every order that prunes the same forest.
        """
        cached = self._admissible.get(i)
        if cached is not None:
            return cached
        if not self.children[i]:
            out = [(i, 0, 1)]
        else:
            t, u = self.butcher_factors(i)
            graft, merge = self.graft, self.merge
            inner = self.admissible_forest_cuts(u)
            acc: dict[tuple[int, int], int] = {}
            get = acc.get
            for root, forest, m in self.admissible_forest_cuts(t):
                # u cut off whole
                key = (root, graft(forest, u))
                acc[key] = get(key, 0) + m
                # u kept, cut inside it (the empty cut included)
                for r, f, k in inner:
                    key = (graft(root, r), merge(forest, f))
                    acc[key] = get(key, 0) + m * k
            out = [(a, b, m) for (a, b), m in acc.items()]
        self._admissible[i] = out
        return out

    def admissible_cuts(self, i: int) -> list[tuple[int, tuple[int, ...], int]]:
        """Admissible cuts of tree `i`: `(root part, pruned forest, multiplicity)`.

        An admissible cut removes a set of edges with at most one on any path from the
        root; the root part keeps the root and the forest collects what was cut off.
        The empty cut (root part = tree, empty forest) is included; the cut that removes
        the whole tree is not. With $\\sigma$-normalised coefficients the composition of
        B-series is $(a \\cdot b)(t) = b(\\emptyset) a(t) + \\sum_{cuts} b(R) \\prod_{p
        \\in P} a(p)$ (HLW Theorem III.1.10).
        """
        children = self.children
        return [(r, children[f], m) for r, f, m in self.admissible_forest_cuts(i)]


class _Grafts(dict[int, int]):
    """`t -> t o u` for one tree `u`, filled on first lookup."""

    def __init__(self, table: TreeTable, u: int):
        super().__init__()
        self.table, self.u = table, u

    def __missing__(self, t: int) -> int:
        g = self.table.lookup((*self.table.children[t], self.u))
        self[t] = g
        return g


class _GraftTable(dict[int, _Grafts]):
    """`u -> _Grafts(u)`, filled on first lookup: `table.grafts[u][t]` $= t \\circ u$."""

    def __init__(self, table: TreeTable):
        super().__init__()
        self.table = table

    def __missing__(self, u: int) -> _Grafts:
        g = self[u] = _Grafts(self.table, u)
        return g


@cache
def _shared_table() -> TreeTable:
    return TreeTable(1)


def tree_table(max_nodes: int) -> TreeTable:
    """The process-wide [`TreeTable`][derive.TreeTable], extended to `max_nodes` nodes.

    !!! example
        ```python
        >>> from derive import tree_table
        >>> len(tree_table(5).up_to(5))
        17

        ```
    """
    table = _shared_table()
    table.extend(max_nodes)
    return table


def tree_counts(max_nodes: int) -> list[int]:
    """Number of rooted trees with 1, 2, ..., `max_nodes` nodes (OEIS A000081).

    !!! example
        ```python
        >>> from derive import tree_counts
        >>> tree_counts(10)
        [1, 1, 2, 4, 9, 20, 48, 115, 286, 719]

        ```
    """
    table = tree_table(max_nodes)
    return [len(table.of_size(n)) for n in range(1, max_nodes + 1)]


def parse_tree(text: str) -> NestedTree:
    """Parse nested-bracket notation (`[]`, `[[],[[]]]`) into nested tuples.

    Raises `ValueError` with the position of the problem on malformed input.

    !!! example
        ```python
        >>> from derive import parse_tree
        >>> parse_tree("[[],[]]")
        ((), ())

        ```
    """
    s = "".join(text.split())
    pos = 0

    def fail(msg: str) -> NoReturn:
        raise ValueError(
            f"malformed tree {text!r}: {msg} at position {pos}; write a leaf as [] and a "
            "node with children t1,...,tk as [t1,...,tk], e.g. [[],[[]]]"
        )

    def node() -> NestedTree:
        nonlocal pos
        if pos >= len(s) or s[pos] != "[":
            fail("expected '['")
        pos += 1
        kids: list[NestedTree] = []
        if pos < len(s) and s[pos] == "]":
            pos += 1
            return ()
        while True:
            kids.append(node())
            if pos < len(s) and s[pos] == ",":
                pos += 1
                continue
            if pos < len(s) and s[pos] == "]":
                pos += 1
                return tuple(kids)
            fail("expected ',' or ']'")

    if len(s) > 10_000:
        raise ValueError("tree string too long (more than 10000 characters)")
    t = node()
    if pos != len(s):
        fail("unexpected trailing characters")
    return t
