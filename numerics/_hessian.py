"""Hessian-vector products and curvature along a direction, matrix-free, on pytrees.

The base of the curvature diagnostics: everything here costs a few gradient
evaluations and never forms a Hessian. Products are forward over reverse
(`jax.jvp` of `jax.grad`), the cheapest exact route (about two to three gradients).
"""

from __future__ import annotations

import jax

from ._pytree import norm
from ._typing import Array, LossFunction, PyTree

__all__ = ["hessian_vector_product", "directional_sharpness"]


def hessian_vector_product(loss: LossFunction, params: PyTree, v: PyTree) -> PyTree:
    """$H(\\theta) v$ for the loss at `params`, with `v` a pytree shaped like `params`.

    **Arguments:**

    - `loss`: a scalar function of a pytree.
    - `params`: the point $\\theta$.
    - `v`: the direction.

    **Returns:** $\\nabla^2 f(\\theta)\\, v$, a pytree shaped like `params`.

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> loss = lambda p: p["a"] ** 2 + 3 * p["a"] * p["b"]
        >>> hv = numerics.hessian_vector_product(
        ...     loss, {"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 0.0})
        >>> float(hv["a"]), float(hv["b"])
        (2.0, 3.0)

        ```
    """
    return jax.jvp(jax.grad(loss), (params,), (v,))[1]


def directional_sharpness(loss: LossFunction, params: PyTree, u: PyTree) -> Array:
    """The curvature along a direction, $u^\\top H(\\theta) u / |u|^2$.

    Along the update direction $u$ of an optimizer this is the *directional
    sharpness* whose abrupt growth Fu et al. (arXiv 2306.09000) tie to momentum's
    advantage; gradient descent with step $\\eta$ is stable along $u$ while it stays
    below $2/\\eta$.

    **Arguments:**

    - `loss`: a scalar function of a pytree.
    - `params`: the point $\\theta$.
    - `u`: the direction (a pytree shaped like `params`; nonzero).

    **Returns:** a scalar.

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> loss = lambda x: 0.5 * (x[0] ** 2 + 10 * x[1] ** 2)
        >>> float(numerics.directional_sharpness(loss, jnp.ones(2), jnp.array([0.0, 1.0])))
        10.0

        ```
    """
    hu = hessian_vector_product(loss, params, u)
    leaves_u = jax.tree_util.tree_leaves(u)
    leaves_hu = jax.tree_util.tree_leaves(hu)
    quad = sum((a * b).sum() for a, b in zip(leaves_u, leaves_hu, strict=True))
    return quad / norm(u) ** 2
