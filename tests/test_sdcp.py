"""The central flow's semidefinite complementarity problem against a brute-force solve.

For $k = 2$ the brute force enumerates the faces of the positive semidefinite cone
where a solution can lie (Cohen et al., ICLR 2025, section 3: $X \\succeq 0$,
$Y = \\alpha + \\beta[X] \\succeq 0$, $\\langle X, Y\\rangle = 0$): $X = 0$; $X$ of
full rank with $Y = 0$; or $X = s\\,vv^\\top$ of rank one, scanned over a fine grid
of unit vectors $v$ and refined, with the optimal $s \\ge 0$ in closed form. The
smallest objective $\\tfrac12\\langle X, \\beta[X]\\rangle + \\langle\\alpha, X\\rangle$
wins. For $k = 3, 4$ the Clarabel solution is checked against the optimality
conditions and against an independent local solve in Burer-Monteiro form
$X = LL^\\top$ (SciPy's BFGS from several starts).
"""

import numpy as np
import pytest
from scipy import optimize

import numerics
from numerics._sdcp import sdcp_residual


def _problem(k, seed):
    rng = np.random.default_rng(seed)
    m = k * (k + 1) // 2 + 2
    G = rng.normal(size=(m, k, k))
    G = 0.5 * (G + G.transpose(0, 2, 1))
    beta = np.einsum("aij,akl->ijkl", G, G)
    a = rng.normal(size=(k, k))
    return 0.5 * (a + a.T), beta


def _objective(alpha, beta, X):
    k = alpha.shape[0]
    bX = (beta.reshape(k * k, k * k) @ X.reshape(-1)).reshape(k, k)
    return 0.5 * np.sum(X * bX) + np.sum(alpha * X)


def _brute_force_2(alpha, beta):
    candidates = [np.zeros((2, 2))]
    B = beta.reshape(4, 4)
    # full rank with Y = 0: beta[X] = -alpha on symmetric matrices (3 unknowns)
    basis = [
        np.array([[1.0, 0], [0, 0]]),
        np.array([[0, 1.0], [1.0, 0]]),
        np.array([[0, 0], [0, 1.0]]),
    ]
    M = np.array(
        [
            [np.sum(Ei * (B @ Ej.reshape(-1)).reshape(2, 2)) for Ej in basis]
            for Ei in basis
        ]
    )
    rhs = np.array([-np.sum(Ei * alpha) for Ei in basis])
    if np.linalg.matrix_rank(M) == 3:
        c = np.linalg.solve(M, rhs)
        X = sum(ci * Ei for ci, Ei in zip(c, basis, strict=True))
        if np.linalg.eigvalsh(X)[0] >= 0:
            candidates.append(X)

    def rank_one(theta):
        v = np.array([np.cos(theta), np.sin(theta)])
        V = np.outer(v, v)
        q = np.sum(V * (B @ V.reshape(-1)).reshape(2, 2))
        a = np.sum(alpha * V)
        s = max(0.0, -a / q) if q > 0 else 0.0
        return s * V

    grid = np.linspace(0, np.pi, 20001)
    values = [_objective(alpha, beta, rank_one(t)) for t in grid]
    t0 = grid[int(np.argmin(values))]
    res = optimize.minimize_scalar(
        lambda t: _objective(alpha, beta, rank_one(t)),
        bounds=(t0 - 1e-3, t0 + 1e-3),
        method="bounded",
        options={"xatol": 1e-13},
    )
    candidates.append(rank_one(res.x))
    return min(candidates, key=lambda X: _objective(alpha, beta, X))


@pytest.mark.parametrize("seed", range(8))
def test_k2_against_brute_force(seed):
    alpha, beta = _problem(2, seed)
    X = numerics.semidefinite_complementarity(alpha, beta)
    ref = _brute_force_2(alpha, beta)
    assert abs(_objective(alpha, beta, X) - _objective(alpha, beta, ref)) <= 1e-9 * (
        1 + abs(_objective(alpha, beta, ref))
    )
    np.testing.assert_allclose(X, ref, atol=1e-6 * (1 + np.abs(ref).max()))
    # the quantity the flow uses, Y = alpha + beta[X], is better determined than X
    Y, Y_ref = sdcp_residual(alpha, beta, X)["Y"], sdcp_residual(alpha, beta, ref)["Y"]
    np.testing.assert_allclose(Y, Y_ref, atol=1e-6 * (1 + np.abs(alpha).max()))


@pytest.mark.parametrize("k", [3, 4])
def test_larger_k_satisfies_complementarity(k):
    for seed in range(3):
        alpha, beta = _problem(k, 10 + seed)
        X = numerics.semidefinite_complementarity(alpha, beta)
        r = sdcp_residual(alpha, beta, X)
        assert r["x_min_eig"] >= -1e-10 and r["y_min_eig"] >= -1e-9
        assert abs(r["gap"]) <= 1e-9

        def f(entries, alpha=alpha, beta=beta):
            L = np.tril(entries.reshape(k, k))
            return _objective(alpha, beta, L @ L.T)

        rng = np.random.default_rng(seed)
        best = min(
            (
                optimize.minimize(
                    f, rng.normal(size=k * k), method="BFGS", options={"gtol": 1e-12}
                )
                for _ in range(4)
            ),
            key=lambda r: r.fun,
        )
        assert _objective(alpha, beta, X) <= best.fun + 1e-9 * (1 + abs(best.fun))


def test_closed_forms_and_failure():
    beta = np.array([[[[2.0]]]])
    assert numerics.semidefinite_complementarity(np.array([[-3.0]]), beta)[0, 0] == 1.5
    assert numerics.semidefinite_complementarity(np.array([[3.0]]), beta)[0, 0] == 0.0
    alpha, beta = _problem(3, 0)
    psd = alpha @ alpha.T
    assert not numerics.semidefinite_complementarity(psd, beta).any()
    # unbounded (Clarabel: dual infeasible): a direction with <alpha, X> < 0 that
    # beta does not see
    flat = np.zeros((2, 2, 2, 2))
    flat[1, 1, 1, 1] = 1.0
    X = numerics.semidefinite_complementarity(np.diag([-1.0, -1.0]), flat)
    assert np.isnan(X).all()
