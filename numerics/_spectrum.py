"""The top of the Hessian spectrum, matrix-free: eigenpairs, sharpness, their gradients.

The curvature diagnostics of the edge of stability (Cohen et al., ICLR 2021 and 2025)
and of the GD-vs-gradient-flow analysis need a few extreme Hessian eigenpairs at many
points of a trajectory. Here they come from Hessian-vector products (forward over
reverse, [`hessian_vector_product`][numerics.hessian_vector_product]) and JAX's
LOBPCG (`jax.experimental.sparse.linalg.lobpcg_standard`), warm-started from the
previous eigenvectors; no Hessian is formed. Problems too small for LOBPCG
($n \\le 5k$) use a dense `eigh`.

- [`hessian_eigenpairs`][numerics.hessian_eigenpairs]: the top $k$ eigenpairs of $H$,
  or of the pencil $H u = \\lambda P u$ for a diagonal preconditioner $P$ (RMSProp's
  effective Hessian), as an [`Eigenpairs`][numerics.Eigenpairs] with residuals;
- [`sharpness`][numerics.sharpness], [`preconditioned_sharpness`][numerics.preconditioned_sharpness],
  [`min_hessian_eigenvalue`][numerics.min_hessian_eigenvalue];
- [`eigenvalue_gradient`][numerics.eigenvalue_gradient]: $\\nabla_\\theta (u^\\top
  H(\\theta) v)$ with $u, v$ held fixed, by nested `jax.jvp` (for an eigenvector $u$
  of a simple eigenvalue it is the gradient of that eigenvalue).

The solvers on flat vectors inside `jax.jit` that these build on (and the central
flows use) live in `numerics._eigensolvers`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal, NamedTuple, TypeAlias, TypedDict, Unpack

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._eigensolvers import (
    DEFAULT_ITERATIONS,
    DEFAULT_TOLERANCE,
    FlatEigenpairs,
    dense_eigenpairs_flat,
    hessian_operator_flat,
    third_derivative_flat,
    top_eigenpairs_flat,
)
from ._precision import uses_float64
from ._typing import Array, LossFunction, PyTree

__all__ = [
    "Eigenpairs",
    "hessian_eigenpairs",
    "sharpness",
    "preconditioned_sharpness",
    "min_hessian_eigenvalue",
    "eigenvalue_gradient",
]

Method: TypeAlias = Literal["auto", "lobpcg", "dense"]
"""How [`hessian_eigenpairs`][numerics.hessian_eigenpairs] solves."""
Require: TypeAlias = Literal["one", "all", "none"]
"""Which eigenpairs [`hessian_eigenpairs`][numerics.hessian_eigenpairs] requires to
converge."""
_Shapes: TypeAlias = tuple[tuple[tuple[int, ...], str], ...]
"""The shape and dtype name of every leaf of the parameters."""


class SolverOptions(TypedDict, total=False):
    """The solver's keywords of [`hessian_eigenpairs`][numerics.hessian_eigenpairs]."""

    vectors: PyTree
    iterations: int
    tol: float
    method: Method
    require: Require


class SharpnessOptions(SolverOptions, total=False):
    """`SolverOptions` and the preconditioner $P$."""

    preconditioner: PyTree


class Eigenpairs(NamedTuple):
    """Result of [`hessian_eigenpairs`][numerics.hessian_eigenpairs].

    - `values`: the eigenvalues, largest first, shape `(k,)`.
    - `vectors`: the eigenvectors as a pytree shaped like the parameters with a
      leading axis `k` (`vectors` of a preconditioned problem are $P$-orthonormal,
      $u_i^\\top P u_j = \\delta_{ij}$).
    - `residuals`: $|H u_i - \\lambda_i P u_i| / (|\\lambda_i| + |H u_i|)$, shape `(k,)`.
    - `converged`: `residuals <= tol`, shape `(k,)`.
    - `iterations`: LOBPCG iterations used (0 for a dense solve).
    """

    values: Array
    vectors: PyTree
    residuals: Array
    converged: Array
    iterations: int


def _flat_loss(
    loss: LossFunction, treedef: jax.tree_util.PyTreeDef, shapes: _Shapes
) -> LossFunction:
    """`loss` as a function of the flat vector of parameters of this structure."""
    sizes = [int(np.prod(shape)) for shape, _ in shapes]

    def unravel(z: Array) -> PyTree:
        parts, start = [], 0
        for (shape, dtype), size in zip(shapes, sizes, strict=True):
            parts.append(z[start : start + size].reshape(shape).astype(dtype))
            start += size
        return jax.tree_util.tree_unflatten(treedef, parts)

    def f_flat(z: Array) -> Array:
        return loss(unravel(z))

    return f_flat


