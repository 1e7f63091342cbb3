"""Linear stability of an optimizer: the step-size limit beyond which iterates blow up.

On a quadratic with curvature $\\lambda$ (the loss $\\lambda x^2/2$, so
$\\nabla f(v) = \\lambda v$), every recurrence here is linear: one step is a matrix
$M(h, \\lambda)$ acting on the state. The iterates stay bounded when its spectral radius
is at most 1 for every curvature $0 < \\lambda \\le L$ met along the trajectory, $L$ the
top Hessian eigenvalue. The limit is computed from the optimizer's own program, so it
works for any recurrence, and reproduces the closed forms (Polyak 1964; Kovachki &
Stuart, JMLR 22 (2021)):

| optimizer | stable for |
|---|---|
| gradient descent | $h < 2/L$ |
| heavy ball | $h < 2(1+\\beta)/L$ |
| Nesterov | $h < 2(1+\\beta)/((1+2\\beta) L)$ |

Negative curvature makes the iterates *and* the flow grow; that is the dynamics, not an
instability of the method, and is not counted here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from derive import Recurrence

from ._typing import Array, LossFunction, PyTree

__all__ = [
    "transition_matrix",
    "spectral_radius",
    "is_stable",
    "stability_limit",
    "hessian_eigenvalues",
]


def transition_matrix(
    rec: Recurrence,
    h: float,
    curvature: float,
    params: Mapping[str, float] | None = None,
) -> NDArray[np.float64]:
    """$M(h, \\lambda)$: one step of `rec` on $f(x) = \\lambda x^2 / 2$, as a matrix
    acting on the state vector (position first).

    !!! example
        Heavy ball on $(x, x^-)$: $x^+ = (1 + \\beta - h\\lambda) x - \\beta x^-$.

        ```python
        >>> import derive, numerics
        >>> numerics.transition_matrix(derive.heavy_ball(0.5), 0.1, 2.0)
        array([[ 1.3, -0.5],
               [ 1. ,  0. ]])

        ```
    """
    program = rec.coefficient_values(float(h), **dict(params or {}))
    m = len(rec.states)
    values = [np.eye(m)[k] for k in range(m)]
    for ins in program:
        if ins[0] == "grad":
            values.append(curvature * values[ins[1]])
        else:
            total = np.zeros(m)
            for v, c in ins[1]:
                total = total + float(c) * values[v]
            values.append(total)
    return np.array([values[o] for o in rec.outputs])


def spectral_radius(
    rec: Recurrence,
    h: float,
    curvature: float,
    params: Mapping[str, float] | None = None,
) -> float:
    """The spectral radius of [`transition_matrix`][numerics.transition_matrix].

    !!! example
        Gradient descent multiplies by $1 - h\\lambda$:

        ```python
        >>> import derive, numerics
        >>> numerics.spectral_radius(derive.gd(), 0.5, 3.0)  # |1 - 1.5|
        0.5

        ```
    """
    M = transition_matrix(rec, h, curvature, params)
    return float(np.max(np.abs(np.linalg.eigvals(M))))


def is_stable(
    rec: Recurrence,
    h: float,
    curvature: float,
    params: Mapping[str, float] | None = None,
    n_grid: int = 64,
) -> bool:
    """Whether $\\rho(M(h, \\lambda)) \\le 1$ for $\\lambda$ on a grid of $(0, L]$."""
    if curvature <= 0:
        return True
    for k in range(1, n_grid + 1):
        if spectral_radius(rec, h, curvature * k / n_grid, params) > 1 + 1e-9:
            return False
    return True


def stability_limit(
    rec: Recurrence, curvature: float, params: Mapping[str, float] | None = None
) -> float:
    """The largest step size $h$ that is stable for all curvatures in $(0, L]$.

    **Arguments:**

    - `rec`: a `derive.Recurrence`.
    - `curvature`: $L$, the top Hessian eigenvalue along the trajectory.
    - `params`: numbers for its symbolic hyper-parameters.

    **Returns:** the first $h$ at which the iterates become unstable, found by doubling
    and bisection (relative accuracy $10^{-10}$); `inf` if none up to $10^{12}/L$.

    !!! example
        ```python
        >>> import derive, numerics
        >>> round(numerics.stability_limit(derive.gd(), 10.0), 9)          # 2/L
        0.2
        >>> round(numerics.stability_limit(derive.heavy_ball(0.5), 10.0), 9)  # 2.5/L
        0.3

        ```
    """
    if not curvature > 0:
        return math.inf
    lo = 1e-6 / curvature
    if not is_stable(rec, lo, curvature, params):
        return 0.0
    hi = 2 * lo
    while is_stable(rec, hi, curvature, params):
        lo, hi = hi, 2 * hi
        if hi > 1e12 / curvature:
            return math.inf
    while hi - lo > 1e-10 * hi:
        mid = 0.5 * (lo + hi)
        if is_stable(rec, mid, curvature, params):
            lo = mid
        else:
            hi = mid
    return lo


def hessian_eigenvalues(loss: LossFunction, x: PyTree) -> Array:
    """All eigenvalues of the Hessian of `loss` at `x` (a pytree), in ascending order.

    Dense: the Hessian of the flattened parameters, for problems up to a few thousand
    parameters.

    !!! example
        ```python
        >>> import numerics
        >>> import jax.numpy as jnp
        >>> numerics.hessian_eigenvalues(lambda z: z[0]**2 + 3 * z[1]**2,
        ...                              jnp.array([1.0, 2.0]))
        Array([2., 6.], dtype=float64)

        ```
    """
    import jax
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(x)

    def f(z: Array) -> Array:
        return loss(unravel(z))

    H = jax.hessian(f)(flat)
    return jax.numpy.linalg.eigvalsh(0.5 * (H + H.T))
