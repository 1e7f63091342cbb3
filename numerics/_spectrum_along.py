"""Both ends of the Hessian spectrum along a trajectory, matrix-free and warm-started.

Elkabetz & Cohen (NeurIPS 2021) bound the distance between gradient descent and
gradient flow through the smallest Hessian eigenvalue along the flow; the step-size
limit $2/\\lambda_{\\max}$ needs the largest. Both come here from the same solver as
[`hessian_eigenpairs`][numerics.hessian_eigenpairs] (LOBPCG on Hessian-vector
products), called through its public interface: the top of $H$ for
$\\lambda_{\\max}$, the top of $-H$ for $\\lambda_{\\min}$, each warm-started from
the eigenvectors of the previous point. Problems too small for LOBPCG ($n \\le 5k$) use a dense
`eigh` at every point.

Each eigenvalue comes with its absolute residual $r = |Hu - \\lambda u|$ ($|u| = 1$):
for a symmetric matrix some eigenvalue lies within $r$ of $\\lambda$, so $r$ is the
error bar of the value reported.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._precision import uses_float64
from ._typing import Array, LossFunction, PyTree

__all__ = ["ExtremeEigenvalues", "extreme_eigenvalues_along"]


class ExtremeEigenvalues(NamedTuple):
    """Result of [`extreme_eigenvalues_along`][numerics.extreme_eigenvalues_along],
    one entry per point of the trajectory.

    - `minimum`, `maximum`: $\\lambda_{\\min}(H)$ and $\\lambda_{\\max}(H)$.
    - `residual_min`, `residual_max`: $|Hu - \\lambda u|$ for the unit eigenvector
      found (the error bar of the value).
    - `iterations`: LOBPCG iterations per point, `(m, 2)` (largest, smallest;
      zeros for a dense solve).
    """

    minimum: np.ndarray
    maximum: np.ndarray
    residual_min: np.ndarray
    residual_max: np.ndarray
    iterations: np.ndarray


def _vectors(pairs: Any) -> Array | None:
    """The warm start for the next point: the previous eigenvectors, `(n, k)`."""
    return None if pairs is None else jnp.asarray(pairs.vectors).T


def _flat_points(trajectory: PyTree) -> tuple[Array, object]:
    """`(m, n)` flat points and the `unravel` of one point."""
    if isinstance(trajectory, jax.Array | np.ndarray) and jnp.ndim(trajectory) == 2:
        return jnp.asarray(trajectory, jnp.float64), lambda z: z
    first = jax.tree_util.tree_map(lambda v: v[0], trajectory)
    _, unravel = ravel_pytree(first)
    points = jax.vmap(lambda p: ravel_pytree(p)[0])(trajectory)
    return jnp.asarray(points, jnp.float64), unravel


@uses_float64
def extreme_eigenvalues_along(
    loss: LossFunction,
    trajectory: PyTree,
    *,
    k: int = 2,
    iterations: int = 100,
    tol: float = 1e-9,
    method: str = "auto",
) -> ExtremeEigenvalues:
    """$\\lambda_{\\min}$ and $\\lambda_{\\max}$ of the Hessian at every point of a
    trajectory, by warm-started LOBPCG (matrix-free) or dense `eigh`.

    **Arguments:**

    - `loss`: $f$, a scalar JAX function of the parameters (a pytree).
    - `trajectory`: the points, either an `(m, n)` array of flat parameter vectors
      or a pytree shaped like the parameters with a leading axis `m`.
    - `k`: the block size of each LOBPCG solve (more than 1 converges faster on
      clustered spectra; only the extreme eigenvalue is reported).
    - `iterations`: LOBPCG's budget per point (it stops early once converged).
    - `tol`: LOBPCG's relative residual tolerance.
    - `method`: `"auto"` (dense when $n \\le 5k$), `"lobpcg"` or `"dense"`.

    **Returns:** an [`ExtremeEigenvalues`][numerics.ExtremeEigenvalues].

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> c = jnp.linspace(-2.0, 9.0, 12)     # H = diag(c) + x[11] e e^T
        >>> loss = lambda x: 0.5 * jnp.sum(c * x ** 2) + x[11] ** 3 / 6
        >>> path = jnp.zeros((3, 12)).at[:, 11].set(jnp.array([0.0, 1.0, 2.0]))
        >>> eig = numerics.extreme_eigenvalues_along(loss, path)
        >>> [round(float(v), 8) for v in eig.minimum]
        [-2.0, -2.0, -2.0]
        >>> [round(float(v), 8) for v in eig.maximum]
        [9.0, 10.0, 11.0]

        ```

    !!! cite "Reference"
        Elkabetz & Cohen, *Continuous vs. discrete optimization of deep neural
        networks*, NeurIPS 2021 (the minimum eigenvalue along the flow);
        Knyazev, *Toward the optimal preconditioned eigensolver: LOBPCG*, SIAM J.
        Sci. Comput. 23 (2001).
    """
    from derive import DeriveError

    points, unravel = _flat_points(trajectory)
    if points.ndim != 2 or points.shape[0] == 0:
        raise DeriveError(
            "the trajectory must hold at least one point (leading axis m).",
            "Pass an (m, n) array or a pytree whose leaves have a leading axis.",
        )
    m, n = points.shape
    k = int(k)
    if method not in ("auto", "lobpcg", "dense"):
        raise DeriveError(f"method={method!r}.", "Use 'auto', 'lobpcg' or 'dense'.")
    dense = method == "dense" or (method == "auto" and 5 * k >= n)
    if not dense and 5 * k >= n:
        raise DeriveError(
            f"LOBPCG needs more than 5k = {5 * k} parameters; this problem has {n}.",
            "Use method='dense' (or 'auto').",
        )

    from ._spectrum import hessian_eigenpairs

    def f(z: Array) -> Array:
        return loss(unravel(z))  # type: ignore[operator]

    def neg(z: Array) -> Array:
        return -f(z)

    grad = jax.grad(f)

    @jax.jit
    def residual(w: Array, lam: Array, u: Array) -> Array:
        u = u / jnp.linalg.norm(u)
        return jnp.linalg.norm(jax.jvp(grad, (w,), (u,))[1] - lam * u)

    # one compiled solver per function (hessian_eigenpairs caches it), each point
    # warm-started from the previous point's eigenvectors
    options: dict[str, Any] = {
        "iterations": iterations,
        "tol": tol,
        "method": "dense" if dense else "lobpcg",
        "require": "none",
    }
    if dense:
        k = min(k, n)
    lo, hi = np.zeros(m), np.zeros(m)
    r_lo, r_hi = np.zeros(m), np.zeros(m)
    its = np.zeros((m, 2), int)
    top: Any = None
    bottom: Any = None
    for i in range(m):
        w = points[i]
        top = hessian_eigenpairs(f, w, k, vectors=_vectors(top), **options)
        bottom = hessian_eigenpairs(neg, w, k, vectors=_vectors(bottom), **options)
        hi[i], lo[i] = float(top.values[0]), -float(bottom.values[0])
        r_hi[i] = float(residual(w, top.values[0], top.vectors[0]))
        r_lo[i] = float(residual(w, -bottom.values[0], bottom.vectors[0]))
        its[i] = (top.iterations, bottom.iterations)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise DeriveError(
            "the Hessian eigenvalues are not finite somewhere on the trajectory "
            "(the loss or its derivatives overflow there).",
            "Check the trajectory (a diverged run?) and the loss.",
        )
    return ExtremeEigenvalues(
        minimum=lo,
        maximum=hi,
        residual_min=r_lo,
        residual_max=r_hi,
        iterations=np.asarray(its),
    )
