"""A convex loss carrying narrow local minima: where large steps and small ones part.

$$f(x) = \\frac{\\mu}{2}|x|^2 - \\sum_i a_i \\exp\\Big(-\\frac{|x - c_i|^2}{2 s_i^2}\\Big)$$

A smooth strongly convex bowl (curvature $\\mu$, global minimum near 0) with narrow
Gaussian wells of depth $a_i$ and width $s_i$ at $c_i$. Each well holds a local
minimum $m_i$ whose curvature $\\lambda_i \\approx \\mu + a_i/s_i^2$ is large, so it
is linearly stable for gradient descent only while $h < 2/\\lambda_i$; the bowl's
minimum is stable up to $h < 2/\\mu$. Gradient flow, and GD with small steps, stop in
a well when they start in its basin; GD with $2/\\lambda_i < h < 2/\\mu$ cannot stay
in well $i$ and ends at the global minimum. This is the mechanism that Mohtashami,
Jaggi & Stich (ICML 2023) analyse on their own class of non-convex functions (local
minima confined to small sharp regions); the class here is the toolkit's
construction with that mechanism, not the paper's definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._typing import Array, ArrayLike

__all__ = ["NarrowWells", "LocalMinimum"]


class LocalMinimum(NamedTuple):
    """A local minimum: `position`, `value` $f(m)$, `curvature` (the Hessian's
    largest eigenvalue there) and `threshold` $2/\\lambda$, the largest step size
    at which gradient descent can converge to it."""

    position: np.ndarray
    value: float
    curvature: float
    threshold: float
    label: str


@dataclass(frozen=True)
class NarrowWells:
    """The loss $\\frac{\\mu}{2}|x|^2 - \\sum_i a_i e^{-|x - c_i|^2/(2 s_i^2)}$ (see the
    module docs) in `dimension` dimensions (the centres' first coordinates are
    `centres`, the others 0).

    **Attributes:**

    - `curvature`: $\\mu$; `centres`, `depths`, `widths`: $c_i$, $a_i$, $s_i$;
      `dimension`: of $x$.

    !!! example
        ```python
        >>> import numerics
        >>> wells = numerics.NarrowWells()
        >>> [m.label for m in wells.minima()]
        ['global', 'well 1 (x = 2)', 'well 2 (x = -1.5)']
        >>> [round(m.threshold, 4) for m in wells.minima()]
        [2.0, 0.0524, 0.0052]

        ```
    """

    curvature: float = 1.0
    centres: tuple[float, ...] = (2.0, -1.5)
    depths: tuple[float, ...] = (0.5, 0.4)
    widths: tuple[float, ...] = (0.1, 0.032)
    dimension: int = 1

    def __post_init__(self) -> None:
        from derive import DeriveError

        n = len(self.centres)
        if len(self.depths) != n or len(self.widths) != n:
            raise DeriveError(
                "centres, depths and widths must have one entry per well.",
                "Give tuples of the same length.",
            )
        if self.curvature <= 0 or min(self.widths, default=1.0) <= 0:
            raise DeriveError(
                "the bowl's curvature and the wells' widths must be positive.", ""
            )

    def _centres(self) -> np.ndarray:
        c = np.zeros((len(self.centres), self.dimension))
        c[:, 0] = self.centres
        return c

    def loss(self, x: ArrayLike) -> Array:
        """$f(x)$ for `x` of shape `(dimension,)`."""
        x = jnp.reshape(jnp.asarray(x), (self.dimension,))
        out = 0.5 * self.curvature * jnp.sum(x**2)
        for c, a, s in zip(self._centres(), self.depths, self.widths, strict=True):
            out = out - a * jnp.exp(-jnp.sum((x - c) ** 2) / (2 * s * s))
        return out

    def minima(self) -> list[LocalMinimum]:
        """The global minimum and the wells' local minima, found by Newton's method
        from 0 and from each centre (float64), with their curvatures."""
        from derive import DeriveError

        from ._precision import float64

        with float64():
            grad = jax.jit(jax.grad(self.loss))
            hess = jax.jit(jax.hessian(self.loss))
            starts = [np.zeros(self.dimension), *self._centres()]
            labels = ["global"] + [
                f"well {i + 1} (x = {c:g})" for i, c in enumerate(self.centres)
            ]
            out = []
            for x, label in zip(starts, labels, strict=True):
                x = jnp.asarray(x, jnp.float64)
                for _ in range(100):
                    step = jnp.linalg.solve(hess(x), grad(x))
                    x = x - step
                    if float(jnp.linalg.norm(step)) < 1e-14:
                        break
                H = np.asarray(hess(x))
                eig = np.linalg.eigvalsh(H)
                if float(np.linalg.norm(grad(x))) > 1e-9 or eig[0] <= 0:
                    raise DeriveError(
                        f"no local minimum near the start of '{label}' (a well too "
                        "shallow or too wide for the bowl's slope there).",
                        "Make the well deeper (a) or narrower (s), or move it closer "
                        "to 0.",
                    )
                lam = float(eig[-1])
                out.append(
                    LocalMinimum(
                        np.asarray(x), float(self.loss(x)), lam, 2.0 / lam, label
                    )
                )
        return out

    def describe(self) -> str:
        wells = ", ".join(
            f"a={a:g} s={s:g} at {c:g}"
            for c, a, s in zip(self.centres, self.depths, self.widths, strict=True)
        )
        return f"bowl mu={self.curvature:g} with wells {wells}"
