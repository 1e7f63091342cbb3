"""Colored rooted trees: the trees of compositions of maps with different vector fields.

A recurrence that calls several fields $g_1, \\dots, g_m$ (one per mini-batch) expands
in *colored* trees: every node carries the index of the field evaluated there, and
$F(t) = g_{c}^{(k)}(F(t_1), \\dots, F(t_k))$ for a root of color $c$ with children
$t_1, \\dots, t_k$. The series algebra (composition by admissible cuts, the Lie
derivative by edge cuts, the logarithm) is the one of uncolored trees with colors
carried along; this is the algebra of additive (partitioned) Runge-Kutta methods
(Araújo, Murua & Sanz-Serna, SIAM J. Numer. Anal. 34 (1997); Hairer, Lubich & Wanner,
*Geometric Numerical Integration*, 2nd ed., section III.2, P-series; Ketcheson &
Ranocha, *Computing with B-series*, ACM TOMS 2023, colored trees of BSeries.jl).

A colored tree is written in nested brackets with its color after an underscore: a leaf
of color 1 is `[]_1`, a root of color 3 with children `[]_1` and `[]_2` is
`[[]_1,[]_2]_3`. In a [`ColoredTreeTable`][derive.ColoredTreeTable] every tree gets an
integer index when it is first met (a tree is the pair of its root color and the sorted
tuple of its children's indices), so lookups and the cut tables are integer operations.
Colors are non-negative integers; what they mean (a batch, a step of an epoch, the
mean field or a deviation) is up to the caller.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from typing import NoReturn, TypeAlias

from ._trees import NestedTree

__all__ = [
    "ColoredTreeTable",
    "colored_tree_table",
    "colored_tree_counts",
    "parse_colored_tree",
    "NestedColoredTree",
]

NestedColoredTree: TypeAlias = tuple[int, tuple["NestedColoredTree", ...]]
"""A colored tree as `(color, (child, ...))` (a leaf of color c is `(c, ())`)."""

CanonicalKey: TypeAlias = tuple[int, int, tuple["CanonicalKey", ...]]
"""(size, root color, sorted keys of the children): the order of trees that does not
depend on the order in which they were indexed."""

AdmissibleCut: TypeAlias = tuple[int, tuple[int, ...], int]
"""`(root part, pruned forest, multiplicity)` of an admissible cut."""


class ColoredTreeTable:
    """Colored rooted trees, indexed as they are met.

    Trees are created on demand by [`lookup`][derive.ColoredTreeTable.lookup]; the
    trees with `n` nodes and colors from a given set are enumerated by
    [`of_size`][derive.ColoredTreeTable.of_size]. Use
    [`colored_tree_table`][derive.colored_tree_table] for the process-wide instance.

    !!! example
        ```python
        >>> from derive import colored_tree_table
        >>> table = colored_tree_table()
        >>> [table.bracket(i) for i in table.of_size(2, colors=(1, 2))]
        ['[[]_1]_1', '[[]_2]_1', '[[]_1]_2', '[[]_2]_2']
        >>> t = table.index_of("[[]_1,[]_1]_2")
        >>> table.sigma[t], table.size[t], table.color[t]
        (2, 3, 2)

        ```
    """

    def __init__(self) -> None:
        self.color: list[int] = []
        self.children: list[tuple[int, ...]] = []
        self.size: list[int] = []
        self.sigma: list[int] = []
        self._index: dict[tuple[int, tuple[int, ...]], int] = {}
        self._key: list[CanonicalKey] = []
        self._edge_cuts: dict[int, list[tuple[int, int, int]]] = {}
        self._admissible: dict[int, list[AdmissibleCut]] = {}
        self._bracket: dict[int, str] = {}
        self._enumerated: dict[tuple[int, tuple[int, ...]], list[int]] = {}

    def __len__(self) -> int:
        return len(self.children)

    # ------------------------------------------------------------------ building
    def lookup(self, color: int, kids: Iterable[int] = ()) -> int:
        """Index of the tree with root `color` and the multiset `kids` of children
        (tree indices); the tree is added if it is new."""
        key = (int(color), tuple(sorted(kids)))
        idx = self._index.get(key)
        if idx is not None:
            return idx
        if key[0] < 0:
            raise ValueError(f"colors are non-negative integers, got {color}")
        idx = len(self.children)
        self.color.append(key[0])
        self.children.append(key[1])
        self.size.append(1 + sum(self.size[k] for k in key[1]))
        sigma = 1
        for child, mult in Counter(key[1]).items():
            sigma *= math.factorial(mult) * self.sigma[child] ** mult
        self.sigma.append(sigma)
        self._key.append(
            (self.size[-1], key[0], tuple(sorted(self._key[k] for k in key[1])))
        )
        self._index[key] = idx
        return idx

    def of_size(self, n: int, colors: Sequence[int]) -> list[int]:
        """All trees with exactly `n` nodes whose colors are in `colors`, in canonical
        order (by root color, then children)."""
        colors = tuple(sorted(set(int(c) for c in colors)))
        key = (n, colors)
        got = self._enumerated.get(key)
        if got is not None:
            return list(got)
        if n < 1:
            raise ValueError(f"a tree has at least one node, got {n}")
        smaller = [t for k in range(1, n) for t in self.of_size(k, colors)]
        smaller.sort(key=self.canonical_key)
        out: list[int] = []
        for c in colors:
            for forest in _forests(n - 1, smaller, self.size, 0):
                out.append(self.lookup(c, forest))
        out.sort(key=self.canonical_key)
        self._enumerated[key] = out
        return list(out)

    def up_to(self, n: int, colors: Sequence[int]) -> list[int]:
        """All trees with at most `n` nodes and colors in `colors`, by size."""
        return [t for k in range(1, n + 1) for t in self.of_size(k, colors)]

    # ------------------------------------------------------------------ lookups
    def canonical_key(self, i: int) -> CanonicalKey:
        """A sort key that does not depend on the order in which trees were indexed:
        (size, root color, sorted keys of the children)."""
        return self._key[i]

    def index_of(self, tree: str | NestedColoredTree) -> int:
        """Index of a tree given as `"[[]_1]_2"` or as nested `(color, (children...))`."""
        if isinstance(tree, str):
            tree = parse_colored_tree(tree)

        def walk(t: NestedColoredTree) -> int:
            color, kids = t
            return self.lookup(color, [walk(k) for k in kids])

        return walk(tree)

    def bracket(self, i: int) -> str:
        """Canonical bracket notation, e.g. `[[]_1,[]_2]_3` (children in canonical
        order)."""
        s = self._bracket.get(i)
        if s is None:
            kids = sorted(self.children[i], key=self.canonical_key)
            s = "[" + ",".join(self.bracket(k) for k in kids) + f"]_{self.color[i]}"
            self._bracket[i] = s
        return s

    def nested(self, i: int) -> NestedColoredTree:
        """Tree `i` as `(color, (child, ...))`, children in canonical order."""
        kids = sorted(self.children[i], key=self.canonical_key)
        return (self.color[i], tuple(self.nested(k) for k in kids))

    def colors(self, i: int) -> Counter[int]:
        """How often each color occurs in tree `i`."""
        out = Counter({self.color[i]: 1})
        for k in self.children[i]:
            out.update(self.colors(k))
        return out

    def nodes(self, i: int) -> list[tuple[int, int]]:
        """The nodes of tree `i` in depth-first order as `(color, parent position)`;
        the root is first with parent -1. Children follow the canonical order, so equal
        trees give equal lists."""
        out: list[tuple[int, int]] = []

        def walk(t: int, parent: int) -> None:
            me = len(out)
            out.append((self.color[t], parent))
            for k in sorted(self.children[t], key=self.canonical_key):
                walk(k, me)

        walk(i, -1)
        return out

    def from_nodes(self, parents: Sequence[int], colors: Sequence[int]) -> int:
        """The tree with node `v` of color `colors[v]` under `parents[v]` (-1: root;
        parents come before their children)."""
        kids: list[list[int]] = [[] for _ in parents]
        for v, p in enumerate(parents):
            if p >= 0:
                kids[p].append(v)

        def build(v: int) -> int:
            return self.lookup(colors[v], [build(w) for w in kids[v]])

        return build(0)

    def recolor(self, i: int, mapping: Mapping[int, int]) -> int:
        """Tree `i` with every color `c` replaced by `mapping[c]`."""
        return self.lookup(
            mapping[self.color[i]], [self.recolor(k, mapping) for k in self.children[i]]
        )

    def shape(self, i: int) -> NestedTree:
        """The uncolored tree of `i`, as nested tuples (see [`parse_tree`][derive.parse_tree])."""
        return tuple(sorted((self.shape(k) for k in self.children[i]), key=_shape_key))

    # ------------------------------------------------------------------ cut tables
    def edge_cuts(self, i: int) -> list[tuple[int, int, int]]:
        """Cuts of exactly one edge: `(trunk, branch, multiplicity)`, as for uncolored
        trees (HLW Lemma IX.9.1); the trunk keeps the root's color."""
        cached = self._edge_cuts.get(i)
        if cached is not None:
            return cached
        acc: Counter[tuple[int, int]] = Counter()
        kids = self.children[i]
        color = self.color[i]
        for child, mult in Counter(kids).items():
            rest = list(kids)
            rest.remove(child)
            acc[(self.lookup(color, rest), child)] += mult
            for trunk, branch, m in self.edge_cuts(child):
                acc[(self.lookup(color, [*rest, trunk]), branch)] += mult * m
        out = [(t, b, m) for (t, b), m in acc.items()]
        self._edge_cuts[i] = out
        return out

    def admissible_cuts(self, i: int) -> list[AdmissibleCut]:
        """Admissible cuts: `(root part, pruned forest, multiplicity)`, the empty cut
        included and the cut of the whole tree excluded (HLW Theorem III.1.10)."""
        cached = self._admissible.get(i)
        if cached is not None:
            return cached
        acc: Counter[tuple[int, tuple[int, ...]]] = Counter()
        per_child: list[list[tuple[list[int], list[int], int]]] = []
        for child, mult in Counter(self.children[i]).items():
            # cut the child off whole, or keep it and cut inside it
            opts: list[tuple[int | None, tuple[int, ...], int]] = [(None, (child,), 1)]
            opts += self.admissible_cuts(child)
            choices = []
            for combo in itertools.combinations_with_replacement(
                range(len(opts)), mult
            ):
                weight = math.factorial(mult)
                for _, k in Counter(combo).items():
                    weight //= math.factorial(k)
                for o in combo:
                    weight *= opts[o][2]
                kept = [k for k in (opts[o][0] for o in combo) if k is not None]
                cut = [p for o in combo for p in opts[o][1]]
                choices.append((kept, cut, weight))
            per_child.append(choices)
        color = self.color[i]
        for product in itertools.product(*per_child):
            roots: list[int] = []
            forest: list[int] = []
            weight = 1
            for r, p, w in product:
                roots += r
                forest += p
                weight *= w
            acc[(self.lookup(color, roots), tuple(sorted(forest)))] += weight
        out = [(r, p, m) for (r, p), m in acc.items()]
        self._admissible[i] = out
        return out


