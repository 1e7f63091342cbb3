"""Integration of modified flows with diffrax: explicit, adaptive, tight, float64.

A high-order explicit Runge-Kutta method (Dopri8 by default, Tsit5 on request) with a
PID step-size controller at `rtol = atol = 1e-12`, saving at the iterate times
$t_n = n h$. Implicit solvers are far slower here and not needed: the flows of stable
step sizes are not stiff on the scales integrated (DESIGN, Numerics).
Failures come back as a flag, never as an exception, so the solve is `jax.vmap`-able
over $h$ (passed in `args`) and the initial point; [`verify`][numerics.verify]
integrates all truncation orders as one system, vmapped over the step sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from ._typing import Array, ArrayLike, PyTree

if TYPE_CHECKING:
    import diffrax

__all__ = ["integrate", "SOLVERS"]

SOLVERS = ("dopri8", "tsit5")


def _solver(name: str) -> diffrax.AbstractSolver[Any]:
    import diffrax

    from derive import DeriveError

    if name == "dopri8":
        return diffrax.Dopri8()
    if name == "tsit5":
        return diffrax.Tsit5()
    raise DeriveError(f"unknown solver {name!r}.", f"Use one of {', '.join(SOLVERS)}.")


def integrate(
    field: Callable[[Any, PyTree, Any], PyTree],
    y0: PyTree,
    ts: ArrayLike,
    args: Any,
    *,
    t0: ArrayLike = 0.0,
    t1: ArrayLike | None = None,
    solver: str = "dopri8",
    rtol: float = 1e-12,
    atol: float = 1e-12,
    max_steps: int = 100_000,
) -> tuple[PyTree, Array, Array]:
    """Integrate `dy/dt = field(t, y, args)` from $t = t_0$ and save at the times `ts`.

    **Arguments:**

    - `field`: a diffrax vector field `(t, y, args) -> dy/dt` over pytrees, e.g. from a
      generated module's `make_vector_field(loss, order)`.
    - `y0`: the initial state (a pytree).
    - `ts`: the save times, non-decreasing, in $[t_0, t_1]$.
    - `args`: passed to the field, e.g. `{"h": h, "beta": 0.9}`.
    - `t0`: the initial time (default 0; `y0` is the state there).
    - `t1`: the final time (default: `ts[-1]`).
    - `solver`: `"dopri8"` or `"tsit5"`.
    - `rtol`, `atol`: tolerances of the PID controller.
    - `max_steps`: the step budget.

    **Returns:** `(ys, ok, n_steps)`: the states at `ts` (leading axis `len(ts)`),
    whether the solve succeeded, and the number of accepted steps. Failures (step
    budget, non-finite values) come back as `ok = False`, never as an exception, so
    the call can be vmapped.

    !!! example
        ```python
        >>> import numerics
        >>> import jax.numpy as jnp
        >>> ys, ok, _ = numerics.integrate(lambda t, y, a: -y, jnp.ones(1),
        ...                                jnp.array([0.0, 1.0]), None)
        >>> bool(ok), round(float(ys[1, 0]), 12)
        (True, 0.367879441171)

        ```
    """
    import diffrax

    ts = jnp.asarray(ts)
    t1 = ts[-1] if t1 is None else t1
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        _solver(solver),
        t0=t0,
        t1=t1,
        dt0=None,
        y0=y0,
        args=args,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        throw=False,
    )
    ok = sol.result == diffrax.RESULTS.successful
    finite = jnp.all(
        jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree_util.tree_leaves(sol.ys)])
    )
    return sol.ys, ok & finite, sol.stats["num_accepted_steps"]