# one compiled solver per loss, shapes and settings: repeated calls along a run
# (warm starts) do not recompile


@functools.lru_cache(maxsize=64)
def _dense_solver(
    loss: LossFunction, treedef: jax.tree_util.PyTreeDef, shapes: _Shapes, k: int
) -> Callable[[Array, Array], FlatEigenpairs]:
    """A jitted dense eigen-solver `(flat, p_inv_sqrt) -> pairs` for `loss` on
    parameters of this structure."""
    f_flat = _flat_loss(loss, treedef, shapes)

    @jax.jit
    def solve(z: Array, p: Array) -> FlatEigenpairs:
        return dense_eigenpairs_flat(jax.hessian(f_flat)(z), k, p_inv_sqrt=p)

    return solve


@functools.lru_cache(maxsize=64)
def _lobpcg_solver(
    loss: LossFunction,
    treedef: jax.tree_util.PyTreeDef,
    shapes: _Shapes,
    iterations: int,
    tol: float,
) -> Callable[[Array, Array, Array], FlatEigenpairs]:
    """A jitted LOBPCG eigen-solver `(flat, V0, p_inv_sqrt) -> pairs` for `loss` on
    parameters of this structure (`k` is the width of `V0`)."""
    grad = jax.grad(_flat_loss(loss, treedef, shapes))

    @jax.jit
    def solve(z: Array, V0: Array, p: Array) -> FlatEigenpairs:
        return top_eigenpairs_flat(
            hessian_operator_flat(grad, z),
            V0,
            p_inv_sqrt=p,
            iterations=iterations,
            tol=tol,
        )

    return solve


@functools.lru_cache(maxsize=64)
def _negated(loss: LossFunction) -> LossFunction:
    """$-f$, one function per `f`, so that the solvers compiled for it are reused."""

    def negated(params: PyTree) -> Array:
        return -loss(params)

    return negated


def _preconditioner(
    preconditioner: PyTree, params: PyTree, flat: Array
) -> Array | float:
    """$P^{-1/2}$ as a flat vector or a scalar; `DeriveError` unless $P > 0$."""
    from derive import DeriveError

    if preconditioner is None:
        return 1.0
    leaves = jax.tree_util.tree_leaves(preconditioner)
    if len(leaves) == 1 and jnp.ndim(leaves[0]) == 0:
        p = jnp.asarray(leaves[0], flat.dtype)
    else:
        try:
            p = ravel_pytree(
                jax.tree_util.tree_map(
                    lambda a, b: jnp.broadcast_to(a, jnp.shape(b)),
                    preconditioner,
                    params,
                )
            )[0]
        except (ValueError, TypeError):
            raise DeriveError(
                "the preconditioner is neither a positive number nor a pytree shaped "
                "like the parameters.",
                "Pass P as a number or as a pytree of positive arrays matching params "
                "(the diagonal of P).",
            ) from None
    if not bool(jnp.all(p > 0)) or not bool(jnp.all(jnp.isfinite(p))):
        raise DeriveError(
            "the preconditioner must be positive and finite (a diagonal P > 0).",
            "For RMSProp use P = (sqrt(nu) + eps)/h with eps > 0 where nu can vanish.",
        )
    return 1.0 / jnp.sqrt(p)


def _to_block(vectors: PyTree, flat: Array, k: int, p_inv_sqrt: Array | float) -> Array:
    """Warm-start block in symmetrised coordinates, `(n, k)`."""
    n = flat.size
    if vectors is None:
        key = jax.random.PRNGKey(0)
        return jax.random.normal(key, (n, k), dtype=flat.dtype)
    if isinstance(vectors, jax.Array | np.ndarray) and jnp.ndim(vectors) == 2:
        V = jnp.asarray(vectors, flat.dtype)
    else:
        V = jax.vmap(lambda t: ravel_pytree(t)[0])(vectors).T
    V = V / jnp.broadcast_to(jnp.asarray(p_inv_sqrt, flat.dtype), (n,))[:, None]
    if V.shape[1] < k:
        extra = jax.random.normal(
            jax.random.PRNGKey(1), (n, k - V.shape[1]), flat.dtype
        )
        V = jnp.concatenate([V, extra], axis=1)
    return V[:, :k]


