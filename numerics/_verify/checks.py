"""Settings that make an order test meaningless, named before anything is computed.

Each check raises a [`DeriveError`][derive.DeriveError] (exit status 2 on the command
line) that says what is wrong with the setting and what to change: momentum outside the
stable range, a start point where the loss or its gradient is not finite, a horizon or
step size that is not a finite positive number, a step size that needs more steps than
the budget allows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from derive import DeriveError, Recurrence

from .._stability import transition_matrix
from .._typing import LossFunction, PyTree

__all__ = [
    "check_momentum",
    "check_start",
    "check_curvature",
    "check_horizon",
    "check_step_sizes",
    "check_step_counts",
    "parasitic_roots",
]


def parasitic_roots(rec: Recurrence, params: Mapping[str, float]) -> list[complex]:
    """The roots of the update's linear part at $h = 0$ (gradient results held at
    zero) other than the principal root 1; empty for one-state methods."""
    if len(rec.states) < 2:
        return []
    try:
        M0 = transition_matrix(rec, 0.0, 0.0, params)
    except (ZeroDivisionError, ValueError, TypeError, OverflowError):
        return []  # a coefficient with a pole at h = 0: derive names that itself
    with np.errstate(all="ignore"):
        roots = [complex(z) for z in np.linalg.eigvals(M0)]
    if not roots or not all(math.isfinite(abs(z)) for z in roots):
        return roots
    principal = min(range(len(roots)), key=lambda k: abs(roots[k] - 1))
    return [z for k, z in enumerate(roots) if k != principal]


def _root_text(z: complex) -> str:
    if abs(z.imag) < 1e-12:
        return f"{z.real:.6g}"
    return f"{z.real:.4g}{z.imag:+.4g}i (modulus {abs(z):.6g})"


def check_momentum(rec: Recurrence, params: Mapping[str, float]) -> None:
    """Refuse parameters whose parasitic roots have modulus $\\ge 1$: then deviations
    from the slow manifold do not decay, and the iterates follow no modified flow."""
    roots = parasitic_roots(rec, params)
    bad = [z for z in roots if not abs(z) < 1 - 1e-12]
    if not bad:
        return
    values = ", ".join(f"{k} = {v:g}" for k, v in params.items())
    values = f" at {values}" if values else ""
    raise DeriveError(
        f"the momentum of {rec.name} is outside the stable range{values}: at h = 0 "
        f"its update has the parasitic root(s) {', '.join(map(_root_text, bad))} "
        "with modulus >= 1, so a deviation from the slow manifold grows or persists "
        "instead of decaying, and the iterates follow no modified flow at any step "
        "size (there is no order to measure).",
        "Choose parameters with every parasitic root inside the unit circle: for "
        "heavy ball and Nesterov the parasitic root is beta, so -1 < beta < 1 "
        "(usually 0 <= beta < 1); 'derive manifold' prints the roots of any optimizer.",
    )


def _point_text(x: PyTree) -> str:
    flat = np.asarray(ravel_pytree(x)[0])
    if flat.size <= 6:
        return "(" + ", ".join(f"{v:.6g}" for v in flat) + ")"
    return f"the given {flat.size:,} parameters"


def check_start(loss: LossFunction, x0: PyTree) -> None:
    """Refuse a start point that is not finite, or where the loss or its gradient is
    not finite (a singularity of the loss, a point outside its domain, an overflow)."""
    flat = np.asarray(ravel_pytree(x0)[0])
    bad = np.flatnonzero(~np.isfinite(flat))
    if bad.size:
        raise DeriveError(
            f"x0 is not finite: {bad.size} of its {flat.size} coordinates are NaN or "
            f"infinite (the first, index {int(bad[0])}, is {flat[bad[0]]}).",
            "Give finite numbers (on the command line --x0 0.5,0.5).",
        )
    value, grad = jax.jit(jax.value_and_grad(loss))(x0)
    value = float(value)
    where = _point_text(x0)
    if not math.isfinite(value):
        raise DeriveError(
            f"the loss is not finite at x0 = {where}: f(x0) = {value}. x0 is at a "
            "singularity of the loss or outside its domain (1/x at 0, log(x) for "
            "x <= 0), or the loss overflows there (exp(exp(x)) at x = 10 exceeds the "
            "largest float).",
            "Start where the loss and its derivatives are finite (--x0).",
        )
    g = np.asarray(ravel_pytree(grad)[0])
    if not np.all(np.isfinite(g)):
        raise DeriveError(
            f"the gradient of the loss is not finite at x0 = {where} (f(x0) = "
            f"{value:.6g}): x0 is at a singularity of the loss's derivatives (sqrt(x) "
            "at 0, for example) or they overflow there.",
            "Start where the loss and its derivatives are finite (--x0).",
        )


def check_curvature(L0: float, x0: PyTree) -> None:
    """Refuse a start where the Hessian is not finite."""
    if not math.isfinite(L0):
        raise DeriveError(
            f"the curvature of the loss is not finite at x0 = {_point_text(x0)} "
            f"(largest |Hessian eigenvalue| {L0}): the loss's second derivatives "
            "are singular or overflow there.",
            "Start where the loss and its derivatives are finite (--x0).",
        )


def check_horizon(T: float | None) -> None:
    """`T` must be a finite positive number."""
    if T is None:
        return
    if not (isinstance(T, int | float) and math.isfinite(T) and T > 0):
        raise DeriveError(
            f"the horizon T must be a finite positive number, got {T}.",
            "Give a horizon such as --T 1, or leave it out (the default is the "
            "loss's gradient-flow horizon over the leading coefficient).",
        )


def check_step_sizes(hs: Sequence[float] | None) -> None:
    """Every step size must be a finite positive number."""
    if hs is None:
        return
    values = [float(h) for h in hs]
    if not values:
        raise DeriveError("no step sizes were given.", "Give some, e.g. --h 0.1,0.05.")
    bad = [h for h in values if not (math.isfinite(h) and h > 0)]
    if bad:
        raise DeriveError(
            f"a step size must be a finite positive number, got {bad[0]}.",
            "Give step sizes such as --h 0.02,0.01,0.005, or leave them out (the "
            "default is chosen from the curvature).",
        )


def check_step_counts(
    hs: Sequence[float], T: float, max_iterations: int, *, given_T: bool
) -> None:
    """Refuse given step sizes that need no step or more than `max_iterations` steps
    to reach `T`."""
    for h in hs:
        steps = T / h
        if steps < 1:
            raise DeriveError(
                f"the step size h = {h:g} is longer than the horizon T = {T:.6g}: "
                "not one step fits.",
                "Give step sizes below T"
                + ("" if given_T else ", or a longer --T")
                + ".",
            )
        if steps > max_iterations:
            raise DeriveError(
                f"the step size h = {h:g} needs {steps:.3g} steps to reach T = "
                f"{T:.6g}, more than max_iterations = {max_iterations:,}.",
                "Give larger step sizes (or leave out --h: they are then chosen from "
                "the curvature), a shorter --T, or a larger --max-iterations.",
            )
