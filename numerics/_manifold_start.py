"""Start momentum methods on their slow manifold, for any JAX loss on pytrees.

`derive` solves the slow manifold of a recurrence as B-series (`derive.SlowManifold`):
state $j$ is

$$s_j = \\alpha_j x + \\sum_{|t| \\le N} \\frac{\\psi_j(t)}{\\sigma(t)}\\,
h^{|t| + w_j} F(t)(x),$$

with exact coefficients. Here the coefficients are evaluated numerically and the
elementary differentials $F(t)(x_0)$ matrix-free (`numerics._differentials`), so no
SymPy form of the loss is needed. Truncating at trees with $N$ nodes puts the start on
the manifold up to $O(h^{N+1})$; an order-$p$ test needs $N \\ge p + 2$ for the
offset to stay below the $O(h^{p+1})$ error it measures (a start off the manifold by
$\\delta$ shifts the whole trajectory by $O(\\delta)$ once the parasitic modes have
decayed; Hairer, Lubich & Wanner, *Geometric Numerical Integration*, ch. XV; Kovachki
& Stuart, JMLR 22 (2021)).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from derive import Recurrence, SlowManifold, evaluate

from ._differentials import b_series_value, elementary_differentials
from ._pytree import norm
from ._typing import LossFunction, PyTree

__all__ = ["ManifoldStart"]


class ManifoldStart:
    """The states of a recurrence on its slow manifold, as a function of $(x, h)$.

    **Arguments:**

    - `recurrence`: a `derive.Recurrence`.
    - `nodes`: the largest trees kept ($N$ above); the start is on the manifold up to
      $O(h^{N+1})$. `nodes=0` keeps only $\alpha_j x$: the start "at rest"
      ($x_{-1} = x_0$, zero velocity), off the manifold by $O(h)$.
    - `params`: numbers for the recurrence's symbolic hyper-parameters.
    - `manifold`: the recurrence's `derive.SlowManifold` when it is already solved
      on trees with at least `nodes` nodes (e.g. `flow.manifold` of a
      `derive.ModifiedFlow` of order `nodes - 1` or more); by default it is solved
      here.
    - `optimal_truncation`: the series is asymptotic in $\\varepsilon = h L \\kappa$
      (see [`verify`][numerics.verify]); with `True` (default) the sum over tree sizes stops
      before the first size whose contribution is larger than the previous one, so
      a start at a large step size is not thrown off by a divergent tail. For small
      $\\varepsilon$ the contributions decrease and all trees are kept.

    Calling `start(loss, x, h)` returns the tuple of states, position first.

    !!! example
        ```python
        >>> import derive, numerics
        >>> start = numerics.ManifoldStart(derive.heavy_ball(0.5), nodes=1)
        >>> x, x_prev = start(lambda z: z**2 / 2, 1.0, 0.1)   # x_prev = x - 2 h g(x)
        >>> float(x_prev)
        1.2

        ```
    """

    manifold: SlowManifold | None

    def __init__(
        self,
        recurrence: Recurrence,
        nodes: int,
        params: Mapping[str, float] | None = None,
        *,
        optimal_truncation: bool = True,
        manifold: SlowManifold | None = None,
    ):
        from derive import solve_manifold

        self.recurrence = recurrence
        self.optimal_truncation = optimal_truncation
        self.nodes = int(nodes)
        self.params = dict(params or {})
        m = len(recurrence.states)
        if m == 1:
            self.manifold = None
            return
        if manifold is not None and manifold.max_nodes >= max(self.nodes, 1):
            if manifold.recurrence is not recurrence:
                raise ValueError("the manifold belongs to another recurrence")
            self.manifold = manifold
        else:
            self.manifold = solve_manifold(recurrence, max(self.nodes, 1))

    def coefficients(self, h: Any) -> list[tuple[Any, dict[int, Any]]]:
        """Per state: ($\\alpha_j$ with its power of $h$, {tree: coefficient})."""
        mf = self.manifold
        if mf is None:  # one state: the position itself
            return [(1.0, {})]
        table = mf.table
        env = dict(self.params)
        out = []
        n = len(table.up_to(self.nodes))
        for j in range(len(self.recurrence.states)):
            if mf.homogeneous:
                w = mf.weights[j]
                alpha = evaluate(mf.alpha[j], env) * h ** int(w) if mf.alpha[j] else 0.0
                coefs = {
                    i: evaluate(mf.psi[j][i], env)
                    / table.sigma[i]
                    * h ** int(table.size[i] + w)
                    for i in range(n)
                    if j and mf.psi[j][i]
                }
            else:
                env_h = {**env, "h": h}
                alpha = evaluate(mf.alpha[j], env_h) if mf.alpha[j] else 0.0
                coefs = {
                    i: evaluate(mf.psi[j][i], env_h) / table.sigma[i]
                    for i in range(n)
                    if j and mf.psi[j][i]
                }
            out.append((alpha, coefs))
        return out

    def __call__(self, loss: LossFunction, x: PyTree, h: Any) -> tuple[PyTree, ...]:
        if self.manifold is None:
            return (x,)
        per_state = self.coefficients(h)
        needed = sorted({i for _, coefs in per_state for i in coefs})
        F = elementary_differentials(loss, x, self.manifold.table, needed)
        size = self.manifold.table.size
        states = [x]
        for alpha, coefs in per_state[1:]:
            if not self.optimal_truncation:
                states.append(b_series_value(x, coefs, F, alpha))
                continue
            # the series by tree size n: S_n = sum_{|t| = n} c_t F(t)
            groups: dict[int, dict[int, Any]] = {}
            for i, c in coefs.items():
                groups.setdefault(size[i], {})[i] = c
            value = b_series_value(x, {}, F, alpha)
            keep = jnp.asarray(True)
            previous = None
            for n in sorted(groups):
                part = b_series_value(x, groups[n], F, 0.0)
                magnitude = norm(part)
                if previous is not None:
                    keep = keep & (magnitude <= previous)
                value = jax.tree_util.tree_map(
                    lambda v, p, k=keep: v + jnp.where(k, p, 0.0), value, part
                )
                previous = magnitude
            states.append(value)
        return tuple(states)
