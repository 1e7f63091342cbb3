"""Principal flows on any loss: $\\dot x = \\psi(hH(x))\\, \\nabla f(x)$, matrix-free.

[`derive.principal_flow`][derive.principal_flow] gives $\\psi(z) = \\log r(z)/z$ for an
optimizer of the affine class ($r$ the principal root of its characteristic
polynomial, $z = h\\lambda$; for gradient descent $\\psi(z) = \\log(1-z)/z$, so the
flow is Rosca et al.'s $\\dot\\theta = \\sum_i \\frac{\\log(1 - h\\lambda_i)}{h\\lambda_i}
(\\nabla f \\cdot u_i) u_i$). Here $\\psi(hH)\\nabla f$ is evaluated

- densely (`method="dense"`, up to `DENSE_LIMIT` parameters): `eigh` of the Hessian;
- matrix-free (`method="lanczos"`): $m$ steps of Lanczos with full
  reorthogonalisation from $\\nabla f$, $\\psi(hH)\\nabla f \\approx |\\nabla f|\\, Q_m
  \\psi(hT_m) e_1$ (Hessian-vector products by forward over reverse).

Where some $z = h\\lambda$ (an eigenvalue, or a Ritz value) lies beyond the real
regime of the principal root ($z \\ge 1$ for GD: $r = 1 - z \\le 0$, the iterates flip
sign; $z > (1-\\sqrt\\beta)^2$ for heavy ball: complex roots, the iterates spiral), the
flow is complex: [`principal_flow`][numerics.principal_flow] stops there and reports
the time and the value of $z$ instead of returning NaN (Rosca et al. read the
imaginary part as the onset of oscillation and instability).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpy.typing import NDArray

import derive

from ._eigensolvers import Operator, hessian_operator_flat
from ._precision import uses_float64
from ._typing import Array, ArrayLike, LossFunction, Parameters, PyTree

if TYPE_CHECKING:  # SymPy is imported on first use
    import sympy

__all__ = ["principal_flow", "PrincipalFlowSolution", "principal_function"]

DENSE_LIMIT = 400
LANCZOS_STEPS = 30

Psi: TypeAlias = Callable[[ArrayLike], tuple[Array, Array]]
"""$\\psi$ at an array of $z = h\\lambda$: `(values, real)`, `real` false where the
principal root is complex or not positive (the value there is a placeholder)."""
PrincipalField: TypeAlias = Callable[[Array], tuple[Array, Array, Array]]
"""$x \\mapsto (\\psi(hH)\\nabla f, \\text{real}, \\max z)$ on flat vectors."""
Method: TypeAlias = Literal["auto", "dense", "lanczos"]
_Carry: TypeAlias = tuple[Array, Array, Array]
"""The integrator's state: `(x, still real, largest z so far)`."""


@dataclass
class PrincipalFlowSolution:
    """Result of [`principal_flow`][numerics.principal_flow], saved at $t_n = nh$.

    - `times`, `positions` (flat, `(n_real + 1, n)`): up to the last step before the
      flow became complex (or to $T$).
    - `complex_from`: the first time at which some $z = h\\lambda$ left the real
      regime (`None` if it never did); `z_max`: the largest $h\\lambda$ per saved step;
      `radius`: the edge of the real regime of $\\psi$ on $z > 0$.
    """

    times: NDArray[np.float64]
    positions: NDArray[np.float64]
    complex_from: float | None
    z_max: NDArray[np.float64]
    radius: float
    method: str
    unravel: Callable[[Array], PyTree] | None = field(repr=False, default=None)

    @property
    def defined_until(self) -> float:
        return float(self.times[-1])