def _shape_key(t: NestedTree) -> tuple[int, str]:
    return (_nodes(t), repr(t))


def _nodes(t: NestedTree) -> int:
    return 1 + sum(_nodes(c) for c in t)


def _forests(
    total: int, candidates: list[int], size: list[int], start: int
) -> Iterator[tuple[int, ...]]:
    """Non-decreasing tuples (positions in `candidates`) of trees summing to `total`."""
    if total == 0:
        yield ()
        return
    for pos in range(start, len(candidates)):
        t = candidates[pos]
        if size[t] > total:
            continue
        for rest in _forests(total - size[t], candidates, size, pos):
            yield (t, *rest)


@cache
def colored_tree_table() -> ColoredTreeTable:
    """The process-wide [`ColoredTreeTable`][derive.ColoredTreeTable].

    !!! example
        ```python
        >>> from derive import colored_tree_table
        >>> colored_tree_table() is colored_tree_table()
        True

        ```
    """
    return ColoredTreeTable()


def colored_tree_counts(max_nodes: int, colors: int) -> list[int]:
    """Number of rooted trees with 1, ..., `max_nodes` nodes, each node one of
    `colors` colors (OEIS A000081 for one color, A038055 for two).

    !!! example
        ```python
        >>> from derive import colored_tree_counts
        >>> colored_tree_counts(6, 2)
        [2, 4, 14, 52, 214, 916]

        ```
    """
    table = colored_tree_table()
    cs = tuple(range(colors))
    return [len(table.of_size(n, cs)) for n in range(1, max_nodes + 1)]


