"""The semidefinite complementarity problem of central flows, solved by Clarabel.

With $k$ Hessian eigenvalues at the edge of stability, the central flow's covariance
is $\\Sigma = U X U^\\top$ ($U$ the critical eigenvectors) where the $k \\times k$
matrix $X$ solves (Cohen et al., ICLR 2025, section 3)

$$X \\succeq 0, \\qquad Y := \\alpha + \\beta[X] \\succeq 0, \\qquad \\langle X, Y
\\rangle = 0,$$

$\\alpha$ a symmetric $k\\times k$ matrix and $\\beta$ a positive semidefinite linear
map on symmetric matrices ($\\beta_{ij,kl} = \\langle \\nabla(u_i^\\top H u_j),
\\nabla(u_k^\\top H u_l)\\rangle$-like Gram entries). These are the optimality
conditions of the convex quadratic program

$$\\min_{X \\succeq 0}\\ \\tfrac12 \\langle X, \\beta[X] \\rangle + \\langle \\alpha,
X\\rangle,$$

which is solved here with **Clarabel** (Goulart & Chen, 2024), the interior-point
conic solver that CVXPY uses by default: maintained, written in Rust, with a native
positive semidefinite cone, so the small problem goes to it directly (no modelling
layer, about a millisecond a solve) and to tight tolerances ($10^{-10}$). One
eigenvalue needs no solver: $X = \\max(0, -\\alpha/\\beta)$, the closed form
$\\sigma^2 = 2\\langle -\\nabla L, \\nabla S\\rangle/|\\nabla S|^2$ for gradient
descent. Inside `jax.jit` the solve runs through `jax.pure_callback`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from ._typing import Array

__all__ = ["semidefinite_complementarity", "sdcp_residual", "sdcp_callback"]

TOLERANCE = 1e-10
"""Clarabel's feasibility and gap tolerances (it reaches them reliably here; at
$10^{-12}$ it often stops with 'almost solved' at a worse point)."""


class SdcpResidual(TypedDict):
    """What [`sdcp_residual`][numerics._sdcp.sdcp_residual] measures (see there)."""

    x_min_eig: float
    y_min_eig: float
    gap: float
    Y: NDArray[np.float64]


def _svec_basis(k: int) -> NDArray[np.float64]:
    """$T$ with $\\mathrm{vec}(X) = T\\, \\mathrm{svec}(X)$ in Clarabel's convention
    (upper triangle by columns, off-diagonal entries times $\\sqrt 2$)."""
    cols = []
    for j in range(k):
        for i in range(j + 1):
            E = np.zeros((k, k))
            if i == j:
                E[i, i] = 1.0
            else:
                E[i, j] = E[j, i] = 1.0 / math.sqrt(2.0)
            cols.append(E.reshape(-1))
    return np.array(cols).T


def sdcp_residual(alpha: ArrayLike, beta: ArrayLike, X: ArrayLike) -> SdcpResidual:
    """How well `X` solves the problem: the most negative eigenvalues of $X$ and of
    $Y = \\alpha + \\beta[X]$ and the gap $\\langle X, Y \\rangle$, each relative to the
    scale $|\\alpha| + |\\beta[X]|$."""
    alpha = np.asarray(alpha, float)
    k = alpha.shape[0]
    B = np.asarray(beta, float).reshape(k * k, k * k)
    X = np.asarray(X, float)
    bX = (B @ X.reshape(-1)).reshape(k, k)
    Y = alpha + 0.5 * (bX + bX.T)
    scale = float(np.linalg.norm(alpha) + np.linalg.norm(bX)) + 1e-300
    return {
        "x_min_eig": float(np.linalg.eigvalsh(0.5 * (X + X.T))[0]),
        "y_min_eig": float(np.linalg.eigvalsh(Y)[0]) / scale,
        "gap": float(np.sum(X * Y)) / (scale * (float(np.linalg.norm(X)) + 1e-300)),
        "Y": Y,
    }


def semidefinite_complementarity(
    alpha: ArrayLike, beta: ArrayLike, *, tol: float = TOLERANCE
) -> NDArray[np.float64]:
    """Solve $X \\succeq 0$, $\\alpha + \\beta[X] \\succeq 0$, $\\langle X, \\alpha +
    \\beta[X]\\rangle = 0$ for a symmetric $k\\times k$ $\\alpha$ and a positive
    semidefinite $\\beta$.

    **Arguments:**

    - `alpha`: a symmetric `(k, k)` array.
    - `beta`: the linear map as a `(k, k, k, k)` array, $\\beta[X]_{ij} =
      \\sum_{kl} \\beta_{ijkl} X_{kl}$, symmetric and positive semidefinite as a
      map on symmetric matrices (it is symmetrised and its tiny negative
      eigenvalues from round-off are dropped).
    - `tol`: Clarabel's feasibility and gap tolerances.

    **Returns:** the `(k, k)` solution $X$ (zeros when $\\alpha \\succeq 0$), or a
    matrix of NaN when the problem has no solution (the quadratic program is
    unbounded: some direction with $\\langle \\alpha, X\\rangle < 0$ costs nothing
    in $\\beta$), which the central flow reports as such.

    !!! example
        ```python
        >>> import numpy as np, numerics
        >>> beta = np.eye(4).reshape(2, 2, 2, 2)          # beta[X] = X
        >>> X = numerics.semidefinite_complementarity(np.diag([-1.0, 2.0]), beta)
        >>> np.round(X, 9)                                  # X = max(-alpha, 0)
        array([[1., 0.],
               [0., 0.]])

        ```

    !!! cite "Reference"
        Goulart & Chen, *Clarabel: An interior-point solver for conic programs with
        quadratic objectives*, arXiv 2405.12762 (2024).
    """
    A = np.asarray(alpha, dtype=np.float64)
    k = A.shape[0]
    if k == 0:
        return np.zeros((0, 0))
    A = 0.5 * (A + A.T)
    B = np.asarray(beta, dtype=np.float64).reshape(k * k, k * k)
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
        return np.full((k, k), np.nan)
    if np.linalg.eigvalsh(A)[0] >= 0:
        return np.zeros((k, k))
    if k == 1:
        b = float(B[0, 0])
        return np.array([[-A[0, 0] / b]]) if b > 0 else np.full((1, 1), np.nan)
    T = _svec_basis(k)
    Q = T.T @ B @ T
    Q = 0.5 * (Q + Q.T)
    w, V = np.linalg.eigh(Q)
    w = np.where(w > 1e-13 * max(w.max(), 1e-300), w, 0.0)
    Q = (V * w) @ V.T
    q = T.T @ A.reshape(-1)
    sq, sa = max(np.abs(Q).max(), 1e-300), max(np.abs(q).max(), 1e-300)
    x = _clarabel(Q / sq, q / sa, k, tol)
    if x is None:
        return np.full((k, k), np.nan)
    X = (T @ x).reshape(k, k) * (sa / sq)
    w, V = np.linalg.eigh(0.5 * (X + X.T))  # drop the interior point's round-off
    return (V * np.maximum(w, 0.0)) @ V.T


def _clarabel(
    Q: NDArray[np.float64], q: NDArray[np.float64], k: int, tol: float
) -> NDArray[np.float64] | None:
    import clarabel
    from scipy import sparse

    m = Q.shape[0]
    P = sparse.triu(sparse.csc_matrix(Q), format="csc")
    A = -sparse.identity(m, format="csc")
    b = np.zeros(m)
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_feas = settings.tol_gap_abs = settings.tol_gap_rel = tol
    settings.tol_infeas_abs = settings.tol_infeas_rel = tol
    settings.max_iter = 200
    solver = clarabel.DefaultSolver(
        P, q, A, b, [clarabel.PSDTriangleConeT(k)], settings
    )
    sol = solver.solve()
    status = str(sol.status)
    if "Solved" not in status:  # Solved or AlmostSolved
        return None
    return np.asarray(sol.x)


def sdcp_callback(alpha: Array, beta: Array) -> Array:
    """[`semidefinite_complementarity`][numerics.semidefinite_complementarity] inside
    `jax.jit`, through `jax.pure_callback` (shapes are static).

    The float64 arrays cross as `uint32` pairs (`bitcast_convert_type`): the callback
    runs on another thread, where a 64-bit mode switched on by
    [`float64`][numerics.float64] for the caller's thread does not hold, and JAX would
    otherwise hand the solver float32 copies."""
    import jax
    import jax.numpy as jnp

    k = alpha.shape[0]

    def host(a_bits: ArrayLike, b_bits: ArrayLike) -> NDArray[np.uint32]:
        a = np.ascontiguousarray(np.asarray(a_bits, np.uint32)).view(np.float64)
        b = np.ascontiguousarray(np.asarray(b_bits, np.uint32)).view(np.float64)
        X = semidefinite_complementarity(a.reshape(k, k), b.reshape(k, k, k, k))
        out = np.ascontiguousarray(np.asarray(X, np.float64).reshape(k, k, 1))
        return out.view(np.uint32).reshape(k, k, 2)

    a_bits = jax.lax.bitcast_convert_type(alpha.astype(jnp.float64), jnp.uint32)
    b_bits = jax.lax.bitcast_convert_type(beta.astype(jnp.float64), jnp.uint32)
    bits = jax.pure_callback(
        host, jax.ShapeDtypeStruct((k, k, 2), jnp.uint32), a_bits, b_bits
    )
    return jax.lax.bitcast_convert_type(bits, jnp.float64)
