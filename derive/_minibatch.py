"""`minibatch_flow`: the modified flow of a mini-batch optimizer, per step, to any order.

An epoch of $m$ steps, step $j$ on batch $c_j$, is one map (`derive._epoch`); its
logarithm over colored trees, divided by the epoch's duration $m h$, is the modified
flow per step (time $t = n h$, $n$ counting steps). Three samplings:

- `"fixed"`: batch $j$ at step $j$ of every epoch; the flow's solution at $t = K m h$
  matches the iterate after $K$ epochs up to $O(h^{p+1})$, written with the batch fields
  $g_1, \\dots, g_m$;
- `"shuffle"` (random reshuffling): the flow of the expected epoch map over a uniformly
  random order, $\\log \\mathbb{E}_\\pi[\\Phi_\\pi]/(m h)$;
- `"replacement"`: the flow of the expected map of $m$ steps with batches drawn
  independently and uniformly.

Expectations are written with the full loss $f = \\frac1m \\sum_k f_k$, its field $g$,
and the deviations $d_k = g_k - g$ averaged over batch indices (`derive._deviations`).
At first order random reshuffling gives the modified loss $f + \\frac h4 |\\nabla f|^2 +
\\frac h4 \\langle |\\nabla (f_k - f)|^2 \\rangle = f + \\frac{h}{4m} \\sum_k |\\nabla
f_k|^2$ of Smith, Dherin, Barrett & De, *On the origin of implicit regularization in
stochastic gradient descent*, ICLR 2021.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeAlias

from . import _minibatch_render as _rendering
from ._batch_expectation import SAMPLINGS, ExpectedEpoch, is_euler_like
from ._coefficients import Coefficient, Field, field_for, rational_function_field
from ._colored_bseries import ColoredSeries, colored_logarithm
from ._colored_loss import colored_gradient_test
from ._colored_render import (
    batch_naming,
    deviation_naming,
    differential_latex,
    differential_text,
)
from ._colored_trees import CanonicalKey, ColoredTreeTable, colored_tree_table
from ._deviations import canonical_decorated, decorated_sigma, deviation_expansion
from ._epoch import EpochMap
from ._errors import DeriveError
from ._exact import ExactValue
from ._flow import ExplicitField, Term, terms_by_power
from ._minibatch_loss import MinibatchModifiedLoss
from ._optimizers import OptimizerDefinition
from ._recurrence import Recurrence
from ._render.printers import text as _sympy_str
from ._series_h import h_series
from ._sgd import minibatch_optimizer

if TYPE_CHECKING:
    import sympy

    from ._colored_concrete import ConcreteBatches
    from ._concrete import LossExpression, Variables

__all__ = ["minibatch_flow", "MinibatchFlow", "MAX_FIXED_TREES", "Potential"]

MAX_FIXED_TREES = 60_000
"""The most colored trees a fixed-order derivation may use (m colors, p + 1 nodes)."""
MAX_EXPECTATION_ORDER = 5

Potential: TypeAlias = list[tuple[int, Coefficient]]
"""`(free tree representative, coefficient)` pairs of one power of the modified loss."""


def minibatch_flow(
    optimizer: OptimizerDefinition,
    order: int,
    *,
    batches: int | str,
    sampling: str = "shuffle",
    **params: ExactValue | None,
) -> MinibatchFlow:
    """The modified flow per step of a mini-batch optimizer over $m$ batches.

    **Arguments:**

    - `optimizer`: `"sgd"`, `"sgdm"` (PyTorch momentum, parameter `mu`), or anything
      [`optimizer`][derive.optimizer] takes (built-ins, specs, functions); each step
      uses the gradient of one batch.
    - `order`: the highest power $p$ of $h$.
    - `batches`: the number $m$ of batches per epoch (an int); `"m"` keeps it a symbol
      (plain SGD with `sampling="shuffle"` or `"replacement"` only).
    - `sampling`: `"shuffle"` (random reshuffling, default), `"replacement"` or
      `"fixed"` (see the module docs).
    - `**params`: hyper-parameter values (`mu=0.9`).

    **Returns:** a [`MinibatchFlow`][derive.MinibatchFlow].

    !!! example
        ```python
        >>> import derive
        >>> flow = derive.minibatch_flow("sgd", order=1, batches=4)
        >>> print(flow.text(header=False))
        dx/dt = g
              + h * (-1/2 g'g - 1/2 <d_k'd_k>)
        >>> flow.modified_loss.text             # Smith, Dherin, Barrett & De (2021)
        'f + h*(1/4 |grad f|^2 + 1/4 <|grad e_k|^2>)'

        ```

    ??? cite "References"
        Smith, Dherin, Barrett & De, *On the origin of implicit regularization in
        stochastic gradient descent*, ICLR 2021; Hairer, Lubich & Wanner, *Geometric
        Numerical Integration*, 2nd ed. (2006), III.2 and IX; Araújo, Murua &
        Sanz-Serna, *Symplectic methods based on decompositions*, SIAM J. Numer. Anal.
        34 (1997) (colored trees).
    """
    rec = minibatch_optimizer(optimizer, **params)
    rec.require_affine("the mini-batch flow")
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise DeriveError(
            f"order must be a non-negative integer, got {order!r}.", "Use e.g. order=2."
        )
    if sampling not in SAMPLINGS:
        raise DeriveError(
            f"unknown sampling {sampling!r}.",
            "Use 'shuffle' (random reshuffling), 'replacement' or 'fixed'.",
        )
    symbolic = isinstance(batches, str) and batches.strip() == "m"
    if not symbolic and (
        isinstance(batches, bool) or not isinstance(batches, int) or batches < 1
    ):
        raise DeriveError(
            f"the number of batches must be a whole number of at least 1, got "
            f"{batches!r}.",
            "Give e.g. batches=4 (on the command line --batches 4), or 'm' for a "
            "symbol (plain SGD).",
        )
    if sampling != "fixed" and order > MAX_EXPECTATION_ORDER:
        raise DeriveError(
            f"order {order} is above {MAX_EXPECTATION_ORDER}, the highest order of the "
            "expectations over batch orders (trees with up to 6 nodes).",
            f"Use an order of at most {MAX_EXPECTATION_ORDER}.",
        )
    if symbolic and sampling == "fixed":
        raise DeriveError(
            "a fixed batch order needs a number of batches.",
            "Give batches as a whole number.",
        )
    if symbolic and "m" in rec.parameters + tuple(rec.values):
        raise DeriveError(
            "the optimizer has a hyper-parameter named m, the symbol for the number of "
            "batches.",
            "Rename the hyper-parameter.",
        )
    return MinibatchFlow(rec, order, "m" if symbolic else batches, sampling)


def _term_order(table: ColoredTreeTable, i: int) -> tuple[int, CanonicalKey]:
    """Terms print by uncolored tree (the order of full-batch flows), then by colors."""
    from ._trees import tree_table

    size = table.size[i]
    return (tree_table(size).index_of(table.shape(i)), table.canonical_key(i))


class MinibatchFlow:
    """The modified flow of a mini-batch optimizer; made by
    [`minibatch_flow`][derive.minibatch_flow].

    **Attributes:**

    - `recurrence`, `order`, `batches` ($m$, or `"m"`), `sampling`.
    - `terms`: the nonzero [`Term`][derive.Term]s by power of $h$; `tree` is a colored
      tree (`derive.ColoredTreeTable` bracket notation): for a fixed order colors are
      batches; for an expectation color 0 is $g$ and colors 1, 2, 3 are deviation
      blocks $d_k, d_l, d_j$, averaged.
    - `modified_loss`: the modified loss through the highest order where every term is
      a gradient.
    """

    def __init__(
        self, recurrence: Recurrence, order: int, batches: int | str, sampling: str
    ):
        self.recurrence = recurrence
        self.order = order
        self.batches = batches
        self.sampling = sampling
        self.table = colored_tree_table()
        n = order + 1
        table = self.table

        def factory(colors: tuple[int, ...]) -> EpochMap:
            return EpochMap(recurrence, colors, table)

        params = recurrence.parameters
        K: Field
        m_value: int | Coefficient  # m, a number or the generator of the field
        raw: Mapping[int, Coefficient]
        self._canonical: Callable[[int], int]
        self._sigma: Callable[[int], int]
        self.epoch: EpochMap | None
        self.determinant: Coefficient | None
        if sampling == "fixed":
            if not isinstance(batches, int):
                raise DeriveError(
                    "a fixed batch order needs a number of batches.",
                    "Give batches as a whole number.",
                )
            self.naming = batch_naming()
            self.epoch = factory(tuple(range(1, batches + 1)))
            colors = tuple(range(1, batches + 1))
            count = sum(len(table.of_size(k, colors)) for k in range(1, min(n, 2) + 1))
            if batches > 1 and n > 2:
                estimate = count * batches ** (n - 2)
                if estimate > MAX_FIXED_TREES:
                    raise DeriveError(
                        f"a fixed order of {batches} batches at order {order} needs "
                        f"about {estimate} colored trees, more than {MAX_FIXED_TREES}.",
                        "Use fewer batches or a lower order, or an expectation "
                        "(--sampling shuffle or replacement), whose size does not "
                        "grow with the number of batches.",
                    )
            K = self.epoch.field
            homogeneous = self.epoch.homogeneous
            log = colored_logarithm(
                ColoredSeries(self.epoch.phi, empty=1, field=K, table=table)
            )
            raw = {}
            for t in table.up_to(n, colors):
                c = log[t]
                if c:
                    raw[t] = c / table.sigma[t]
            self._canonical = lambda i: i
            self._sigma = lambda i: table.sigma[i]
            self.determinant = self.epoch.determinant
            m_value = batches
        else:
            self.naming = deviation_naming()
            self.epoch = None
            euler = is_euler_like(factory, n)
            if not isinstance(batches, int):  # "m", a symbol
                if not euler:
                    raise DeriveError(
                        "a symbolic number of batches works only for plain SGD (x+ = x "
                        f"- h grad f_k(x)); {recurrence.name} is not.",
                        "Give the number of batches as a whole number.",
                    )
                symbolic = rational_function_field((*params, "m"))
                K, m_value = symbolic, symbolic.gen("m")
            else:
                K = field_for(params)
                m_value = batches
            expected = ExpectedEpoch(factory, m_value, sampling, K, euler, table)
            K = expected.field
            steps = expected.steps
            homogeneous = True if steps is None else steps.homogeneous
            self.determinant = None if steps is None else steps.determinant
            log = colored_logarithm(
                ColoredSeries(expected, empty=1, field=K, table=table)
            )
            raw = deviation_expansion(log.__getitem__, n, m_value, K, table)
            if batches == 1:  # one batch: every deviation vanishes
                raw = {d: c for d, c in raw.items() if max(table.colors(d)) == 0}
            self._canonical = lambda i: canonical_decorated(table, i)[0]
            self._sigma = lambda i: decorated_sigma(table, i)
        m = K.convert(m_value) if isinstance(m_value, int) else m_value
        self.homogeneous = homogeneous
        self.coefficient_field = K
        self.field = K if homogeneous else field_for(params)
        self._coefficients = self._by_power(raw, m)
        terms = []
        for (power, i), c in sorted(
            self._coefficients.items(),
            key=lambda kv: (kv[0][0], *_term_order(table, kv[0][1])),
        ):
            if c:
                terms.append(Term(power, table.bracket(i), i, c, self.field))
        self.terms: list[Term] = terms

    def _by_power(
        self, raw: Mapping[int, Coefficient], m: Coefficient
    ) -> dict[tuple[int, int], Coefficient]:
        size = self.table.size
        out: dict[tuple[int, int], Coefficient] = {}
        for i, c in raw.items():
            c = c / m
            if self.homogeneous:
                if size[i] - 1 <= self.order:
                    out[(size[i] - 1, i)] = c
                continue
            series = h_series(c, self.recurrence.parameters, self.order + 1)
            for k in range(min(size[i], self.order + 2)):
                if series[k]:
                    raise DeriveError(
                        f"the coefficient of tree {self.table.bracket(i)} starts at "
                        f"h^{k}, below h^{size[i]}: the optimizer's corrections are not "
                        "O(h) per gradient call.",
                        "Scale every gradient call by h (e.g. x - h*grad(x)).",
                    )
            for k in range(size[i], self.order + 2):
                if series[k]:
                    out[(k - 1, i)] = series[k]
        return out

    # ------------------------------------------------------------------ views
    @property
    def expected(self) -> bool:
        """Whether this is an expectation over batch orders (not a fixed order)."""
        return self.sampling != "fixed"

    def by_power(self) -> dict[int, list[Term]]:
        """Terms grouped by power of $h$."""
        return terms_by_power(self.terms, self.order)

    @property
    def parameters(self) -> dict[str, str]:
        """Hyper-parameters as exact strings (symbolic ones as their names)."""
        return self.recurrence.parameter_texts

    @cached_property
    def conditions(self) -> list[str]:
        """Conditions on symbolic hyper-parameters (zeros of the epoch's determinant)."""
        det = self.determinant
        if det is None or not self.recurrence.parameters:
            return []
        import sympy

        field = self.coefficient_field
        expr = field.to_sympy(det)
        if not self.homogeneous:
            expr = expr.subs(sympy.Symbol("h"), 0)
        num, den = sympy.fraction(sympy.factor(expr))
        out: list[str] = []
        for fac in sympy.Mul.make_args(num) + sympy.Mul.make_args(den):
            base = fac.as_base_exp()[0]
            if base.free_symbols:
                sol = sympy.solve(sympy.Eq(base, 0), dict=True)
                real = [s for s in sol if all(v.is_real for v in s.values())]
                for s in real:
                    if len(s) == 1:
                        ((sym, v),) = s.items()
                        out.append(f"{sym} != {v}")
        return sorted(set(out))

    def differential_text(self, term: Term) -> str:
        """The elementary differential of a term as text (`<d_k'd_k>`, `g_2'g_1`)."""
        return differential_text(self.table, term.index, self.naming)

    def differential_latex(self, term: Term) -> str:
        """The elementary differential of a term in LaTeX."""
        return differential_latex(self.table, term.index, self.naming)

    def coefficient_text(self, term: Term) -> str:
        """The exact coefficient of a term as SymPy text."""
        return _sympy_str(term.sympy)

    # ------------------------------------------------------------------ renderings
    def notation(self) -> str:
        """What the symbols of the flow mean (one paragraph)."""
        return _rendering.notation(self)

    def text(self, header: bool = True) -> str:
        """Readable text: one line per power of $h$."""
        return _rendering.flow_text(self, header)

    def term_latex(self, term: Term) -> str:
        """One term `c h^k F(t)` in LaTeX."""
        return _rendering.term_latex(self, term)

    def latex(self) -> str:
        """LaTeX for the flow (an `aligned` environment)."""
        return _rendering.flow_latex(self)

    def to_dict(
        self,
        losses: Sequence[LossExpression] | None = None,
        variables: Variables | None = None,
    ) -> dict[str, Any]:
        """The JSON record: the keys of [`ModifiedFlow.to_dict`][derive.ModifiedFlow],
        plus `batches`, `sampling` and `notation`."""
        return _rendering.flow_record(self, losses, variables)

    def to_json(
        self,
        losses: Sequence[LossExpression] | None = None,
        variables: Variables | None = None,
    ) -> str:
        """The JSON record as text."""
        return json.dumps(self.to_dict(losses, variables), indent=2)

    # ------------------------------------------------------------------ modified loss
    @cached_property
    def gradient_tests(self) -> list[tuple[bool, Potential]]:
        """Per power of $h$: `(is_gradient, [(tree, potential coefficient), ...])`."""
        out: list[tuple[bool, Potential]] = []
        zero = self.field.zero
        for terms in self.by_power().values():
            sizes: dict[int, dict[int, Coefficient]] = {}
            for t in terms:
                sizes.setdefault(self.table.size[t.index], {})[t.index] = (
                    t.coefficient * self._sigma(t.index)
                )
            ok, potential = True, list[tuple[int, Coefficient]]()
            for n, b in sorted(sizes.items()):
                test = colored_gradient_test(
                    self.table, n, b, zero, self._canonical, self._sigma
                )
                if not test.is_gradient:
                    ok = False
                    break
                potential += list(test.potential)
            out.append((ok, potential if ok else []))
        return out

    @cached_property
    def modified_loss(self) -> MinibatchModifiedLoss:
        """The modified loss through the highest order where every term is a gradient."""
        through, parts = -1, list[Potential]()
        for ok, potential in self.gradient_tests:
            if not ok:
                break
            through += 1
            parts.append(potential)
        return MinibatchModifiedLoss(self, through, parts)

    # ------------------------------------------------------------------ concrete
    def on(
        self,
        losses: Sequence[LossExpression] | ConcreteBatches,
        variables: Variables | None,
    ) -> ExplicitField[ConcreteBatches]:
        """The explicit field for concrete per-batch losses.

        **Arguments:**

        - `losses`: one SymPy expression or string per batch.
        - `variables`: the coordinates (`"x,y"`, names or symbols).

        **Returns:** an [`ExplicitField`][derive.ExplicitField] whose `loss` is the full
        loss $f$ and whose `concrete` holds the per-batch losses.

        !!! example
            ```python
            >>> import derive
            >>> flow = derive.minibatch_flow("sgd", order=1, batches=2)
            >>> flow.on(["x**2/2", "3*x**2/2"], "x").components
            [-5*h*x/2 - 2*x]

            ```
        """
        from ._minibatch_concrete import explicit_field

        return explicit_field(self, losses, variables)

    def manifold_states(
        self,
        losses: Sequence[LossExpression] | ConcreteBatches,
        variables: Variables | None,
    ) -> dict[str, list[sympy.Expr]]:
        """The optimizer's states on the epoch's slow manifold for concrete per-batch
        losses (fixed order only): start the iterates there to see the flow's order.

        **Returns:** `{state: [SymPy expression per variable]}` in the variables and
        `h`, through trees with `order + 1` nodes.
        """
        from ._minibatch_concrete import manifold_states

        return manifold_states(self, losses, variables)
