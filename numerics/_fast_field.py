"""Fast matrix-free evaluation of a truncated modified flow on a network.

The order-$p$ field $\\sum_{k \\le p} h^k \\sum_{|t| = k+1} c_t F(t)(x)$ needs the
elementary differentials $F(t)$ of $g = -\\nabla f$. Evaluated one by one with
nested `jax.jvp`s, the same forward and reverse passes are repeated many times. Here the
work is shared:

- **one linearisation**: `jax.linearize(g, x)` gives $g(x)$ and the linear map
  $v \\mapsto g'(x) v$; every tree with one child, $F([t]) = g' F(t)$, is an
  application of it, and the applications that are ready together run as one
  `jax.vmap` (a matrix-matrix product instead of several matrix-vector ones);
- **one pass per chain of higher derivatives**: a nested `jax.jvp` along directions
  $v_1, \\dots, v_k$ returns every prefix $g^{(j)}(x)[v_1, \\dots, v_j]$, $j \\le k$, at
  the cost of the top one; the directions of each tree with $k \\ge 2$ children are
  ordered so that its prefixes are other needed trees (for order 3,
  $g'''(g,g,g)$ also yields $g'g$ and $g''(g,g)$, and $g''(g'g, g)$ yields $g'g'g$);
- **Taylor mode** (`method="jet"`): chains along $g$ alone,
  $g^{(j)}(x)[g, \\dots, g]$ for $j \\le k$, from one `jax.experimental.jet` of $g$ along
  $x + s g$ ($j!$ times its $j$-th coefficient). `jet` has no rule for some primitives
  (e.g. those of relu's derivative); `method="auto"` tries it and falls back to nested
  `jvp`s when it fails;
- **linearity** (the field itself, `__call__`): a one-child term $w_t\\, g'F(s)$ whose
  value nothing else needs is not computed on its own; all of them are one
  $g'(\\sum_t w_t F(s_t))$, recursively (Horner-like, $g'(a + g'(b + \\dots))$), and
  the chains are ordered so that their prefixes are such terms when possible.

XLA's common-subexpression elimination already merges the repeated passes of a naive
evaluation (each $F(t)$ by its own nested `jax.jvp`), so what is left to share is
what it cannot see: linearity. `benchmarks/network_fields.py` prints both, with the
floating-point operations of the compiled programs.

No derivative tensor is formed; $x$ is any pytree. The coefficients come from a
`derive.ModifiedFlow` or from a module written by `derive.codegen` (its `TERMS` and
`coefficients(args)`), so the field equals the generated module's field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

import derive
from derive.matrix_free import apply_many, derivative_chain

from ._pytree import combine
from ._sample_mean import negative_gradient_of
from ._typing import GradientFunction, LossFunction, PyTree

__all__ = ["FastField", "GeneratedModule", "fast_field"]

METHODS = ("auto", "jvp", "jet")

Coefficients = Callable[[Mapping[str, Any]], Mapping[tuple[int, str], Any]]
"""`args -> {(power, tree text): number}`, the coefficients at the parameters."""


class GeneratedModule(Protocol):
    """What `fast_field` reads from a module written by `derive.codegen`: its order,
    its terms `(power, tree, differential)` and its `coefficients(args)`."""

    ORDER: int
    TERMS: Sequence[tuple[int, str, str]]

    def coefficients(
        self, args: Mapping[str, Any], /
    ) -> Mapping[tuple[int, str], Any]: ...


class FastField:
    """The truncated modified flow $\\sum_{k \\le p} h^k F_k(x)$, evaluated fast.

    Build it with [`fast_field`][numerics.networks.fast_field].

    **Attributes:**

    - `order`: $p$.
    - `terms`: `(power, tree)` pairs kept.
    - `method`: `"jvp"` or `"jet"` (after `"auto"` is resolved at the first call).
    """

    def __init__(
        self,
        terms: Iterable[tuple[int, int]],
        coefficients: Coefficients,
        loss: LossFunction,
        order: int,
        method: str,
        table: derive.TreeTable,
        names: Iterable[str] = (),
    ):
        self.terms = [(p, i) for p, i in terms if p <= order]
        self.table = table
        self._coefficients = coefficients
        self.loss = loss
        self.order = order
        self.method = method
        self.names = tuple(names)
        self._jet_checked = False
        self._plan = self._make_plan()

    # ------------------------------------------------------------------ plan
    def _make_plan(self) -> list[list[int]]:
        """Plan both evaluations: every needed tree one by one (`differentials`,
        `terms_by_order`), and the field itself with its one-child terms merged."""
        children = self.table.children
        self._needed, self._chains = self._chains_for(i for _, i in self.terms)
        # the field: a term t = [s] whose value nothing else needs is not computed on
        # its own; g'(s) terms are summed as g'(sum_t w_t F(s)) (one linear map)
        multi = [i for _, i in self.terms if len(children[i]) != 1]
        inner = {c for i in self._needed if len(children[i]) >= 2 for c in children[i]}
        # a chain whose first direction makes a one-child term gives it for free
        terms = {i for _, i in self.terms if len(children[i]) == 1}
        individual, chains = self._chains_for([*multi, *inner], prefer=terms)
        for chain in chains:  # the prefixes of a chain come with it
            individual.update(
                self.table.lookup(chain[:j]) for j in range(1, len(chain) + 1)
            )
        self._individual, self._individual_chains = individual, chains
        return self._chains

    def _chains_for(
        self, targets: Iterable[int], prefer: AbstractSet[int] = frozenset()
    ) -> tuple[set[int], list[list[int]]]:
        """The trees that `targets` need, and the nested-derivative chains to compute.

        Each chain is a list of child trees $(c_1, \\dots, c_k)$; it computes the trees
        $[c_1, \\dots, c_j]$ for every $j$. Chains are chosen greedily, largest arity
        first, with the directions ordered so that as many prefixes as possible are
        trees that are needed anyway (or in `prefer`).
        """
        table = self.table
        children = table.children
        needed: set[int] = set()

        def visit(i: int) -> None:
            if i not in needed:
                needed.add(i)
                for c in children[i]:
                    visit(c)

        for i in targets:
            visit(i)
        big = sorted(
            (i for i in needed if len(children[i]) >= 2),
            key=lambda i: (-len(children[i]), i),
        )
        done: set[int] = set()
        chains: list[list[int]] = []
        for i in big:
            if i in done:
                continue
            # order: put first the children whose one-child prefix is needed
            chain = sorted(
                children[i],
                key=lambda c: (
                    0
                    if (table.lookup([c]) in needed or table.lookup([c]) in prefer)
                    and table.lookup([c]) not in done
                    else 1,
                    table.size[c],
                    c,
                ),
            )
            chains.append(chain)
            for j in range(1, len(chain) + 1):
                done.add(table.lookup(chain[:j]))
        return needed, chains

    # ------------------------------------------------------------------ evaluation
    def differentials(self, y: PyTree) -> dict[str, PyTree]:
        """$F(t)(y)$ for every tree the kept terms need, as `{tree text: pytree}`
        (the texts of the flow's terms, e.g. `"[[],[[]]]"`, and bracket texts for the
        subtrees that are not terms)."""
        F, _ = self._evaluate(y, self._needed, self._chains)
        return {self.table.bracket(i): v for i, v in F.items()}

    def _evaluate(
        self, y: PyTree, needed: set[int], chains: list[list[int]]
    ) -> tuple[dict[int, PyTree], Callable[[PyTree], PyTree]]:
        """$F(t)(y)$ for the trees `needed` (by index), and $v \\mapsto g'(y) v$."""
        table = self.table
        children = table.children
        # the nested chains run chunk by chunk on a SampleMean; its linearisation runs
        # on the whole batch, which measured faster (the linearised scan keeps its
        # residuals per chunk and applies them as scans again)
        g = negative_gradient_of(self.loss)
        g_y, lin = jax.linearize(negative_gradient_of(self.loss, chunked=False), y)
        leaf = table.lookup([])
        F: dict[int, PyTree] = {leaf: g_y}
        pending_chains = list(chains)
        if self.method == "jet" and not self._jet_checked:
            self._jet_checked = True
            if not _jet_works(self.loss, y):
                self.method = "jvp"  # jet has no rule for a primitive of this loss
        use_jet = self.method == "jet"
        while not needed <= F.keys():
            progressed = False
            # chains whose directions are known
            for chain in list(pending_chains):
                if all(c in F for c in chain):
                    pending_chains.remove(chain)
                    dirs = [F[c] for c in chain]
                    if use_jet and all(c == leaf for c in chain):
                        values = _jet_chain(g, y, g_y, len(chain))
                    else:
                        values = derivative_chain(g, y, dirs)
                    for j, v in enumerate(values, start=1):
                        F.setdefault(table.lookup(chain[:j]), v)
                    progressed = True
            # one-child trees whose child is known: one vmapped linear map
            ready = sorted(
                i
                for i in needed
                if len(children[i]) == 1 and i not in F and children[i][0] in F
            )
            later = {table.lookup([c[0]]) for c in _first(pending_chains, F)}
            if progressed or any(i not in later for i in ready):
                ready = [i for i in ready if i not in later]
            if ready:
                values = apply_many(lin, [F[children[i][0]] for i in ready])
                for t, v in zip(ready, values, strict=True):
                    F[t] = v
                progressed = True
            if not progressed:  # pragma: no cover - the plan always progresses
                raise RuntimeError("fast field: no progress in the evaluation plan")
        return {i: F[i] for i in needed}, lin

    def terms_by_order(self, y: PyTree, args: Mapping[str, Any]) -> list[PyTree]:
        """`[F_0(y), ..., F_p(y)]`, the flow being $\\sum_k h^k F_k(y)$."""
        F = self.differentials(y)
        c = self._coefficients(args)
        bracket = self.table.bracket
        out = []
        for k in range(self.order + 1):
            parts = [(c[p, bracket(i)], F[bracket(i)]) for p, i in self.terms if p == k]
            if parts:
                out.append(combine([a for a, _ in parts], [v for _, v in parts]))
            else:
                out.append(jax.tree_util.tree_map(jnp.zeros_like, y))
        return out

    def __call__(self, t: Any, y: PyTree, args: Mapping[str, Any]) -> PyTree:
        """The vector field `(t, y, args)` for diffrax; `args` holds `"h"` and the
        symbolic hyper-parameters.

        The terms are summed as $\\sum_t w_t F(t)$ with $w_t = c_t h^{p}$, and the
        one-child terms whose values nothing else needs by linearity: $\\sum_t w_t
        g'F(s_t) = g'(\\sum_t w_t F(s_t))$, one application of the linearisation for
        all of them (recursively, Horner-like, for chains $g'g'\\cdots$).
        """
        F, lin = self._evaluate(y, self._individual, self._individual_chains)
        c = self._coefficients(args)
        h = args["h"]
        bracket = self.table.bracket
        weights: dict[int, Any] = {}
        for p, i in self.terms:
            w = c[p, bracket(i)] * h**p
            weights[i] = weights[i] + w if i in weights else w
        return self._merged(weights, F, lin)

    def _merged(
        self,
        weights: Mapping[int, Any],
        F: Mapping[int, PyTree],
        lin: Callable[[PyTree], PyTree],
    ) -> PyTree:
        """$\\sum_t w_t F(t)$: known values combined, the rest $g'$ of a sum."""
        children = self.table.children
        known = [(w, F[i]) for i, w in weights.items() if i in F]
        rest: dict[int, Any] = {}
        for i, w in weights.items():
            if i not in F:
                (s,) = children[i]
                rest[s] = rest[s] + w if s in rest else w
        if rest:
            known.append((1.0, lin(self._merged(rest, F, lin))))
        return combine([w for w, _ in known], [v for _, v in known])


