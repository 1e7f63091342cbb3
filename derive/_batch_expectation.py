"""Expectations of an epoch map over the order of its batches.

Write the epoch map over colored trees whose colors are the *steps* of the epoch
(`derive._epoch.EpochMap` with step $s$ colored $s$): $\\Phi = \\sum_{\\text{shapes } s}
\\sigma(s)^{-1} \\sum_{S: V \\to [m]} \\varphi(s, S)\\, F(s, c \\circ S)$, where $V$ are the
labelled nodes of the shape, $S$ says at which step each node's gradient is taken and
$c_j$ is the batch of step $j$. Averaging over the batch sequence $c$ gives, for the
colored tree $(s, P)$ whose node colors form the partition $P$ of $V$ (equal colors =
same batch, different colors = different batches),

- random reshuffling ($c$ a uniform permutation of the $m$ batches):
  $a(s, P) = \\frac{1}{(m)_k} \\sum_{\\beta} \\varphi(s, \\beta \\circ P)$ over the
  injective maps $\\beta$ from the $k$ blocks of $P$ to the steps;
- sampling with replacement ($c_j$ independent and uniform):
  $a(s, P) = \\sum_{T \\le P} m^{-|T|} \\sum_{\\beta} \\varphi(s, \\beta \\circ T)$ over
  the refinements $T$ of $P$ (nodes sharing a step share a batch).

For plain SGD, $\\varphi(s, S) = 1$ when every child's step precedes its parent's and
0 otherwise (the epoch is an explicit Runge-Kutta method with $a_{ij} = 1$ for $j < i$,
$b_i = 1$), so both sums have closed forms valid for every $m$, also a symbolic one:
$a(s, P) = e(P)/k!$ for reshuffling, with $e(P)$ the number of linear extensions of the
order the edges induce on the blocks, and $a(s, P) = \\sum_T \\binom{m}{|T|} e(T)
m^{-|T|}$ with replacement. For other optimizers the sums are taken explicitly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, TypeAlias

from ._coefficients import Coefficient, Field
from ._colored_trees import ColoredTreeTable
from ._errors import DeriveError

if TYPE_CHECKING:
    from ._epoch import EpochMap

__all__ = [
    "ExpectedEpoch",
    "set_partitions",
    "linear_extensions",
    "is_euler_like",
]

SAMPLINGS = ("shuffle", "replacement", "fixed")
MAX_TERMS = 400_000
"""The largest number of step assignments summed for one tree (general optimizers)."""

EpochMapFactory: TypeAlias = "Callable[[tuple[int, ...]], EpochMap]"
"""`colors -> EpochMap`: the optimizer's epoch map with step `j` colored `colors[j]`."""


@cache
def set_partitions(n: int) -> tuple[tuple[int, ...], ...]:
    """All partitions of `n` elements as restricted growth strings (block of each
    element, blocks numbered by first appearance).

    !!! example
        ```python
        >>> from derive._batch_expectation import set_partitions
        >>> set_partitions(3)
        ((0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (0, 1, 2))

        ```
    """
    out: list[tuple[int, ...]] = []

    def grow(prefix: list[int], top: int) -> None:
        if len(prefix) == n:
            out.append(tuple(prefix))
            return
        for b in range(top + 2):
            grow([*prefix, b], max(top, b))

    if n == 0:
        return ((),)
    grow([0], 0)
    return tuple(out)


def canonical_blocks(labels: Sequence[int]) -> tuple[int, ...]:
    """Relabel blocks by first appearance: `(3, 1, 3)` -> `(0, 1, 0)`."""
    seen: dict[int, int] = {}
    return tuple(seen.setdefault(x, len(seen)) for x in labels)


def refinements(blocks: Sequence[int]) -> list[tuple[int, ...]]:
    """Every partition that refines the partition `blocks` (as restricted growth
    strings)."""
    members: dict[int, list[int]] = {}
    for v, b in enumerate(blocks):
        members.setdefault(b, []).append(v)
    groups = list(members.values())
    out = []
    for parts in itertools.product(*(set_partitions(len(g)) for g in groups)):
        labels = [0] * len(blocks)
        offset = 0
        for g, p in zip(groups, parts, strict=True):
            for v, b in zip(g, p, strict=True):
                labels[v] = offset + b
            offset += max(p) + 1
        out.append(canonical_blocks(labels))
    return out


def linear_extensions(k: int, edges: set[tuple[int, int]]) -> int:
    """The number of orderings of `k` items in which `a` comes before `b` for every
    `(a, b)` in `edges` (0 for a cycle or a loop).

    !!! example
        ```python
        >>> from derive._batch_expectation import linear_extensions
        >>> linear_extensions(3, {(0, 2), (1, 2)}), linear_extensions(2, {(0, 1), (1, 0)})
        (2, 0)

        ```
    """
    if any(a == b for a, b in edges):
        return 0
    before = [0] * k
    for a, b in edges:
        before[b] |= 1 << a
    count = [0] * (1 << k)
    count[0] = 1
    for mask in range(1 << k):
        if not count[mask]:
            continue
        for v in range(k):
            if not mask >> v & 1 and before[v] & ~mask == 0:
                count[mask | 1 << v] += count[mask]
    return count[(1 << k) - 1]


