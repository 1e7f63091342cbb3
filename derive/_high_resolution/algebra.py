"""The series algebra of high-resolution equations: shifts and gradients expanded in $h$.

A monomial is `("d", j)`, the $j$-th time derivative of $x$ (`j = 0` is $x$ itself), or
`("f", args)`, $D^{k+1} f(x)[\\text{args}]$ for a sorted tuple of $k$ monomials
(`("f", ())` is $\\nabla f(x)$). A series is `{(power of h, monomial): coefficient}`
with exact coefficients in $\\mathbb{Q}(\\text{parameters})$. See
[`high_resolution_ode`][derive.high_resolution_ode] for the derivation.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Literal, TypeAlias

from .._coefficients import Coefficient, field_for
from .._errors import DeriveError
from .._recurrence import Grad, Recurrence
from .._series_h import h_series

__all__ = [
    "Algebra",
    "Monomial",
    "Series",
    "X",
    "VELOCITY",
    "ACCELERATION",
    "GRADIENT",
]

Monomial: TypeAlias = (
    tuple[Literal["d"], int] | tuple[Literal["f"], tuple["Monomial", ...]]
)
"""`("d", j)`, the j-th time derivative of x, or `("f", args)`, D^{k+1} f(x)[args]."""

Series: TypeAlias = dict[tuple[int, Monomial], Coefficient]
"""`{(power of h, monomial): coefficient}`."""

# A monomial is ("d", j): the j-th time derivative of x (j = 0 is x itself), or
# ("f", args): D^{k+1} f(x)[args], args a sorted tuple of k monomials ("f", ()) is
# grad f(x). A series is {(power of h, monomial): coefficient in Q(parameters)}.
X: Monomial = ("d", 0)
VELOCITY: Monomial = ("d", 1)
ACCELERATION: Monomial = ("d", 2)
GRADIENT: Monomial = ("f", ())


def _f(args: tuple[Monomial, ...]) -> Monomial:
    return ("f", tuple(sorted(args)))


_Memo: TypeAlias = dict[tuple[Monomial, int], Series]


class Algebra:
    """Series in $h$ of monomials in $x, \\dot x, \\ddot x, \\dots$ and derivatives of
    $f$, with exact coefficients in Q(parameters), for one recurrence and order."""

    def __init__(self, rec: Recurrence, order: int):
        self.rec = rec
        self.p = order
        self.params = rec.parameters
        self.K = field_for(rec.parameters)
        self.zero, self.one = self.K.zero, self.K.one
        _check_multistep(rec)
        E = self._equation(order + 1)
        lowest = min((k for k, _ in E), default=None)
        if lowest is None:
            raise DeriveError(
                f"the update of {rec.name!r} leaves x unchanged at every order in h.",
                "Give the optimizer a gradient step, e.g. x - h*grad(x).",
            )
        if lowest > 1:
            E = self._equation(order + lowest)
        self.S = {(k - lowest, m): c for (k, m), c in E.items() if k - lowest <= order}
        self.B0 = self.S.get((0, VELOCITY), self.zero)
        if not self.B0:
            raise DeriveError(
                f"the expansion of {rec.name!r} has no x' term at leading order: the "
                "characteristic polynomial has a double root at 1 (for heavy ball and "
                "Nesterov: beta = 1), so there is no slow dynamics to describe.",
                "Choose parameters with one characteristic root at 1 (e.g. beta < 1).",
            )
        self.R = dict(self.S)
        del self.R[(0, VELOCITY)]
        self._X: dict[tuple[int, int], Series] = {}
        self._reduced: dict[tuple[Monomial, int], Series] = {}
        self._busy: set[tuple[int, int]] = set()

    # ------------------------------------------------------------- basic series
    def add_into(
        self,
        out: Series,
        series: Series,
        scale: Coefficient | None = None,
        shift: int = 0,
        N: int | None = None,
    ) -> Series:
        for (k, m), c in series.items():
            k2 = k + shift
            if N is not None and k2 > N:
                continue
            v = c * scale if scale is not None else c
            key = (k2, m)
            got = out.get(key)
            out[key] = v if got is None else got + v
        return out

    @staticmethod
    def clean(series: Series) -> Series:
        return {k: c for k, c in series.items() if c}

    def f_apply(self, args: list[Series], N: int) -> Series:
        """$D^{k+1} f(x)[s_1, \\dots, s_k]$ for series $s_i$, truncated after $h^N$."""
        out: Series = {}
        items = [list(a.items()) for a in args]

        def walk(
            i: int, power: int, coef: Coefficient, chosen: tuple[Monomial, ...]
        ) -> None:
            if i == len(items):
                key = (power, _f(chosen))
                got = out.get(key)
                out[key] = coef if got is None else got + coef
                return
            for (k, m), c in items[i]:
                if power + k <= N:
                    walk(i + 1, power + k, coef * c, (*chosen, m))

        walk(0, 0, self.one, ())
        return self.clean(out)

    def gradient_at(self, delta: Series, N: int) -> Series:
        """$\\nabla f(x + \\delta) = \\sum_k D^{k+1} f(x)[\\delta^k]/k!$, $\\delta = O(h)$."""
        out: Series = {}
        for k in range(N + 1):
            part = self.f_apply([delta] * k, N)
            if k and not part:
                break
            self.add_into(out, part, scale=self.K.convert(1) / math.factorial(k))
        return self.clean(out)

    def time_derivative(self, series: Series, N: int) -> Series:
        out: Series = {}
        for (k, m), c in series.items():
            if k > N:
                continue
            for m2, mult in _dt(m):
                key = (k, m2)
                v = c * mult
                got = out.get(key)
                out[key] = v if got is None else got + v
        return self.clean(out)

    # ------------------------------------------------------------- the equation
    def _equation(self, N: int) -> Series:
        rec = self.rec
        K = self.K
        values: list[Series] = []
        for j in range(len(rec.states)):  # x(t - j h)
            values.append(
                {
                    (i, ("d", i)): K.convert((-j) ** i) / math.factorial(i)
                    for i in range(N + 1)
                    if j or i == 0
                }
            )
        for ins in rec.instructions:
            if isinstance(ins, Grad):
                values.append(self.gradient_at(self._displacement(values[ins.arg]), N))
                continue
            acc: Series = {}
            for v, c in ins.terms:
                series = h_series(c, self.params, N)
                for a, ca in enumerate(series):
                    if ca:
                        self.add_into(acc, values[v], scale=ca, shift=a, N=N)
            values.append(self.clean(acc))
        E: Series = {(i, ("d", i)): K.one / math.factorial(i) for i in range(N + 1)}
        self.add_into(E, values[rec.outputs[0]], scale=-self.one)
        E = self.clean(E)
        if any(m == X for _, m in E):
            raise DeriveError(
                f"the new position of {rec.name!r} is not x + O(h): the weights of "
                "the position and the previous iterates do not add up to 1.",
                "Write the update as x plus gradient corrections; put weight decay "
                "into the loss.",
            )
        return E

    def _displacement(self, point: Series) -> Series:
        weight = point.get((0, X), self.zero)
        others = [k for (k, m) in point if m == X and k != 0]
        if weight != 1 or others:
            raise DeriveError(
                f"{self.rec.name!r} evaluates a gradient at a point that is not "
                "x + O(h) (the weights of x and the previous iterates do not add up "
                "to 1), so the gradient cannot be expanded around x.",
                "Evaluate gradients at x plus small corrections, e.g. "
                "grad(x + beta*(x - x_prev)).",
            )
        delta = {key: c for key, c in point.items() if key[1] != X}
        if any(k == 0 for k, _ in delta):
            raise DeriveError(
                f"{self.rec.name!r} evaluates a gradient at x plus a correction that "
                "does not vanish with h.",
                "Scale every gradient by h inside gradient points, e.g. "
                "grad(x - h*grad(x)).",
            )
        return delta

    # ------------------------------------------------------------- elimination
    def derivative(self, j: int, m: int) -> Series:
        """$x^{(j)}$, $j \\ge 2$, in $x$ and $\\dot x$ only, through $h^m$."""
        if m < 0:
            return {}
        key = (j, m)
        got = self._X.get(key)
        if got is not None:
            return got
        if key in self._busy:  # pragma: no cover - excluded by B0 != 0
            raise DeriveError("the elimination of time derivatives does not end.", "")
        self._busy.add(key)
        expr = {k: c for k, c in self.R.items() if k[0] <= m}
        for _ in range(j - 1):
            expr = self.time_derivative(expr, m)
        expr = self.reduce(expr, m, scale=-self.one / self.B0)
        self._busy.discard(key)
        self._X[key] = expr
        return expr

    def reduce_monomial(self, mono: Monomial, m: int) -> Series:
        """A monomial with every $x^{(j)}$, $j \\ge 2$, eliminated, through $h^m$."""
        key = (mono, m)
        got = self._reduced.get(key)
        if got is not None:
            return got
        if mono == VELOCITY or mono == GRADIENT:
            out = {(0, mono): self.one}
        elif mono[0] == "d":
            out = self.derivative(mono[1], m)
        else:
            out = self.f_apply([self.reduce_monomial(a, m) for a in mono[1]], m)
        self._reduced[key] = out
        return out

    def reduce(
        self,
        series: Series,
        m: int,
        scale: Coefficient | None = None,
        keep_inertia: bool = False,
    ) -> Series:
        out: Series = {}
        for (k, mono), c in series.items():
            if k > m:
                continue
            cc = c * scale if scale is not None else c
            if keep_inertia and mono == ACCELERATION:
                self.add_into(out, {(k, mono): cc})
                continue
            self.add_into(out, self.reduce_monomial(mono, m - k), scale=cc, shift=k)
        return self.clean(out)

    def second_order(self) -> Series:
        """The equation with $\\ddot x$ only in the inertial term."""
        return self.reduce(self.S, self.p, keep_inertia=True)

    def first_order_reduction(self, second: Series) -> Series:
        """$\\dot x = F_h(x)$ from the second-order equation, order by order."""
        rest = {k: c for k, c in second.items() if k != (0, VELOCITY)}
        scale = -self.one / self.B0
        F: Series = {}
        for _ in range(self.p + 1):
            memo: _Memo = {}
            dF = self.substitute(self.time_derivative(F, self.p), F, None, {})
            total: Series = {}
            for (k, mono), c in rest.items():
                part = self.substitute_monomial(mono, F, dF, self.p - k, memo)
                self.add_into(total, part, scale=c, shift=k)
            F = self.clean({key: c * scale for key, c in total.items()})
        return F

    def substitute(
        self, series: Series, F: Series, dF: Series | None, memo: _Memo
    ) -> Series:
        out: Series = {}
        for (k, mono), c in series.items():
            if k > self.p:
                continue
            part = self.substitute_monomial(mono, F, dF, self.p - k, memo)
            self.add_into(out, part, scale=c, shift=k)
        return self.clean(out)

    def substitute_monomial(
        self, mono: Monomial, F: Series, dF: Series | None, N: int, memo: _Memo
    ) -> Series:
        key = (mono, N)
        got = memo.get(key)
        if got is not None:
            return got
        if mono == VELOCITY:
            out = {k: c for k, c in F.items() if k[0] <= N}
        elif mono == ACCELERATION:
            if dF is None:  # pragma: no cover - F holds no x', so dF/dt holds no x''
                raise AssertionError(mono)
            out = {k: c for k, c in dF.items() if k[0] <= N}
        elif mono[0] == "d":  # pragma: no cover - eliminated before
            raise AssertionError(mono)
        else:
            out = self.f_apply(
                [self.substitute_monomial(a, F, dF, N, memo) for a in mono[1]], N
            )
        memo[key] = out
        return out


def _dt(mono: Monomial) -> list[tuple[Monomial, int]]:
    """$d/dt$ of a monomial: `[(monomial, multiplicity)]`."""
    got = _DT_CACHE.get(mono)
    if got is not None:
        return got
    out: list[tuple[Monomial, int]]
    if mono[0] == "d":
        out = [(("d", mono[1] + 1), 1)]
    else:
        args = mono[1]
        count: Counter[Monomial] = Counter()
        count[_f((*args, VELOCITY))] += 1
        for i, a in enumerate(args):
            rest = args[:i] + args[i + 1 :]
            for b, mult in _dt(a):
                count[_f((*rest, b))] += mult
        out = list(count.items())
    _DT_CACHE[mono] = out
    return out


_DT_CACHE: dict[Monomial, list[tuple[Monomial, int]]] = {}


def _check_multistep(rec: Recurrence) -> None:
    shifted = all(rec.outputs[j] == j - 1 for j in range(1, len(rec.states)))
    if not shifted:
        bad = [
            rec.states[j] for j in range(1, len(rec.states)) if rec.outputs[j] != j - 1
        ]
        raise DeriveError(
            f"high_resolution_ode needs the recurrence in previous-iterate form "
            f"(states x, x_prev, x_prev2, ...), but the state(s) {bad} of "
            f"{rec.name!r} are not previous iterates.",
            "Rewrite the update in terms of previous iterates (PyTorch's v = beta*v + "
            "grad; x -= lr*v is heavy ball x + beta*(x - x_prev) - lr*grad(x)); for "
            "other states use derive.invariant_manifold, which expresses them as "
            "functions of x.",
        )
