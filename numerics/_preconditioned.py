"""Gradient descent, scalar RMSProp and RMSProp as preconditioned gradient descent.

The three optimizers of Cohen et al. (ICLR 2025) in the toolkit's conventions (loss
$f$, step $h$, time $t = nh$), each $x_{n+1} = x_n - h\\, D_n^{-1} \\nabla f(x_n)$:

| optimizer | state update | $D_n$ |
|---|---|---|
| `gd` | none | $1$ |
| `scalar-rmsprop` | $\\nu_n = \\beta_2 \\nu_{n-1} + (1-\\beta_2) |\\nabla f(x_n)|^2$ | $\\sqrt{\\hat\\nu_n} + \\epsilon$ |
| `rmsprop` | $\\nu_n = \\beta_2 \\nu_{n-1} + (1-\\beta_2) \\nabla f(x_n)^{\\odot 2}$ | $\\mathrm{diag}(\\sqrt{\\hat\\nu_n} + \\epsilon)$ |

with $\\hat\\nu_n = \\nu_n/(1-\\beta_2^{n+1})$ under bias correction and $\\hat\\nu_n =
\\nu_n$ otherwise, $\\nu_{-1} = 0$ (or a given $\\nu_{-1}$). The paper's preconditioner
is $P = D/\\eta$ in units of steps; here the step $h = \\eta$ stays explicit, so the
stability condition $P^{-1} H \\preceq 2$ reads $h H \\preceq 2 D$ and the effective
sharpness is $h \\lambda_1$ of the pencil $H u = \\lambda D u$.

In continuous time the state follows the paper's
$\\dot\\nu = \\frac{1-\\beta_2}{\\beta_2 h} (\\overline{g^2} - \\nu)$ (time $t = nh$; the
$\\beta_2$ in the denominator comes from writing the update in terms of the new
$\\nu_n$, which is the one the step uses), with $\\overline{g^2}$ the (time-averaged)
squared gradient; the flow starts from $\\nu(0) = \\nu_0$, the state after the first
update, as the reference code does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from ._precision import uses_float64
from ._typing import Array, ArrayLike, LossFunction, PyTree

__all__ = [
    "METHODS",
    "PreconditionedMethod",
    "preconditioned_method",
    "DiscreteRun",
    "run_discrete",
    "StableFlowRun",
    "stable_flow",
]

METHODS = ("gd", "scalar-rmsprop", "rmsprop")

Time: TypeAlias = "Array | float"
"""The time $t = nh$: a number, or a traced scalar inside `jit`."""


@dataclass(frozen=True)
class PreconditionedMethod:
    """One of [`METHODS`] with its hyper-parameters (see the module documentation)."""

    name: str
    h: float
    beta2: float = 0.99
    eps: float = 0.0
    bias_correction: bool = False

    @property
    def has_state(self) -> bool:
        return self.name != "gd"

    def label(self) -> str:
        if self.name == "gd":
            return f"GD, h = {self.h:g}"
        bc = ", bias-corrected" if self.bias_correction else ""
        eps = f", eps = {self.eps:g}" if self.eps else ""
        title = "scalar RMSProp" if self.name == "scalar-rmsprop" else "RMSProp"
        return f"{title}, h = {self.h:g}, beta2 = {self.beta2:g}{eps}{bc}"

    # ------------------------------------------------------------- the state
    def squared_gradient(self, g: Array) -> Array:
        """$|g|^2$ (scalar RMSProp) or $g^{\\odot 2}$ (RMSProp)."""
        return jnp.sum(g * g) if self.name == "scalar-rmsprop" else g * g

    def update(self, nu: Array, g: Array) -> Array:
        """$\\nu_n = \\beta_2 \\nu_{n-1} + (1-\\beta_2)\\, g^2$."""
        return self.beta2 * nu + (1 - self.beta2) * self.squared_gradient(g)

    def zero_state(self, w: Array) -> Array:
        """$\\nu = 0$: a scalar (scalar RMSProp) or shaped like `w`."""
        if self.name == "scalar-rmsprop":
            return jnp.zeros((), w.dtype)
        return jnp.zeros_like(w)

    def initial_state(self, w0: Array, g0: Array, nu0: ArrayLike | None) -> Array:
        """$\\nu_0$, the state after the first update from $\\nu_{-1}$ = `nu0`
        (default 0) with the gradient `g0` at $x_0$; a placeholder 0 for GD."""
        if not self.has_state:
            return jnp.zeros(())
        base = self.zero_state(w0) if nu0 is None else jnp.asarray(nu0, w0.dtype)
        return self.update(base, g0)

    def bias(self, t: Time) -> Array | float:
        """$1 - \\beta_2^{t/h + 1}$ (1 without bias correction)."""
        if not self.bias_correction:
            return 1.0
        return 1.0 - self.beta2 ** (t / self.h + 1.0)

    def diagonal(self, nu: Array, t: Time) -> Array:
        """$D = \\sqrt{\\hat\\nu} + \\epsilon$ (1 for gradient descent)."""
        if self.name == "gd":
            return jnp.ones(())
        return jnp.sqrt(nu / self.bias(t)) + self.eps

    def diagonal_derivatives(self, nu: Array, t: Time) -> tuple[Array, Array]:
        """$(\\partial D/\\partial\\nu, \\partial D/\\partial t)$ at $(\\nu, t)$."""
        b = self.bias(t)
        root = jnp.sqrt(nu / b)
        d_nu = 0.5 / (b * jnp.maximum(root, 1e-300))
        if not self.bias_correction:
            return d_nu, jnp.zeros_like(nu)
        db_dt = -(self.beta2 ** (t / self.h + 1.0)) * np.log(self.beta2) / self.h
        return d_nu, -0.5 * root * db_dt / b

    @property
    def rate(self) -> float:
        """$c = (1-\\beta_2)/(\\beta_2 h)$ of $\\dot\\nu = c(\\overline{g^2} - \\nu)$."""
        return (1 - self.beta2) / (self.beta2 * self.h)


def preconditioned_method(
    optimizer: str,
    h: float,
    *,
    beta2: float = 0.99,
    eps: float = 0.0,
    bias_correction: bool = False,
) -> PreconditionedMethod:
    """Validate and build a [`PreconditionedMethod`]; `DeriveError` on bad input."""
    from derive import DeriveError

    key = str(optimizer).strip().lower().replace("_", "-").replace(" ", "-")
    aliases = {"gradient-descent": "gd", "scalar-rms-prop": "scalar-rmsprop"}
    key = aliases.get(key, key)
    if key not in METHODS:
        raise DeriveError(
            f"no central flow for the optimizer {optimizer!r}.",
            f"Central flows are defined for {', '.join(METHODS)} (Cohen et al., "
            "ICLR 2025).",
        )
    if not (np.isfinite(h) and h > 0):
        raise DeriveError(f"the step size must be positive, got h = {h}.", "")
    if key != "gd" and not 0 < beta2 < 1:
        raise DeriveError(
            f"beta2 = {beta2} is outside (0, 1).", "Use e.g. beta2 = 0.99."
        )
    if eps < 0:
        raise DeriveError(f"eps = {eps} is negative.", "Use eps >= 0.")
    return PreconditionedMethod(
        key, float(h), float(beta2), float(eps), bool(bias_correction)
    )


@dataclass
class DiscreteRun:
    """The discrete optimizer's run on flat parameters (leading axis: step $n$).

    - `positions` $(N+1, n)$, `losses` and `gradient_norms2` $(N+1,)$: at $x_n$;
    - `nu`: $\\nu_n$ per step (`None` for GD; for RMSProp `(N+1, n)`);
    - `diverged_at`: the first step whose loss or position is not finite (or
      $|x_n| > 10^8(1 + |x_0|)$), or `None`.
    """

    method: PreconditionedMethod
    positions: NDArray[np.float64]
    losses: NDArray[np.float64]
    gradient_norms2: NDArray[np.float64]
    nu: NDArray[np.float64] | None
    diverged_at: int | None

    @property
    def times(self) -> NDArray[np.float64]:
        return self.method.h * np.arange(len(self.losses), dtype=np.float64)


@uses_float64
def run_discrete(
    method: PreconditionedMethod,
    loss: LossFunction,
    w0: ArrayLike,
    n_steps: int,
    *,
    nu0: ArrayLike | None = None,
) -> DiscreteRun:
    """Run the optimizer for `n_steps` steps from the flat vector `w0` (`jax.lax.scan`).

    `nu0` is $\\nu_{-1}$ (default 0). The last entry of `losses` etc. is at
    $x_N$, whose own state update is computed too (so `nu[n]` is the state used by
    the step from $x_n$).
    """
    w = jnp.asarray(w0, jnp.float64)
    vg = jax.value_and_grad(loss)
    nu_init = method.zero_state(w) if nu0 is None else jnp.asarray(nu0, w.dtype)

    def body(
        carry: tuple[Array, Array], n: Array
    ) -> tuple[tuple[Array, Array], tuple[Array, Array, Array, Array]]:
        w, nu = carry
        f, g = vg(w)
        if method.has_state:
            nu = method.update(nu, g)
        D = method.diagonal(nu, n * method.h)
        w_next = w - method.h * g / D
        return (w_next, nu), (w, f, jnp.sum(g * g), nu)

    @jax.jit
    def run(
        w0: Array, nu: Array
    ) -> tuple[tuple[Array, Array], tuple[Array, Array, Array, Array]]:
        return jax.lax.scan(body, (w0, nu), jnp.arange(n_steps + 1.0))

    _, (ws_, fs_, g2_, nus) = run(w, nu_init)
    ws, fs, g2 = np.asarray(ws_), np.asarray(fs_), np.asarray(g2_)
    norms = np.linalg.norm(ws, axis=1)
    bad = (
        ~np.isfinite(fs)
        | ~np.isfinite(norms)
        | (norms > 1e8 * (1 + np.linalg.norm(np.asarray(w))))
    )
    first = int(np.argmax(bad)) if bad.any() else None
    return DiscreteRun(
        method, ws, fs, g2, np.asarray(nus) if method.has_state else None, first
    )


class StableFlowRun(NamedTuple):
    """Result of `stable_flow`: `positions` $(N+1, n)$ (NaN after `reached`), `nu`
    (`None` for GD), `ok` (the integration succeeded) and `reached`, the last saved
    index before a failure."""

    positions: NDArray[np.float64]
    nu: NDArray[np.float64] | None
    ok: bool
    reached: int


@uses_float64
def stable_flow(
    method: PreconditionedMethod,
    loss: LossFunction,
    w0: ArrayLike,
    n_steps: int,
    *,
    nu0: ArrayLike | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 200_000,
) -> StableFlowRun:
    """The stable flow $\\dot x = -D^{-1}\\nabla f$, $\\dot\\nu = c(g^2 - \\nu)$
    (gradient flow for GD) from the flat `w0`, saved at $t_n = nh$, $n \\le N$.

    Integrated by diffrax (Tsit5, adaptive): past the edge of stability the flow keeps
    sharpening and becomes stiff, so the step size adapts. Returns a `StableFlowRun`
    `(positions, nu, ok, reached)`: `reached` is the last saved index before a
    failure (step budget exhausted or non-finite values), `positions[n]` is NaN
    after it.
    """
    from ._integrate import integrate

    w = jnp.asarray(w0, jnp.float64)
    grad = jax.grad(loss)
    nu_init = method.initial_state(w, grad(w), nu0)
    c = method.rate

    def field(t: Array, y: tuple[Array, Array], args: PyTree) -> tuple[Array, Array]:
        w, nu = y
        g = grad(w)
        D = method.diagonal(nu, t)
        dnu = c * (method.squared_gradient(g) - nu) if method.has_state else nu * 0
        return -g / D, dnu

    ts = method.h * jnp.arange(n_steps + 1.0)
    ys, ok, _ = jax.jit(
        lambda y0: integrate(
            field,
            y0,
            ts,
            None,
            solver="tsit5",
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
        )
    )((w, nu_init))
    ws, nus = np.array(ys[0]), np.array(ys[1])
    finite = np.all(np.isfinite(ws), axis=1)
    reached = int(np.argmin(finite)) - 1 if not finite.all() else n_steps
    ws[reached + 1 :] = np.nan
    return StableFlowRun(ws, (nus if method.has_state else None), bool(ok), reached)
