"""One epoch of a mini-batch optimizer as one map, on its slow manifold, over colored trees.

An epoch of $m$ steps, step $j$ using the gradient of batch $c_j$, is the optimizer's
program unrolled $m$ times with the gradient calls of step $j$ colored $c_j$. As for a
full-batch optimizer (see `derive._slow_manifold`), the auxiliary states (momentum)
lie on a slow invariant manifold $s_j = \\Psi_j(x)$ of the epoch map, and the position
follows the one-step map $x \\mapsto \\Phi(x)$, now a series over colored trees: a
gradient call of color $c$ at a point $B(a, x)$ has the coefficient $-\\prod_k a(t_k)$
on the trees $[t_1, \\dots, t_k]_c$ whose root has color $c$, and zero on the others
(Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed., III.2 and XV.3;
Araújo, Murua & Sanz-Serna, SIAM J. Numer. Anal. 34 (1997) for the colored algebra).
For each tree the unknowns solve the same linear system as in the full-batch case; its
matrix is that of the unrolled program, whose parasitic roots are the $m$-th powers of
one step's (e.g. $\\beta^m$ for heavy ball).

Coefficients are computed lazily, tree by tree, so the epoch map can be asked for any
colored tree, e.g. for trees colored by the *steps* of the epoch ($c_j = j$), from which
every batch order and every expectation over orders follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ._coefficients import (
    Coefficient,
    Field,
    RationalFunction,
    as_rational_function,
    field_for,
)
from ._colored_trees import AdmissibleCut, ColoredTreeTable, colored_tree_table
from ._errors import DeriveError
from ._recurrence import Combine, Grad, Recurrence
from ._slow_manifold import _analyse, _at_h, _determinant, _inverse

__all__ = ["unroll", "EpochMap"]


def unroll(rec: Recurrence, steps: int) -> tuple[Recurrence, tuple[int, ...]]:
    """The program of `steps` consecutive steps of `rec`, and the step (0-based) of each
    of its gradient calls, in program order.

    !!! example
        ```python
        >>> import derive
        >>> from derive._epoch import unroll
        >>> epoch, steps = unroll(derive.gd(), 3)
        >>> epoch.n_grad_calls, steps
        (3, (0, 1, 2))

        ```
    """
    if steps < 1:
        raise DeriveError(f"an epoch has at least one step, got {steps}.", "")
    s = len(rec.states)
    instructions: list[Combine | Grad] = []
    grad_step: list[int] = []
    current = list(range(s))
    n_values = s
    for step in range(steps):
        local = list(current)
        for ins in rec.instructions:
            if isinstance(ins, Grad):
                instructions.append(Grad(local[ins.arg]))
                grad_step.append(step)
            else:
                instructions.append(Combine(tuple((local[v], c) for v, c in ins.terms)))
            local.append(n_values)
            n_values += 1
        current = [local[o] for o in rec.outputs]
    epoch = replace(
        rec,
        name=f"{rec.name} ({steps} steps)",
        instructions=tuple(instructions),
        outputs=tuple(current),
    )
    return epoch, tuple(grad_step)


class EpochMap:
    """The epoch map of `rec` over `steps` steps on its slow manifold, over colored trees.

    **Arguments:**

    - `rec`: the optimizer (one step).
    - `colors`: the color of each step's gradient calls (length = number of steps).
    - `table`: the colored tree table (default: the shared one).
    - `per_call`: run the program once and give each gradient call its own color
      (`colors` in program order), e.g. for an additive Runge-Kutta method.

    `phi(i)` is the coefficient of colored tree `i` in $\\Phi$ (position after the
    epoch), `psi(j, i)` that of state `j` on the manifold; both over `field` (at
    $h = 1$ with `weights` when `homogeneous`, as in `derive._slow_manifold`).

    !!! example
        ```python
        >>> import derive
        >>> from derive._epoch import EpochMap
        >>> epoch = EpochMap(derive.gd(), colors=(1, 2))   # g_1 first, then g_2
        >>> t = epoch.table
        >>> str(epoch.phi(t.index_of("[[]_1]_2"))), str(epoch.phi(t.index_of("[[]_2]_1")))
        ('1', '0')

        ```
    """

    def __init__(
        self,
        rec: Recurrence,
        colors: Sequence[int],
        table: ColoredTreeTable | None = None,
        *,
        per_call: bool = False,
    ):
        self.recurrence = rec
        self.colors = tuple(int(c) for c in colors)
        self.table = colored_tree_table() if table is None else table
        if per_call:  # one pass of the program, a color for each gradient call
            if len(self.colors) != rec.n_grad_calls:
                raise DeriveError(
                    f"{len(self.colors)} colors for {rec.n_grad_calls} gradient calls.",
                    "Give one color per gradient call, in program order.",
                )
            epoch, grad_step = rec, tuple(range(rec.n_grad_calls))
        else:
            epoch, grad_step = unroll(rec, len(self.colors))
        self.epoch = epoch
        W, alpha, homogeneous, weights = _analyse(epoch)
        self.homogeneous = homogeneous
        self.weights = weights
        m = len(epoch.states)
        K: Field = field_for(epoch.parameters) if homogeneous else epoch.field

        def conv(c: RationalFunction) -> Coefficient:
            return _at_h(c, K) if homogeneous else c

        self.field = K
        zero, one = K.zero, K.one
        self._zero, self._one = zero, one
        self.W = [[conv(c) if c else zero for c in row] for row in W]
        self.alpha = [conv(a) if a else zero for a in alpha]
        # per instruction: (argument, color) of a gradient call, or the terms of a
        # combination
        instr: list[tuple[int, int] | list[tuple[int, Coefficient]]] = []
        g = 0
        for ins in epoch.instructions:
            if isinstance(ins, Grad):
                instr.append((ins.arg, self.colors[grad_step[g]]))
                g += 1
            else:
                instr.append([(v, conv(c)) for v, c in ins.terms])
        self._instr = instr
        out0 = epoch.outputs[0]
        L = [[zero] * m for _ in range(m)]
        L[0][0] = one
        for k in range(1, m):
            L[0][k] = -self.W[out0][k]
        for j in range(1, m):
            L[j][0] = self.alpha[j]
            for k in range(1, m):
                L[j][k] = (one if j == k else zero) - self.W[epoch.outputs[j]][k]
        det = _determinant(L, K)
        singular = not det
        if not singular and not homogeneous:
            try:
                det_h = as_rational_function(det)  # over Q(parameters, h)
                singular = not _at_h(det_h, field_for(epoch.parameters), 0)
            except ZeroDivisionError:
                singular = True
        if singular:
            raise DeriveError(
                f"one epoch of {rec.name!r} has no slow manifold at these parameters: a "
                "second root of its characteristic polynomial is at 1 (for momentum "
                "methods: the momentum never forgets, e.g. beta = 1 or mu = 1).",
                "Choose parameters with every parasitic root strictly inside the unit "
                "circle (e.g. 0 <= mu < 1), or keep them symbolic.",
            )
        self.determinant = det
        self._Linv = _inverse(L, K)
        self._m = m
        self._nvals = m + len(instr)
        self._full: dict[int, list[Coefficient]] = {}

    # ------------------------------------------------------------------ solving
    def values(self, i: int) -> list[Coefficient]:
        """Coefficients of tree `i` in every value of the unrolled program."""
        got = self._full.get(i)
        if got is not None:
            return got
        table = self.table
        kids = table.children[i]
        for k in set(kids):
            self.values(k)
        active = range(1, self._m)
        cuts: list[AdmissibleCut] = table.admissible_cuts(i) if self._m > 1 else []
        for root, forest, _ in cuts:
            if root != i:
                self.values(root)
            for p in forest:
                self.values(p)
        zero, one = self._zero, self._one
        full = self._full
        known = [zero] * self._nvals
        color = table.color[i]
        m = self._m
        for pos, ins in enumerate(self._instr):
            v = m + pos
            if isinstance(ins, tuple):
                arg, c = ins
                if c != color:
                    continue
                prod = -one
                for k in kids:
                    prod = prod * full[k][arg]
                    if not prod:
                        break
                known[v] = prod
            else:
                acc = zero
                for u, coef in ins:
                    if known[u]:
                        acc = acc + coef * known[u]
                known[v] = acc
        outputs = self.epoch.outputs
        rhs = [known[out] for out in outputs]
        out0 = outputs[0]
        for j in active:
            r = zero
            for root, forest, mult in cuts:
                if root == i:
                    continue
                term = full[root][j]
                if not term:
                    continue
                for p in forest:
                    term = term * full[p][out0]
                    if not term:
                        break
                else:
                    r = r + term * mult
            rhs[j] = rhs[j] - r
        Linv = self._Linv
        z = [
            sum((Linv[a][b] * rhs[b] for b in range(m) if rhs[b] and Linv[a][b]), zero)
            for a in range(m)
        ]
        s = [zero] + z[1:]
        W = self.W
        vals = []
        for v in range(self._nvals):
            val = known[v]
            row = W[v]
            for k in range(1, m):
                if row[k] and s[k]:
                    val = val + row[k] * s[k]
            vals.append(val)
        full[i] = vals
        return vals

    def phi(self, i: int) -> Coefficient:
        """Coefficient of colored tree `i` in the position after the epoch."""
        return self.values(i)[self.epoch.outputs[0]]

    def psi(self, j: int, i: int) -> Coefficient:
        """Coefficient of colored tree `i` in state `j` on the slow manifold."""
        return self.values(i)[j] if j else self._zero
