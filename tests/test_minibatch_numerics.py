"""Mini-batch flows, stochastic modified equations and the abrupt-sharpening detector,
against the iterates.

- Epoch flows (fixed batch order): the order-p flow of `derive.minibatch_flow` must
  track the iterates at the epoch boundaries with global error O(h^(p+1)) on [0, T]
  (the numerical order test of Hairer, Lubich & Wanner, IX; momentum started on the
  epoch's slow manifold, HLW XV): slopes 1, 2, 3 for p = 0, 1, 2.
- SMEs (Li, Tai & E, JMLR 20 (2019), Theorems 1 and 3): the SME with drift -grad f is
  weak order 1, with drift -grad(f + h/4 |grad f|^2) weak order 2. The problem:
  f(x, y) = x^4/4 + y^2/2 + xy/2 + x^2/2 with four samples f + c.x, c = (+-s, +-s)
  (batch size 1, with replacement: the gradient noise has covariance s^2 I, additive),
  phi(x, y) = x + y^2/2, T = 1. The Monte Carlo error bar of every bias is stated by
  `sme_weak_error` and a slope is fitted only over the step sizes where the bias is
  above three error bars; the test also asserts that those points exist.
- The abrupt-sharpening detector on synthetic traces where the jump is known.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import derive
import numerics

LOSSES = [
    "exp(x/2) + x**2/2 + y**2 - x*y/3",
    "(x-1)**2 + cos(y) + y**2/2",
    "x**2/3 + (y+1)**2/2 + sin(x)*y/2",
]


@pytest.mark.parametrize(
    "optimizer", [derive.sgd(), derive.sgdm(0.5)], ids=["sgd", "sgdm"]
)
def test_fixed_order_epoch_flow_order(optimizer):
    result = numerics.epoch_flow_order(
        optimizer, LOSSES, "x,y", [0.3, -0.2], T=1.0, epochs=(8, 16, 32)
    )
    for p, slope in zip(result.orders, result.slopes, strict=True):
        assert abs(slope - (p + 1)) <= 0.25, (p, slope, result.errors)
    assert result.passed


def test_minibatch_iterates_follow_the_sequence():
    # two batches, f_1 = (x-1)^2/2, f_2 = (x+1)^2/2: x+ = x - h (x -+ 1), by hand
    losses = [lambda x: (x - 1.0) ** 2 / 2, lambda x: (x + 1.0) ** 2 / 2]
    xs = numerics.minibatch_iterates(
        derive.sgd(), losses, jnp.array(0.0), 0.5, jnp.array([0, 1, 1])
    )
    assert xs.tolist() == [0.0, 0.5, -0.25, -0.625]
    seq = numerics.batch_sequence(numerics_key(), 9, 3, "shuffle")
    assert sorted(seq[:3].tolist()) == [0, 1, 2] and sorted(seq[3:6].tolist()) == [
        0,
        1,
        2,
    ]


def numerics_key():
    import jax

    return jax.random.PRNGKey(3)


def _problem(s=0.2):
    def f(z):
        x, y = z
        return x**4 / 4 + y**2 / 2 + x * y / 2 + x**2 / 2

    cs = [jnp.array([a, b]) * s for a in (-1.0, 1.0) for b in (-1.0, 1.0)]
    return [lambda z, c=c: f(z) + c @ z for c in cs]


def test_sme_weak_orders_one_and_two():
    losses = _problem()

    def factory(order):
        return numerics.stochastic_modified_equation(derive.sgd(), losses, order=order)

    result = numerics.sme_weak_error(
        factory,
        jnp.array([1.2, -1.0]),
        1.0,
        [0.1, 0.05, 0.025],
        lambda z: z[0] + z[1] ** 2 / 2,
        n_paths=2**17,
        substeps=2,
        seed=0,
    )
    for order in (0, 1):
        assert sum(result.resolved[order]) >= 3, result.table()  # a slope is claimed
        assert abs(result.slopes[order] - (order + 1)) <= 0.25, result.table()
        # every error bar is stated and below the bias it qualifies
        assert all(
            0 < e < b
            for e, b in zip(result.error_bar[order], result.bias[order], strict=True)
        )
    assert result.passed


def test_sme_covariance_and_bad_input():
    losses = _problem(s=0.5)
    sme = numerics.stochastic_modified_equation(derive.sgd(), losses, batch_size=2)
    sigma = sme.diffusion(0.0, jnp.array([0.3, 0.1]), {"h": 1.0})
    # with replacement: Sigma = Cov/B = 0.25 I / 2
    np.testing.assert_allclose(sigma @ sigma.T, 0.125 * np.eye(2), atol=1e-12)
    sme = numerics.stochastic_modified_equation(
        derive.sgd(), losses, batch_size=2, replacement=False
    )
    sigma = sme.diffusion(0.0, jnp.array([0.3, 0.1]), {"h": 1.0})
    # without replacement: Sigma = (n - B)/(B (n - 1)) Cov = (2/6) 0.25 I
    np.testing.assert_allclose(sigma @ sigma.T, 0.25 / 3 * np.eye(2), atol=1e-12)
    sme = numerics.stochastic_modified_equation(derive.sgdm(0.5), losses, order=1)
    assert sme.scale == 2.0  # 1/(1 - mu): the noise reaches x at the effective rate
    with pytest.raises(derive.DeriveError, match="batch size 5"):
        numerics.stochastic_modified_equation(derive.sgd(), losses, batch_size=5)


def test_abrupt_sharpening_on_synthetic_traces():
    rng = np.random.default_rng(0)
    theta = 40.0
    flat = 0.3 * theta * (1 + 0.05 * rng.standard_normal(120))
    jump = flat.copy()
    jump[57:] = 1.4 * theta * (1 + 0.05 * rng.standard_normal(63))
    assert numerics.abrupt_sharpening(jump, theta) == 57
    assert numerics.abrupt_sharpening(flat, theta) is None
    # progressive sharpening: a slow ramp across the threshold is not abrupt
    ramp = np.linspace(0.3, 1.5, 120) * theta
    assert numerics.abrupt_sharpening(ramp, theta) is None
    # ... unless the window is long enough to see the whole rise
    assert numerics.abrupt_sharpening(ramp, theta, window=200) is not None
    # a diverged run (NaN after a jump) counts as above the threshold
    blown = flat.copy()
    blown[80:] = np.nan
    assert numerics.abrupt_sharpening(blown, theta) == 80
    # the thresholds of linear stability: SGD 2/eta, heavy ball 2(1+mu)/eta
    assert numerics.stability_threshold(0.5) == 4.0
    assert numerics.stability_threshold(0.05, 0.9) == pytest.approx(76.0)
    assert numerics.stability_limit(derive.sgdm(0.9), 10.0) == pytest.approx(0.38)
    with pytest.raises(derive.DeriveError, match="bad detector settings"):
        numerics.abrupt_sharpening(flat, theta, jump=1.0)
