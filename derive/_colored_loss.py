"""Which terms of a mini-batch flow are gradients, and its modified loss where they are.

The test of `derive._modified_loss` carries over to colored trees: a vertex of color
$c$ contracts the symmetric tensor $\\nabla^{\\deg v} \\ell_c$ of its own loss, so for a
colored free tree $\\tau$ with scalar $S(\\tau)$ still $\\nabla S(\\tau) = (-1)^n
|\\mathrm{Aut}\\,\\tau| \\sum_{t \\sim \\tau} F(t)/\\sigma(t)$, the sum over the
colored rootings. A term $\\sum_{|t| = n} b(t)/\\sigma(t)\\, F(t)$ is therefore
$-\\nabla \\tilde f_n$ with $\\tilde f_n = (-1)^{n+1} \\sum_\\tau b_\\tau
S(\\tau)/|\\mathrm{Aut}\\,\\tau|$ exactly when $b$ is constant on the rootings of every
colored free tree. For the deviation form of an expectation, a tree is decorated (its
deviation blocks are unnamed, and averaged) and automorphisms may permute blocks; the
same statement holds with $\\sigma$ and $\\mathrm{Aut}$ counted that way, since
$\\langle \\cdot \\rangle$ is symmetric in the block indices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ._coefficients import Coefficient
from ._colored_trees import ColoredTreeTable
from ._modified_loss import GradientTest, gradient_of_classes

__all__ = ["colored_free_class", "colored_gradient_test"]


def colored_free_class(
    table: ColoredTreeTable, i: int, canonical: Callable[[int], int]
) -> tuple[int, list[int]]:
    """The colored free tree of rooted tree `i`: `(representative, rootings)`, every
    rooting passed through `canonical`; the representative has the most children at
    the root (ties: canonical order)."""
    nodes = table.nodes(i)
    adj: list[list[int]] = [[] for _ in nodes]
    for v, (_, p) in enumerate(nodes):
        if p >= 0:
            adj[v].append(p)
            adj[p].append(v)
    colors = [c for c, _ in nodes]

    def rooted(v: int, parent: int) -> int:
        return table.lookup(colors[v], [rooted(w, v) for w in adj[v] if w != parent])

    rootings = [canonical(rooted(v, -1)) for v in range(len(nodes))]
    rep = min(
        set(rootings),
        key=lambda t: (-len(table.children[t]), table.canonical_key(t)),
    )
    return rep, rootings


def colored_gradient_test(
    table: ColoredTreeTable,
    n: int,
    b: Mapping[int, Coefficient],
    zero: Coefficient,
    canonical: Callable[[int], int],
    sigma: Callable[[int], int],
) -> GradientTest:
    """Decide whether $\\sum b(t)/\\sigma(t) F(t)$ over the trees with `n` nodes is a
    gradient; `b` holds the $\\sigma$-normalised coefficients of the (canonical) trees
    present, missing trees are zero."""
    classes: dict[int, list[int]] = {}
    seen: set[int] = set()
    for t in sorted(b, key=table.canonical_key):
        if t in seen or table.size[t] != n:
            continue
        rep, rootings = colored_free_class(table, t, canonical)
        members = sorted(set(rootings), key=table.canonical_key)
        seen.update(members)
        classes[rep] = members
    return gradient_of_classes(n, classes, b, zero, sigma)