def principal_function(
    optimizer: derive.OptimizerDefinition | derive.PrincipalFlow,
    params: Parameters | None = None,
) -> tuple[Psi, float]:
    """`(psi, edge)`: $\\psi(z)$ as a JAX function returning `(value, real)`, and the
    largest $z > 0$ of the real regime (`inf` if none).

    Gradient descent gets $\\log(1-z)/z$; an affine optimizer whose characteristic
    polynomial has degree at most 2 in $r$ gets its closed-form principal root from
    `derive` (evaluated in complex arithmetic); others get the numeric continuation
    of `derive.PrincipalFlow.rate` through `jax.pure_callback`. A
    `derive.PrincipalFlow` already derived is used as it is (`params` then give
    numbers to its symbolic hyper-parameters).
    """
    from ._iterates import as_recurrence

    if isinstance(optimizer, derive.PrincipalFlow):
        pf = optimizer
        _, num = as_recurrence(pf.recurrence, params)
    else:
        rec, num = as_recurrence(optimizer, params)
        pf = derive.principal_flow(rec, 1)
    edge = _real_edge(pf, num)
    if pf.root is not None:
        return _closed_form(pf.root, pf.log_series[0], num), edge
    return _continuation(pf, num), edge


def _closed_form(
    root_expr: sympy.Expr, a1_expr: sympy.Expr, num: Mapping[str, float]
) -> Psi:
    """$\\psi$ from the closed-form principal root $r(z)$, in complex arithmetic
    ($a_1$, the first coefficient of $\\log r$, is its value at $z = 0$)."""
    import sympy

    subs = {sympy.Symbol(k): sympy.nsimplify(v) for k, v in num.items()}
    a1 = float(sympy.sympify(a1_expr).subs(subs))
    z = sympy.Symbol("z")
    root = sympy.lambdify(z, root_expr.subs(subs), modules="jax")

    def psi(zv: ArrayLike) -> tuple[Array, Array]:
        zc = jnp.asarray(zv, jnp.complex128)
        r = jnp.asarray(root(zc), jnp.complex128) * jnp.ones_like(zc)
        real = (jnp.abs(r.imag) <= 1e-12 * (1 + jnp.abs(r))) & (r.real > 0)
        small = jnp.abs(zv) < 1e-8
        safe = jnp.where(small, 1.0, zv)
        val = jnp.log(jnp.where(real, r.real, 1.0)) / safe
        return jnp.where(small, a1, val), real

    return psi


def _continuation(pf: derive.PrincipalFlow, num: Mapping[str, float]) -> Psi:
    """$\\psi$ by the numeric continuation of the principal root
    (`derive.PrincipalFlow.rate`), on the host through `jax.pure_callback`."""

    def host(bits: ArrayLike) -> tuple[NDArray[np.uint32], NDArray[np.bool_]]:
        zv = np.ascontiguousarray(np.asarray(bits, np.uint32)).view(np.float64)
        out = pf.rate(zv.reshape(-1), **num).reshape(zv.shape[:-1])
        vals = np.ascontiguousarray(np.nan_to_num(out)[..., None])
        return vals.view(np.uint32), np.isfinite(out)

    def psi(zv: ArrayLike) -> tuple[Array, Array]:
        # float64 crosses as uint32 pairs: the callback thread may not be in x64
        bits = jax.lax.bitcast_convert_type(jnp.asarray(zv, jnp.float64), jnp.uint32)
        shape = jax.ShapeDtypeStruct((*jnp.shape(zv), 2), jnp.uint32)
        flag = jax.ShapeDtypeStruct(jnp.shape(zv), bool)
        vals, ok = jax.pure_callback(host, (shape, flag), bits)
        return jax.lax.bitcast_convert_type(vals, jnp.float64), ok

    return psi


def _real_edge(pf: derive.PrincipalFlow, num: Mapping[str, float]) -> float:
    """The smallest $z > 0$ where the principal root stops being real and positive."""
    zs = np.geomspace(1e-6, 1e3, 400)
    rate = pf.rate(zs, **num)
    bad = ~np.isfinite(rate)
    if not bad.any():
        return math.inf
    i = int(np.argmax(bad))
    lo, hi = (float(zs[i - 1]) if i else 0.0), float(zs[i])
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.isfinite(pf.rate([mid], **num)[0]):
            lo = mid
        else:
            hi = mid
    return float(hi)


