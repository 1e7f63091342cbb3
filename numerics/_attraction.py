"""The measured attraction of the slow manifold, against the parasitic roots.

Started off the manifold (by default "at rest": $x_{-1} = x_0$, zero velocity, an
$O(h)$ offset), the auxiliary states of a momentum method approach their values on
the manifold, $s_j = \\Psi_j(x)$ (`derive.invariant_manifold`), geometrically: the
distance

$$d_n = \\Big(\\sum_{j \\ge 1} |s_{j,n} - \\Psi_j(x_n)|^2\\Big)^{1/2}$$

shrinks by the largest modulus $\\rho$ of the parasitic roots per step, up to
$O(h)$ corrections from the curvature (Kovachki & Stuart, JMLR 22 (2021), third
result): $\\rho = \\beta$ for heavy ball and Nesterov. The per-step factor is fitted by
least squares to $\\log d_n$ over the steps where $d_n$ lies between $10^{-1} d_0$ and
a floor well above round-off and the truncation error of $\\Psi_j$.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

import derive

from ._iterates import State, _program_step, as_recurrence, initial_point
from ._manifold_start import ManifoldStart
from ._precision import uses_float64
from ._pytree import norm
from ._typing import Array, LossFunction, Parameters, PyTree

__all__ = ["attraction", "MeasuredAttraction"]


@dataclass
class MeasuredAttraction:
    """Result of [`attraction`][numerics.attraction].

    - `distances`: $d_n$ for $n = 0, \\dots, N$.
    - `predicted`: $\\rho$ from the parasitic roots (`derive`).
    - `measured`: the fitted factor per step, $e^{\\text{slope}}$.
    - `relative_error`: $|\\text{measured}/\\text{predicted} - 1|$.
    - `predicted_rate`, `measured_rate`: per unit time, $\\log \\rho / h$.
    - `window`: the steps `(first, last)` used in the fit.
    - `h`, `statement`: the step size; `derive`'s statement on attraction.
    """

    distances: NDArray[np.float64]
    predicted: float
    measured: float
    relative_error: float
    predicted_rate: float
    measured_rate: float
    window: tuple[int, int]
    h: float
    statement: str

    def within(self, tolerance: float = 0.05) -> bool:
        return self.relative_error <= tolerance


@uses_float64
def attraction(
    optimizer: derive.OptimizerDefinition,
    loss: LossFunction,
    h: float,
    n_steps: int | None = None,
    *,
    x0: PyTree | None = None,
    params: Parameters | None = None,
    init: str | Sequence[PyTree] = "rest",
    nodes: int = 4,
    floor: float = 1e-12,
) -> MeasuredAttraction:
    """Measure how fast the iterates approach the slow manifold.

    **Arguments:**

    - `optimizer`: a `derive.Recurrence`, a built-in name or an update function.
    - `loss`: a [`Loss`][numerics.Loss] or a JAX function of a pytree.
    - `h`: the step size (small, so that the $O(h)$ correction to the rate is small).
    - `n_steps`: steps to run (default: enough for $\\rho^n = 10^{-14}$, at most 5000),
      so that $d_n$ reaches its floor and the fit window can be found.
    - `x0`: the start (default: the loss's recommended start).
    - `params`: numbers for symbolic hyper-parameters.
    - `init`: `"rest"` (auxiliary states at $\\alpha_j x_0$) or a tuple of states.
    - `nodes`: trees kept in $\\Psi_j$ (its truncation error is $O(h^{\\text{nodes}+1})$).
    - `floor`: distances below `floor * (1 + |x_0|)`, or below 100 times the level
      where $d_n$ stops decreasing (round-off, truncation of $\\Psi_j$), are left out
      of the fit.

    **Returns:** a [`MeasuredAttraction`][numerics.MeasuredAttraction].

    !!! example
        ```python
        >>> import derive, numerics
        >>> res = numerics.attraction(derive.heavy_ball(0.5),
        ...                           numerics.get_loss("double-well"), h=1e-3)
        >>> round(res.predicted, 3), res.within(0.05)
        (0.5, True)

        ```
    """
    from derive import DeriveError

    rec, num = as_recurrence(optimizer, params)
    if len(rec.states) < 2:
        raise DeriveError(
            f"{rec.name} has no auxiliary state: the manifold is the whole space.",
            "Use a momentum method (heavy-ball, nesterov, a spec with several states).",
        )
    x0 = initial_point(loss, x0)
    info = derive.invariant_manifold(rec, 0).attraction
    rho = info.per_step_value(**num)
    if n_steps is None:
        n_steps = 500 if not 0 < rho < 1 else min(5000, int(-14 / math.log10(rho)))
        n_steps = max(n_steps, 20)
    manifold = ManifoldStart(rec, nodes, num)
    state0: State
    if init == "rest":
        state0 = ManifoldStart(rec, 0, num)(loss, x0, h)
    elif isinstance(init, str):
        raise DeriveError(f"init={init!r}: use 'rest' or a tuple of states.", "")
    else:
        state0 = tuple(init)
    grad = jax.grad(loss)

    @jax.jit
    def run(state0: State, h: Array) -> Array:
        step = _program_step(rec, grad, h, num)

        def distance(state: State) -> Array:
            on = manifold(loss, state[0], h)
            parts = [
                jax.tree_util.tree_map(jnp.subtract, s, p)
                for s, p in zip(state[1:], on[1:], strict=True)
            ]
            return norm(parts)

        def body(state: State, _: None) -> tuple[State, Array]:
            new = step(state)
            return new, distance(new)

        _, ds = jax.lax.scan(body, state0, None, length=n_steps)
        return jnp.concatenate([distance(state0)[None], ds])

    d = np.asarray(run(state0, jnp.float64(h)))
    finite = d[np.isfinite(d)]
    tail = finite[-max(len(finite) // 5, 1) :]
    # the level where d_n stops decreasing: round-off and the truncation of Psi_j
    plateau = max(float(np.median(tail)) if tail.size else 0.0, 0.0)
    bottom = max(floor * (1.0 + float(norm(x0))), 100.0 * plateau)
    usable = np.isfinite(d) & (d > bottom) & (d <= 0.1 * d[0])
    idx = np.flatnonzero(usable)
    if idx.size >= 2:
        # the first contiguous run of usable steps
        breaks = np.flatnonzero(np.diff(idx) != 1)
        last = idx[breaks[0]] if breaks.size else idx[-1]
        window = (int(idx[0]), int(last))
    else:
        window = (0, 0)
    if window[1] - window[0] >= 2:
        n = np.arange(window[0], window[1] + 1)
        slope = np.polyfit(n, np.log(d[n]), 1)[0]
        measured = float(np.exp(slope))
    else:
        measured = math.nan
    rel = abs(measured / rho - 1) if rho > 0 else math.nan
    return MeasuredAttraction(
        distances=d,
        predicted=float(rho),
        measured=measured,
        relative_error=float(rel),
        predicted_rate=math.log(rho) / h if rho > 0 else -math.inf,
        measured_rate=math.log(measured) / h if measured > 0 else math.nan,
        window=window,
        h=float(h),
        statement=info.statement,
    )
