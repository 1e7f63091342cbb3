"""Elementary differentials $F(t)(x)$ of $g = -\\nabla f$, matrix-free, on pytrees.

$F([\\,]) = g$ and $F([t_1, \\dots, t_k]) = g^{(k)}(x)[F(t_1), \\dots, F(t_k)]$. The
$k$-th derivative applied to $k$ directions is $k$ nested `jax.jvp`s of `jax.grad`
(forward over reverse), so no derivative tensor is ever formed and $x$ may be any
pytree (DESIGN, Numerics). Within one evaluation every $F(t)$ is computed once and
shared by the trees that contain it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from derive import TreeTable
from derive.matrix_free import derivatives, directional_derivative

from ._pytree import combine
from ._typing import LossFunction, PyTree

__all__ = ["elementary_differentials", "directional_derivative", "b_series_value"]


def elementary_differentials(
    loss: LossFunction, x: PyTree, table: TreeTable, indices: Iterable[int]
) -> dict[int, PyTree]:
    """$F(t)(x)$ for the trees `indices` of a `derive.TreeTable`, as `{index: pytree}`.

    **Arguments:**

    - `loss`: $f$, a JAX function of a pytree returning a scalar.
    - `x`: the point (a pytree).
    - `table`: the `derive.TreeTable` the indices refer to.
    - `indices`: which trees (their subtrees are computed as well).

    !!! example
        ```python
        >>> import numerics, derive
        >>> import jax.numpy as jnp
        >>> table = derive.tree_table(2)
        >>> F = numerics.elementary_differentials(
        ...     lambda z: (z**2).sum() / 2, jnp.array([1.0, 2.0]), table, [1])
        >>> F[1]  # g'g = H grad f = x for f = |x|^2/2
        Array([1., 2.], dtype=float64)

        ```
    """
    g_x, dg = derivatives(loss, x)
    memo: dict[int, PyTree] = {}

    def F(i: int) -> PyTree:
        got = memo.get(i)
        if got is None:
            kids = table.children[i]
            got = dg(*(F(c) for c in kids)) if kids else g_x
            memo[i] = got
        return got

    return {i: F(i) for i in indices}


def b_series_value(
    x: PyTree,
    coefficients: Mapping[int, Any],
    differentials: Mapping[int, PyTree],
    alpha: Any = 1.0,
) -> PyTree:
    """$\\alpha x + \\sum_t c_t F(t)$ for numbers (or traced values) $c_t$."""
    items = [(c, differentials[i]) for i, c in coefficients.items()]
    return combine([alpha, *(c for c, _ in items)], [x, *(v for _, v in items)])