def _lanczos(hvp: Operator, v0: Array, m: int) -> tuple[Array, Array, Array]:
    """$m$ Lanczos steps with full reorthogonalisation: `(Q, alpha, beta)`."""
    n = v0.size
    q0 = v0 / jnp.linalg.norm(v0)
    Q = jnp.zeros((m, n)).at[0].set(q0)
    alpha = jnp.zeros(m)
    beta = jnp.zeros(m)

    def body(j: Array, carry: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
        Q, alpha, beta = carry
        w = hvp(Q[j])
        a = jnp.vdot(Q[j], w)
        w = w - Q.T @ (Q @ w)  # full reorthogonalisation (rows > j are zero)
        w = w - Q.T @ (Q @ w)
        b = jnp.linalg.norm(w)
        nxt = jnp.where(b > 1e-12 * (jnp.abs(a) + 1), w / jnp.maximum(b, 1e-300), 0.0)
        Q = jnp.where(j + 1 < m, Q.at[jnp.minimum(j + 1, m - 1)].set(nxt), Q)
        return Q, alpha.at[j].set(a), beta.at[j].set(b)

    return jax.lax.fori_loop(0, m, body, (Q, alpha, beta))


def _field(f: LossFunction, h: float, psi: Psi, method: str, m: int) -> PrincipalField:
    """The principal flow's field on flat vectors, dense (`method="dense"`) or by `m`
    Lanczos steps from $\\nabla f$."""
    grad = jax.grad(f)

    def dense(w: Array) -> tuple[Array, Array, Array]:
        g = grad(w)
        H = jax.hessian(f)(w)
        lam, V = jnp.linalg.eigh(0.5 * (H + H.T))
        z = h * lam
        c, real = psi(z)
        return V @ (c * (V.T @ g)), jnp.all(real), jnp.max(z)

    def lanczos(w: Array) -> tuple[Array, Array, Array]:
        g = grad(w)
        Q, alpha, beta = _lanczos(hessian_operator_flat(grad, w), g, m)
        T = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
        theta, S = jnp.linalg.eigh(T)
        z = h * theta
        c, real = psi(z)
        return jnp.linalg.norm(g) * (Q.T @ (S @ (c * S[0]))), jnp.all(real), jnp.max(z)

    return dense if method == "dense" else lanczos


@uses_float64
def principal_flow(
    optimizer: derive.OptimizerDefinition | derive.PrincipalFlow,
    loss: LossFunction,
    x0: PyTree,
    h: float,
    T: float,
    *,
    params: Parameters | None = None,
    method: Method = "auto",
    lanczos_steps: int = LANCZOS_STEPS,
    substeps: int = 2,
) -> PrincipalFlowSolution:
    """Integrate the principal flow $\\dot x = \\psi(hH)\\nabla f$ of an optimizer.

    **Arguments:**

    - `optimizer`: a `derive.Recurrence` of the affine class (or a name / spec), or
      its [`derive.PrincipalFlow`][derive.PrincipalFlow] when already derived.
    - `loss`: $f$, a scalar JAX function of a pytree (or a [`Loss`][numerics.Loss]).
    - `x0`: the start (a pytree); `h`: the step size; `T`: the horizon ($t = nh$).
    - `params`: numbers for symbolic hyper-parameters.
    - `method`: `"dense"`, `"lanczos"` or `"auto"` (dense up to 400 parameters).
    - `lanczos_steps`: the Krylov dimension $m$.
    - `substeps`: classical RK4 steps per step $h$.

    **Returns:** a [`PrincipalFlowSolution`][numerics.PrincipalFlowSolution]; the
    trajectory stops where the flow becomes complex (`complex_from`).

    !!! example
        ```python
        >>> import derive, numerics
        >>> loss = numerics.quadratic([[1.0, 0.0], [0.0, 10.0]])
        >>> sol = numerics.principal_flow(derive.gd(), loss, [1.0, 1.0], h=0.05,
        ...                               T=1.0, substeps=8)
        >>> run = numerics.iterates(derive.gd(), loss, [1.0, 1.0], h=0.05, n_steps=20)
        >>> float(abs(sol.positions[-1] - run.positions[-1]).max()) < 1e-8   # GD is
        True
        >>> # the time-h map of its principal flow on a quadratic
        >>> numerics.principal_flow(derive.gd(), loss, [1.0, 1.0], h=0.15,
        ...                         T=1.0).complex_from        # h * 10 > 1 at once
        0.0

        ```

    !!! cite "Reference"
        Rosca, Wu, Qin & Dherin, *On a continuous time model of gradient descent
        dynamics and instability in deep learning*, TMLR (2023).
    """
    from derive import DeriveError

    from ._iterates import initial_point
    from ._losses import Loss

    x0 = initial_point(loss, x0)
    fn = loss.fn if isinstance(loss, Loss) else loss
    flat0, unravel = ravel_pytree(x0)
    w0 = jnp.asarray(flat0, jnp.float64)

    def f(z: Array) -> Array:
        return fn(unravel(z))

    if method == "auto":
        method = "dense" if w0.size <= DENSE_LIMIT else "lanczos"
    if method not in ("dense", "lanczos"):
        raise DeriveError(f"method={method!r}.", "Use 'dense', 'lanczos' or 'auto'.")
    if not (math.isfinite(h) and h > 0) or int(substeps) < 1:
        raise DeriveError(
            f"the step size must be positive and substeps at least 1, got h = {h}, "
            f"substeps = {substeps}.",
            "Use e.g. h=0.05, substeps=2.",
        )
    psi, edge = principal_function(optimizer, params)
    m = int(min(lanczos_steps, w0.size))
    F = _field(f, float(h), psi, method, m)
    n_steps = max(int(round(T / h)), 1)
    dt = h / substeps

    def rk4(carry: _Carry, _: None) -> tuple[_Carry, None]:
        w, ok, zmax = carry

        def advance(w: Array) -> _Carry:
            k1, o1, z1 = F(w)
            k2, o2, _ = F(w + dt / 2 * k1)
            k3, o3, _ = F(w + dt / 2 * k2)
            k4, o4, _ = F(w + dt * k3)
            good = o1 & o2 & o3 & o4
            new = w + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            return jnp.where(good, new, w), good, z1

        def frozen(w: Array) -> _Carry:  # once complex, stop computing
            return w, jnp.asarray(False), jnp.asarray(-jnp.inf, w.dtype)

        w, good, z1 = jax.lax.cond(ok, advance, frozen, w)
        return (w, ok & good, jnp.maximum(zmax, z1)), None

    def step(carry: _Carry, _: None) -> tuple[_Carry, _Carry]:
        w, ok, _zmax = carry
        lowest = jnp.asarray(-jnp.inf, w.dtype)
        carry, _ = jax.lax.scan(rk4, (w, ok, lowest), None, length=substeps)
        return carry, carry

    start = jax.jit(F)(w0)
    ok0, z0 = bool(start[1]), float(start[2])
    if not ok0:
        return PrincipalFlowSolution(
            times=np.zeros(1),
            positions=np.asarray(w0)[None],
            complex_from=0.0,
            z_max=np.array([z0]),
            radius=edge,
            method=method,
            unravel=unravel,
        )

    @jax.jit
    def run(w0: Array) -> tuple[_Carry, _Carry]:
        carry = (w0, jnp.asarray(True), jnp.asarray(z0))
        return jax.lax.scan(step, carry, None, length=n_steps)

    _, (ws_, oks_, zs_) = run(w0)
    oks = np.concatenate([[bool(ok0)], np.asarray(oks_)])
    zs = np.concatenate([[float(z0)], np.asarray(zs_)])
    ws = np.asarray(ws_)
    positions = np.concatenate([np.asarray(w0)[None], ws], axis=0)
    last = n_steps if oks.all() else int(np.argmin(oks)) - 1
    complex_from = None if oks.all() else float(h * max(last, 0))
    keep = max(last, 0) + 1
    return PrincipalFlowSolution(
        times=h * np.arange(keep, dtype=np.float64),
        positions=positions[:keep],
        complex_from=complex_from,
        z_max=zs[:keep],
        radius=edge,
        method=method,
        unravel=unravel,
    )