def _first(chains: list[list[int]], F: Mapping[int, PyTree]) -> list[list[int]]:
    """Chains about to run whose first direction is known (their first prefix, a
    one-child tree, will come from the chain: do not compute it separately)."""
    return [c for c in chains if c and c[0] in F]


def _jet_chain(g: GradientFunction, y: PyTree, g_y: PyTree, k: int) -> list[PyTree]:
    """$g^{(j)}(y)[g, \\dots, g]$, $j = 1..k$, from one Taylor-mode pass."""
    from jax.experimental import jet

    flat, unravel = ravel_pytree(y)
    gf = lambda z: ravel_pytree(g(unravel(z)))[0]  # noqa: E731
    v = ravel_pytree(g_y)[0]
    series = [v] + [jnp.zeros_like(v)] * (k - 1)
    _, coeffs = jet.jet(gf, (flat,), (series,))
    # jet's series are derivatives: x(s) = x + s v, outputs d^j/ds^j g(x(s))
    return [unravel(c) for c in coeffs]


def _jet_works(loss: LossFunction, y: PyTree) -> bool:
    try:
        g = negative_gradient_of(loss)
        shapes = jax.tree_util.tree_map(
            lambda v: jax.ShapeDtypeStruct(jnp.shape(v), jnp.result_type(v)), y
        )
        jax.eval_shape(lambda z: _jet_chain(g, z, g(z), 2), shapes)
        return True
    except Exception:  # noqa: BLE001 - any failure means: use nested jvp
        return False


