"""The slow manifold and the modified field of a componentwise optimizer, order by order.

With states $(x, s_1, \\dots, s_{m-1})$, seek the modified field
$F = F_0 + h F_1 + \\dots$ and the states on the slow manifold
$s_j = \\Psi_j(x) = \\psi_{j,0}(x) + h \\psi_{j,1}(x) + \\dots$ such that one step of the
program from $(x, \\Psi(x))$ lands on $(\\Phi_h(x), \\Psi(\\Phi_h(x)))$, where
$\\Phi_h = \\exp(h L_F)$ is the time-$h$ flow of $F$ (Hairer, Lubich & Wanner,
*Geometric Numerical Integration*, ch. IX and XV; Kovachki & Stuart, JMLR 22 (2021)).
The composition is a Lie series, $\\Psi_j(\\Phi_h(x)) = \\sum_n \\frac{h^n}{n!}
L_F^n \\Psi_j$ with $L_F E = D E[F]$, so no separate logarithm is needed.

- Order 0: the program at $h = 0$ with unknown states $U_j$; each state's equation
  $s_j^+ = U_j$ is linear in the $U$'s it involves (with coefficients that are
  elementwise functions, e.g. $\\beta_2$); equations are solved as soon as every
  state they involve can be ($m = \\mp g$ first, then what depends on it), and
  $x^+ = x$ is checked.
- Order $k \\ge 1$: the program's order-$k$ coefficient is linear in the unknowns
  $\\psi_{j,k}$, with the matrix of the state update at $h = 0$ (e.g.
  $\\operatorname{diag}(\\beta_1, \\beta_2)$); together with $F_{k-1}$ they solve one
  linear system, whose pivots ($1 - \\beta_1$, $1 - \\beta_2$) must not vanish:
  $\\beta = 1$ has no slow manifold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial

import flint

from .._errors import DeriveError
from .._recurrence import Recurrence
from .expressions import Calculus, Expression
from .functions import Function, FunctionAlgebra
from .series import ProgramSeries

__all__ = ["Solution", "solve"]


@dataclass
class Solution:
    """The result of [`solve`][derive._componentwise.solve.solve].

    - `fields[k]`: $F_k$, the coefficient of $h^k$ of the modified field.
    - `manifold[j][k]`: $\\psi_{j,k}$ (`manifold[0]` is the position: $x$).
    - `pivots`: the pivots of the linear systems (their zeros are where the slow
      manifold does not exist).
    - `position_like[j]`: whether state $j$ is $\\alpha_j x + O(h)$ on the manifold.
    """

    recurrence: Recurrence
    calculus: Calculus
    order: int
    fields: list[Expression]
    manifold: list[list[Expression]]
    pivots: list[Function] = field(default_factory=list)
    position_like: list[bool] = field(default_factory=list)

    @property
    def algebra(self) -> FunctionAlgebra:
        return self.calculus.algebra


def solve(rec: Recurrence, order: int) -> Solution:
    """$F_0, \\dots, F_{\\text{order}}$ and the slow manifold through `order`."""
    alg = FunctionAlgebra(rec.parameters)
    calc = Calculus(alg)
    return _Solver(rec, calc, order).run()


def _singular(rec: Recurrence) -> DeriveError:
    values = ", ".join(f"{k} = {v}" for k, v in rec.values.items()) or "all symbolic"
    return DeriveError(
        f"the recurrence {rec.name!r} has no slow manifold at these parameters "
        f"({values}): a state's update does not forget its past (its weight at h = 0 "
        "is 1, e.g. beta = 1, beta1 = 1 or beta2 = 1), so the moment states cannot be "
        "written as functions of x.",
        "Choose every averaging parameter strictly below 1 (e.g. --param beta2=0.999),"
        " or keep it symbolic.",
    )


class _Solver:
    def __init__(self, rec: Recurrence, calc: Calculus, order: int):
        self.rec = rec
        self.calc = calc
        self.order = order
        self.m = len(rec.states)
        self.series = ProgramSeries(rec, calc, order + 1)
        self.fields: list[Expression] = []
        self.manifold: list[list[Expression]] = [[calc.x]] + [
            [] for _ in range(self.m - 1)
        ]
        self.pivots: list[Function] = []
        self._lie: dict[tuple[int, int, int], Expression] = {}
        self.alpha: list[Function | None] = []

    # ------------------------------------------------------------------ linear algebra
    def linear_solve(
        self, matrix: list[list[Function]], rhs: list[Expression]
    ) -> list[Expression]:
        """Gaussian elimination over the elementwise functions (a field)."""
        calc = self.calc
        n = len(rhs)
        a = [list(row) for row in matrix]
        b = list(rhs)
        for c in range(n):
            p = next((r for r in range(c, n) if not a[r][c].is_zero()), None)
            if p is None:
                raise _singular(self.rec)
            a[c], a[p] = a[p], a[c]
            b[c], b[p] = b[p], b[c]
            pivot = a[c][c]
            if pivot.is_constant():
                if not pivot.constant_value():
                    raise _singular(self.rec)
            else:
                calc.algebra.require_nonzero(pivot)
            self.pivots.append(pivot)
            inv = pivot.inverse()
            a[c] = [x * inv for x in a[c]]
            b[c] = calc.times_function(b[c], inv)
            for r in range(n):
                if r != c and not a[r][c].is_zero():
                    f = a[r][c]
                    a[r] = [x - f * y for x, y in zip(a[r], a[c], strict=True)]
                    b[r] = calc.sub(b[r], calc.times_function(b[c], f))
        return b

    # ------------------------------------------------------------------ Lie series
    def lie(self, j: int, n: int, m: int) -> Expression:
        """The coefficient of $h^m$ in $L_F^n \\Psi_j$ (complete: uses $F_{\\le m}$)."""
        if n == 0:
            col = self.manifold[j]
            return col[m] if m < len(col) else self.calc.zero
        key = (j, n, m)
        got = self._lie.get(key)
        if got is None:
            got = self.calc.add(
                self.calc.zero,
                *(
                    self.calc.derivative(self.lie(j, n - 1, m - i), self.fields[i])
                    for i in range(m + 1)
                ),
            )
            self._lie[key] = got
        return got

    def composition_known(self, j: int, k: int) -> Expression:
        """$[\\Psi_j(\\Phi_h(x))]_k$ without $\\psi_{j,k}$ and $D\\psi_{j,0}[F_{k-1}]$."""
        calc = self.calc
        parts = []
        # n = 1: sum_{i <= k-2} D psi_{j, k-1-i}[F_i]
        for i in range(k - 1):
            parts.append(calc.derivative(self.lie(j, 0, k - 1 - i), self.fields[i]))
        for n in range(2, k + 1):
            term = self.lie(j, n, k - n)
            if term.terms:
                parts.append(calc.scale(term, flint.fmpq(1, factorial(n))))
        return calc.add(calc.zero, *parts)

    # ------------------------------------------------------------------ order 0
    def order_zero(self) -> None:
        calc = self.calc
        rec = self.rec
        solved: dict[int, Expression] = {}
        while True:
            states = [calc.x] + [
                solved.get(j, calc.unknown(j)) for j in range(1, self.m)
            ]
            self.series.evaluate(0, states)
            pending = [j for j in range(1, self.m) if j not in solved]
            if not pending:
                break
            eqs: dict[int, tuple[Expression, dict[int, Function]]] = {}
            for j in pending:
                out = self.series.value(rec.outputs[j], 0)
                if out is None:
                    continue
                lin = calc.linear_in_unknowns(out)
                if lin is not None:
                    eqs[j] = lin
            closed = set(eqs)
            changed = True
            while changed:
                changed = False
                for j in list(closed):
                    if set(eqs[j][1]) - closed:
                        closed.discard(j)
                        changed = True
            if not closed:
                raise DeriveError(
                    f"the states {[rec.states[j] for j in pending]} of {rec.name!r} are "
                    "not determined on the slow manifold: at h = 0 their update is not "
                    "linear in them (or it leaves them free, e.g. s+ = s).",
                    "Make every auxiliary state an average that forgets its past, e.g. "
                    "v = beta2*v + (1 - beta2)*g*g with beta2 < 1.",
                )
            order = sorted(closed)
            alg = calc.algebra
            matrix = [
                [
                    (alg.one if i == j else alg.zero) - eqs[j][1].get(i, alg.zero)
                    for i in order
                ]
                for j in order
            ]
            sol = self.linear_solve(matrix, [eqs[j][0] for j in order])
            solved.update(zip(order, sol, strict=True))
        x0 = self.series.value(rec.outputs[0], 0)
        if x0 is None or x0.terms != calc.x.terms:
            raise DeriveError(
                f"the update of {rec.name!r} does not have the form x+ = x + O(h) on "
                "the slow manifold (at h = 0 the new position is not x), e.g. a "
                "weight-decay or momentum term without a factor h.",
                "Scale every change of x by h (x - h*(...)); decoupled weight decay is "
                "x - h*(update + wd*x).",
            )
        xi = calc.x_index
        for j in range(1, self.m):
            psi = solved[j]
            self.manifold[j].append(psi)
            x_part = {k: c for k, c in psi.terms.items() if xi in k}
            if not x_part:
                self.alpha.append(None)
            elif set(psi.terms) == {(xi,)} and psi.terms[(xi,)].is_constant():
                self.alpha.append(psi.terms[(xi,)])
            else:  # mixed: treated as a moment (its derivative is not a number)
                self.alpha.append(None)

    # ------------------------------------------------------------------ order k
    def order_k(self, k: int) -> None:
        calc = self.calc
        rec = self.rec
        alg = calc.algebra
        last = k == self.order + 1
        unknowns = [calc.zero] + [calc.unknown(j) for j in range(1, self.m)]
        self.series.evaluate(k, unknowns)
        x_out = self.series.value(rec.outputs[0], k)
        split = None if x_out is None else calc.linear_in_unknowns(x_out)
        if split is None:
            raise self._nonlinear_error()
        X0, A = split
        kx = calc.zero
        for n in range(2, k + 1):
            term = self.lie(0, n, k - n)
            if term.terms:
                kx = calc.add(kx, calc.scale(term, flint.fmpq(1, factorial(n))))
        base = calc.sub(X0, kx)  # F_{k-1} without the unknowns
        states = list(range(1, self.m))
        position = [j for j in states if self.alpha[j - 1] is not None]
        if any(j not in position for j in A):
            raise DeriveError(
                "the position's update depends at h = 0 on a moment state; its modified "
                "flow is outside the componentwise engine's scope.",
                "Write the position update as x + h*(...), or use the "
                "automatic-differentiation route (numerics.modified_field).",
            )
        eqs: dict[int, tuple[Expression, dict[int, Function]]] = {}
        need = states if not last else (position if A else [])
        for j in need:
            out = self.series.value(rec.outputs[j], k)
            lin = None if out is None else calc.linear_in_unknowns(out)
            if lin is None:
                raise self._nonlinear_error()
            eqs[j] = lin
        solved: dict[int, Expression] = {}
        if A:
            # the position-like block first: U_j + alpha_j (sum_l A_l U_l) - B U = rhs
            order = position
            for j in order:
                if any(i not in position for i in eqs[j][1]):
                    raise self._nonlinear_error()
            matrix = []
            rhs = []
            for j in order:
                aj = self.alpha[j - 1]
                assert aj is not None
                row = []
                for i in order:
                    entry = (alg.one if i == j else alg.zero) + aj * A.get(i, alg.zero)
                    row.append(entry - eqs[j][1].get(i, alg.zero))
                matrix.append(row)
                known = calc.add(
                    self.composition_known(j, k), calc.times_function(base, aj)
                )
                rhs.append(calc.sub(eqs[j][0], known))
            solved.update(zip(order, self.linear_solve(matrix, rhs), strict=True))
        F = calc.add(base, *(calc.times_function(solved[i], c) for i, c in A.items()))
        self.fields.append(F)
        rest = [j for j in need if j not in solved]
        if rest:
            matrix, rhs = [], []
            for j in rest:
                row = [
                    (alg.one if i == j else alg.zero) - eqs[j][1].get(i, alg.zero)
                    for i in rest
                ]
                matrix.append(row)
                r = calc.sub(eqs[j][0], self.composition_known(j, k))
                r = calc.sub(r, calc.derivative(self.lie(j, 0, 0), F))
                for i, c in eqs[j][1].items():
                    if i in solved:
                        r = calc.add(r, calc.times_function(solved[i], c))
                rhs.append(r)
            solved.update(zip(rest, self.linear_solve(matrix, rhs), strict=True))
        for j in need:
            self.manifold[j].append(solved[j])
        if not last:
            self.substitute(k, solved)

    def substitute(self, k: int, solved: dict[int, Expression]) -> None:
        """Coefficient `k` of every value, with the unknowns replaced by their values."""
        calc = self.calc
        states = [calc.zero] + [solved[j] for j in range(1, self.m)]
        col = self.series.values
        for v in range(self.series.n_values):
            e = col[v][k] if len(col[v]) > k else None
            if e is None:
                continue
            lin = calc.linear_in_unknowns(e)
            if lin is None:  # an unknown inside a derivative: evaluate again
                self.series.evaluate(k, states)
                return
            rest, coefs = lin
            col[v][k] = calc.add(
                rest, *(calc.times_function(solved[j], c) for j, c in coefs.items())
            )

    def _nonlinear_error(self) -> DeriveError:
        return DeriveError(
            f"at h = 0 the update of {self.rec.name!r} depends on its states other than "
            "through linear averages with weights that are functions of g (e.g. a "
            "gradient evaluated at a point that depends on a moment without a factor h)."
            " The componentwise engine cannot solve its slow manifold.",
            "Use the automatic-differentiation route (numerics.modified_field) for this "
            "optimizer.",
        )

    def run(self) -> Solution:
        self.order_zero()
        for k in range(1, self.order + 2):
            self.order_k(k)
        return Solution(
            recurrence=self.rec,
            calculus=self.calc,
            order=self.order,
            fields=self.fields,
            manifold=self.manifold,
            pivots=self.pivots,
            position_like=[True] + [a is not None for a in self.alpha],
        )
