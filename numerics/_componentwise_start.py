"""Start an adaptive optimizer's moments on their slow manifold, for any JAX loss.

For a componentwise recurrence (RMSProp, Adam, ...) `derive` solves the states on the
slow manifold exactly, $s_j = \\psi_{j,0}(x) + h \\psi_{j,1}(x) + \\dots$ ($m \\approx
\\nabla f$, $v \\approx \\nabla f \\odot \\nabla f$ at leading order), and the module
that `derive.codegen` writes evaluates them matrix-free (`manifold_by_order`). Starting
there puts the iterates on the manifold up to $O(h^{N+1})$ for terms through $h^N$, so
that no $O(h)$ transient (the bias-correction transient of Adam, or the moments'
initial values) hides the higher orders of the modified flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp

import derive

from ._pytree import norm
from ._typing import LossFunction, PyTree

__all__ = ["ComponentwiseStart"]


class ComponentwiseStart:
    """The states of a componentwise recurrence on its slow manifold, as a function
    of $(x, h)$.

    **Arguments:**

    - `recurrence`: a componentwise `derive.Recurrence`.
    - `order`: $N$, the highest power of $h$ kept (`None`: the moments at zero, the
      start of PyTorch and optax, off the manifold by $O(1)$).
    - `params`: numbers for the symbolic hyper-parameters.
    - `module`: a module from `derive.codegen` of this recurrence's flow whose
      `MANIFOLD_ORDER` is at least `order` (by default one is generated).
    - `optimal_truncation`: the series in $h$ is asymptotic (its coefficients grow
      like $(1 - \\beta_2)^{-k}$); with `True` (default) it stops before the first
      power whose term is larger than the previous one, as
      `numerics.ManifoldStart` does.

    Calling `start(loss, x, h)` returns the tuple of states, position first.

    !!! example
        ```python
        >>> import jax.numpy as jnp, derive, numerics
        >>> start = numerics.ComponentwiseStart(derive.rmsprop(), 0, {"beta2": 0.9, "eps": 0.0})
        >>> x, v = start(lambda z: jnp.sum(z**2) / 2, jnp.array([3.0]), 0.1)
        >>> float(v[0])                                    # v = grad f * grad f
        9.0

        ```
    """

    def __init__(
        self,
        recurrence: derive.Recurrence,
        order: int | None,
        params: Mapping[str, float] | None = None,
        *,
        module: ModuleType | None = None,
        optimal_truncation: bool = True,
    ):
        self.recurrence = recurrence
        self.optimal_truncation = optimal_truncation
        self.order = order
        self.params = dict(params or {})
        self.module = module
        if order is not None and module is None:
            flow = derive.modified_flow(recurrence, max(order, 0))
            self.module = derive.codegen(flow).load()

    def __call__(self, loss: LossFunction, x: PyTree, h: Any) -> tuple[PyTree, ...]:
        states = self.recurrence.states[1:]
        if self.order is None or self.module is None:
            zeros = jax.tree_util.tree_map(lambda v: 0.0 * v, x)
            return (x, *(zeros for _ in states))
        psi = self.module.manifold_by_order(loss, x, self.params, self.order)
        out = [x]
        for name in states:
            total = psi[name][0]
            keep = jnp.asarray(True)
            previous = None
            for k, term in enumerate(psi[name][1:], start=1):
                part = jax.tree_util.tree_map(lambda v, k=k: h**k * v, term)
                if self.optimal_truncation:
                    magnitude = norm(part)
                    if previous is not None:
                        keep = keep & (magnitude <= previous)
                    previous = magnitude
                total = jax.tree_util.tree_map(
                    lambda a, b, k=keep: a + jnp.where(k, b, 0.0), total, part
                )
            out.append(total)
        return tuple(out)