def parse_colored_tree(text: str) -> NestedColoredTree:
    """Parse `[[]_1,[]_2]_3` into nested `(color, (children...))` tuples.

    Raises `ValueError` with the position of the problem on malformed input.

    !!! example
        ```python
        >>> from derive import parse_colored_tree
        >>> parse_colored_tree("[[]_1]_2")
        (2, ((1, ()),))

        ```
    """
    s = "".join(text.split())
    pos = 0

    def fail(msg: str) -> NoReturn:
        raise ValueError(
            f"malformed colored tree {text!r}: {msg} at position {pos}; write a leaf of "
            "color c as []_c and a node with children t1,...,tk as [t1,...,tk]_c, "
            "e.g. [[]_1,[]_2]_3"
        )

    def color() -> int:
        nonlocal pos
        if pos >= len(s) or s[pos] != "_":
            fail("expected '_' and a color after ']'")
        pos += 1
        start = pos
        while pos < len(s) and s[pos].isdigit():
            pos += 1
        if pos == start:
            fail("expected a color (a non-negative integer)")
        return int(s[start:pos])

    def node() -> NestedColoredTree:
        nonlocal pos
        if pos >= len(s) or s[pos] != "[":
            fail("expected '['")
        pos += 1
        kids: list[NestedColoredTree] = []
        if pos < len(s) and s[pos] == "]":
            pos += 1
            return (color(), ())
        while True:
            kids.append(node())
            if pos < len(s) and s[pos] == ",":
                pos += 1
                continue
            if pos < len(s) and s[pos] == "]":
                pos += 1
                return (color(), tuple(kids))
            fail("expected ',' or ']'")

    if len(s) > 10_000:
        raise ValueError("tree string too long (more than 10000 characters)")
    t = node()
    if pos != len(s):
        fail("unexpected trailing characters")
    return t