@uses_float64
def hessian_eigenpairs(
    loss: LossFunction,
    params: PyTree,
    k: int = 1,
    *,
    preconditioner: PyTree | None = None,
    vectors: PyTree | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    tol: float = DEFAULT_TOLERANCE,
    method: Method = "auto",
    require: Require = "one",
) -> Eigenpairs:
    """The top $k$ eigenpairs of the Hessian, or of $H u = \\lambda P u$ for diagonal $P$.

    Warm-started LOBPCG on Hessian-vector products (`jax.jvp` of `jax.grad`) of the
    symmetrised operator $P^{-1/2} H P^{-1/2}$; with $P = (\\sqrt{\\nu} + \\epsilon)/h$
    the values are RMSProp's effective sharpnesses times $1$ (they are compared with
    $2$). A dense `eigh` is used when $n \\le 5k$ or `method="dense"`.

    **Arguments:**

    - `loss`: $f$, a scalar JAX function of a pytree.
    - `params`: the point $\\theta$ (a pytree).
    - `k`: how many eigenpairs (largest eigenvalues first).
    - `preconditioner`: $P$, a positive number or a pytree shaped like `params` (its
      diagonal); `None` for the plain Hessian.
    - `vectors`: a warm start: the `vectors` of a previous result, or an `(n, k)`
      array of flat vectors.
    - `iterations`: LOBPCG's iteration budget.
    - `tol`: the relative residual below which an eigenpair counts as converged.
    - `method`: `"auto"`, `"lobpcg"` or `"dense"`.
    - `require`: `"one"` (default) raises [`DeriveError`][derive.DeriveError] when no
      eigenpair converged, `"all"` when any did not, `"none"` never.

    **Returns:** an [`Eigenpairs`][numerics.Eigenpairs].

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> loss = lambda x: 0.5 * jnp.sum(jnp.arange(1.0, 13.0) * x ** 2)
        >>> pairs = numerics.hessian_eigenpairs(loss, jnp.zeros(12), k=2)
        >>> [round(float(v), 10) for v in pairs.values]
        [12.0, 11.0]
        >>> pre = numerics.hessian_eigenpairs(loss, jnp.zeros(12), k=1,
        ...                                   preconditioner=2.0)   # H u = lambda 2 u
        >>> round(float(pre.values[0]), 10)
        6.0

        ```
    """
    from derive import DeriveError

    flat, unravel = ravel_pytree(params)
    flat = jnp.asarray(flat, jnp.float64)
    n, k = flat.size, int(k)
    if not 1 <= k <= n:
        raise DeriveError(
            f"k = {k} eigenpairs of a {n}-parameter problem.",
            f"Ask for 1 <= k <= {n} eigenpairs.",
        )
    if method not in ("auto", "lobpcg", "dense"):
        raise DeriveError(f"method={method!r}.", "Use 'auto', 'lobpcg' or 'dense'.")
    if require not in ("one", "all", "none"):
        raise DeriveError(f"require={require!r}.", "Use 'one', 'all' or 'none'.")
    p_inv_sqrt = _preconditioner(preconditioner, params, flat)

    leaves, treedef = jax.tree_util.tree_flatten(params)
    shapes = tuple((jnp.shape(v), jnp.result_type(v).name) for v in leaves)
    dense = method == "dense" or (method == "auto" and 5 * k >= n)
    if not dense and 5 * k >= n:
        raise DeriveError(
            f"LOBPCG needs more than 5k = {5 * k} parameters; this problem has {n}.",
            "Use method='dense' (or 'auto').",
        )
    p = jnp.broadcast_to(p_inv_sqrt, flat.shape)
    if dense:
        pairs = _dense_solver(loss, treedef, shapes, k)(flat, p)
    else:
        V0 = _to_block(vectors, flat, k, p_inv_sqrt)
        solve = _lobpcg_solver(loss, treedef, shapes, iterations, float(tol))
        pairs = solve(flat, V0, p)
    vals, U, res, its = pairs.values, pairs.vectors, pairs.residuals, pairs.iterations
    converged = res <= tol
    if not bool(jnp.all(jnp.isfinite(vals))):
        raise DeriveError(
            "the Hessian eigenvalues are not finite at this point (the loss or its "
            "derivatives overflow there).",
            "Check the parameters (a diverged run?) and the loss.",
        )
    if require == "all" and not bool(jnp.all(converged)):
        raise DeriveError(
            f"LOBPCG did not converge for {int(k - converged.sum())} of {k} eigenpairs "
            f"in {iterations} iterations (relative residuals {list(map(float, res))}).",
            "Raise iterations=, warm-start with the previous vectors, or loosen tol=.",
        )
    if require == "one" and not bool(jnp.any(converged)):
        raise DeriveError(
            f"no eigenvalue converged in {iterations} LOBPCG iterations (relative "
            f"residuals {[f'{float(r):.2e}' for r in res]}, tolerance {tol:g}).",
            "Raise iterations=, warm-start with vectors= from a nearby point, or "
            "loosen tol=; for a small problem use method='dense'.",
        )
    vectors_tree = jax.vmap(unravel, in_axes=1)(U)
    return Eigenpairs(vals, vectors_tree, res, converged, int(its))


