"""Curvature diagnostics against dense linear algebra on a small network.

Reference values: `numpy.linalg.eigh` of the dense Hessian (`jax.hessian`) of the same
loss, and of $P^{-1/2} H P^{-1/2}$ for the generalised problem; eigenvalue gradients
against central finite differences of the dense top eigenvalue.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import numerics
from derive import DeriveError
from numerics.networks import get_model


@pytest.fixture(scope="module")
def network():
    model = get_model("digits-mlp", hidden=(3,), n=24, data_loss="mse")
    params = model.init(jax.random.PRNGKey(0))
    flat, unravel = ravel_pytree(params)

    def f(z):
        return model.loss(unravel(z))

    H = np.asarray(jax.hessian(f)(flat))
    return model.loss, params, flat, unravel, f, 0.5 * (H + H.T)


def test_top_eigenpairs_match_dense_eigh(network):
    loss, params, flat, unravel, f, H = network
    assert flat.size == 235
    vals, vecs = np.linalg.eigh(H)
    pairs = numerics.hessian_eigenpairs(loss, params, k=3, method="lobpcg")
    assert pairs.iterations > 0 and bool(np.all(pairs.converged))
    np.testing.assert_allclose(pairs.values, vals[::-1][:3], rtol=1e-8)
    U = np.asarray(jax.vmap(lambda t: ravel_pytree(t)[0])(pairs.vectors)).T
    for i in range(3):  # same eigenvector up to sign
        ref = vecs[:, -1 - i]
        assert abs(abs(U[:, i] @ ref) - 1) < 1e-8
    assert abs(numerics.sharpness(loss, params) - vals[-1]) <= 1e-8 * vals[-1]


def test_warm_start_converges_in_fewer_iterations(network):
    loss, params, flat, unravel, f, H = network
    cold = numerics.hessian_eigenpairs(loss, params, k=2)
    moved = unravel(flat + 1e-3 * jnp.sin(jnp.arange(flat.size)))
    warm = numerics.hessian_eigenpairs(loss, moved, k=2, vectors=cold.vectors)
    fresh = numerics.hessian_eigenpairs(loss, moved, k=2)
    np.testing.assert_allclose(warm.values, fresh.values, rtol=1e-8)
    assert warm.iterations < fresh.iterations


def test_generalised_eigenpairs_match_dense(network):
    """H u = lambda P u for a diagonal P: eigh of P^{-1/2} H P^{-1/2}; u^T P u = 1."""
    loss, params, flat, unravel, f, H = network
    p = 0.5 + np.abs(np.cos(np.arange(flat.size)))
    B = H / np.sqrt(p)[:, None] / np.sqrt(p)[None, :]
    ref = np.linalg.eigvalsh(B)[::-1][:2]
    P = unravel(jnp.asarray(p))
    pairs = numerics.hessian_eigenpairs(loss, params, k=2, preconditioner=P)
    np.testing.assert_allclose(pairs.values, ref, rtol=1e-8)
    U = np.asarray(jax.vmap(lambda t: ravel_pytree(t)[0])(pairs.vectors)).T
    np.testing.assert_allclose(U.T @ (p[:, None] * U), np.eye(2), atol=1e-8)
    np.testing.assert_allclose(H @ U, p[:, None] * U * ref[None, :], atol=1e-7)
    top = numerics.preconditioned_sharpness(loss, params, P)
    assert abs(top - ref[0]) <= 1e-8 * ref[0]


def test_min_eigenvalue_and_dense_fallback(network):
    loss, params, flat, unravel, f, H = network
    lo = np.linalg.eigvalsh(H)[0]
    assert abs(numerics.min_hessian_eigenvalue(loss, params) - lo) <= 1e-8 * abs(lo)
    small = numerics.hessian_eigenpairs(
        lambda x: x[0] ** 2 * x[1] + x[1] ** 2, jnp.array([1.0, 0.5]), k=2
    )
    assert small.iterations == 0  # dense: 5k >= n
    np.testing.assert_allclose(
        small.values, np.linalg.eigvalsh([[1.0, 2.0], [2.0, 2.0]])[::-1], rtol=1e-12
    )


def test_eigenvalue_gradient_is_gradient_of_sharpness(network):
    """Hellmann-Feynman: grad lambda_1 = D^3 f[u, u, .] for the unit top eigenvector,
    against central differences of the dense top eigenvalue along two directions."""
    loss, params, flat, unravel, f, H = network
    pairs = numerics.hessian_eigenpairs(loss, params, k=1)
    u = jax.tree_util.tree_map(lambda a: a[0], pairs.vectors)
    grad = ravel_pytree(numerics.eigenvalue_gradient(loss, params, u))[0]
    top = jax.jit(lambda z: jnp.linalg.eigvalsh(jax.hessian(f)(z))[-1])
    for seed in (1,):
        d = jax.random.normal(jax.random.PRNGKey(seed), flat.shape)
        d = d / jnp.linalg.norm(d)
        eps = 1e-5
        fd = (top(flat + eps * d) - top(flat - eps * d)) / (2 * eps)
        assert abs(float(grad @ d) - float(fd)) <= 1e-6 * (1 + abs(float(fd)))


def test_bad_input_is_named(network):
    loss, params, flat, unravel, f, H = network
    with pytest.raises(DeriveError, match="no eigenvalue converged"):
        numerics.hessian_eigenpairs(loss, params, k=2, iterations=1, tol=1e-14)
    with pytest.raises(DeriveError, match="positive"):
        numerics.hessian_eigenpairs(loss, params, preconditioner=-1.0)
    with pytest.raises(DeriveError, match="require="):  # was silently ignored
        numerics.hessian_eigenpairs(loss, params, require="every")