def _edges(parents: Sequence[int], labels: Sequence[int]) -> set[tuple[int, int]]:
    """child block -> parent block for every edge (the child's step comes first)."""
    return {(labels[v], labels[p]) for v, p in enumerate(parents) if p >= 0}


def is_euler_like(epoch_map_factory: EpochMapFactory, max_nodes: int) -> bool:
    """Whether one step of the optimizer is exactly $x + h g(x)$ (plain SGD): one
    state, and the one-step map has coefficient 1 on the leaf and 0 on every larger
    tree up to `max_nodes` nodes (`epoch_map_factory(colors)` builds the map)."""
    step = epoch_map_factory((0,))
    if len(step.epoch.states) != 1 or not step.homogeneous:
        return False
    table = step.table
    for t in table.up_to(max_nodes, (0,)):
        c = step.phi(t)
        if c != (1 if table.size[t] == 1 else 0):
            return False
    return True


class ExpectedEpoch:
    """$a(t) = \\mathbb{E}[\\Phi](t)$ on colored trees whose colors are distinct batches.

    **Arguments:**

    - `epoch_map_factory`: `colors -> EpochMap` for the optimizer.
    - `batches`: $m$, an int, or the field's generator `m` (plain SGD only).
    - `sampling`: `"shuffle"` or `"replacement"`.
    - `field`: the coefficient field of the result.
    - `euler`: use the closed forms of plain SGD.
    - `table`: the colored tree table.
    """

    def __init__(
        self,
        epoch_map_factory: EpochMapFactory,
        batches: int | Coefficient,
        sampling: str,
        field: Field,
        euler: bool,
        table: ColoredTreeTable,
    ):
        if sampling not in ("shuffle", "replacement"):
            raise DeriveError(
                f"unknown sampling {sampling!r} for an expectation.",
                "Use 'shuffle' or 'replacement'.",
            )
        self.sampling = sampling
        self.field = field
        self.table = table
        self.euler = euler
        self.m = batches
        self._memo: dict[int, Coefficient] = {}
        # the epoch map with step j colored j, and the number of batches (not euler)
        self._steps: tuple[EpochMap, int] | None = None
        if not euler:
            if not isinstance(batches, int):
                raise DeriveError(
                    "a symbolic number of batches works only for plain SGD "
                    "(x+ = x - h grad f_k(x)).",
                    "Give the number of batches as a whole number.",
                )
            steps = epoch_map_factory(tuple(range(batches)))
            self._steps = (steps, batches)
            self.field = steps.field

    @property
    def steps(self) -> EpochMap | None:
        """The epoch map with step `j` colored `j` (`None` for plain SGD, whose
        closed forms need none)."""
        return None if self._steps is None else self._steps[0]

    def __call__(self, i: int) -> Coefficient:
        got = self._memo.get(i)
        if got is None:
            got = self._compute(i)
            self._memo[i] = got
        return got

    # ---------------------------------------------------------------- helpers
    def _falling(self, k: int) -> Coefficient:
        """$(m)_k = m (m-1) \\cdots (m-k+1)$ as a field element."""
        F = self.field
        out = F.one
        m = self.m if not isinstance(self.m, int) else F.convert(self.m)
        for j in range(k):
            out = out * (m - j)
        return out

    def _power(self, k: int) -> Coefficient:
        F = self.field
        m = self.m if not isinstance(self.m, int) else F.convert(self.m)
        return m**k if k else F.one

    def _compute(self, i: int) -> Coefficient:
        table, F = self.table, self.field
        nodes = table.nodes(i)
        parents = [p for _, p in nodes]
        labels = canonical_blocks([c for c, _ in nodes])
        k = max(labels) + 1
        if self._steps is None:  # plain SGD: the closed forms
            if self.sampling == "shuffle":
                e = linear_extensions(k, _edges(parents, labels))
                return F.convert(e) / math.factorial(k) if e else F.zero
            total = F.zero
            for T in refinements(labels):
                e = linear_extensions(max(T) + 1, _edges(parents, T))
                if e:
                    j = max(T) + 1
                    # C(m, j) e(T) / m^j
                    total = total + self._falling(j) * e / (
                        math.factorial(j) * self._power(j)
                    )
            return total
        steps, m = self._steps
        if self.sampling == "shuffle":
            if k > m:
                return F.zero
            _check_cost(math.perm(m, k), table.bracket(i))
            total = F.zero
            for beta in itertools.permutations(range(m), k):
                t = table.from_nodes(parents, [beta[b] for b in labels])
                total = total + steps.phi(t)
            return total / self._falling(k)
        total = F.zero
        for T in refinements(labels):
            j = max(T) + 1
            if j > m:
                continue
            _check_cost(math.perm(m, j), table.bracket(i))
            part = F.zero
            for beta in itertools.permutations(range(m), j):
                t = table.from_nodes(parents, [beta[b] for b in T])
                part = part + steps.phi(t)
            total = total + part / self._power(j)
        return total


def _check_cost(n: int, tree: str) -> None:
    if n > MAX_TERMS:
        raise DeriveError(
            f"the expectation over batch orders needs {n} step assignments for the tree "
            f"{tree}: too many for an exact sum with this optimizer (the closed form is "
            "for plain SGD only).",
            "Use fewer batches or a lower order, or sampling='fixed'.",
        )
