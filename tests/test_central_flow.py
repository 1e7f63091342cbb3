"""Central flows on losses whose central flow is known in closed form.

Reference values (Cohen et al., ICLR 2025, section 3, in the toolkit's conventions:
step h, time t = n h). On
$f(x, y) = \\tfrac12 (1 + y^2) x^2 - c\\,y$ the sharpness at $x = 0$ is $S = 1 + y^2$
with $\\nabla S = (0, 2y)$, and the gradient flow raises $y$ at rate $c$. Once $S$
reaches $2/h$ the single-eigenvalue central flow holds it there with
$\\sigma^2 = 2\\langle -\\nabla f, \\nabla S\\rangle / |\\nabla S|^2 = c/y$, so $y$ stops
at $\\sqrt{2/h - 1}$ and the predicted time-averaged loss is $f + \\sigma^2/h$. Two such
blocks with different $c$ give two critical eigenvalues and a diagonal $X$ (the
complementarity problem, solved by Clarabel). Below the threshold $\\Sigma = 0$ and
the central flow is the gradient flow (compared with diffrax's Dopri8).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import numerics
from derive import DeriveError


def one_block(x, c=1.0):
    return 0.5 * (1 + x[1] ** 2) * x[0] ** 2 - c * x[1]


def two_blocks(x):
    return one_block(x[:2], 1.0) + one_block(x[2:], 2.0)


def test_single_eigenvalue_holds_sharpness_at_two_over_h():
    h = 0.5
    sol = numerics.central_flow(
        one_block, jnp.array([1e-3, 1.0]), h, 8.0, k=1, substeps=4
    )
    active = sol.active > 0
    assert active.sum() > 10 and sol.onset is not None
    # the effective sharpness h S stays at 2 while Sigma is active
    assert np.max(np.abs(sol.eigenvalues[active, 0] - 2.0)) <= 2e-6
    y = sol.positions[active, 1]
    np.testing.assert_allclose(y[-1], np.sqrt(2 / h - 1), rtol=1e-6)
    np.testing.assert_allclose(sol.sigma2[active, 0], 1.0 / y, rtol=1e-5)
    pred = sol.losses[active] + sol.sigma2[active, 0] / h  # f + tr(Sigma)/h
    np.testing.assert_allclose(sol.predicted_losses[active], pred, rtol=1e-7)
    # time-averaged squared gradient: |grad f|^2 + S^2 sigma^2
    g2 = sol.gradient_norms2[active] + (2 / h) ** 2 * sol.sigma2[active, 0]
    np.testing.assert_allclose(sol.predicted_gradient_norms2[active], g2, rtol=1e-5)


def test_two_critical_eigenvalues_through_the_complementarity_problem():
    h = 0.5
    x0 = jnp.array([1e-3, 1.0, 1e-3, 1.0])
    sol = numerics.central_flow(two_blocks, x0, h, 8.0, k=2, substeps=4)
    assert np.max(sol.active) == 2
    both = sol.active == 2
    assert both.sum() > 5
    np.testing.assert_allclose(sol.eigenvalues[both, :2], 2.0, atol=2e-6)
    y = np.sqrt(2 / h - 1)
    np.testing.assert_allclose(sol.positions[-1, [1, 3]], [y, y], rtol=1e-6)
    np.testing.assert_allclose(sol.sigma2[-1, :2], [2 / y, 1 / y], rtol=1e-5)


def test_below_threshold_central_flow_is_gradient_flow():
    h, T = 0.1, 2.0
    x0 = jnp.array([0.5, 1.0])
    sol = numerics.central_flow(one_block, x0, h, T, k=1, substeps=8)
    assert not np.any(sol.sigma2[:, 0] > 0) and sol.onset is None
    ys, ok, _ = numerics.integrate(
        lambda t, x, a: -jax.grad(one_block)(x), x0, jnp.asarray(sol.times), None
    )
    assert bool(ok)
    np.testing.assert_allclose(sol.positions, np.asarray(ys), atol=1e-8)


@pytest.mark.parametrize("optimizer, T", [("scalar-rmsprop", 6.5), ("rmsprop", 3.0)])
def test_rmsprop_central_flow_holds_effective_sharpness(optimizer, T):
    """RMSProp: h lambda of H u = lambda D u (D = sqrt(nu) + eps) is held at 2. The
    state nu moves fast here (rate (1 - beta2)/(beta2 h) = 2.2 per unit time), so
    the scheme's O(tau^2) drift per step, pulled back by the A/tau term, leaves an
    offset of a few 1e-4 (1e-6 for GD above)."""
    h = 0.05
    x0 = jnp.array([1e-3, 1.0])
    sol = numerics.central_flow(
        one_block,
        x0,
        h,
        T,
        optimizer=optimizer,
        beta2=0.9,
        eps=1e-8,
        nu0=1.0,
        k=1,
        substeps=4,
    )
    active = sol.active > 0
    assert active.sum() > 10
    assert np.max(np.abs(sol.eigenvalues[active, 0] - 2.0)) <= 1e-3
    assert np.all(np.isfinite(sol.nu)) and np.all(sol.nu > 0)


def test_bad_input_is_named():
    relu_loss = lambda x: jnp.sum(jax.nn.relu(x[:2]) ** 3) + one_block(x[2:])  # noqa: E731
    with pytest.raises(DeriveError, match="not smooth"):
        numerics.central_flow(relu_loss, jnp.ones(4), 0.1, 1.0)
    with pytest.raises(DeriveError, match="beyond the edge of stability"):
        numerics.central_flow(one_block, jnp.array([0.1, 2.0]), 0.5, 1.0, k=1)
    with pytest.raises(DeriveError, match="no central flow"):
        numerics.central_flow(one_block, jnp.ones(2), 0.1, 1.0, optimizer="adam")
    with pytest.raises(DeriveError, match="at least 1"):  # chunk=0 looped forever
        numerics.central_flow(one_block, jnp.ones(2), 0.1, 1.0, chunk=0)


def test_divergent_run_is_named():
    """h above the stability limit of a quadratic: GD's oscillation grows without
    bound (no third derivative to stop it), and no flow models the run."""
    loss = lambda x: 0.5 * jnp.sum(jnp.arange(1.0, 13.0) * x**2)  # noqa: E731
    with pytest.raises(DeriveError, match="diverged"):
        numerics.side_by_side(
            loss, jnp.ones(12), h=0.5, n_steps=200, models=("central-flow",)
        )
