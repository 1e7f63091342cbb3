"""The central flow's vector field: the eigen-solve, the complementarity problem and
the oscillation terms at one point (Cohen et al., ICLR 2025).

At $(x, \\nu)$ and time $t$, `CentralField` computes the top eigenpairs of $H u =
\\lambda D u$ ($D$ the optimizer's diagonal; LOBPCG warm-started from the previous
block, a Rayleigh-Ritz refresh in between, or a dense `eigh` for small problems),
takes as critical the eigenvalues with $h\\lambda \\ge$ `threshold`, builds the
complementarity problem $X \\succeq 0 \\perp \\alpha + \\beta[X] \\succeq 0$ for them
from the third derivatives $\\nabla(u_i^\\top H u_j)$ (nested `jax.jvp`; for RMSProp and
scalar RMSProp with the terms of $\\dot\\nu$, see `numerics._central_flow`), with the
drift-correcting $A/\\tau$ added to $\\alpha$, and returns the oscillation terms
$\\tfrac12 \\nabla\\langle H, \\Sigma\\rangle$ and $\\overline{\\delta g^2}$ that the
integrator then holds fixed over a step (`CentralField.rates`).

The critical set is padded up to a few block sizes, one compiled branch each
(`jax.lax.switch`): a padded eigenvalue below the threshold has a large $A/\\tau$,
so the complementarity problem leaves it out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np

from ._eigensolvers import (
    FlatEigenpairs,
    dense_eigenpairs_flat,
    hessian_operator_flat,
    rayleigh_ritz_flat,
    third_derivative_flat,
    top_eigenpairs_flat,
)
from ._preconditioned import PreconditionedMethod, Time
from ._sdcp import sdcp_callback
from ._typing import Array, LossFunction

__all__ = ["CentralField", "StepDiagnostics", "DENSE_LIMIT", "bucket_sizes"]

DENSE_LIMIT = 64
"""Up to this many parameters the eigenpairs come from a dense `eigh`."""

_Terms: TypeAlias = tuple[Array, Array, Array, "Array | float", "Array | float"]
"""One branch's `(X padded to K x K, force, mean squared-gradient term, extra loss,
extra squared gradient norm)`."""


class StepDiagnostics(NamedTuple):
    """What the field measures at a point (per step, stacked by the driver).

    - `loss`, `g2`: $f$ and $|\\nabla f|^2$;
    - `pred_loss`, `pred_g2`: the predicted time averages $f + \\tfrac12\\langle H,
      \\Sigma\\rangle$ and $|\\nabla f|^2 + \\mathrm{tr}(H\\Sigma H)$;
    - `eig`: the tracked $h\\lambda_i$, `(K,)`; `sigma2`: the eigenvalues of $X$,
      `(K,)`;
    - `res`: the largest relative residual among the critical eigenpairs (the top
      one's when none is critical); `its`: LOBPCG iterations.
    """

    loss: Array
    g2: Array
    pred_loss: Array
    pred_g2: Array
    eig: Array
    sigma2: Array
    res: Array
    its: Array


def bucket_sizes(K: int) -> list[int]:
    """Block sizes compiled for the critical set: 0, 1, 2, 3, 4, 6, 8, 12, ... and K."""
    sizes = [b for b in (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32) if b < K]
    return [*sizes, K]


class CentralField:
    """The central-flow vector field on flat $(x, \\nu)$ with a warm-started block of
    `K` eigenpairs (see the module docs).

    **Arguments:**

    - `method`: the optimizer; `f`: the loss on flat vectors.
    - `K`: eigenpairs tracked; `threshold`: $h\\lambda$ from which an eigenvalue is
      critical; `iterations`, `tol`: LOBPCG's.
    - `tau`: the substep, for the drift-correcting term $A/\\tau$.
    - `central`: `False` gives the stable flow ($X = 0$ always).
    - `expand`: Rayleigh-Ritz refreshes in the span of the block and its image.
    """

    def __init__(
        self,
        method: PreconditionedMethod,
        f: LossFunction,
        K: int,
        threshold: float,
        iterations: int,
        tol: float,
        tau: float,
        central: bool = True,
        *,
        expand: bool = False,
    ) -> None:
        self.method, self.f, self.K = method, f, K
        self.threshold, self.iterations, self.tol = threshold, iterations, tol
        self.tau, self.central = tau, central
        self.expand = expand
        self.vg = jax.value_and_grad(f)
        self.grad = jax.grad(f)

    def __call__(
        self, t: Time, w: Array, nu: Array, W: Array, refine: bool | Array = True
    ) -> tuple[Array, Array, Array, StepDiagnostics]:
        """`(force, mx, W, diagnostics)` at $(t, x, \\nu)$: the oscillation terms
        $\\tfrac12\\nabla\\langle H, \\Sigma\\rangle$ and $\\overline{\\delta g^2}$ (for
        $\\dot\\nu$), the refreshed block, and what was measured. `refine`: LOBPCG
        (`True`) or a Rayleigh-Ritz refresh (`False`), a traced flag chooses by
        `jax.lax.cond`."""
        m, h = self.method, self.method.h
        value, g = self.vg(w)
        n = w.size
        D = jnp.broadcast_to(m.diagonal(nu, t), (n,))
        p = 1.0 / jnp.sqrt(D)
        hvp = hessian_operator_flat(self.grad, w)

        def full(W: Array) -> FlatEigenpairs:
            return top_eigenpairs_flat(
                hvp, W, p_inv_sqrt=p, iterations=self.iterations, tol=self.tol
            )

        def cheap(W: Array) -> FlatEigenpairs:
            return rayleigh_ritz_flat(hvp, W, p_inv_sqrt=p, expand=self.expand)

        if n <= DENSE_LIMIT:  # small problems: dense eigh of D^{-1/2} H D^{-1/2}
            pairs = dense_eigenpairs_flat(jax.hessian(self.f)(w), self.K, p_inv_sqrt=p)
        elif isinstance(refine, bool):
            pairs = full(W) if refine else cheap(W)
        else:
            pairs = jax.lax.cond(refine, full, cheap, W)
        lam, U, W, res, its = pairs
        count = jnp.sum(h * lam >= self.threshold) if self.central else 0
        # one compiled branch per block size: the candidates padded up to the next
        # size (a padded eigenvalue below the threshold has a large A/tau, so the
        # complementarity problem leaves it out: X is zero on it)
        sizes = bucket_sizes(self.K)
        index = jnp.searchsorted(jnp.asarray(sizes), count)
        branches = [self._branch(mm, t, w, nu, g, D, lam, U) for mm in sizes]
        X, force, mx, extra_loss, extra_g2 = jax.lax.switch(index, branches)
        res_c = jnp.max(jnp.where(h * lam >= self.threshold, res, 0.0))
        diagnostics = StepDiagnostics(
            loss=value,
            g2=jnp.sum(g * g),
            pred_loss=value + extra_loss,
            pred_g2=jnp.sum(g * g) + extra_g2,
            eig=h * lam,
            sigma2=jnp.linalg.eigvalsh(X)[::-1],
            res=jnp.where(count > 0, res_c, res[0]),
            its=its,
        )
        return force, mx, W, diagnostics

    def rates(
        self, t: Time, w: Array, nu: Array, force: Array, mx: Array
    ) -> tuple[Array, Array]:
        """$(\\dot x, \\dot\\nu)$ with the oscillation terms held fixed:
        $-D^{-1}(\\nabla f + \\tfrac12\\nabla\\langle H, \\Sigma\\rangle)$ and
        $c(g^2 + \\overline{\\delta g^2} - \\nu)$."""
        m = self.method
        g = self.grad(w)
        D = m.diagonal(nu, t)
        dw = -(g + force) / D
        if not m.has_state:
            return dw, jnp.zeros_like(nu)
        return dw, m.rate * (m.squared_gradient(g) + mx - nu)

    def _branch(
        self,
        mm: int,
        t: Time,
        w: Array,
        nu: Array,
        g: Array,
        D: Array,
        lam: Array,
        U: Array,
    ) -> Callable[[], _Terms]:
        """The terms with the top `mm` eigenpairs as the critical set."""
        m, h, K = self.method, self.method.h, self.K
        c = m.rate

        def stable() -> _Terms:
            mx = jnp.zeros_like(nu)
            return jnp.zeros((K, K)), jnp.zeros_like(g), mx, 0.0, 0.0

        if mm == 0:
            return stable

        def critical() -> _Terms:
            Uc = U[:, :mm]
            iu, ju = np.triu_indices(mm)
            Gp = jax.vmap(lambda a, b: third_derivative_flat(self.grad, w, a, b))(
                Uc[:, iu].T, Uc[:, ju].T
            )  # (pairs, n)
            index = np.zeros((mm, mm), int)
            index[iu, ju] = index[ju, iu] = np.arange(len(iu))
            G = Gp[index]  # (mm, mm, n)
            DG = G / D
            alpha = jnp.einsum("ijn,n->ij", G, g / D)
            beta = 0.5 * jnp.einsum("ijn,kln->ijkl", G, DG)
            HU = (2.0 / h) * D[:, None] * Uc  # H u = (2/h) D u on the critical set
            if m.has_state:
                d_nu, d_t = m.diagonal_derivatives(nu, t)
                if m.name == "rmsprop":
                    M = HU[:, :, None] * HU[:, None, :]  # (n, mm, mm)
                    uu = Uc[:, :, None] * Uc[:, None, :]
                    base = c * (g * g - nu) * d_nu + d_t
                    alpha = alpha + (2.0 / h) * jnp.einsum("nij,n->ij", uu, base)
                    beta = beta + (2.0 / h) * c * jnp.einsum(
                        "nij,n,nkl->ijkl", uu, d_nu, M
                    )
                else:
                    M = HU.T @ HU  # (mm, mm)
                    uu = Uc.T @ Uc
                    base = c * (jnp.sum(g * g) - nu) * d_nu + d_t
                    alpha = alpha + (2.0 / h) * base * uu
                    beta = beta + (2.0 / h) * c * d_nu * jnp.einsum(
                        "ij,kl->ijkl", uu, M
                    )
            A = jnp.diag(2.0 / h - lam[:mm])
            a_eff = A / self.tau + alpha
            a_eff = 0.5 * (a_eff + a_eff.T)
            if mm == 1:
                b = beta[0, 0, 0, 0]
                x = jnp.where(
                    a_eff[0, 0] >= 0, 0.0, jnp.where(b > 0, -a_eff[0, 0] / b, jnp.nan)
                )
                X = x.reshape(1, 1)
            else:
                X = sdcp_callback(a_eff, beta)
            force = 0.5 * jnp.einsum("ij,ijn->n", X, G)
            HUa = lam[:mm][None, :] * D[:, None] * Uc  # actual H u for predictions
            extra_loss = 0.5 * jnp.sum(jnp.diag(X) * lam[:mm])
            if m.name == "rmsprop":
                gbar = g * g + jnp.einsum("kl,nk,nl->n", X, HUa, HUa)
                mx = jnp.einsum("kl,nkl->n", X, M)
                extra_g2 = jnp.sum(gbar) - jnp.sum(g * g)
            else:
                extra_g2 = jnp.einsum("kl,nk,nl->", X, HUa, HUa)
                mx = jnp.sum(X * M) if m.has_state else jnp.zeros_like(nu)
            Xk = jnp.zeros((K, K)).at[:mm, :mm].set(X)
            return Xk, force, mx, extra_loss, extra_g2

        return critical
