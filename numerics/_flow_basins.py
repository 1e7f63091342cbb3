"""Basins of one-dimensional flows, exactly: where $\\dot x = F(x)$ ends from each start.

In one dimension a trajectory of an autonomous flow is monotone: from $x_0$ with
$F(x_0) > 0$ it moves right and converges to the first zero of $F$ to the right of
$x_0$ (or leaves every bounded set if there is none), and symmetrically to the left.
So the basin of every start follows from the zeros of $F$ on a fine grid, with no
integration and no step-size control, for every model of gradient descent at once:

- the gradient flow $F = -f'$ and GD's modified flows of order $p$ (from
  `derive.modified_flow` and [`fast_field`][numerics.networks.fast_field]);
- the principal flow $F = \\psi(hf'')\\,f'$ with $\\psi(z) = \\log(1 - z)/z$, real
  only while $hf'' < 1$: a start whose flow reaches $hf'' \\ge 1$ ends there,
  *complex* (the model stops being defined);
- the central flow of GD, which in one dimension is the gradient flow until the
  sharpness $f''$ reaches $2/h$ and is stationary there (the complementarity problem
  gives $\\sigma^2 = -2f'/f'''$, and $\\dot x = -f' - \\frac12\\sigma^2 f''' = 0$): a
  start whose flow reaches $hf'' = 2$ ends *at the edge* of stability.

| category | code |
|---|---|
| minimum $i$ | $i \\ge 0$ |
| escapes (no zero ahead) | `DIVERGED` ($-1$) |
| another zero of $F$ (not a minimum of $f$) | `SPURIOUS` ($-3$) |
| the model stops being real | `COMPLEX` ($-4$) |
| stationary at $hf'' = 2$ | `EDGE` ($-5$) |
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ._basins import DIVERGED
from ._precision import uses_float64
from ._typing import Array

__all__ = ["FlowBasins", "flow_basins", "flow_velocity", "SPURIOUS", "COMPLEX", "EDGE"]

SPURIOUS = -3
COMPLEX = -4
EDGE = -5

Velocity = Callable[[Array, Array], tuple[Array, Array]]
"""`(x, h) -> (F(x), defined(x))` on a 1-D array of points, at one step size."""


@dataclass(frozen=True)
class FlowBasins:
    """Result of [`flow_basins`][numerics.flow_basins]: `category` `(len(h), P)`
    (codes in the module docs), `end` `(len(h), P)` the point each flow ends at
    (NaN when it escapes), `h`, `x0`, `model`."""

    model: str
    h: np.ndarray
    x0: np.ndarray
    category: np.ndarray
    end: np.ndarray


def flow_velocity(
    model: str, loss: Callable[[Array], Array], order: int | None = None
) -> Velocity:
    """The velocity `(x, h) -> (F, defined)` of a model of gradient descent on a
    1-D loss: `"gradient-flow"`, `"modified"` (of `order`, matrix-free from
    `derive.modified_flow(derive.gd(), order)`), `"principal-flow"` or
    `"central-flow"` (see the module docs)."""
    from derive import DeriveError

    def f(x: Array) -> Array:
        return loss(jnp.reshape(x, (1,)))

    d1 = jax.grad(f)
    d2 = jax.grad(d1)
    always = jnp.ones((), bool)

    if model == "gradient-flow":

        def one(x: Array, h: Array) -> tuple[Array, Array]:
            return -d1(x), always

    elif model == "modified":
        import derive

        from ._fast_field import fast_field

        if order is None or order < 1:
            raise DeriveError("a modified flow needs order >= 1.", "")
        fld = fast_field(
            derive.bseries_flow(derive.gd(), int(order)), f, int(order), method="jvp"
        )

        def one(x: Array, h: Array) -> tuple[Array, Array]:
            return fld(0.0, x, {"h": h}), always

    elif model == "principal-flow":
        import derive

        from ._principal_flow import principal_function

        psi, _ = principal_function(derive.gd())

        def one(x: Array, h: Array) -> tuple[Array, Array]:
            value, real = psi(h * d2(x))
            return value * d1(x), real

    elif model == "central-flow":

        def one(x: Array, h: Array) -> tuple[Array, Array]:
            return -d1(x), h * d2(x) < 2.0

    else:
        raise DeriveError(
            f"unknown model {model!r}.",
            "Use gradient-flow, modified, principal-flow or central-flow.",
        )

    def velocity(x: Array, h: Array) -> tuple[Array, Array]:
        F, ok = jax.vmap(one, in_axes=(0, None))(x, h)
        return F, jnp.broadcast_to(ok, F.shape)

    return velocity


def _ends(
    F: np.ndarray, ok: np.ndarray, grid: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For starts at grid indices `start`: where the flow ends and why (0: a zero
    of F, 1: F undefined ahead, 2: nothing ahead)."""
    s = np.sign(F)
    s[~ok] = 0.0
    # between grid points j and j+1: F changes sign or vanishes (both defined), or
    # F is undefined at j+1 (moving right) or at j (moving left)
    change = (s[:-1] * s[1:] <= 0) & ok[:-1] & ok[1:]
    event_right = np.flatnonzero(change | ~ok[1:])
    event_left = np.flatnonzero(change | ~ok[:-1])
    end = np.full(len(start), np.nan)
    why = np.full(len(start), 2)
    for i, j0 in enumerate(start):
        if not ok[j0]:
            end[i], why[i] = grid[j0], 1
            continue
        if s[j0] == 0:
            end[i], why[i] = grid[j0], 0
            continue
        if s[j0] > 0:
            k = np.searchsorted(event_right, j0)
            if k == len(event_right):
                continue
            j = event_right[k]
            if not ok[j + 1] and not change[j]:
                end[i], why[i] = grid[j], 1
            else:
                a, b = F[j], F[j + 1]
                end[i] = (
                    grid[j] + (grid[j + 1] - grid[j]) * a / (a - b)
                    if a != b
                    else grid[j]
                )
                why[i] = 0
        else:
            k = np.searchsorted(event_left, j0) - 1
            if k < 0:
                continue
            j = event_left[k]
            if not ok[j] and not change[j]:
                end[i], why[i] = grid[j + 1], 1
            else:
                a, b = F[j], F[j + 1]
                end[i] = (
                    grid[j] + (grid[j + 1] - grid[j]) * a / (a - b)
                    if a != b
                    else grid[j + 1]
                )
                why[i] = 0
    return end, why


