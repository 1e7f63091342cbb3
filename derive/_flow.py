"""`modified_flow`: the modified equation of an optimizer to any order in $h$."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._bseries import logarithm_coefficients
from ._budget import check_flow_work
from ._coefficients import Coefficient, Field
from ._conditions import nonzero_conditions
from ._conventions import CONVENTIONS
from ._errors import DeriveError
from ._exact import ExactValue
from ._modified_loss import GradientTest, gradient_test
from ._optimizers import OptimizerDefinition, optimizer_from
from ._recurrence import Recurrence
from ._render import flow as _render_flow
from ._render.coefficients import coefficient_expr
from ._series_h import h_series
from ._slow_manifold import SlowManifold, solve_manifold
from ._trees import TreeTable

if TYPE_CHECKING:
    import sympy

    from ._componentwise.flow import ComponentwiseFlow
    from ._concrete import ConcreteLoss, LossExpression, Variables

__all__ = [
    "modified_flow",
    "bseries_flow",
    "ModifiedFlow",
    "Term",
    "CONVENTIONS",
    "manifold_states",
]


@dataclass(frozen=True)
class Term:
    """One term `coefficient * h**power * F(tree)` of a modified flow.

    `coefficient` is exact: a `flint.fmpq` or a [`RationalFunction`][derive.RationalFunction]
    of the symbolic hyper-parameters; `sympy` gives it as a SymPy expression.
    """

    power: int
    tree: str
    index: int
    coefficient: Coefficient
    field: Field

    @cached_property
    def sympy(self) -> sympy.Expr:
        """The coefficient as a factored SymPy expression, as papers print it
        (factors like $1 - \\beta$, the sign in front)."""
        return coefficient_expr(self.coefficient)


def terms_by_power(terms: Iterable[Term], order: int) -> dict[int, list[Term]]:
    """`terms` grouped by power of $h$, every power from 0 to `order` present."""
    out: dict[int, list[Term]] = {k: [] for k in range(order + 1)}
    for t in terms:
        out[t.power].append(t)
    return out


def modified_flow(
    optimizer: OptimizerDefinition, order: int, **params: ExactValue | None
) -> ModifiedFlow | ComponentwiseFlow:
    """The modified flow $\\dot x = F_0(x) + h F_1(x) + \\dots + h^p F_p(x)$ of an optimizer.

    The flow's solution at $t = n h$ matches the iterates $x_n$ up to $O(h^{p+1})$
    (for momentum methods: iterates started on the slow manifold). Every coefficient is
    exact.

    **Arguments:**

    - `optimizer`: a [`Recurrence`][derive.Recurrence] (`derive.gd()`,
      `derive.heavy_ball(beta)`, `derive.parse_spec(...)`, ...) or a plain Python
      function `def step(x, ..., *, grad, h, ...)`, traced with `params`.
    - `order`: the highest power $p$ of $h$ (0 gives the leading-order flow).
    - `**params`: hyper-parameter values when `optimizer` is a function.

    **Returns:** a [`ModifiedFlow`][derive.ModifiedFlow] (B-series: every
    optimizer whose gradients enter through affine combinations), or a
    [`ComponentwiseFlow`][derive.ComponentwiseFlow] when the update has componentwise
    operations (RMSProp, Adam, ...: see [`adam`][derive.adam]).

    !!! example
        ```python
        >>> import derive
        >>> flow = derive.modified_flow(derive.gd(), order=2)
        >>> print(flow.text(header=False))
        dx/dt = g
              + h * (-1/2 g'g)
              + h^2 * (1/3 g'g'g + 1/12 g''(g,g))
        >>> flow.modified_loss.text
        'f + h*(1/4 |grad f|^2)'

        ```

    ??? cite "References"
        Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed. (2006),
        ch. IX (modified equations) and XV (multistep methods);
        Kovachki & Stuart, *Continuous time analysis of momentum methods*, JMLR 22 (2021).
    """
    rec = optimizer_from(optimizer, params)
    if isinstance(order, bool) or not isinstance(order, int):
        raise DeriveError(
            f"order must be an integer, got {order!r}.", "Use e.g. order=2."
        )
    if order < 0:
        raise DeriveError(
            f"order must be a non-negative integer, got {order}.",
            "Use order=0 for the leading-order flow, 1 for the first correction, ...",
        )
    if order > 12:
        raise DeriveError(
            f"order {order} needs trees with {order + 1} nodes; orders above 12 are not "
            "supported (there are 12486 trees with 13 nodes).",
            "Use an order of at most 12.",
        )
    check_flow_work(rec, order)  # before any work: refuse what would not finish
    if rec.componentwise:
        from ._componentwise.flow import componentwise_flow

        return componentwise_flow(rec, order)
    return affine_flow(rec, order, "the B-series flow")


def bseries_flow(
    optimizer: OptimizerDefinition, order: int, **params: ExactValue | None
) -> ModifiedFlow:
    """The B-series modified flow of an optimizer whose gradients enter through
    affine combinations: [`modified_flow`][derive.modified_flow] for callers that need
    its trees, manifold and modified loss (it refuses componentwise optimizers).

    !!! example
        ```python
        >>> import derive
        >>> derive.bseries_flow(derive.gd(), 1).terms[1].tree
        '[[]]'

        ```
    """
    rec = optimizer_from(optimizer, params)
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise DeriveError(
            f"order must be a non-negative integer, got {order!r}.", "Use e.g. order=2."
        )
    check_flow_work(rec, order)
    return affine_flow(rec, order, "the B-series flow")


def affine_flow(rec: Recurrence, order: int, what: str) -> ModifiedFlow:
    """`bseries_flow` of a recurrence; `what` names the computation that needs it,
    for the error raised when `rec` has componentwise operations."""
    rec.require_affine(what)
    manifold = solve_manifold(rec, order + 1)
    return ModifiedFlow(rec, order, manifold)


class ModifiedFlow:
    """The modified flow of an optimizer; made by [`modified_flow`][derive.modified_flow].

    **Attributes:**

    - `recurrence`, `order`, `manifold` (the underlying one-step method and the momentum
      states on the slow manifold, see `derive._slow_manifold.SlowManifold`).
    - `terms`: the nonzero [`Term`][derive.Term]s by power of $h$, then by tree.
    - `modified_loss`: a [`ModifiedLoss`][derive.ModifiedLoss] (possibly of order -1:
      no term is a gradient).
    """

    def __init__(self, recurrence: Recurrence, order: int, manifold: SlowManifold):
        self.recurrence = recurrence
        self.order = order
        self.manifold = manifold
        self.table: TreeTable = manifold.table
        self.field = _output_field(manifold)
        self.b = self._field_coefficients()
        terms = []
        for (power, i), c in sorted(
            self.b.items(), key=lambda kv: (kv[0][0], kv[0][1])
        ):
            if c:
                terms.append(
                    Term(
                        power,
                        self.table.bracket(i),
                        i,
                        c / self.table.sigma[i],
                        self.field,
                    )
                )
        self.terms: list[Term] = terms

    # ------------------------------------------------------------- coefficients
    def _field_coefficients(self) -> dict[tuple[int, int], Coefficient]:
        """$b(t)$ ($\\sigma$-normalised) of the modified field, keyed by (power, tree)."""
        mf = self.manifold
        n = len(self.table.up_to(self.order + 1))
        K = mf.field
        b = logarithm_coefficients(self.table, n, mf.phi, K.zero, K.one, K.convert)
        size = self.table.size
        out: dict[tuple[int, int], Coefficient] = {}
        if mf.homogeneous:
            for i in range(n):
                out[(size[i] - 1, i)] = b[i]
            return out
        params = self.recurrence.parameters
        for i in range(n):
            series = h_series(b[i], params, self.order + 1)
            for k in range(min(size[i], self.order + 2)):
                if k < size[i] and series[k]:
                    raise DeriveError(
                        f"the coefficient of tree {self.table.bracket(i)} starts at "
                        f"h^{k}, below h^{size[i]}: the optimizer's corrections are not "
                        "O(h) per gradient call, so no truncation by order is valid.",
                        "Scale every gradient call by h (e.g. x - h*grad(x)) and keep "
                        "gradient points x + O(h).",
                    )
            for k in range(size[i], self.order + 2):
                out[(k - 1, i)] = series[k]
        return out

    def truncate(self, order: int) -> ModifiedFlow:
        """The same flow through a lower order $p$: the terms up to $h^p$, without
        deriving anything again (the slow manifold is shared).

        !!! example
            ```python
            >>> import derive
            >>> flow = derive.modified_flow(derive.heavy_ball(), order=3)
            >>> flow.truncate(1).text(header=False) == derive.modified_flow(
            ...     derive.heavy_ball(), order=1).text(header=False)
            True

            ```
        """
        if isinstance(order, bool) or not isinstance(order, int):
            raise DeriveError(f"order must be an integer, got {order!r}.", "")
        if not 0 <= order <= self.order:
            raise DeriveError(
                f"cannot truncate a flow of order {self.order} to order {order}.",
                f"Use an order from 0 to {self.order}, or derive the flow to a "
                "higher order.",
            )
        out = object.__new__(ModifiedFlow)
        out.recurrence = self.recurrence
        out.order = order
        out.manifold = self.manifold
        out.table = self.table
        out.field = self.field
        out.b = {key: c for key, c in self.b.items() if key[0] <= order}
        out.terms = [t for t in self.terms if t.power <= order]
        return out

    # ------------------------------------------------------------- views
    def by_power(self) -> dict[int, list[Term]]:
        """Terms grouped by power of $h$ (`{0: [...], 1: [...], ...}`)."""
        return terms_by_power(self.terms, self.order)

    @property
    def parameters(self) -> dict[str, str]:
        """Hyper-parameters as exact strings (`{"beta": "9/10"}`, or `"beta"` if symbolic)."""
        return self.recurrence.parameter_texts

    @cached_property
    def conditions(self) -> list[str]:
        """Conditions on symbolic hyper-parameters for the derivation to hold."""
        det = self.manifold.determinant
        if not self.recurrence.parameters:
            return []
        import sympy

        expr = (
            self.manifold.field.to_sympy(det)
            if self.manifold.homogeneous
            else (self.recurrence.field.to_sympy(det).subs(sympy.Symbol("h"), 0))
        )
        # and where a coefficient of the update itself has a pole (x - h*grad(x)/beta)
        from ._recurrence import Combine

        K = self.recurrence.field
        poles = [  # at h = 0: the expansion in h needs the limit to exist
            sympy.fraction(sympy.factor(K.to_sympy(c)))[1].subs(sympy.Symbol("h"), 0)
            for ins in self.recurrence.instructions
            if isinstance(ins, Combine)
            for _, c in ins.terms
            if c
        ]
        return nonzero_conditions([*sympy.fraction(sympy.factor(expr)), *poles])

    @cached_property
    def warnings(self) -> list[str]:
        """Problems that the coefficients do not show, one sentence each (a slow
        manifold that is not attracting); printed with the flow."""
        from ._flow_warnings import flow_warnings

        return flow_warnings(self)

    @cached_property
    def gradient_tests(self) -> list[GradientTest]:
        """Per power $k$ of $h$: is $F_k$ a gradient (see `derive._modified_loss`)."""
        out = []
        zero = self.field.zero
        for k in range(self.order + 1):
            b = {i: c for (p, i), c in self.b.items() if p == k}
            out.append(
                gradient_test(
                    self.table, k + 1, _tree_sized(b, self.table, k + 1), zero
                )
            )
        return out

    @cached_property
    def modified_loss(self) -> ModifiedLoss:
        """The modified loss through the highest order where every term is a gradient."""
        through = -1
        parts = []
        for test in self.gradient_tests:
            if not test.is_gradient:
                break
            through = test.n - 1
            parts.append(test)
        return ModifiedLoss(self, through, parts)

    # ------------------------------------------------------------- renderings
    def coefficient_text(self, term: Term) -> str:
        """The exact coefficient of a term as SymPy text."""
        return _render_flow.coefficient_text(term)

    def text(self, header: bool = True) -> str:
        """Readable text: one line per power of $h$, then the modified loss (or where
        it stops) and the conditions of validity."""
        return _render_flow.flow_text(self, header)

    def latex(self) -> str:
        """LaTeX for the modified equation (an `aligned` block)."""
        return _render_flow.flow_latex(self)

    def term_latex(self, term: Term) -> str:
        """One term in LaTeX."""
        return _render_flow.term_latex(self.table, term)

    def to_dict(
        self, loss: LossExpression | None = None, variables: Variables | None = None
    ) -> dict[str, Any]:
        """The JSON record (see the CLI contract in the README)."""
        return _render_flow.flow_record(self, loss, variables)

    def to_json(
        self, loss: LossExpression | None = None, variables: Variables | None = None
    ) -> str:
        return json.dumps(self.to_dict(loss, variables), indent=2)

    # ------------------------------------------------------------- concrete loss
    def on(
        self, loss: LossExpression | ConcreteLoss, variables: Variables | None
    ) -> ExplicitField[ConcreteLoss]:
        """The explicit vector field for a concrete SymPy loss.

        **Arguments:**

        - `loss`: a SymPy expression or a string (parsed safely).
        - `variables`: the coordinates (symbols or names, or `"x,y"`).

        **Returns:** an [`ExplicitField`][derive.ExplicitField]: `components` are SymPy
        expressions in the variables, `h` and any symbolic hyper-parameters.

        !!! example
            ```python
            >>> import derive
            >>> flow = derive.modified_flow(derive.gd(), order=1)
            >>> flow.on("x**2/2", "x").components
            [-h*x/2 - x]

            ```
        """
        import sympy

        from ._concrete import ConcreteLoss

        cl = (
            loss
            if isinstance(loss, ConcreteLoss)
            else ConcreteLoss(loss, variables or (), self.recurrence.parameters)
        )
        h = sympy.Symbol("h")
        d = len(cl.variables)
        powers = [[sympy.Integer(0)] * d for _ in range(self.order + 1)]
        for t in self.terms:
            F = cl.differential(self.table, t.index)
            c = t.sympy
            powers[t.power] = [
                a + c * f for a, f in zip(powers[t.power], F, strict=True)
            ]
        comps = [
            sum((h**k * powers[k][i] for k in range(self.order + 1)), sympy.Integer(0))
            for i in range(d)
        ]
        return ExplicitField(cl.loss, cl.variables, comps, cl, powers)


def manifold_states(
    flow: ModifiedFlow, loss: LossExpression, variables: Variables
) -> dict[str, list[sympy.Expr]]:
    """The optimizer's states on the slow manifold for a concrete loss.

    State $j$ is $\\alpha_j x + \\sum_t h^{|t| + w_j} \\psi_j(t)/\\sigma(t) F(t)(x)$ on the
    trees the flow was derived with (`order + 1` nodes), so starting the iterates there
    puts them on the manifold up to $O(h^{\\text{order}+2})$.

    **Returns:** `{state name: [SymPy expression per variable]}` in the variables,
    `h` and symbolic hyper-parameters.

    !!! example
        ```python
        >>> import derive
        >>> from derive._flow import manifold_states
        >>> flow = derive.modified_flow(derive.heavy_ball(0.5), order=0)
        >>> manifold_states(flow, "x**2/2", "x")["x_prev"]
        [2*h*x + x]

        ```
    """
    import sympy

    from ._concrete import ConcreteLoss
    from ._series_h import h_series

    mf = flow.manifold
    cl = ConcreteLoss(loss, variables, flow.recurrence.parameters)
    h = sympy.Symbol("h")
    out = {}
    n = len(flow.table.up_to(flow.order + 1))
    for j, name in enumerate(flow.recurrence.states):
        K = mf.field
        alpha = K.to_sympy(mf.alpha[j]) if mf.alpha[j] else sympy.Integer(0)
        if mf.homogeneous:  # alpha_j was evaluated at h = 1; it carries h^(w_j)
            alpha = alpha * h ** mf.weights[j]
        comps = [alpha * v for v in cl.variables]
        for i in range(n):
            c = mf.psi[j][i] if j else mf.phi[i] * 0
            if not c:
                continue
            sigma = flow.table.sigma[i]
            if mf.homogeneous:
                coeff = (
                    K.to_sympy(c) * h ** (flow.table.size[i] + mf.weights[j]) / sigma
                )
            else:
                series = h_series(c, flow.recurrence.parameters, flow.order + 1)
                f = flow.field
                coeff = (
                    sum(
                        (f.to_sympy(s) * h**k for k, s in enumerate(series) if s),
                        sympy.Integer(0),
                    )
                    / sigma
                )
            F = cl.differential(flow.table, i)
            comps = [a + coeff * e for a, e in zip(comps, F, strict=True)]
        out[name] = [sympy.expand(e) for e in comps]
    return out


ConcreteT = TypeVar("ConcreteT")
"""The concrete loss(es) of an explicit field: a `ConcreteLoss`, or the per-batch
losses of a mini-batch flow."""


@dataclass
class ExplicitField(Generic[ConcreteT]):
    """A modified flow on a concrete loss: `components[i]` is $dx_i/dt$.

    `by_power[k][i]` is component `i` of $F_k$ (the coefficient of $h^k$), so
    `components[i]` is $\\sum_k h^k$ `by_power[k][i]`; neither is expanded. `concrete`
    holds the loss with its memoised derivatives (for a mini-batch flow, the per-batch
    losses).
    """

    loss: sympy.Expr
    variables: list[sympy.Symbol]
    components: list[sympy.Expr]
    concrete: ConcreteT
    by_power: list[list[sympy.Expr]]

    def __iter__(self) -> Iterator[sympy.Expr]:
        return iter(self.components)


class ModifiedLoss:
    """$\\tilde f = f + h \\tilde f_1 + \\dots$ through `through_order` (-1: none).

    `parts[k]` is the `GradientTest` (see `derive._modified_loss`) of power $k$; `text` and `latex` render it with
    the scalar invariants of `derive._render`.
    """

    def __init__(
        self, flow: ModifiedFlow, through_order: int, parts: Sequence[GradientTest]
    ):
        self.flow = flow
        self.through_order = through_order
        self.parts = list(parts)

    @property
    def text(self) -> str:
        """The modified loss as text (`f + h*(1/4 |grad f|^2)`)."""
        return _render_flow.loss_text(self)

    def latex_lines(self) -> list[str]:
        """The modified loss as display lines (one line when short, else one per
        power of $h$), for a `multline*` environment."""
        return _render_flow.loss_latex_lines(self)

    @property
    def latex(self) -> str:
        """The modified loss as LaTeX (`\\tilde f = ...`)."""
        return _render_flow.loss_latex(self)

    def on(self, loss: LossExpression, variables: Variables) -> sympy.Expr:
        """The modified loss as an explicit SymPy expression for a concrete loss."""
        import sympy

        from ._concrete import ConcreteLoss

        cl = ConcreteLoss(loss, variables, self.flow.recurrence.parameters)
        h = sympy.Symbol("h")
        total = sympy.Integer(0)
        for k, test in enumerate(self.parts):
            for rep, c in test.potential:
                total += (
                    self.flow.field.to_sympy(c) * h**k * cl.scalar(self.flow.table, rep)
                )
        return sympy.expand(total)


def _tree_sized(
    b: dict[int, Coefficient], table: TreeTable, n: int
) -> dict[int, Coefficient]:
    return {i: c for i, c in b.items() if table.size[i] == n}


def _output_field(mf: SlowManifold) -> Field:
    from ._coefficients import field_for

    return mf.field if mf.homogeneous else field_for(mf.recurrence.parameters)
