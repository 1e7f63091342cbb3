"""`invariant_manifold`: the slow manifold of a momentum method, its reduced flow and
its attraction rate.

A recurrence with states $(x, s_2, \\dots, s_m)$ has, for small $h$, an invariant
manifold on which every auxiliary state is a function of the position,

$$s_j = \\Psi_j(x) = \\alpha_j h^{w_j} x + \\sum_t h^{|t| + w_j}
\\frac{\\psi_j(t)}{\\sigma(t)} F(t)(x),$$

and on which the position follows the one-step map $x_{n+1} = \\Phi_h(x_n)$, the
time-$h$ map of the modified flow (the *reduced flow*; Hairer, Lubich & Wanner,
*Geometric Numerical Integration*, ch. XV; Kovachki & Stuart, JMLR 22 (2021),
third result). The manifold attracts nearby states at the rate of the *parasitic*
characteristic roots: the eigenvalues, other than the principal root 1, of $M_0$, the
linear part of the state update at $h = 0$ (gradient results treated as inputs). A
deviation from the manifold shrinks by about $\\rho = \\max |\\zeta|$ per step, that is
like $e^{t \\log \\rho / h}$ in time $t = n h$: for heavy ball and Nesterov $M_0$ is the
same matrix, with characteristic polynomial $(\\zeta - 1)(\\zeta - \\beta)$, so
$\\rho = |\\beta|$.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ._attraction import Attraction, attraction_of
from ._coefficients import Coefficient, Field
from ._exact import ExactValue
from ._flow import ExplicitField, ModifiedFlow, Term, affine_flow
from ._optimizers import OptimizerDefinition, optimizer_from
from ._render import manifold as _render_manifold
from ._trees import TreeTable

if TYPE_CHECKING:
    import sympy

    from ._concrete import ConcreteLoss, LossExpression, Variables

__all__ = [
    "invariant_manifold",
    "InvariantManifold",
    "ManifoldState",
    "Attraction",
    "ExplicitManifold",
]


def invariant_manifold(
    optimizer: OptimizerDefinition, order: int, **params: ExactValue | None
) -> InvariantManifold:
    """The slow invariant manifold of an optimizer, its reduced flow and attraction.

    On the manifold every auxiliary state (a previous iterate, a velocity, an EMA of
    gradients) is a B-series in the position $x$; the position follows the modified
    flow; off the manifold, deviations decay by the largest modulus $\\rho$ of the
    parasitic characteristic roots per step (Kovachki & Stuart 2021, third result).

    **Arguments:**

    - `optimizer`: a [`Recurrence`][derive.Recurrence] or a plain update function
      (traced with `params`).
    - `order`: the order $p$ of the reduced (modified) flow; the states are given on
      all trees with up to $p + 1$ nodes, like the flow (for a previous iterate:
      through $h^{p+1}$).
    - `**params`: hyper-parameter values when `optimizer` is a function.

    **Returns:** an [`InvariantManifold`][derive.InvariantManifold]: `.states` (one
    [`ManifoldState`][derive.ManifoldState] per auxiliary state), `.flow` (the reduced
    flow, a [`ModifiedFlow`][derive.ModifiedFlow]) and `.attraction` (an
    [`Attraction`][derive.Attraction]); `.text()`, `.latex()`, `.to_dict()`,
    `.on(loss, variables)`.

    !!! example
        ```python
        >>> import derive
        >>> m = derive.invariant_manifold(derive.heavy_ball(), order=1)
        >>> print(m.states[0].text())
        x_prev = x
               + h * (-1/(1 - beta) g)
               + h^2 * (1/((1 - beta)**3) g'g)
        >>> m.attraction.parasitic_roots, m.attraction.per_step
        ([beta], Abs(beta))
        >>> derive.invariant_manifold(derive.nesterov(0.9), 1).attraction.statement
        'attracting: every parasitic root has modulus < 1 (largest 9/10 per step)'

        ```

    ??? cite "References"
        Kovachki & Stuart, *Continuous time analysis of momentum methods*, JMLR 22
        (2021); Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed.
        (2006), section XV.2 (the underlying one-step method of a multistep method).
    """
    rec = optimizer_from(optimizer, params)
    flow = affine_flow(rec, order, "the invariant manifold")
    return InvariantManifold(flow)


@dataclass
class ManifoldState:
    """One auxiliary state on the manifold: $\\alpha x + \\sum$ `terms`.

    **Attributes:**

    - `name`: the state's name (`"x_prev"`).
    - `alpha`: `[(power, coefficient)]`, the weight of $x$ (as a series in $h$; for
      heavy ball `[(0, 1)]`: $x_{\\text{prev}} = x + O(h)$).
    - `terms`: [`Term`][derive.Term]s `coefficient * h**power * F(tree)`, by power then
      tree.
    """

    name: str
    alpha: list[tuple[int, Coefficient]]
    terms: list[Term]
    field: Field = dataclass_field(repr=False)
    table: TreeTable | None = dataclass_field(repr=False, default=None)

    def by_power(self) -> dict[int, list[Term]]:
        out: dict[int, list[Term]] = {}
        for t in self.terms:
            out.setdefault(t.power, []).append(t)
        return out

    def text(self, table: TreeTable | None = None) -> str:
        """`name = alpha x + h * (...) + ...`, one line per power of $h$."""
        return _render_manifold.state_text(self, self._table(table))

    def latex(self, table: TreeTable | None = None) -> str:
        """LaTeX: `x_{\\mathrm{prev}} &= x + h\\left(...\\right) + ...`."""
        return _render_manifold.state_latex(self, self._table(table))

    def _table(self, table: TreeTable | None) -> TreeTable:
        found = table or self.table
        if found is None:
            raise ValueError(f"no tree table to name the terms of {self.name}")
        return found


@dataclass
class ExplicitManifold:
    """An [`InvariantManifold`][derive.InvariantManifold] on a concrete loss.

    `states[name]` lists the state's components (SymPy, in the variables, `h` and
    symbolic parameters); `flow` is the reduced flow's
    [`ExplicitField`][derive.ExplicitField].
    """

    loss: sympy.Expr
    variables: list[sympy.Symbol]
    states: dict[str, list[sympy.Expr]]
    flow: ExplicitField[ConcreteLoss]


class InvariantManifold:
    """The slow manifold of a recurrence; made by
    [`invariant_manifold`][derive.invariant_manifold].

    **Attributes:**

    - `recurrence`, `order`.
    - `flow`: the reduced flow on the manifold, the
      [`ModifiedFlow`][derive.ModifiedFlow] of the same order.
    - `manifold`: the engine's `SlowManifold` (all coefficients).
    - `states`: one [`ManifoldState`][derive.ManifoldState] per auxiliary state.
    - `attraction`: the [`Attraction`][derive.Attraction].
    """

    def __init__(self, flow: ModifiedFlow):
        self.flow = flow
        self.recurrence = flow.recurrence
        self.order = flow.order
        self.manifold = flow.manifold
        self.table = flow.table
        self.states = self._states()

    # ------------------------------------------------------------- states
    def _states(self) -> list[ManifoldState]:
        from ._coefficients import field_for
        from ._series_h import h_series

        mf = self.manifold
        table = self.table
        n = len(table.up_to(self.order + 1))
        params = self.recurrence.parameters
        out = []
        for j in range(1, len(self.recurrence.states)):
            terms = []
            if mf.homogeneous:
                K = mf.field
                w = int(mf.weights[j])
                alpha = [(w, mf.alpha[j])] if mf.alpha[j] else []
                for i in range(n):
                    c = mf.psi[j][i]
                    if c:
                        terms.append(
                            Term(
                                table.size[i] + w,
                                table.bracket(i),
                                i,
                                c / table.sigma[i],
                                K,
                            )
                        )
            else:
                K = field_for(params)
                upto = self.order + 1
                alpha = []
                if mf.alpha[j]:
                    series = h_series(mf.alpha[j], params, upto)
                    alpha = [(k, c) for k, c in enumerate(series) if c]
                for i in range(n):
                    c = mf.psi[j][i]
                    if not c:
                        continue
                    series = h_series(c, params, upto)
                    for k, ck in enumerate(series):
                        if ck:
                            terms.append(
                                Term(
                                    k,
                                    table.bracket(i),
                                    i,
                                    ck / table.sigma[i],
                                    K,
                                )
                            )
            terms.sort(key=lambda t: (t.power, t.index))
            out.append(ManifoldState(self.recurrence.states[j], alpha, terms, K, table))
        return out

    # ------------------------------------------------------------- attraction
    @cached_property
    def attraction(self) -> Attraction:
        """The parasitic roots of $M_0$ and the rates they give."""
        return attraction_of(self.recurrence, self.manifold)

    # ------------------------------------------------------------- renderings
    def text(self, header: bool = True) -> str:
        """The states on the manifold, the reduced flow and the attraction, as text."""
        return _render_manifold.manifold_text(self, header)

    def latex(self) -> str:
        """An `aligned` block: the states, the reduced flow and the attraction rate."""
        return _render_manifold.manifold_latex(self)

    def to_dict(
        self, loss: LossExpression | None = None, variables: Variables | None = None
    ) -> dict[str, Any]:
        """The JSON record: states, reduced flow (the `derive flow` record) and
        attraction."""
        return _render_manifold.manifold_record(self, loss, variables)

    def to_json(
        self, loss: LossExpression | None = None, variables: Variables | None = None
    ) -> str:
        return json.dumps(self.to_dict(loss, variables), indent=2)

    def on(self, loss: LossExpression, variables: Variables) -> ExplicitManifold:
        """The states on the manifold and the reduced flow for a concrete loss.

        **Arguments:**

        - `loss`: a SymPy expression or a string.
        - `variables`: the coordinates (`"x,y"` or symbols).

        **Returns:** an [`ExplicitManifold`][derive.ExplicitManifold] with `states` (name -> components) and
        `flow` (the reduced flow's [`ExplicitField`][derive.ExplicitField]).

        !!! example
            ```python
            >>> import derive
            >>> m = derive.invariant_manifold(derive.heavy_ball(0.5), order=1)
            >>> m.on("x**2/2", "x").states["x_prev"]
            [8*h**2*x + 2*h*x + x]

            ```
        """
        import sympy

        from ._concrete import ConcreteLoss

        cl = ConcreteLoss(loss, variables, self.recurrence.parameters)
        h = sympy.Symbol("h")
        states = {}
        for s in self.states:
            comps = [sympy.Integer(0)] * len(cl.variables)
            for k, c in s.alpha:
                a = s.field.to_sympy(c) * h**k
                comps = [e + a * v for e, v in zip(comps, cl.variables, strict=True)]
            for t in s.terms:
                F = cl.differential(self.table, t.index)
                c = s.field.to_sympy(t.coefficient) * h**t.power
                comps = [e + c * f for e, f in zip(comps, F, strict=True)]
            states[s.name] = [sympy.expand(e) for e in comps]
        return ExplicitManifold(cl.loss, cl.variables, states, self.flow.on(cl, None))