@uses_float64
def flow_basins(
    velocity: Velocity,
    minima: Sequence[object] | np.ndarray,
    h: Sequence[float] | np.ndarray,
    x0: Sequence[float] | np.ndarray,
    grid: Sequence[float] | np.ndarray,
    *,
    model: str = "",
    undefined: int = COMPLEX,
    tol: float | None = None,
) -> FlowBasins:
    """Where a one-dimensional flow ends from each start, for each step size, from
    the zeros of its velocity on `grid` (exact up to the grid's spacing).

    **Arguments:**

    - `velocity`: `(x, h) -> (F, defined)`, e.g. from
      [`flow_velocity`][numerics.flow_velocity].
    - `minima`: the minima of the loss (positions, or objects with a `position`).
    - `h`: the step sizes; `x0`: the starts (each is moved to the nearest point of
      `grid`); `grid`: increasing points covering the starts and the minima.
    - `model`: a name for the result; `undefined`: the category of a start whose
      flow runs into a point where the velocity is undefined (`COMPLEX` for the
      principal flow, `EDGE` for the central flow).
    - `tol`: how close to a minimum an end counts as reaching it (default: three
      grid spacings).

    **Returns:** a [`FlowBasins`][numerics.FlowBasins].

    !!! example
        ```python
        >>> import jax.numpy as jnp, numpy as np, numerics
        >>> loss = lambda x: jnp.sum((x ** 2 - 1.0) ** 2)     # minima at -1 and 1
        >>> v = numerics.flow_velocity("gradient-flow", loss)
        >>> res = numerics.flow_basins(v, [[-1.0], [1.0]], [0.1], [-2.0, -0.5, 0.5],
        ...                            np.linspace(-3.0, 3.0, 601))
        >>> res.category.tolist()
        [[0, 0, 1]]

        ```
    """
    grid = np.asarray(grid, np.float64)
    if isinstance(minima, np.ndarray):
        mins = np.asarray(minima, np.float64).reshape(-1)
    else:
        mins = np.asarray(
            [np.ravel(np.asarray(getattr(m, "position", m), float))[0] for m in minima],
            np.float64,
        )
    starts = np.asarray(x0, np.float64).reshape(-1)
    idx = np.clip(np.searchsorted(grid, starts), 0, len(grid) - 1)
    left = np.clip(idx - 1, 0, len(grid) - 1)
    idx = np.where(np.abs(grid[left] - starts) < np.abs(grid[idx] - starts), left, idx)
    tol = 3 * float(np.max(np.diff(grid))) if tol is None else float(tol)
    hs = np.asarray([float(v) for v in h])
    evaluate = jax.jit(velocity)
    category = np.zeros((len(hs), len(starts)), int)
    ends = np.zeros((len(hs), len(starts)))
    xs = jnp.asarray(grid)
    for i, hv in enumerate(hs):
        F, ok = evaluate(xs, jnp.asarray(hv))
        F, ok = np.array(F), np.array(ok, bool)
        ok &= np.isfinite(F)
        end, why = _ends(F, ok, grid, idx)
        d = np.abs(end[:, None] - mins[None, :])
        nearest = np.argmin(np.where(np.isfinite(d), d, np.inf), axis=1)
        at_min = np.isfinite(end) & (d[np.arange(len(end)), nearest] <= tol)
        cat = np.where(at_min, nearest, SPURIOUS)
        cat = np.where(why == 1, undefined, cat)
        cat = np.where(why == 2, DIVERGED, cat)
        category[i], ends[i] = cat, end
    return FlowBasins(model=model, h=hs, x0=starts, category=category, end=ends)
