"""Eigen-solvers for the top of a symmetric spectrum on flat vectors, inside `jit`.

The building blocks of [`hessian_eigenpairs`][numerics.hessian_eigenpairs] and of
the central flow's field, for $H u = \\lambda P u$ with a diagonal $P$ (given as
$P^{-1/2}$, a flat vector or a scalar) through the symmetrised operator $P^{-1/2} H
P^{-1/2}$:

- `top_eigenpairs_flat`: LOBPCG (`jax.experimental.sparse.linalg.lobpcg_standard`),
  warm-started from a block;
- `rayleigh_ritz_flat`: a cheap refresh in the span of a block (and its image);
- `dense_eigenpairs_flat`: `eigh` of a dense Hessian, for small problems;
- `hessian_operator_flat`, `third_derivative_flat`: $v \\mapsto H v$ and $\\nabla(u^\\top
  H v)$ by `jax.jvp` of the gradient.

Each solver returns a [`FlatEigenpairs`][numerics._eigensolvers.FlatEigenpairs] with
relative residuals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, TypeAlias

import jax
import jax.numpy as jnp

from ._typing import Array, GradientFunction, PyTree

__all__ = [
    "DEFAULT_ITERATIONS",
    "DEFAULT_TOLERANCE",
    "FlatEigenpairs",
    "Operator",
    "hessian_operator_flat",
    "top_eigenpairs_flat",
    "rayleigh_ritz_flat",
    "dense_eigenpairs_flat",
    "third_derivative_flat",
]

DEFAULT_ITERATIONS = 200
"""LOBPCG's iteration budget for a cold start."""
DEFAULT_TOLERANCE = 1e-10
"""An eigenpair has converged when $|H u - \\lambda P u| \\le$ tol $\\cdot(|\\lambda| + |Hu|)$."""

Operator: TypeAlias = Callable[[Array], Array]
"""A symmetric linear map on flat vectors (or on the columns of a block)."""


class FlatEigenpairs(NamedTuple):
    """Eigenpairs of $H u = \\lambda P u$ on flat vectors, from the solvers that run
    inside `jit` (`top_eigenpairs_flat`, `rayleigh_ritz_flat`,
    `dense_eigenpairs_flat`).

    - `values`: the eigenvalues, largest first, `(k,)`.
    - `vectors`: the $P$-orthonormal eigenvectors $U$ as columns, `(n, k)`.
    - `block`: the same in the symmetrised coordinates, $W = P^{1/2} U$ (the next
      warm start).
    - `residuals`: $|H u_i - \\lambda_i P u_i|$ relative to $|\\lambda_i| + |H u_i|$
      (in the symmetrised coordinates), `(k,)`.
    - `iterations`: LOBPCG's iteration count, a 0-d integer array (0 where none ran).
    """

    values: Array
    vectors: Array
    block: Array
    residuals: Array
    iterations: Array


def hessian_operator_flat(grad: GradientFunction, w: Array) -> Operator:
    """$v \\mapsto H(w)\\, v$ on flat vectors: `jax.jvp` of the gradient `grad` at `w`
    (forward over reverse)."""

    def hvp(v: Array) -> Array:
        return jax.jvp(grad, (w,), (v,))[1]

    return hvp


def _sym_operator(hvp: Operator, p_inv_sqrt: Array | float) -> Operator:
    """$P^{-1/2} H P^{-1/2}$ on flat vectors (columns of a matrix)."""

    def op(v: Array) -> Array:
        return p_inv_sqrt * hvp(p_inv_sqrt * v)

    return jax.vmap(op, in_axes=1, out_axes=1)


def _pairs(
    theta: Array, W: Array, OW: Array, p_inv_sqrt: Array | float, iterations: Array
) -> FlatEigenpairs:
    """Eigenpairs `(theta, W)` of the symmetrised operator, with its image `OW` of
    `W`: their relative residuals and $U = P^{-1/2} W$."""
    res = jnp.linalg.norm(OW - W * theta[None, :], axis=0)
    scale = jnp.abs(theta) + jnp.linalg.norm(OW, axis=0) + 1e-300
    p = jnp.broadcast_to(jnp.asarray(p_inv_sqrt, W.dtype), (W.shape[0],))
    return FlatEigenpairs(theta, W * p[:, None], W, res / scale, iterations)