def sharpness(
    loss: LossFunction, params: PyTree, **options: Unpack[SharpnessOptions]
) -> float:
    """The top Hessian eigenvalue $S(\\theta) = \\lambda_1(H(\\theta))$.

    Gradient descent with step $h$ is stable near $\\theta$ while $S < 2/h$ and trains
    at the edge of stability when $S$ rises to $2/h$ (Cohen et al., ICLR 2021).
    `options` go to [`hessian_eigenpairs`][numerics.hessian_eigenpairs].

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> loss = lambda x: 0.5 * jnp.sum(jnp.arange(1.0, 13.0) * x ** 2)
        >>> round(numerics.sharpness(loss, jnp.ones(12)), 10)
        12.0

        ```
    """
    return float(hessian_eigenpairs(loss, params, 1, **options).values[0])


def preconditioned_sharpness(
    loss: LossFunction,
    params: PyTree,
    preconditioner: PyTree,
    **options: Unpack[SolverOptions],
) -> float:
    """The top eigenvalue of $P^{-1} H$ for a diagonal $P > 0$: the generalised
    eigenproblem $H u = \\lambda P u$.

    With RMSProp's $P = (\\sqrt{\\hat\\nu} + \\epsilon)/h$ this is the *effective
    sharpness*; RMSProp is stable while it is below 2 (Cohen et al., ICLR 2025).

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> loss = lambda x: 0.5 * (x[0] ** 2 + 4 * x[1] ** 2) + 0 * jnp.sum(x)
        >>> P = jnp.array([1.0, 8.0] + [1.0] * 10)
        >>> round(numerics.preconditioned_sharpness(loss, jnp.ones(12), P), 10)
        1.0

        ```
    """
    return float(
        hessian_eigenpairs(
            loss, params, 1, preconditioner=preconditioner, **options
        ).values[0]
    )


def min_hessian_eigenvalue(
    loss: LossFunction, params: PyTree, **options: Unpack[SharpnessOptions]
) -> float:
    """The smallest Hessian eigenvalue $\\lambda_{\\min}(H(\\theta))$ (LOBPCG on $-H$).

    Negative values mark directions in which gradient descent and gradient flow
    separate exponentially (Elkabetz & Cohen, NeurIPS 2021).

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> loss = lambda x: 0.5 * jnp.sum(jnp.linspace(-3.0, 8.0, 12) * x ** 2)
        >>> round(numerics.min_hessian_eigenvalue(loss, jnp.ones(12)), 10)
        -3.0

        ```
    """
    pairs = hessian_eigenpairs(_negated(loss), params, 1, **options)
    return -float(pairs.values[0])


@uses_float64
def eigenvalue_gradient(
    loss: LossFunction, params: PyTree, u: PyTree, v: PyTree | None = None
) -> PyTree:
    """$\\nabla_\\theta \\big(u^\\top H(\\theta)\\, v\\big)$ with $u$ and $v$ held fixed.

    For a unit eigenvector $u$ of a simple eigenvalue $\\lambda$ this is $\\nabla
    \\lambda(\\theta)$ (Hellmann-Feynman); for $v \\neq u$ it is the entry of the
    third-derivative tensor that the central flow's complementarity problem needs.
    Two nested `jax.jvp`s of `jax.grad` (forward over forward over reverse): no
    Hessian is formed.

    **Arguments:**

    - `loss`: $f$, a scalar JAX function of a pytree.
    - `params`: the point $\\theta$.
    - `u`, `v`: directions shaped like `params` (`v` defaults to `u`).

    **Returns:** a pytree shaped like `params`.

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> loss = lambda x: x[0] ** 2 * x[1]            # H[0, 0] = 2 x[1]
        >>> g = numerics.eigenvalue_gradient(loss, jnp.array([1.0, 3.0]),
        ...                                  jnp.array([1.0, 0.0]))
        >>> g
        Array([0., 2.], dtype=float64)

        ```
    """
    v = u if v is None else v
    return third_derivative_flat(jax.grad(loss), params, u, v)