def fast_field(
    flow: derive.ModifiedFlow
    | derive.GeneratedCode
    | derive.Recurrence
    | GeneratedModule,
    loss: LossFunction,
    order: int | None = None,
    *,
    method: str = "auto",
    y: PyTree | None = None,
) -> FastField:
    """A fast matrix-free evaluator of a truncated modified flow on a pytree loss.

    **Arguments:**

    - `flow`: a `derive.ModifiedFlow`, a module from `derive.codegen(...).load()`,
      a `derive.GeneratedCode`, or a `derive.Recurrence` (its flow is derived through
      `order`, default 1).
    - `loss`: $f$, a JAX function of a pytree returning a scalar (a network's
      full-batch loss, e.g. `numerics.networks.get_model("digits-mlp").loss`), or a
      [`SampleMean`][numerics.networks.SampleMean] (e.g. `model.sample_mean(599)`),
      whose gradient and its derivatives then run chunk by chunk over the samples.
    - `order`: $p$, the highest power of $h$ kept (default: all of the flow's).
    - `method`: `"jvp"` (nested forward-over-reverse passes), `"jet"` (Taylor mode
      for the derivatives along $g$) or `"auto"` (`"jvp"`, which measured fastest
      on CPU, see `benchmarks/network_fields.py`). With `"jet"` the loss is first
      checked to trace under `jax.experimental.jet`; when it does not (no rule for
      a primitive, e.g. relu or softplus) the field falls back to `"jvp"` by itself
      (`.method` then says `"jvp"`).
    - `y`: an example point for that check (default: the check runs at the first
      call).

    **Returns:** a [`FastField`][numerics.networks.FastField]: call it as `field(t, y, args)`
    (diffrax's convention, `args = {"h": h, **hyper-parameters}`), or use
    `.terms_by_order(y, args)` and `.differentials(y)`.

    !!! example
        ```python
        >>> import derive, numerics
        >>> import jax.numpy as jnp
        >>> field = numerics.networks.fast_field(derive.modified_flow(derive.gd(), 1),
        ...                             lambda x: (x**4).sum() / 4)
        >>> field(0.0, jnp.array([1.0, 2.0]), {"h": 0.1})  # -x^3 - h/2 * 3 x^5
        Array([ -1.15, -12.8 ], dtype=float64)

        ```
    """
    from derive import DeriveError

    if method not in METHODS:
        raise DeriveError(f"unknown method {method!r}.", f"Use one of {METHODS}.")
    coefficients: Coefficients
    source: derive.ModifiedFlow | derive.MinibatchFlow | GeneratedModule
    if isinstance(flow, derive.Recurrence):
        source = derive.bseries_flow(flow, 1 if order is None else int(order))
    elif isinstance(flow, derive.GeneratedCode):
        inner = flow.flow  # the flow it was generated from: trees stay indices
        if isinstance(inner, derive.ComponentwiseFlow):
            raise DeriveError(
                f"fast_field takes B-series flows; {inner.recurrence.name} is "
                "componentwise.",
                "Use the generated module's make_vector_field(loss) instead.",
            )
        source = inner
    else:
        source = flow
    if isinstance(source, derive.ModifiedFlow):
        terms = [(t.power, t.index) for t in source.terms]
        exact = {(t.power, t.tree): t.coefficient for t in source.terms}
        names = tuple(source.recurrence.parameters)
        max_order = source.order
        table = source.table

        def from_flow(args: Mapping[str, Any]) -> dict[tuple[int, str], Any]:
            env = {n: args[n] for n in names}
            return {k: derive.evaluate(c, env) for k, c in exact.items()}

        coefficients = from_flow

    elif (
        not isinstance(source, derive.MinibatchFlow)
        and hasattr(source, "TERMS")
        and hasattr(source, "coefficients")
    ):
        # a loaded module: its trees are text, read once into the shared tree table
        module = source
        max_order = module.ORDER
        table = derive.tree_table(max_order + 1)
        terms = [(p, table.index_of(t)) for p, t, _ in module.TERMS]
        names = tuple(getattr(module, "SYMBOLIC_PARAMETERS", ()))

        coefficients = module.coefficients

    else:
        raise DeriveError(
            f"{source!r} is not a modified flow.",
            "Pass derive.modified_flow(...), or derive.codegen(...) or its .load().",
        )
    order = max_order if order is None else int(order)
    if not 0 <= order <= max_order:
        raise DeriveError(f"order must be between 0 and {max_order}, got {order}.", "")
    chosen = "jvp" if method == "auto" else method
    if chosen == "jet" and y is not None and not _jet_works(loss, y):
        chosen = "jvp"
    return FastField(terms, coefficients, loss, order, chosen, table, names)
