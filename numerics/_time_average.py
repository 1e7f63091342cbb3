"""Time averages of an oscillating run: the quantities a central flow predicts.

At the edge of stability the iterates oscillate with period about two steps along
the top Hessian eigenvectors. Two averages remove the oscillation and keep the slow
motion (Cohen et al., ICLR 2025, use both):

- [`midpoint_average`][numerics.midpoint_average]: the second-order midpoint
  $\\bar x_n = (x_{n-1} + 2x_n + x_{n+1})/4$, the midpoint of consecutive midpoints
  (it cancels a period-two oscillation exactly and shifts a smooth run by
  $O(h^2 \\ddot x)$);
- [`gaussian_average`][numerics.gaussian_average]: a Gaussian filter along the steps
  (width $\\sigma$ steps), for losses and squared gradient norms as well as positions.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["midpoint_average", "gaussian_average"]


def midpoint_average(x: ArrayLike) -> NDArray[np.float64]:
    """$(x_{n-1} + 2x_n + x_{n+1})/4$ along the first axis (the ends are kept).

    !!! example
        ```python
        >>> import numpy as np, numerics
        >>> x = np.array([1.0, -1.0, 1.0, -1.0, 1.0]) + np.arange(5)
        >>> numerics.midpoint_average(x)       # the oscillation is gone
        array([1., 1., 2., 3., 5.])

        ```
    """
    x = np.asarray(x, dtype=float)
    out = x.copy()
    if len(x) >= 3:
        out[1:-1] = 0.25 * (x[:-2] + 2 * x[1:-1] + x[2:])
    return out


def gaussian_average(x: ArrayLike, sigma: float) -> NDArray[np.float64]:
    """A Gaussian filter of width `sigma` steps along the first axis (`scipy.ndimage`,
    the ends extended by their nearest value).

    !!! example
        ```python
        >>> import numpy as np, numerics
        >>> x = np.where(np.arange(200) % 2 == 0, 1.0, 3.0)
        >>> float(np.round(numerics.gaussian_average(x, 10.0)[100], 4))
        2.0

        ```
    """
    from scipy.ndimage import gaussian_filter1d

    x = np.asarray(x, dtype=float)
    if sigma <= 0:
        return x.copy()
    return gaussian_filter1d(x, sigma, axis=0, mode="nearest")
