"""Which terms of a modified flow are gradients, and the modified loss where they are.

Let $n$ be a number of nodes and $Y_n = \\sum_{|t| = n} b(t)/\\sigma(t)\\, F(t)$ a term of
a modified field of $g = -\\nabla f$. For a free (unrooted) tree $\\tau$ let $S(\\tau)$ be
the contraction of the symmetric tensors $\\nabla^{\\deg v} f$ over its edges ($f$ for
one vertex, $|\\nabla f|^2$ for an edge). Differentiating vertex by vertex gives
$\\nabla S(\\tau) = (-1)^n \\sum_{v} F(\\tau_v) = (-1)^n |\\mathrm{Aut}\\,\\tau|
\\sum_{t \\sim \\tau} F(t)/\\sigma(t)$, the sum over the rooted trees $t$ obtained by
rooting $\\tau$ at its vertices. Hence $Y_n = -\\nabla \\tilde f_n$ with

$$\\tilde f_n = (-1)^{n+1} \\sum_\\tau \\frac{b_\\tau}{|\\mathrm{Aut}\\,\\tau|} S(\\tau)$$

exactly when $b$ is constant ($= b_\\tau$) on the rootings of each free tree. This is
the gradient analogue of the Hamiltonian condition $b(u \\circ v) + b(v \\circ u) = 0$
(HLW Theorem IX.9.10), since rootings of one free tree are joined by the moves
$u \\circ v \\leftrightarrow v \\circ u$. When the condition fails, the term is not a gradient for a generic loss (the
elementary differentials are linearly independent for generic $f$); the test suite
confirms it on concrete losses, where the Jacobian of such a term is not symmetric.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from ._coefficients import Coefficient
from ._trees import TreeTable

__all__ = ["free_tree_class", "GradientTest", "gradient_test", "gradient_of_classes"]


def _adjacency(table: TreeTable, i: int) -> list[list[int]]:
    adj: list[list[int]] = []

    def build(t: int, parent: int | None) -> None:
        me = len(adj)
        adj.append([] if parent is None else [parent])
        if parent is not None:
            adj[parent].append(me)
        for c in table.children[t]:
            build(c, me)

    build(i, None)
    return adj


def _rooted(table: TreeTable, adj: list[list[int]], v: int, parent: int | None) -> int:
    return table.lookup(_rooted(table, adj, w, v) for w in adj[v] if w != parent)


def free_tree_class(table: TreeTable, i: int) -> tuple[int, list[int]]:
    """The free tree of rooted tree `i`: `(representative, rootings)`.

    `rootings[v]` is the rooted-tree index when the free tree is rooted at vertex `v`;
    the representative is the rooting with the most children at the root (ties: the
    smallest index), which prints most readably.
    """
    adj = _adjacency(table, i)
    rootings = [_rooted(table, adj, v, None) for v in range(len(adj))]
    rep = min(set(rootings), key=lambda t: (-len(table.children[t]), t))
    return rep, rootings


@dataclass(frozen=True)
class GradientTest:
    """Outcome for one power of $h$ (trees with `n` nodes).

    - `is_gradient`: whether the term is $-\\nabla$ of a combination of tree scalars.
    - `potential`: `(representative tree, coefficient)` pairs: the term is
      $-\\nabla \\sum c\\, S(\\tau)$ (only when `is_gradient`).
    - `obstruction`: for a non-gradient term, a free tree on whose rootings $b$ differs.
    """

    n: int
    is_gradient: bool
    potential: tuple[tuple[int, Coefficient], ...]
    obstruction: int | None


def gradient_test(
    table: TreeTable, n: int, b: dict[int, Coefficient], zero: Coefficient
) -> GradientTest:
    """Decide whether $\\sum_{|t|=n} b(t)/\\sigma(t) F(t)$ is a gradient (see module doc).

    `b` maps tree indices with `n` nodes to $\\sigma$-normalised coefficients $b(t)$.
    """
    classes: dict[int, list[int]] = {}
    seen: set[int] = set()
    for t in table.of_size(n):
        if t in seen:
            continue
        rep, rootings = free_tree_class(table, t)
        members = sorted(set(rootings))
        seen.update(members)
        classes[rep] = members
    return gradient_of_classes(n, classes, b, zero, table.sigma.__getitem__)


def gradient_of_classes(
    n: int,
    classes: Mapping[int, Sequence[int]],
    b: Mapping[int, Coefficient],
    zero: Coefficient,
    sigma: Callable[[int], int],
) -> GradientTest:
    """The test of the module doc once the trees with `n` nodes are grouped into free
    trees: `classes` maps each free tree's representative to its rootings, `sigma`
    gives their symmetries, `b` their $\\sigma$-normalised coefficients (missing: zero).
    Shared by plain and colored trees (`derive._colored_loss`)."""
    potential: list[tuple[int, Coefficient]] = []
    sign = 1 if (n + 1) % 2 == 0 else -1
    for rep, members in classes.items():
        vals = [b.get(u, zero) for u in members]
        first = vals[0]
        if any(v != first for v in vals[1:]):
            return GradientTest(n, False, (), rep)
        if first:
            # |Aut tau| = n / sum_{t ~ tau} 1/sigma(t)
            aut = Fraction(n) / sum(Fraction(1, sigma(u)) for u in members)
            potential.append((rep, first * sign * aut.denominator / aut.numerator))
    return GradientTest(n, True, tuple(potential), None)
