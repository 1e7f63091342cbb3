"""The values of a program as power series in $h$, one order at a time.

Every value $v$ of the optimizer's program, run from a state on the slow manifold, is a
series $v = v_0 + h v_1 + h^2 v_2 + \\dots$ whose coefficients are vector fields
([`Expression`][derive._componentwise.expressions.Expression]). Order $k$ is computed
from orders below it (Taylor mode):

- affine combinations: the coefficients (rational in $h$) are expanded in $h$;
- $\\nabla f(y)$ at $y = x + \\sum_{i \\ge 1} h^i y_i$: $-\\sum_n \\frac1{n!}
  g^{(n)}[\\delta, \\dots, \\delta]$ with $\\delta = y - x$, collected by order;
- $a \\odot b$: the Cauchy product;
- $a^r$, $e^a$, $\\log a$, $|a|$: the recurrences of Taylor-mode differentiation,
  e.g. $p_k = \\frac{1}{k a_0} \\sum_{j=1}^{k} ((r+1) j - k)\\, a_j p_{k-j}$ for
  $p = a^r$ (Griewank & Walther, *Evaluating Derivatives*, 2nd ed., ch. 13), which
  need the leading value $a_0$ to be an elementwise function of $g$ (a value at
  $h = 0$ on the slow manifold) and, for $r \\notin \\mathbb{N}$, nonzero.

At order 0 a value may still depend on states whose manifold is not solved yet; it is
then left undetermined (`None`) and computed again once they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from .._coefficients import Coefficient
from .._errors import DeriveError
from .._recurrence import Combine, Grad, Recurrence
from .._series_h import h_series
from .expressions import Calculus, Expression
from .functions import Function
from .ir import Apply, Constant, Multiply, Power

__all__ = ["ProgramSeries", "partitions"]

_MAX_POWER_PRODUCTS = 16


def partitions(k: int) -> list[list[int]]:
    """The partitions of `k` into positive parts (non-increasing)."""
    out: list[list[int]] = []

    def rec(rest: int, top: int, acc: list[int]) -> None:
        if rest == 0:
            out.append(list(acc))
            return
        for p in range(min(rest, top), 0, -1):
            acc.append(p)
            rec(rest - p, p, acc)
            acc.pop()

    rec(k, k, [])
    return out


def _multiplicity_weight(parts: Sequence[int]) -> Fraction:
    w = Fraction(1)
    for p in set(parts):
        n = parts.count(p)
        for i in range(2, n + 1):
            w /= i
    return w


class ProgramSeries:
    """The program's values as series in $h$, filled order by order.

    **Arguments:**

    - `recurrence`: the optimizer.
    - `calculus`: the vector calculus of this derivation.
    - `upto`: the highest order that will be asked for.
    """

    def __init__(self, recurrence: Recurrence, calculus: Calculus, upto: int):
        self.rec = recurrence
        self.calc = calculus
        self.upto = upto
        m = len(recurrence.states)
        self.n_values = m + len(recurrence.program)
        self.values: list[list[Expression | None]] = [[] for _ in range(self.n_values)]
        self._coefficients: dict[int, list[list[Coefficient]]] = {}
        self._aux: dict[int, list[list[Expression | None]]] = {}
        self._leading: dict[int, tuple[Function, Function]] = {}

    def value(self, v: int, k: int) -> Expression | None:
        return self.values[v][k]

    def _set(self, v: int, k: int, e: Expression | None) -> None:
        col = self.values[v]
        if len(col) <= k:
            col.extend([None] * (k + 1 - len(col)))
        col[k] = e

    def _series(self, pos: int, ins: Combine) -> list[list[Coefficient]]:
        got = self._coefficients.get(pos)
        if got is None:
            got = [h_series(c, self.rec.parameters, self.upto) for _, c in ins.terms]
            self._coefficients[pos] = got
        return got

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, k: int, states: Sequence[Expression]) -> None:
        """Set coefficient `k` of every value, from the states' coefficient `k`."""
        m = len(self.rec.states)
        if k == 0:
            self._leading.clear()
        for j in range(m):
            self._set(j, k, states[j])
        for pos, ins in enumerate(self.rec.program):
            v = m + pos
            self._set(v, k, self._instruction(pos, ins, k))

    def _get(self, v: int, j: int) -> Expression | None:
        return self.values[v][j]

    def _instruction(self, pos: int, ins: object, k: int) -> Expression | None:
        calc = self.calc
        if isinstance(ins, Combine):
            series = self._series(pos, ins)
            parts = []
            for (u, _), cs in zip(ins.terms, series, strict=True):
                for i in range(k + 1):
                    c = cs[i]
                    if not c:
                        continue
                    val = self._get(u, k - i)
                    if val is None:
                        return None
                    parts.append(calc.scale(val, c))
            return calc.add(calc.zero, *parts)
        if isinstance(ins, Grad):
            return self._grad(ins.arg, k)
        if isinstance(ins, Constant):
            return calc.one if k == 0 else calc.zero
        if isinstance(ins, Multiply):
            parts = []
            for j in range(k + 1):
                a, b = self._get(ins.a, j), self._get(ins.b, k - j)
                if a is None or b is None:
                    return None
                parts.append(calc.hadamard(a, b))
            return calc.add(calc.zero, *parts)
        if isinstance(ins, Power):
            return self._power(pos, ins, k)
        if isinstance(ins, Apply):
            return self._apply(pos, ins, k)
        raise TypeError(f"unknown instruction {ins!r}")  # pragma: no cover

    def _grad(self, arg: int, k: int) -> Expression | None:
        calc = self.calc
        y0 = self._get(arg, 0)
        if y0 is None:
            return None
        if k == 0:
            if calc.has_unknowns(y0):
                return None
            if y0.terms != calc.x.terms:
                raise DeriveError(
                    "grad is evaluated at a point that is not x + O(h) on the slow "
                    "manifold, so the gradient cannot be expanded around x.",
                    "Evaluate gradients at x plus small corrections, e.g. grad(x) or "
                    "grad(x - h*m).",
                )
            return calc.function(calc.algebra.g().negated())
        ys = [self._get(arg, i) for i in range(1, k + 1)]
        if any(y is None for y in ys):
            return None
        parts = []
        for parts_k in partitions(k):
            dirs = [ys[i - 1] for i in parts_k]
            if any(d is None or d.is_zero() for d in dirs):
                continue
            weight = _multiplicity_weight(parts_k)
            parts.append(calc.scale(calc.g_derivative(*dirs), -weight))  # type: ignore[arg-type]
        return calc.add(calc.zero, *parts)

    def _leading_function(self, a: int, what: str) -> Function | None:
        e = self._get(a, 0)
        if e is None:
            return None
        f = self.calc.as_function(e)
        if f is None:
            if self.calc.has_unknowns(e):
                return None
            raise DeriveError(
                f"{what} is applied to a quantity that depends on the position x (or "
                "on derivatives of the gradient) at h = 0 on the slow manifold; "
                "componentwise functions may act only on gradients and moments.",
                "Apply elementwise functions to gradients and moments; put any "
                "function of x (e.g. L2 weight decay) into the loss.",
            )
        return f

    def _power(self, pos: int, ins: Power, k: int) -> Expression | None:
        calc = self.calc
        r = ins.exponent
        if r.denominator == 1 and 1 < r <= _MAX_POWER_PRODUCTS:
            # a^n as repeated products: no division by a_0 (which may vanish)
            aux = self._aux.setdefault(pos, [[] for _ in range(int(r) - 1)])
            prev = ins.a
            for level in range(int(r) - 1):
                parts: list[Expression] | None = []
                for j in range(k + 1):
                    p = self._get(prev, j) if level == 0 else aux[level - 1][j]
                    q = self._get(ins.a, k - j)
                    if p is None or q is None:
                        parts = None
                        break
                    assert parts is not None
                    parts.append(calc.hadamard(p, q))
                val = None if parts is None else calc.add(calc.zero, *parts)
                col = aux[level]
                if len(col) <= k:
                    col.extend([None] * (k + 1 - len(col)))
                col[k] = val
            return aux[-1][k]
        a0 = self._leading_function(ins.a, "a power")
        if a0 is None:
            return None
        if k == 0:
            if r.denominator != 1 or r < 0:
                if a0.is_zero():
                    raise DeriveError(
                        f"a {'quotient' if r < 0 else 'root'} has a base that vanishes "
                        "at h = 0 on the slow manifold (a denominator or a square "
                        "root of zero), so the update is not smooth there.",
                        "Keep denominators away from zero, e.g. add eps > 0 "
                        "(m / (sqrt(v) + eps)).",
                    )
                self.calc.algebra.require_nonzero(a0)
            return calc.function(a0.rational_power(r))
        inv0 = self._inverse(ins.a, a0)
        parts = []
        for j in range(1, k + 1):
            aj, pj = self._get(ins.a, j), self._get(self._index(pos), k - j)
            if aj is None or pj is None:
                return None
            w = (r + 1) * j - k
            if w:
                parts.append(calc.scale(calc.hadamard(aj, pj), _q(w)))
        total = calc.add(calc.zero, *parts)
        return calc.scale(calc.times_function(total, inv0), _q(Fraction(1, k)))

    def _index(self, pos: int) -> int:
        return len(self.rec.states) + pos

    def _inverse(self, a: int, a0: Function) -> Function:
        got = self._leading.get(a)
        if got is None or got[0] is not a0:
            if a0.is_zero():
                raise DeriveError(
                    "a componentwise function is applied to a quantity that vanishes at "
                    "h = 0 on the slow manifold, where its expansion is singular.",
                    "Keep the argument away from zero, e.g. add eps > 0.",
                )
            got = (a0, a0.inverse())
            self._leading[a] = got
        return got[1]

    def _apply(self, pos: int, ins: Apply, k: int) -> Expression | None:
        calc = self.calc
        a0 = self._leading_function(ins.a, ins.function)
        if a0 is None:
            return None
        me = self._index(pos)
        if ins.function == "abs":
            if k == 0:
                if a0.is_zero():
                    raise DeriveError(
                        "abs is applied to a quantity that vanishes at h = 0 on the "
                        "slow manifold, where abs is not smooth.",
                        "Apply abs only to quantities that stay away from zero.",
                    )
                calc.algebra.require_nonzero(a0)
                return calc.function(a0.absolute())
            sign = a0.absolute() * self._inverse(ins.a, a0)
            ak = self._get(ins.a, k)
            return None if ak is None else calc.times_function(ak, sign)
        if ins.function == "exp":
            if k == 0:
                return calc.function(a0.exp())
            parts = []
            for j in range(1, k + 1):
                aj, ej = self._get(ins.a, j), self._get(me, k - j)
                if aj is None or ej is None:
                    return None
                parts.append(calc.scale(calc.hadamard(aj, ej), j))
            return calc.scale(calc.add(calc.zero, *parts), _q(Fraction(1, k)))
        # log
        if k == 0:
            return calc.function(a0.log())
        ak = self._get(ins.a, k)
        if ak is None:
            return None
        parts = [ak]
        for j in range(1, k):
            lj, aj = self._get(me, j), self._get(ins.a, k - j)
            if lj is None or aj is None:
                return None
            parts.append(calc.scale(calc.hadamard(lj, aj), _q(Fraction(-j, k))))
        return calc.times_function(
            calc.add(calc.zero, *parts), self._inverse(ins.a, a0)
        )


def _q(value: Fraction | int) -> Coefficient:
    import flint

    f = Fraction(value)
    return flint.fmpq(f.numerator, f.denominator)
