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
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .._coefficients import Coefficient, Field
from .._conditions import nonzero_conditions
from .._conventions import ODE_CONVENTIONS
from .._errors import DeriveError
from .._exact import ExactValue
from .._flow import Term
from .._optimizers import OptimizerDefinition, optimizer_from
from .._recurrence import Recurrence
from .._render import ode as _render_ode
from .._render.coefficients import coefficient_expr
from .._trees import tree_table
from .algebra import ACCELERATION, GRADIENT, VELOCITY, Algebra, Monomial, Series

if TYPE_CHECKING:
    import sympy

    from .._concrete import LossExpression, Variables

__all__ = [
    "high_resolution_ode",
    "HighResolutionODE",
    "EquationTerm",
    "ExplicitODE",
    "ODE_CONVENTIONS",
]


def high_resolution_ode(
    optimizer: OptimizerDefinition,
    order: int,
    time_order: int = 2,
    **params: ExactValue | None,
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
    rec = optimizer_from(optimizer, params)
    rec.require_affine("the high-resolution ODE")
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
class EquationTerm:
    """One term `coefficient * h**power * monomial` of a high-resolution equation.

    `monomial` is `("d", j)` for $x^{(j)}$ or `("f", args)` for $D^{k+1} f(x)[args]$;
    `text` and `latex` name it (`H(x)[x']`, `\\nabla^2 f(x)\\,\\dot x`).
    """

    power: int
    monomial: Monomial
    coefficient: Coefficient
    field: Field

    @cached_property
    def sympy(self) -> sympy.Expr:
        """The coefficient as a factored SymPy expression."""
        return coefficient_expr(self.coefficient)

    @property
    def text(self) -> str:
        """The monomial as text (`H(x)[x']`)."""
        return _render_ode.monomial_text(self.monomial)

    @property
    def latex(self) -> str:
        """The monomial as LaTeX (`\\nabla^2 f(x)\\,\\dot x`)."""
        return _render_ode.monomial_latex(self.monomial)


class HighResolutionODE:
    """A high-resolution modified equation; made by
    [`high_resolution_ode`][derive.high_resolution_ode].

    **Attributes:**

    - `recurrence`, `order`, `time_order`, `field` (the coefficients' field).
    - `terms`: the [`EquationTerm`][derive.EquationTerm]s of the left-hand side of
      `sum(terms) = 0` (for `time_order=1`: $\\dot x - F_h(x)$).
    - `raw`: the Taylor-expanded equation before any elimination (all derivatives).
    - `reduction`: the first-order reduction $\\dot x = F_h(x)$ as modified-flow
      [`Term`][derive.Term]s (trees, $g = -\\nabla f$).
    """

    def __init__(self, recurrence: Recurrence, order: int, time_order: int):
        self.recurrence = recurrence
        self.order = order
        self.time_order = time_order
        algebra = Algebra(recurrence, order)
        self.field = algebra.K
        self.raw = _terms(algebra.S, algebra.K)
        second = algebra.second_order()
        velocity = algebra.first_order_reduction(second)
        self.reduction = _flow_terms(velocity, algebra.K, order)
        if time_order == 2:
            self.terms = _terms(second, algebra.K)
        else:
            lhs: Series = {(0, VELOCITY): algebra.K.one}
            for key, c in velocity.items():
                lhs[key] = lhs.get(key, algebra.K.zero) - c
            self.terms = _terms(lhs, algebra.K)
        self._second = second
        self._velocity = velocity

    # ------------------------------------------------------------- pieces
    def coefficient(self, monomial: Monomial) -> sympy.Expr:
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
    def inertia(self) -> sympy.Expr:
        """$A(h)$, the coefficient of $\\ddot x$ (SymPy)."""
        return self.coefficient(ACCELERATION)

    @property
    def damping(self) -> sympy.Expr:
        """$B(h)$, the coefficient of $\\dot x$ (SymPy)."""
        return self.coefficient(VELOCITY)

    @property
    def parameters(self) -> dict[str, str]:
        """Hyper-parameters as exact strings (`{"beta": "9/10"}`, or `"beta"`)."""
        return self.recurrence.parameter_texts

    @cached_property
    def expression(self) -> sympy.Expr:
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
        from .._flow import affine_flow

        flow = affine_flow(self.recurrence, self.order, "the high-resolution ODE")
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

    @cached_property
    def conditions(self) -> list[str]:
        """Zeros of the denominators of the coefficients (e.g. `beta != 1`)."""
        return _conditions(self)

    def ordered_terms(self) -> list[EquationTerm]:
        """The terms as printed: inertia, damping, the others, then the gradient."""

        def category(t: EquationTerm) -> int:
            if t.monomial == ACCELERATION:
                return 0
            if t.monomial == VELOCITY:
                return 1
            if t.monomial == GRADIENT:
                return 3
            return 2

        return sorted(self.terms, key=lambda t: (category(t), t.power, t.monomial))

    def right_hand_side(self) -> list[EquationTerm]:
        """For `time_order=1`: the terms of $F_h$ (with the sign of the left side)."""
        rest = [t for t in self.terms if t.monomial != VELOCITY]
        return sorted(rest, key=lambda t: (t.power, t.monomial != GRADIENT, t.monomial))

    # ------------------------------------------------------------- renderings
    def equation_text(self) -> str:
        """The equation on one line (`... = 0`, or `x' = ...` for `time_order=1`)."""
        return _render_ode.equation_text(self)

    def text(self, header: bool = True) -> str:
        """Readable text, one term per line."""
        return _render_ode.ode_text(self, header)

    def latex(self) -> str:
        """LaTeX of the equation (`\\dot x`, `\\ddot x`, `\\nabla^2 f(x)\\,\\dot x`)."""
        return _render_ode.ode_latex(self)

    def to_dict(
        self, loss: LossExpression | None = None, variables: Variables | None = None
    ) -> dict[str, Any]:
        """The JSON record: equation, terms, first-order reduction and its check."""
        return _render_ode.ode_record(self, loss, variables)

    def to_json(
        self, loss: LossExpression | None = None, variables: Variables | None = None
    ) -> str:
        return json.dumps(self.to_dict(loss, variables), indent=2)

    # ------------------------------------------------------------- concrete loss
    def on(self, loss: LossExpression, variables: Variables) -> ExplicitODE:
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

        from .._concrete import ConcreteLoss

        cl = ConcreteLoss(loss, variables, self.recurrence.parameters)
        h = sympy.Symbol("h")
        vel = [sympy.Symbol(f"{v.name}'") for v in cl.variables]
        acc = [sympy.Symbol(f"{v.name}''") for v in cl.variables]
        cache: dict[int, Any] = {}
        memo: dict[Monomial, list[sympy.Expr]] = {}

        def value(mono: Monomial) -> list[sympy.Expr]:
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

    loss: sympy.Expr
    variables: list[sympy.Symbol]
    velocity: list[sympy.Symbol]
    acceleration: list[sympy.Symbol]
    equations: list[sympy.Expr]
    solved: list[sympy.Expr]


def _terms(series: Series, K: Field) -> list[EquationTerm]:
    return [
        EquationTerm(k, m, c, K)
        for (k, m), c in sorted(series.items(), key=lambda kv: kv[0])
        if c
    ]


def _flow_terms(F: Series, K: Field, order: int) -> list[Term]:
    """$\\dot x = F_h(x)$ as modified-flow terms: monomial(t) $= (-1)^{|t|} F(t)$."""
    table = tree_table(order + 1)
    out = []

    def index(mono: Monomial) -> int:
        if mono[0] != "f":  # pragma: no cover - F is in x alone
            raise AssertionError(mono)
        return table.lookup([index(a) for a in mono[1]])

    for (k, mono), c in F.items():
        if not c:
            continue
        i = index(mono)
        sign = -1 if table.size[i] % 2 else 1
        out.append(Term(k, table.bracket(i), i, c * sign, K))
    out.sort(key=lambda t: (t.power, t.index))
    return out


def _same_field(a: Field, b: Field) -> bool:
    return getattr(a, "names", ()) == getattr(b, "names", ())


def _conditions(ode: HighResolutionODE) -> list[str]:
    """Zeros of the denominators (e.g. `beta != 1`)."""
    import sympy

    if not ode.recurrence.parameters:
        return []
    coefficients = [t.coefficient for t in ode.terms]
    coefficients += [t.coefficient for t in ode.reduction]
    return nonzero_conditions(
        sympy.fraction(sympy.factor(ode.field.to_sympy(c)))[1] for c in coefficients
    )
