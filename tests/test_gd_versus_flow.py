"""GD against gradient flow: the bound's ingredients and the reference flow.

References: the eigenvalues along the flow are checked against a dense `eigh` of the
Hessian formed by `jax.hessian` (independent of LOBPCG); the bound against its closed
form on constant curvature (a geometric sum); the distances against Euler's global
error O(h) and the modified flows' O(h^{p+1}) (Hairer, Lubich & Wanner, Geometric
Numerical Integration, IX.1).
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import numerics  # noqa: E402
from derive import DeriveError  # noqa: E402
from numerics.networks import get_model  # noqa: E402


@pytest.fixture(scope="module")
def small_network():
    """A 64 -> 4 -> 10 tanh MLP on 32 digits (310 parameters)."""
    model = get_model(
        "digits-mlp", hidden=(4,), n=32, data_loss="mse", activation="tanh"
    )
    params = jax.tree_util.tree_map(
        lambda v: 0.5 * v, model.init(jax.random.PRNGKey(0))
    )
    return model.loss, params


@pytest.fixture(scope="module")
def comparison(small_network):
    loss, params = small_network
    return numerics.gd_versus_flow(
        loss, params, [0.025, 0.05], 2.0, orders=(1,), eig_points=5
    )


def test_eigenvalues_along_the_flow_match_dense_eigh(small_network, comparison):
    loss, params = small_network
    flat, unravel = ravel_pytree(params)

    def f(z):
        return loss(unravel(z))

    # the points of the gradient flow where the comparison computed its eigenvalues
    ys, ok, _ = numerics.integrate(
        lambda t, y, a: -jax.grad(f)(y),
        flat, jnp.asarray(comparison.eig_times), None, rtol=1e-12, atol=1e-12,
    )  # fmt: skip
    assert bool(ok)
    hessian = jax.jit(jax.hessian(f))
    dense = np.array([np.linalg.eigvalsh(np.asarray(hessian(y))) for y in ys])
    # the pytree form of the trajectory (LOBPCG, warm-started) against dense eigh
    eig = numerics.extreme_eigenvalues_along(loss, jax.vmap(unravel)(ys), tol=1e-10)
    np.testing.assert_allclose(eig.minimum, dense[:, 0], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(eig.maximum, dense[:, -1], rtol=1e-7, atol=1e-9)
    # each value lies within its residual |Hu - lambda u| of a true eigenvalue
    assert np.all(np.abs(eig.minimum - dense[:, 0]) <= eig.residual_min + 1e-12)
    assert np.all(np.abs(eig.maximum - dense[:, -1]) <= eig.residual_max + 1e-12)
    # the comparison (flat form, its own flow) reports the same curvature
    np.testing.assert_allclose(comparison.lambda_min, dense[:, 0], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(comparison.lambda_max, dense[:, -1], rtol=1e-6)
    assert dense[:, 0].min() < 0 < dense[:, -1].min()  # negative curvature on the way


def test_reference_flow_is_far_more_accurate_than_the_distances(comparison):
    smallest = min(float(r.distance[-1]) for r in comparison.runs)
    assert comparison.reference_error < 1e-4 * smallest
    assert all(r.bound_holds for r in comparison.runs)
    slopes = comparison.slopes()
    assert abs(slopes["gradient-flow"] - 1) < 0.15
    assert abs(slopes["modified-1"] - 2) < 0.3
    for r in comparison.runs:
        assert r.modified[1][-1] < 0.2 * r.distance[-1]  # the series explains the gap


def test_bound_closed_form():
    # lambda_min = -c constant, delta_j = d: B_k = d sum_{i<k} e^{c h i}
    c, h, d = 0.7, 0.1, 1e-3
    t = h * np.arange(6)
    got = numerics.elkabetz_cohen_bound(t, -c * np.ones(6), d * np.ones(5))
    want = [d * sum(np.exp(c * h * i) for i in range(k)) for k in range(6)]
    np.testing.assert_allclose(got, want, rtol=1e-13)
    # positive curvature: the theorem's lambda_- ignores it, the full form contracts
    pos = numerics.elkabetz_cohen_bound(t, c * np.ones(6), d * np.ones(5))
    np.testing.assert_allclose(pos, d * np.arange(6), rtol=1e-13)
    full = numerics.elkabetz_cohen_bound(t, c * np.ones(6), d * np.ones(5),
                                         negative_part=False)  # fmt: skip
    assert np.all(full[2:] < pos[2:])


def test_diverging_step_is_marked_not_plotted():
    loss = lambda x: 0.5 * jnp.sum(jnp.array([1.0, 50.0]) * x**2)  # noqa: E731
    res = numerics.gd_versus_flow(loss, jnp.array([1.0, 1.0]), [0.01, 0.1], 2.0,
                                  orders=(), eig_points=3)  # fmt: skip
    ok, bad = res.runs
    assert ok.diverged_at is None and bad.diverged_at is not None
    assert np.all(np.isnan(bad.distance[bad.diverged_at :]))
    assert isinstance(bad.to_json()["diverged_at"], int)
    assert bad.to_json()["distance_at_T"] is None  # never NaN as data
    assert np.isnan(res.slopes()["gradient-flow"])  # one usable step size: no slope


def test_bad_input_is_named():
    loss = lambda x: jnp.sum(x**2)  # noqa: E731
    with pytest.raises(DeriveError, match="whole number of steps"):
        numerics.gd_versus_flow(loss, jnp.ones(2), [0.3], 1.0)
    with pytest.raises(DeriveError, match="positive"):
        numerics.gd_versus_flow(loss, jnp.ones(2), [-0.1], 1.0)
    with pytest.raises(DeriveError, match="at least one point"):
        numerics.extreme_eigenvalues_along(loss, jnp.zeros((0, 2)))


def test_reproduction_names_bad_input_with_exit_status_2(tmp_path, capsys):
    from derive.cli import main

    argv = ["reproduce", "elkabetz-cohen", "--quick", "--out", str(tmp_path)]
    assert main([*argv, "--horizon", "1.03"]) == 2
    assert "not a whole number of steps" in capsys.readouterr().err
    assert main([*argv, "--step-sizes", "-0.1"]) == 2
    assert not any(tmp_path.iterdir())  # nothing written
