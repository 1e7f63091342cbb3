"""`high_resolution_ode`: modified equations second order in time, with $h$ a parameter.

For a multi-step recurrence (states: the position and previous iterates) put
$x_{n-j} = x(t - jh)$ and $x_{n+1} = x(t + h)$, expand every shift in $h$,
$x(t + kh) = \\sum_i (kh)^i x^{(i)}/i!$, and every gradient at a point
$y = x + \\delta$, $\\delta = O(h)$, around $x$:
$\\nabla f(y) = \\sum_k \\tfrac{1}{k!} D^{k+1} f(x)[\\delta, \\dots, \\delta]$ (nested
gradient calls expand the same way). Dividing by the lowest power of $h$ gives

$$S = B_0 \\dot x + C_0 \\nabla f(x) + \\sum_{k \\ge 1} h^k S_k(x, \\dot x, \\ddot x,
\\dots) = 0, \\qquad B_0 = \\rho'(1) \\ne 0,$$

truncated after $h^p$ (heavy ball: $S = (1-\\beta)\\dot x + \\tfrac{h(1+\\beta)}{2}
\\ddot x + \\tfrac{h^2(1-\\beta)}{6} x''' + \\dots + \\nabla f(x)$). Derivatives of order
$\\ge 3$ are eliminated with the equation itself: solved for its $B_0 \\dot x$ term and
differentiated $k-1$ times, $x^{(k)} = -B_0^{-1} \\tfrac{d^{k-1}}{dt^{k-1}}
(S - B_0 \\dot x)$; every substitution either lowers the order of the derivative or
raises the power of $h$, so the recursion ends, and it is consistent to
$O(h^{p+1})$ on the slow solutions. The result keeps $\\ddot x$ only in the inertial
term $A(h) \\ddot x$ (inside derivatives of $f$, $\\ddot x$ is eliminated the same way,
so the equation is explicit in $\\ddot x$) and never eliminates $\\dot x$:

$$A(h) \\ddot x + B(h) \\dot x + N_h(x, \\dot x) + C(h) \\nabla f(x) = 0,$$

with $N_h$ built from derivatives of $f$ applied to $\\dot x$, such as the Hessian
damping $h \\beta \\nabla^2 f(x) \\dot x$ of Nesterov's method (Shi, Du, Jordan & Su,
*Understanding the acceleration phenomenon via high-resolution differential
equations*, Math. Program. 2022; Kovachki & Stuart, JMLR 22 (2021), second result).
Its solution started with $\\dot x(0)$ on the slow manifold (the first-order reduction
below at $x(0)$) matches the iterates up to $O(h^{p+1})$ on bounded time intervals.

The *first-order reduction* eliminates $\\ddot x$ and $\\dot x$ as well, by the slow
relation $\\dot x = F_h(x)$ solved order by order from the equation; it must be, and is
checked to be, the modified flow of [`modified_flow`][derive.modified_flow].
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from ._coefficients import field_for
from ._conventions import CONVENTIONS
from ._errors import DeriveError
from ._flow import Term, _latex_wrap, _sympy_str, _wrap
from ._optimizers import optimizer as make_optimizer
from ._recurrence import Grad, Recurrence
from ._render import pretty_coefficient
from ._series_h import h_series
from ._trees import tree_table

__all__ = [
    "high_resolution_ode",
    "HighResolutionODE",
    "ODETerm",
    "ExplicitODE",
    "ODE_CONVENTIONS",
]

ODE_CONVENTIONS = (
    "x' = dx/dt, x'' = d^2x/dt^2, x^(k) the k-th time derivative; grad f(x) the "
    "gradient, H(x)[u] = D^2f(x)[u] the Hessian applied to u, D^kf(x)[u, ..., v] the "
    "k-th derivative of f applied to k - 1 vectors; time t = n h (x_n ~ x(n h))"
)

# A monomial is ("d", j): the j-th time derivative of x (j = 0 is x itself), or
# ("f", args): D^{k+1} f(x)[args], args a sorted tuple of k monomials ("f", ()) is
# grad f(x). A series is {(power of h, monomial): coefficient in Q(parameters)}.
X = ("d", 0)
VELOCITY = ("d", 1)
ACCELERATION = ("d", 2)
GRADIENT = ("f", ())


def _f(args) -> tuple:
    return ("f", tuple(sorted(args)))


def high_resolution_ode(
    optimizer: Recurrence | Callable, order: int, time_order: int = 2, **params
) -> HighResolutionODE:
    """The modified equation of an optimizer, second order in time, with $h$ a parameter.

    **Arguments:**

    - `optimizer`: a [`Recurrence`][derive.Recurrence] in multi-step form (states: the
      position and previous iterates, as for `gd`, `heavy_ball`, `nesterov`, explicit
      Runge-Kutta methods and traced functions that return only the new position), or
      such a plain update function (traced with `params`).
    - `order`: $p \\ge 1$ for `time_order=2`, $p \\ge 0$ for `time_order=1`: the
      equation is consistent to $O(h^{p+1})$.
    - `time_order`: 2 for $A(h) \\ddot x + B(h) \\dot x + N_h(x, \\dot x) + C(h)
      \\nabla f(x) = 0$ (see the module documentation), 1 for its first-order reduction
      $\\dot x = F_h(x)$, which equals the modified flow.
    - `**params`: hyper-parameter values when `optimizer` is a function.

    **Returns:** a [`HighResolutionODE`][derive.HighResolutionODE]: `.terms`, `.text()`,
    `.latex()`, `.to_dict()`, `.on(loss, variables)`, `.reduction` (the first-order
    reduction as modified-flow [`Term`][derive.Term]s) and
    `.agrees_with_modified_flow()`.

    **Raises:** [`DeriveError`][derive.DeriveError] for a recurrence whose auxiliary
    states are not previous iterates (velocities, averages of gradients): write it in
    previous-iterate form, or use [`invariant_manifold`][derive.invariant_manifold].

    !!! example
        ```python
        >>> import derive
        >>> print(derive.high_resolution_ode(derive.heavy_ball(), 1).text(header=False))
          h*(beta + 1)/2 x''
        + (1 - beta) x'
        + grad f(x)
        = 0
        >>> ode = derive.high_resolution_ode(derive.nesterov(), 1)
        >>> print(ode.equation_text())
        h*(beta + 1)/2 x'' + (1 - beta) x' + h*beta H(x)[x'] + grad f(x) = 0
        >>> ode.agrees_with_modified_flow()
        True

        ```

    ??? cite "References"
        Kovachki & Stuart, *Continuous time analysis of momentum methods*, JMLR 22
        (2021); Shi, Du, Jordan & Su, *Understanding the acceleration phenomenon via
        high-resolution differential equations*, Math. Program. 195 (2022).
    """
    rec = make_optimizer(optimizer, **params)
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise DeriveError(
            f"order must be a non-negative integer, got {order!r}.", "Use e.g. order=1."
        )
    if time_order not in (1, 2):
        raise DeriveError(
            f"time_order must be 1 or 2, got {time_order!r}.",
            "Use 2 for the second-order-in-time equation, 1 for its reduction.",
        )
    if time_order == 2 and order < 1:
        raise DeriveError(
            "at order 0 the modified equation has no x'' term (it is the time-rescaled "
            "gradient flow B x' + C grad f = 0).",
            "Use order >= 1 for the second-order-in-time equation, or time_order=1.",
        )
    if order > 8:
        raise DeriveError(
            f"order {order} is too high for the high-resolution expansion.",
            "Use an order of at most 8.",
        )
    return HighResolutionODE(rec, order, time_order)


@dataclass(frozen=True)
class ODETerm:
    """One term `coefficient * h**power * monomial` of a high-resolution equation.

    `monomial` is `("d", j)` for $x^{(j)}$ or `("f", args)` for $D^{k+1} f(x)[args]$;
    `text` and `latex` name it (`H(x)[x']`, `\\nabla^2 f(x)\\,\\dot x`).
    """

    power: int
    monomial: tuple
    coefficient: object
    field: object

    @cached_property
    def sympy(self):
        return pretty_coefficient(self.field.to_sympy(self.coefficient))

    @property
    def text(self) -> str:
        return monomial_text(self.monomial)

    @property
    def latex(self) -> str:
        return monomial_latex(self.monomial)


class HighResolutionODE:
    """A high-resolution modified equation; made by
    [`high_resolution_ode`][derive.high_resolution_ode].

    **Attributes:**

    - `recurrence`, `order`, `time_order`, `field` (the coefficients' field).
    - `terms`: the [`ODETerm`][derive.ODETerm]s of the left-hand side of
      `sum(terms) = 0` (for `time_order=1`: $\\dot x - F_h(x)$).
    - `raw`: the Taylor-expanded equation before any elimination (all derivatives).
    - `reduction`: the first-order reduction $\\dot x = F_h(x)$ as modified-flow
      [`Term`][derive.Term]s (trees, $g = -\\nabla f$).
    """

    def __init__(self, recurrence: Recurrence, order: int, time_order: int):
        self.recurrence = recurrence
        self.order = order
        self.time_order = time_order
        algebra = _Algebra(recurrence, order)
        self.field = algebra.K
        self.raw = _terms(algebra.S, algebra.K)
        second = algebra.second_order()
        velocity = algebra.first_order_reduction(second)
        self.reduction = _flow_terms(velocity, algebra.K, order)
        if time_order == 2:
            self.terms = _terms(second, algebra.K)
        else:
            lhs = {(0, VELOCITY): algebra.K.one}
            for key, c in velocity.items():
                lhs[key] = lhs.get(key, algebra.K.zero) - c
            self.terms = _terms(lhs, algebra.K)
        self._second = second
        self._velocity = velocity

    # ------------------------------------------------------------- pieces
    def coefficient(self, monomial) -> object:
        """The coefficient of a monomial as a SymPy polynomial in `h` (0 if absent)."""
        import sympy

        h = sympy.Symbol("h")
        return sum(
            (
                self.field.to_sympy(t.coefficient) * h**t.power
                for t in self.terms
                if t.monomial == monomial
            ),
            sympy.Integer(0),
        )

    @property
    def inertia(self):
        """$A(h)$, the coefficient of $\\ddot x$ (SymPy)."""
        return self.coefficient(ACCELERATION)

    @property
    def damping(self):
        """$B(h)$, the coefficient of $\\dot x$ (SymPy)."""
        return self.coefficient(VELOCITY)

    @property
    def parameters(self) -> dict[str, str]:
        out = {p: p for p in self.recurrence.parameters}
        out.update({k: str(v) for k, v in self.recurrence.values.items()})
        return out

    @cached_property
    def expression(self):
        """The left-hand side as a SymPy expression, each monomial a symbol named by
        its text (`Symbol("H(x)[x']")`)."""
        import sympy

        h = sympy.Symbol("h")
        return sympy.Add(
            *(
                self.field.to_sympy(t.coefficient) * h**t.power * sympy.Symbol(t.text)
                for t in self.terms
            )
        )

    def agrees_with_modified_flow(self) -> bool:
        """Whether the first-order reduction equals `modified_flow(optimizer, order)`,
        term by term and exactly."""
        from ._flow import modified_flow

        flow = modified_flow(self.recurrence, self.order)
        mine = {(t.power, t.tree): t.coefficient for t in self.reduction}
        theirs = {(t.power, t.tree): t.coefficient for t in flow.terms}
        if set(mine) != set(theirs):
            return False
        to = flow.field
        return all(
            to.to_sympy(theirs[k]) - self.field.to_sympy(mine[k]) == 0
            if not _same_field(to, self.field)
            else theirs[k] == mine[k]
            for k in mine
        )

    # ------------------------------------------------------------- renderings
    def _ordered(self) -> list[ODETerm]:
        def category(t):
            if t.monomial == ACCELERATION:
                return 0
            if t.monomial == VELOCITY:
                return 1
            if t.monomial == GRADIENT:
                return 3
            return 2

        return sorted(self.terms, key=lambda t: (category(t), t.power, t.monomial))

    def _rhs_terms(self) -> list[ODETerm]:
        """For `time_order=1`: the terms of $F_h$ (with the sign of the left side)."""
        rest = [t for t in self.terms if t.monomial != VELOCITY]
        return sorted(rest, key=lambda t: (t.power, t.monomial != GRADIENT, t.monomial))

    def _header_lines(self) -> list[str]:
        params = ", ".join(f"{k} = {v}" for k, v in self.parameters.items()) or "none"
        kind = (
            "High-resolution (second order in time)"
            if self.time_order == 2
            else "First-order reduction of the high-resolution"
        )
        return [
            f"{kind} modified equation of {self.recurrence.name} through order "
            f"{self.order} (parameters: {params})",
            f"conventions: {ODE_CONVENTIONS}",
        ]

    def _footer_lines(self) -> list[str]:
        p = self.order
        lines = []
        if self.time_order == 2:
            lines.append(
                f"consistent to O(h^{p + 1}): with x'(0) on the slow manifold (the "
                "first-order reduction at x(0)), x(n h) matches the iterates up to "
                f"O(h^{p + 1}) on bounded times"
            )
        lines.append(
            "first-order reduction = modified flow: "
            + ("yes" if self.agrees_with_modified_flow() else "NO")
        )
        conditions = _conditions(self)
        if conditions:
            lines.append("valid for: " + ", ".join(conditions))
        return lines

    def equation_text(self) -> str:
        """The equation on one line (`... = 0`, or `x' = ...` for `time_order=1`)."""
        if self.time_order == 1:
            return "x' = " + _join([_term_text(_negated(t)) for t in self._rhs_terms()])
        return _join([_term_text(t) for t in self._ordered()]) + " = 0"

    def text(self, header: bool = True) -> str:
        """Readable text, one term per line."""
        lines = self._header_lines() if header else []
        if self.time_order == 1:
            parts = [_term_text(_negated(t)) for t in self._rhs_terms()]
            lines.append("x' = " + _strip_plus(parts[0]))
            lines += ["     " + p for p in parts[1:]]
        else:
            parts = [_term_text(t) for t in self._ordered()]
            lines.append("  " + _strip_plus(parts[0]))
            lines += parts[1:]
            lines.append("= 0")
        if header:
            lines += self._footer_lines()
        return "\n".join(lines)

    def latex(self) -> str:
        """LaTeX of the equation (`\\dot x`, `\\ddot x`, `\\nabla^2 f(x)\\,\\dot x`)."""
        if self.time_order == 1:
            body = _join([_term_latex(_negated(t)) for t in self._rhs_terms()])
            return f"\\dot x = {body}"
        return _join([_term_latex(t) for t in self._ordered()]) + " = 0"

    def to_dict(self, loss=None, variables=None) -> dict:
        """The JSON record: equation, terms, first-order reduction and its check."""
        from ._version import DISTRIBUTION, __version__

        record = {
            "optimizer": self.recurrence.name,
            "order": self.order,
            "time_order": self.time_order,
            "conventions": ODE_CONVENTIONS + "; " + CONVENTIONS,
            "parameters": self.parameters,
            "states": list(self.recurrence.states),
            "equation": self.equation_text(),
            "latex": self.latex(),
            "terms": [
                {
                    "power": t.power,
                    "monomial": t.text,
                    "latex": t.latex,
                    "coefficient": _sympy_str(t.sympy),
                }
                for t in self._ordered()
            ],
            "first_order_reduction": [
                {"power": t.power, "tree": t.tree, "coefficient": _sympy_str(t.sympy)}
                for t in self.reduction
            ],
            "agrees_with_modified_flow": self.agrees_with_modified_flow(),
            "conditions": _conditions(self),
            "toolkit": {"name": DISTRIBUTION, "version": __version__},
        }
        if self.recurrence.source:
            record["spec"] = self.recurrence.source
        if loss is not None:
            explicit = self.on(loss, variables)
            record["loss"] = {
                "expression": str(explicit.loss),
                "variables": [str(v) for v in explicit.variables],
            }
            record["explicit"] = {
                "velocity": [str(v) for v in explicit.velocity],
                "acceleration": [str(v) for v in explicit.acceleration],
                "equations": [_sympy_str(e) for e in explicit.equations],
            }
        return record

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(**kwargs), indent=2)

    # ------------------------------------------------------------- concrete loss
    def on(self, loss, variables) -> ExplicitODE:
        """The equation on a concrete SymPy loss.

        **Arguments:**

        - `loss`: a SymPy expression or a string.
        - `variables`: the coordinates (`"x,y"` or symbols).

        **Returns:** an [`ExplicitODE`][derive.ExplicitODE]:
        `equations[i] = 0` in the variables, the velocity symbols (`x'`), the
        acceleration symbols (`x''`), `h` and symbolic parameters; `solved` gives the
        highest derivative explicitly.

        !!! example
            ```python
            >>> import derive
            >>> ode = derive.high_resolution_ode(derive.heavy_ball(0.5), 1)
            >>> explicit = ode.on("x**4/4 - x**2/2", "x")
            >>> explicit.equations
            [3*h*x''/4 + x**3 - x + x'/2]
            >>> explicit.solved        # x''
            [2*(-2*x**3 + 2*x - x')/(3*h)]

            ```
        """
        import sympy

        from ._concrete import ConcreteLoss

        cl = ConcreteLoss(loss, variables, self.recurrence.parameters)
        h = sympy.Symbol("h")
        vel = [sympy.Symbol(f"{v.name}'") for v in cl.variables]
        acc = [sympy.Symbol(f"{v.name}''") for v in cl.variables]
        cache: dict = {}
        memo: dict = {}

        def value(mono):
            got = memo.get(mono)
            if got is not None:
                return got
            if mono == VELOCITY:
                got = vel
            elif mono == ACCELERATION:
                got = acc
            elif mono[0] == "d":
                raise AssertionError(mono)  # eliminated
            elif not mono[1]:
                got = list(cl.gradient)
            else:
                got = cl._apply(cl.gradient, [value(a) for a in mono[1]], cache)
            memo[mono] = got
            return got

        d = len(cl.variables)
        eqs = [sympy.Integer(0)] * d
        for t in self.terms:
            c = self.field.to_sympy(t.coefficient) * h**t.power
            eqs = [e + c * v for e, v in zip(eqs, value(t.monomial), strict=True)]
        eqs = [sympy.expand(e) for e in eqs]
        top = acc if self.time_order == 2 else vel
        solved = []
        for e, s in zip(eqs, top, strict=True):
            a = e.coeff(s)
            solved.append(sympy.factor_terms(sympy.expand(-(e - a * s) / a)))
        return ExplicitODE(cl.loss, cl.variables, vel, acc, eqs, solved)


@dataclass
class ExplicitODE:
    """A high-resolution equation on a concrete loss.

    - `equations`: one SymPy expression per variable; the equation is `expr = 0`.
    - `velocity`, `acceleration`: the symbols standing for $\\dot x_i$, $\\ddot x_i$.
    - `solved`: the highest derivative explicitly ($\\ddot x_i$ for time order 2,
      $\\dot x_i$ for 1) in terms of the variables, velocities, `h` and parameters.
    """

    loss: object
    variables: list
    velocity: list
    acceleration: list
    equations: list
    solved: list


# ====================================================================== the algebra


class _Algebra:
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
        self._X: dict = {}
        self._reduced: dict = {}
        self._busy: set = set()

    # ------------------------------------------------------------- basic series
    def add_into(self, out: dict, series: dict, scale=None, shift: int = 0, N=None):
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
    def clean(series: dict) -> dict:
        return {k: c for k, c in series.items() if c}

    def f_apply(self, args: list[dict], N: int) -> dict:
        """$D^{k+1} f(x)[s_1, \\dots, s_k]$ for series $s_i$, truncated after $h^N$."""
        out: dict = {}
        items = [list(a.items()) for a in args]

        def walk(i, power, coef, chosen):
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

    def gradient_at(self, delta: dict, N: int) -> dict:
        """$\\nabla f(x + \\delta) = \\sum_k D^{k+1} f(x)[\\delta^k]/k!$, $\\delta = O(h)$."""
        out: dict = {}
        for k in range(N + 1):
            part = self.f_apply([delta] * k, N)
            if k and not part:
                break
            self.add_into(out, part, scale=self.K.convert(1) / math.factorial(k))
        return self.clean(out)

    def time_derivative(self, series: dict, N: int) -> dict:
        out: dict = {}
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
    def _equation(self, N: int) -> dict:
        rec = self.rec
        K = self.K
        values: list[dict] = []
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
            acc: dict = {}
            for v, c in ins.terms:
                series = h_series(c, self.params, N)
                for a, ca in enumerate(series):
                    if ca:
                        self.add_into(acc, values[v], scale=ca, shift=a, N=N)
            values.append(self.clean(acc))
        E = {(i, ("d", i)): K.one / math.factorial(i) for i in range(N + 1)}
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

    def _displacement(self, point: dict) -> dict:
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
    def derivative(self, j: int, m: int) -> dict:
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

    def reduce_monomial(self, mono: tuple, m: int) -> dict:
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

    def reduce(self, series: dict, m: int, scale=None, keep_inertia=False) -> dict:
        out: dict = {}
        for (k, mono), c in series.items():
            if k > m:
                continue
            cc = c * scale if scale is not None else c
            if keep_inertia and mono == ACCELERATION:
                self.add_into(out, {(k, mono): cc})
                continue
            self.add_into(out, self.reduce_monomial(mono, m - k), scale=cc, shift=k)
        return self.clean(out)

    def second_order(self) -> dict:
        """The equation with $\\ddot x$ only in the inertial term."""
        return self.reduce(self.S, self.p, keep_inertia=True)

    def first_order_reduction(self, second: dict) -> dict:
        """$\\dot x = F_h(x)$ from the second-order equation, order by order."""
        rest = {k: c for k, c in second.items() if k != (0, VELOCITY)}
        scale = -self.one / self.B0
        F: dict = {}
        for _ in range(self.p + 1):
            memo: dict = {}
            dF = self.substitute(self.time_derivative(F, self.p), F, None, {})
            total: dict = {}
            for (k, mono), c in rest.items():
                part = self.substitute_monomial(mono, F, dF, self.p - k, memo)
                self.add_into(total, part, scale=c, shift=k)
            F = self.clean({key: c * scale for key, c in total.items()})
        return F

    def substitute(self, series: dict, F: dict, dF, memo: dict) -> dict:
        out: dict = {}
        for (k, mono), c in series.items():
            if k > self.p:
                continue
            part = self.substitute_monomial(mono, F, dF, self.p - k, memo)
            self.add_into(out, part, scale=c, shift=k)
        return self.clean(out)

    def substitute_monomial(self, mono, F: dict, dF, N: int, memo: dict) -> dict:
        key = (mono, N)
        got = memo.get(key)
        if got is not None:
            return got
        if mono == VELOCITY:
            out = {k: c for k, c in F.items() if k[0] <= N}
        elif mono == ACCELERATION:
            out = {k: c for k, c in dF.items() if k[0] <= N}
        elif mono[0] == "d":  # pragma: no cover - eliminated before
            raise AssertionError(mono)
        else:
            out = self.f_apply(
                [self.substitute_monomial(a, F, dF, N, memo) for a in mono[1]], N
            )
        memo[key] = out
        return out


def _dt(mono: tuple) -> list[tuple[tuple, int]]:
    """$d/dt$ of a monomial: `[(monomial, multiplicity)]`."""
    got = _DT_CACHE.get(mono)
    if got is not None:
        return got
    if mono[0] == "d":
        out = [(("d", mono[1] + 1), 1)]
    else:
        args = mono[1]
        count: Counter = Counter()
        count[_f((*args, VELOCITY))] += 1
        for i, a in enumerate(args):
            rest = args[:i] + args[i + 1 :]
            for b, mult in _dt(a):
                count[_f((*rest, b))] += mult
        out = list(count.items())
    _DT_CACHE[mono] = out
    return out


_DT_CACHE: dict = {}


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


# ====================================================================== outputs


def _terms(series: dict, K) -> list[ODETerm]:
    return [
        ODETerm(k, m, c, K)
        for (k, m), c in sorted(series.items(), key=lambda kv: kv[0])
        if c
    ]


def _flow_terms(F: dict, K, order: int) -> list[Term]:
    """$\\dot x = F_h(x)$ as modified-flow terms: monomial(t) $= (-1)^{|t|} F(t)$."""
    table = tree_table(order + 1)
    out = []

    def index(mono) -> int:
        return table.lookup([index(a) for a in mono[1]])

    for (k, mono), c in F.items():
        if not c:
            continue
        i = index(mono)
        sign = -1 if table.size[i] % 2 else 1
        out.append(Term(k, table.bracket(i), i, c * sign, K))
    out.sort(key=lambda t: (t.power, t.index))
    return out


def _same_field(a, b) -> bool:
    return getattr(a, "names", ()) == getattr(b, "names", ())


def _conditions(ode: HighResolutionODE) -> list[str]:
    """Zeros of the denominators (e.g. `beta != 1`)."""
    import sympy

    if not ode.recurrence.parameters:
        return []
    out = set()
    dens = [
        sympy.fraction(sympy.factor(ode.field.to_sympy(t.coefficient)))[1]
        for t in (*ode.terms, *ode.reduction)
    ]
    for den in dens:
        for fac in sympy.Mul.make_args(den):
            base = fac.as_base_exp()[0]
            if base.free_symbols:
                sol = sympy.solve(sympy.Eq(base, 0), dict=True)
                if sol and len(sol) == 1 and len(sol[0]) == 1:
                    ((s, v),) = sol[0].items()
                    out.add(f"{s} != {v}")
                else:
                    out.add(f"{base} != 0")
    return sorted(out)


def monomial_text(mono: tuple) -> str:
    """Text of a monomial: `x'`, `x''`, `x^(3)`, `grad f(x)`, `H(x)[x']`,
    `D^3f(x)[x', x']`."""
    if mono[0] == "d":
        j = mono[1]
        return "x" + ("'" * j if j <= 2 else f"^({j})")
    args = mono[1]
    if not args:
        return "grad f(x)"
    inner = ", ".join(monomial_text(a) for a in args)
    if len(args) == 1:
        return f"H(x)[{inner}]"
    return f"D^{len(args) + 1}f(x)[{inner}]"


def monomial_latex(mono: tuple) -> str:
    """LaTeX of a monomial: `\\dot x`, `\\nabla^2 f(x)\\,\\dot x`, ..."""
    if mono[0] == "d":
        j = mono[1]
        return {0: "x", 1: "\\dot x", 2: "\\ddot x"}.get(j, f"x^{{({j})}}")
    args = mono[1]
    if not args:
        return "\\nabla f(x)"
    if len(args) == 1:
        return f"\\nabla^2 f(x)\\, {monomial_latex(args[0])}"
    inner = ", ".join(monomial_latex(a) for a in args)
    return f"\\nabla^{{{len(args) + 1}}} f(x)[{inner}]"


def _negated(t: ODETerm) -> ODETerm:
    return ODETerm(t.power, t.monomial, -t.coefficient, t.field)


def _term_text(t) -> str:
    """`+ h*(beta + 1)/2 x''` (with its sign in front)."""
    c = _sympy_str(t.sympy)
    sign = "+"
    if c.startswith("-"):
        sign, c = "-", c[1:]
        if c.startswith("(") and c.endswith(")") and _balanced(c[1:-1]):
            c = c[1:-1]
    hk = "" if t.power == 0 else ("h" if t.power == 1 else f"h^{t.power}")
    value = t.sympy if sign == "+" else -t.sympy
    if hk and value.is_Rational and value != 1:
        p, q = value.p, value.q
        coef = (f"{p}*" if p != 1 else "") + hk + (f"/{q}" if q != 1 else "")
    elif c == "1":
        coef = hk
    elif hk and c.startswith("1/"):
        coef = hk + c[1:]
    elif hk:
        coef = f"{hk}*{_wrap(c)}"
    else:
        coef = _wrap(c)
    return f"{sign} {coef + ' ' if coef else ''}{t.text}"


def _term_latex(t) -> str:
    import sympy

    c = sympy.latex(t.sympy)
    sign = "+"
    if c.startswith("-"):
        sign, c = "-", c[1:].strip()
    hk = "" if t.power == 0 else ("h" if t.power == 1 else f"h^{{{t.power}}}")
    coef = "" if c == "1" else _latex_wrap(c)
    lead = " ".join(p for p in (hk, coef) if p)
    sep = "\\, " if lead else ""
    return f"{sign} {lead}{sep}{t.latex}"


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def _strip_plus(s: str) -> str:
    if s.startswith("+ "):
        return s[2:]
    return "-" + s[2:] if s.startswith("- ") else s


def _join(parts: list[str]) -> str:
    if not parts:
        return "0"
    return " ".join([_strip_plus(parts[0]), *parts[1:]])