def top_eigenpairs_flat(
    hvp: Operator,
    V0: Array,
    *,
    p_inv_sqrt: Array | float = 1.0,
    iterations: int = DEFAULT_ITERATIONS,
    tol: float = DEFAULT_TOLERANCE,
) -> FlatEigenpairs:
    """Top eigenpairs of $H u = \\lambda P u$ on flat vectors, for use inside `jit`.

    **Arguments:**

    - `hvp`: $v \\mapsto H v$ on flat vectors.
    - `V0`: `(n, k)` starting vectors in the symmetrised coordinates $P^{1/2} u$
      (any full-rank block; for a warm start, the previous output's `W`).
    - `p_inv_sqrt`: $P^{-1/2}$ as a flat vector or a scalar (1 for the plain Hessian).
    - `iterations`, `tol`: LOBPCG's budget and the residual tolerance.

    **Returns:** `(values, U, W, residuals, iterations)`, a `FlatEigenpairs`:
    eigenvalues largest first, $P$-orthonormal eigenvectors `U` (columns), the
    symmetrised ones `W` (for the next warm start), relative residuals and LOBPCG's
    iteration count. Needs $5k < n$.
    """
    from jax.experimental.sparse.linalg import lobpcg_standard

    op = _sym_operator(hvp, p_inv_sqrt)
    # LOBPCG stops once |A v - lambda v| < tol' 10 n (lambda + |A v|): ask for a
    # little more than the relative residual checked below
    n = V0.shape[0]
    theta, W, its = lobpcg_standard(op, V0, m=iterations, tol=0.5 * tol / (10 * n))
    order = jnp.argsort(-theta)
    theta, W = theta[order], W[:, order]
    return _pairs(theta, W, op(W), p_inv_sqrt, jnp.asarray(its, int))


def _orthonormalize(W: Array) -> Array:
    """An orthonormal basis of the columns of `W` by two passes of eigh-based
    Gram-Schmidt (SVQB); XLA's Householder QR is far slower on CPU for tall blocks.
    Directions with negligible weight come back as zero columns."""
    for _ in range(2):
        s, V = jnp.linalg.eigh(W.T @ W)
        keep = s > 1e-14 * jnp.max(s)
        W = (W @ V) * jnp.where(keep, 1.0 / jnp.sqrt(jnp.where(keep, s, 1.0)), 0.0)
    return W


def rayleigh_ritz_flat(
    hvp: Operator, W: Array, *, p_inv_sqrt: Array | float = 1.0, expand: bool = False
) -> FlatEigenpairs:
    """Refresh eigenpairs within the span of the block `W` (symmetrised coordinates),
    or of `[W, A W]` with `expand=True` (one step of block Krylov, which also pulls
    the block towards the moving eigenspace): one or two blocks of Hessian-vector
    products and a small `eigh`. Between nearby points the eigenvalues stay accurate
    to second order in the rotation of the eigenspace. Same returns as
    [`top_eigenpairs_flat`][numerics._eigensolvers.top_eigenpairs_flat] (0 iterations)."""
    op = _sym_operator(hvp, p_inv_sqrt)
    k = W.shape[1]
    Q = _orthonormalize(W)
    OQ = op(Q)
    if expand:
        Q = _orthonormalize(jnp.concatenate([Q, OQ], axis=1))
        OQ = op(Q)
    B = Q.T @ OQ
    theta, V = jnp.linalg.eigh(0.5 * (B + B.T))
    theta, V = theta[::-1][:k], V[:, ::-1][:, :k]
    return _pairs(theta, Q @ V, OQ @ V, p_inv_sqrt, jnp.zeros((), int))


def dense_eigenpairs_flat(
    H: Array, k: int, *, p_inv_sqrt: Array | float = 1.0
) -> FlatEigenpairs:
    """The top `k` eigenpairs of $H u = \\lambda P u$ from the dense Hessian `H`:
    `eigh` of the symmetrised $P^{-1/2} H P^{-1/2}$, for small problems (inside
    `jit` too). Same returns as
    [`top_eigenpairs_flat`][numerics._eigensolvers.top_eigenpairs_flat] (0 iterations)."""
    p = jnp.broadcast_to(jnp.asarray(p_inv_sqrt, H.dtype), (H.shape[0],))
    B = p[:, None] * H * p[None, :]
    B = 0.5 * (B + B.T)
    vals, vecs = jnp.linalg.eigh(B)
    vals, W = vals[::-1][:k], vecs[:, ::-1][:, :k]
    return _pairs(vals, W, B @ W, p, jnp.zeros((), int))


def third_derivative_flat(
    grad: GradientFunction, w: PyTree, u: PyTree, v: PyTree
) -> PyTree:
    """$D^3 f(w)[u, v, \\cdot] = \\nabla_w (u^\\top H(w) v)$ with $u, v$ fixed, by two
    nested `jax.jvp`s of the gradient (forward over forward over reverse)."""

    def hv(z: PyTree) -> PyTree:
        return jax.jvp(grad, (z,), (v,))[1]

    return jax.jvp(hv, (w,), (u,))[1]
