"""Basin maps: where gradient descent ends, over a grid of step sizes and starts.

[`basin_map`][numerics.basin_map] runs gradient descent from every (step size,
initial point) of a grid as one compiled `jit(vmap(...))`, sharded with
`NamedSharding` over every visible device (the mesh of
[`grid_mesh`][numerics.networks.grid_mesh]), and names where each run ends:

| category | code | meaning |
|---|---|---|
| minimum $i$ | $i \\ge 0$ | converged to the known minimum $m_i$ |
| unsettled | `UNSETTLED` ($-2$) | bounded, not converged in `n_steps` (a cycle, chaos, or slow convergence); `near` says the closest minimum |
| diverged | `DIVERGED` ($-1$) | $|x|$ exceeded $10^6(1 + |x_0|)$ or became non-finite |

Diverged runs are a category of their own, never a basin: a step size beyond the
stability of every minimum shows as diverged, not as an attractor.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import uses_float64
from ._typing import Array

__all__ = ["BasinMap", "basin_map", "DIVERGED", "UNSETTLED"]

DIVERGED = -1
UNSETTLED = -2
ESCAPE = 1e6
"""A run has diverged once $|x_k| > 10^6 (1 + |x_0|)$."""


@dataclass(frozen=True)
class BasinMap:
    """Result of [`basin_map`][numerics.basin_map].

    - `h`, `x0`: the grid (`x0` of shape `(P, d)`).
    - `category`: `(len(h), P)` codes: the index of the minimum reached, `DIVERGED`
      or `UNSETTLED` (see the module docs).
    - `near`: `(len(h), P)` the minimum closest to the final point (for unsettled
      runs: the well they cycle in).
    - `final`, `previous`: `(len(h), P, d)` the last two points (NaN for diverged
      runs); their mean is the centre of a 2-cycle.
    - `minima`: the minima's positions `(m, d)`; `n_steps`; `devices`, `seconds`.
    """

    h: np.ndarray
    x0: np.ndarray
    category: np.ndarray
    near: np.ndarray
    final: np.ndarray
    previous: np.ndarray
    minima: np.ndarray
    n_steps: int
    devices: list[str]
    seconds: float

    def fraction(self, code: int) -> np.ndarray:
        """The fraction of starts in category `code`, per step size."""
        return np.mean(self.category == code, axis=1)

    def largest_step_reaching(self, code: int, *, unsettled: bool = False) -> float:
        """The largest $h$ of the grid at which some start converges to minimum
        `code` (or, with `unsettled=True`, converges to it or ends unsettled with
        the closest minimum `code`); `nan` if none does."""
        hit = self.category == code
        if unsettled:
            hit = hit | ((self.category == UNSETTLED) & (self.near == code))
        rows = np.flatnonzero(hit.any(axis=1))
        return float(self.h[rows].max()) if rows.size else math.nan


def _classify(
    final: Array, previous: Array, bad: Array, minima: Array, tol: float
) -> tuple[Array, Array]:
    d = jnp.linalg.norm(final[None, :] - minima, axis=-1)
    near = jnp.argmin(d)
    settled = (jnp.linalg.norm(final - previous) <= tol) & (d[near] <= 10 * tol + 1e-12)
    category = jnp.where(settled, near, UNSETTLED)
    return jnp.where(bad, DIVERGED, category), near


@uses_float64
def basin_map(
    loss: Callable[[Array], Array],
    minima: Sequence[Any] | np.ndarray,
    h: Sequence[float] | np.ndarray,
    x0: np.ndarray | Sequence[float],
    n_steps: int,
    *,
    tol: float = 1e-9,
    devices: Sequence[jax.Device] | None = None,
    shard: bool = True,
    chunk: int | None = None,
) -> BasinMap:
    """Where gradient descent $x_{k+1} = x_k - h\\nabla f(x_k)$ ends, for every step
    size and start of a grid, in one sharded `jit(vmap(...))`.

    **Arguments:**

    - `loss`: $f$, a scalar JAX function of an array of shape `(d,)`.
    - `minima`: the known minima, an `(m, d)` array or a list of objects with a
      `position` (e.g. [`NarrowWells.minima()`][numerics.NarrowWells]).
    - `h`: the step sizes; `x0`: the starts, shape `(P, d)` (or `(P,)` for $d = 1$).
    - `n_steps`: iterations per run.
    - `tol`: a run has converged to $m_i$ when its last step is at most `tol` and
      it ends within `10 tol` of $m_i$.
    - `devices`: the devices (default: all visible); `shard=False` runs unsharded
      on the first one; `chunk`: grid points per compiled call (default: all).

    **Returns:** a [`BasinMap`][numerics.BasinMap].

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> loss = lambda x: 0.5 * 4.0 * jnp.sum(x ** 2)     # stable for h < 2/4
        >>> res = numerics.basin_map(loss, [[0.0]], h=[0.45, 0.55], x0=[1.0, -2.0],
        ...                          n_steps=200)
        >>> res.category.tolist()                       # 0: converged; -1: diverged
        [[0, 0], [-1, -1]]

        ```
    """
    from derive import DeriveError

    from ._sweep import grid_mesh

    starts = np.asarray(x0, dtype=np.float64)
    if starts.ndim == 1:
        starts = starts[:, None]
    if starts.ndim != 2 or starts.shape[0] == 0:
        raise DeriveError("x0 must be an array of starts, shape (P, d).", "")
    if isinstance(minima, np.ndarray):
        mins = np.asarray(minima, np.float64)
    else:
        mins = np.asarray([getattr(m, "position", m) for m in minima], dtype=np.float64)
    mins = mins.reshape(len(mins), starts.shape[1])
    hs = np.asarray([float(v) for v in h])
    if hs.size == 0 or np.any(hs <= 0):
        raise DeriveError(f"step sizes {hs.tolist()}.", "Give positive step sizes.")
    grad = jax.grad(loss)
    mins_j = jnp.asarray(mins)

    def run(hv: Array, x: Array) -> tuple[Array, Array, Array, Array]:
        limit = ESCAPE * (1.0 + jnp.linalg.norm(x))

        def step(
            carry: tuple[Array, Array, Array], _: None
        ) -> tuple[tuple[Array, Array, Array], None]:
            x, prev, bad = carry
            new = x - hv * grad(x)
            now_bad = bad | ~jnp.all(jnp.isfinite(new)) | (jnp.linalg.norm(new) > limit)
            new = jnp.where(now_bad, x, new)  # freeze a diverged run
            return (new, x, now_bad), None

        (x, prev, bad), _ = jax.lax.scan(
            step, (x, x, jnp.asarray(False)), None, length=int(n_steps)
        )
        category, near = _classify(x, prev, bad, mins_j, tol)
        return jnp.where(bad, jnp.nan, x), jnp.where(bad, jnp.nan, prev), category, near

    H, P = np.meshgrid(hs, np.arange(len(starts)), indexing="ij")
    flat_h, flat_p = H.ravel(), P.ravel()
    size = flat_h.size
    used = list(jax.devices() if devices is None else devices)
    if not shard:
        used = used[:1]
    n_dev = len(used)
    per_call = (
        math.ceil((size if chunk is None else max(1, int(chunk))) / n_dev) * n_dev
    )
    n_calls = math.ceil(size / per_call)
    padded = n_calls * per_call
    pad = padded - size
    col_h = np.concatenate([flat_h, np.repeat(flat_h[-1:], pad)])
    col_x = starts[np.concatenate([flat_p, np.repeat(flat_p[-1:], pad)])]
    batched = jax.vmap(run)
    if shard:
        from jax.sharding import NamedSharding
        from jax.sharding import PartitionSpec as Spec

        sharding: Any = NamedSharding(grid_mesh(used), Spec("grid"))
        compiled = jax.jit(batched, in_shardings=sharding, out_shardings=sharding)
    else:
        sharding = used[0]
        compiled = jax.jit(batched)
    started = time.perf_counter()
    outs = []
    for k in range(n_calls):
        sl = slice(k * per_call, (k + 1) * per_call)
        out = compiled(
            jax.device_put(col_h[sl], sharding), jax.device_put(col_x[sl], sharding)
        )
        outs.append(jax.device_get(out))
    seconds = time.perf_counter() - started
    final = np.concatenate([o[0] for o in outs])[:size]
    previous = np.concatenate([o[1] for o in outs])[:size]
    category = np.concatenate([o[2] for o in outs])[:size]
    near = np.concatenate([o[3] for o in outs])[:size]
    shape = (len(hs), len(starts))
    return BasinMap(
        h=hs,
        x0=starts,
        category=category.reshape(shape).astype(int),
        near=near.reshape(shape).astype(int),
        final=final.reshape(*shape, starts.shape[1]),
        previous=previous.reshape(*shape, starts.shape[1]),
        minima=mins,
        n_steps=int(n_steps),
        devices=[str(d) for d in used],
        seconds=seconds,
    )
