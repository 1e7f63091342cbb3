"""A series symmetric in the batches, rewritten with the full loss and per-batch deviations.

Let $g_k = -\\nabla f_k$ be the batch fields, $f = \\frac1m \\sum_k f_k$ the full loss,
$g = -\\nabla f$ its field and $d_k = g_k - g$ the deviations ($\\sum_k d_k = 0$). A
field $\\sum_t b(t)/\\sigma(t)\\, F(t)$ over colored trees whose coefficient depends only
on which nodes share a batch, $b(t) = \\beta(s, P)$ for a shape $s$ and the partition
$P$ of its nodes into equal colors, equals

$$\\sum_s \\frac{1}{\\sigma(s)} \\sum_Q w(s, Q)\\, S_Q(s), \\qquad
w(s, Q) = \\sum_{P \\le Q} \\beta(s, P)\\, \\mu(P, Q),$$

where $S_Q(s) = \\sum_{c \\text{ constant on the blocks of } Q} F(s, c)$ and $\\mu$ is
the Möbius function of the partition lattice, $\\mu(P, Q) = \\prod_{B \\in Q}
(-1)^{n_B - 1} (n_B - 1)!$ with $n_B$ the blocks of $P$ inside $B$ (Rota, *On the
foundations of combinatorial theory I*, 1964). Expanding every node as $g_c = g + d_c$
and using $\\sum_c d_c = 0$,

$$S_Q(s) = m^{|Q|} \\sum_{D} \\big\\langle F(s; D, Q|_D) \\big\\rangle,$$

over the sets $D$ of deviation nodes that meet every block of $Q$ in none or at least
two nodes; in $F(s; D, R)$ the nodes outside $D$ carry $g$, the nodes of a block of
$R$ carry $d_k$ with one batch index $k$ per block, and $\\langle \\cdot \\rangle$
averages each index uniformly over the batches, independently. The result is a sum over
*decorated* trees: colored trees with color 0 for $g$ and colors $1, \\dots, r$ for the
deviation blocks, taken up to renaming the blocks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from ._batch_expectation import canonical_blocks, refinements, set_partitions
from ._coefficients import Coefficient, Field
from ._colored_trees import ColoredTreeTable
from ._trees import TreeTable, tree_table

__all__ = ["deviation_expansion", "canonical_decorated", "block_letters"]

BLOCK_LETTERS = "klj"


def block_letters(r: int) -> str:
    """The batch indices of the deviation blocks of a decorated tree: k, l, j."""
    if r > len(BLOCK_LETTERS):
        raise ValueError(f"at most {len(BLOCK_LETTERS)} deviation blocks, got {r}")
    return BLOCK_LETTERS[:r]


def canonical_decorated(table: ColoredTreeTable, i: int) -> tuple[int, int]:
    """`(canonical index, stabiliser)`: the decorated tree `i` with its deviation
    blocks (colors >= 1) renamed so that the tree is smallest in canonical order, and
    the number of block renamings that leave it unchanged."""
    blocks = sorted({c for c in table.colors(i) if c > 0})
    if len(blocks) <= 1:
        if blocks == [1] or not blocks:
            return i, 1
        return table.recolor(i, {0: 0, blocks[0]: 1}), 1
    candidates = []
    for perm in itertools.permutations(range(1, len(blocks) + 1)):
        mapping = {0: 0, **dict(zip(blocks, perm, strict=True))}
        candidates.append(table.recolor(i, mapping))
    best = min(candidates, key=table.canonical_key)
    return best, candidates.count(best)


def _moebius(P: tuple[int, ...], Q: tuple[int, ...]) -> int:
    """$\\mu(P, Q)$ for $P \\le Q$ in the partition lattice."""
    inside: dict[int, set[int]] = {}
    for p, q in zip(P, Q, strict=True):
        inside.setdefault(q, set()).add(p)
    out = 1
    for parts in inside.values():
        n = len(parts)
        out *= (-1) ** (n - 1) * math.factorial(n - 1)
    return out


def _shape_nodes(table: TreeTable, i: int) -> list[int]:
    """Parent positions of the nodes of uncolored tree `i` (depth first, root first)."""
    parents: list[int] = []

    def walk(t: int, parent: int) -> None:
        me = len(parents)
        parents.append(parent)
        for c in table.children[t]:
            walk(c, me)

    walk(i, -1)
    return parents


def deviation_expansion(
    beta: Callable[[int], Coefficient],
    max_nodes: int,
    m: int | Coefficient,
    field: Field,
    table: ColoredTreeTable,
) -> dict[int, Coefficient]:
    """The field $\\sum_t \\beta(t)/\\sigma(t) F(t)$ (colors = distinct batches) as
    `{decorated tree index: coefficient}`, the coefficient multiplying
    $\\langle F(d) \\rangle$ (no symmetry factor left).

    **Arguments:**

    - `beta`: a function `colored tree index -> coefficient`, symmetric in the batches.
    - `max_nodes`: trees up to this size.
    - `m`: the number of batches (an int or a field element).
    - `field`: the coefficient field.
    - `table`: the colored tree table (for `beta`'s trees and the decorated ones).
    """
    shapes = tree_table(max_nodes)
    m = field.convert(m) if isinstance(m, int) else m
    zero = field.zero
    out: dict[int, Coefficient] = {}
    for s in shapes.up_to(max_nodes):
        parents = _shape_nodes(shapes, s)
        n = len(parents)
        inv_sigma = field.convert(1) / shapes.sigma[s]
        values = {
            P: beta(table.from_nodes(parents, list(P))) for P in set_partitions(n)
        }
        for Q in set_partitions(n):
            w = zero
            for P in refinements(Q):
                b = values[P]
                if b:
                    w = w + b * _moebius(P, Q)
            if not w:
                continue
            weight = w * inv_sigma * m ** (max(Q) + 1)
            members: dict[int, list[int]] = {}
            for v, q in enumerate(Q):
                members.setdefault(q, []).append(v)
            # every block of Q contributes no deviation node, or two or more
            options = []
            for nodes in members.values():
                opts: list[tuple[int, ...]] = [()]
                for size in range(2, len(nodes) + 1):
                    opts += list(itertools.combinations(nodes, size))
                options.append(opts)
            for choice in itertools.product(*options):
                colors = [0] * n
                label = 0
                for part in choice:
                    if part:
                        label += 1
                        for v in part:
                            colors[v] = label
                d = table.from_nodes(parents, colors)
                d, _ = canonical_decorated(table, d)
                out[d] = out.get(d, zero) + weight
    return {d: c for d, c in out.items() if c}


def decorated_sigma(table: ColoredTreeTable, i: int) -> int:
    """Symmetry of a decorated tree: automorphisms that keep the root, map $g$-nodes
    to $g$-nodes and deviation blocks onto deviation blocks."""
    _, stab = canonical_decorated(table, i)
    return table.sigma[i] * stab


def blocks_of(table: ColoredTreeTable, i: int) -> int:
    """The number of deviation blocks of decorated tree `i`."""
    return len({c for c in table.colors(i) if c > 0})


def relabel_by_appearance(table: ColoredTreeTable, i: int) -> int:
    """Decorated tree `i` with blocks numbered by first appearance (depth first)."""
    nodes = table.nodes(i)
    colors = [c for c, _ in nodes]
    blocks = canonical_blocks([c for c in colors if c > 0])
    it = iter(blocks)
    new = [0 if c == 0 else next(it) + 1 for c in colors]
    return table.from_nodes([p for _, p in nodes], new)
