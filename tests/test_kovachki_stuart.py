"""Kovachki & Stuart's three results, measured (numerics, JAX in float64).

Kovachki & Stuart, *Continuous time analysis of momentum methods*, JMLR 22 (2021),
for heavy ball (HB) and Nesterov (NAG) with fixed momentum beta:
(i) the time-rescaled gradient flow x' = -grad f/(1-beta) has error O(h): slope 1;
(ii) the first-order modified equation and the second-order equation
     h(1+beta)/2 x'' + (1-beta) x' [+ h beta H x'] + grad f = 0 have error O(h^2):
     slope 2 (the order-2 second-order equation from derive: slope 3);
(iii) the invariant manifold attracts at the parasitic root beta per step.

Setting: the double-well loss (x^2 - 1)^2 + (y - x^2/2)^2 from (0.1, -0.4), which
crosses negative curvature; beta = 1/2, T = 1/2 (gradient-flow time 1). The step
sizes h = T/N, N = 1448..4096, are in the asymptotic regime h L kappa < 0.025
(L = 8.2, kappa = 8.8: see numerics.verify); larger h are pre-asymptotic for the
second-order equation, whose h^2 error coefficient is small on this problem.
"""

import numpy as np
import pytest

import derive
import numerics
from numerics import ManifoldStart, attraction, equation_errors

LOSS = numerics.get_loss("double-well")
T = 0.5
HS = [T / n for n in (1448, 2048, 2896, 4096)]


@pytest.mark.parametrize("factory", [derive.heavy_ball, derive.nesterov])
def test_attraction_rate_is_beta(factory):
    """(iii): from rest (x_prev = x0) the distance to the manifold shrinks by beta = 1/2
    per step, within 5% (measured: within 0.5% at h = 1e-3)."""
    res = attraction(factory(0.5), LOSS, h=1e-3)
    assert res.predicted == 0.5
    assert res.relative_error < 0.05, (res.measured, res.window)
    assert res.window[1] - res.window[0] >= 8
    assert abs(res.measured_rate / res.predicted_rate - 1) < 0.05


def test_attraction_of_an_ema_state():
    """An EMA of gradients (QHM, beta = 0.8, nu = 0.7): parasitic root 0.8 (derive),
    measured within 5%."""

    def qhm(x, d, *, grad, h, beta, nu):
        d_new = beta * d + (1 - beta) * grad(x)
        return x - h * ((1 - nu) * grad(x) + nu * d_new), d_new

    res = attraction(derive.trace(qhm, beta=0.8, nu=0.7), LOSS, h=1e-3)
    assert res.predicted == pytest.approx(0.8)
    assert res.relative_error < 0.05


@pytest.mark.slow
def test_started_on_the_manifold_it_stays_there():
    """Invariance: started on the manifold (trees with up to 6 nodes), the distance
    stays at the floor of the series' truncation, far below the O(h) offset of a start
    at rest."""
    rec = derive.heavy_ball(0.5)
    x0 = np.asarray(LOSS.start)
    on = ManifoldStart(rec, 6, optimal_truncation=False)(LOSS, x0, 1e-3)
    res = attraction(rec, LOSS, h=1e-3, init=on, n_steps=50)
    rest = attraction(rec, LOSS, h=1e-3, n_steps=50)
    assert res.distances.max() < 1e-9
    assert rest.distances[0] > 1e-3


@pytest.mark.slow
def test_heavy_ball_slopes():
    """(i) slope 1, (ii) slopes 2 and 2, and the order-2 second-order equation slope 3;
    a second-order equation started at rest (x'(0) = 0) instead of on its slow
    manifold keeps an O(h) offset: slope 1 (see numerics._high_resolution)."""
    rec = derive.heavy_ball(0.5)
    ode1 = derive.high_resolution_ode(rec, 1)
    eqs = [
        derive.modified_flow(rec, 0),
        derive.modified_flow(rec, 1),
        ode1,
        derive.high_resolution_ode(rec, 2),
        ode1,
    ]
    res = equation_errors(
        rec,
        eqs,
        LOSS,
        HS,
        T,
        expected=[1, 2, 2, 3, 1],
        velocity=["slow"] * 4 + ["rest"],
    )
    assert all(res.passed), res.table()
    errors = np.asarray(res.errors)
    assert np.all(errors[2] < 0.1 * errors[4])  # the consistent start matters


@pytest.mark.slow
def test_nesterov_slopes():
    """(i) and (ii) for Nesterov, whose second-order equation has the Hessian damping
    h beta H(x) x'."""
    rec = derive.nesterov(0.5)
    eqs = [
        derive.modified_flow(rec, 0),
        derive.modified_flow(rec, 1),
        derive.high_resolution_ode(rec, 1),
    ]
    res = equation_errors(rec, eqs, LOSS, HS, T)
    assert all(res.passed), res.table()
    assert res.expected == [1, 2, 2]


def test_small_network_rows():
    """The small network (teacher-student tanh MLP, 13 parameters), as in
    `reproduce_kovachki_stuart(quick=True)`: (i) slope 1, (ii) slopes 2 and 2, and
    (iii) the rate beta = 1/2 per step, for heavy ball and Nesterov; slopes within 0.2,
    rates within 5%."""
    from numerics.reproductions._kovachki_stuart import _kappa, _network_part

    methods = {"heavy ball": derive.heavy_ball(0.5), "Nesterov": derive.nesterov(0.5)}
    kappa = max(_kappa(derive.modified_flow(r, 3), {}) for r in methods.values())
    rows, errors, att, settings = _network_part(
        methods, 0.5, kappa, True, lambda message: None
    )
    assert settings["n_params"] == 13
    assert len(rows) == 8
    assert all(r["result"].startswith("network: ") for r in rows)
    assert all(r["passed"] for r in rows), rows
    for name in methods:
        res = errors[name]
        assert res.expected == [1, 2, 2]
        for slope, e in zip(res.slopes, res.expected, strict=True):
            assert abs(slope - e) <= 0.2, res.table()
        assert att[name].predicted == 0.5
        assert att[name].relative_error < 0.05, (att[name].measured, att[name].window)
