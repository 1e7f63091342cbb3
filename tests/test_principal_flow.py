"""Principal flows against the engine's modified flows and against closed forms.

The Taylor series of $\\log r(z)$ (the principal root of the characteristic
polynomial, derived from the recurrence) must reproduce the coefficients of the chain
trees $h^k (g')^k g$ of `derive.modified_flow` (a B-series computation that never
forms a characteristic polynomial): the two routes are independent. Closed forms:
gradient descent $r = 1 - z$ (Rosca et al., TMLR 2023); heavy ball $r = (1 + \\beta -
z + \\sqrt{(1+\\beta-z)^2 - 4\\beta})/2$ (Cattaneo & Shigida, arXiv 2509.08483), whose
radius of convergence is $(1-\\sqrt\\beta)^2$ (where the two roots collide).
"""

import math

import numpy as np
import pytest
import sympy

import derive


def qhm(x, d, *, grad, h, beta, nu):
    d_new = beta * d + (1 - beta) * grad(x)
    return x - h * ((1 - nu) * grad(x) + nu * d_new), d_new


def chain(k: int) -> str:
    return "[" * (k + 1) + "]" * (k + 1)


@pytest.mark.parametrize(
    "rec, order",
    [
        (derive.gd(), 6),
        (derive.heavy_ball(), 4),
        (derive.nesterov(), 3),
        (derive.optimizer(qhm), 3),
        (derive.runge_kutta([[0, 0], ["1/2", 0]], [0, 1], name="midpoint"), 5),
    ],
    ids=["gd", "heavy-ball", "nesterov", "qhm", "rk-midpoint"],
)
def test_series_equals_modified_flow_chain_terms(rec, order):
    pf = derive.principal_flow(rec, order)
    flow = derive.modified_flow(rec, order)
    engine = {t.tree: flow.field.to_sympy(t.coefficient) for t in flow.terms}
    for k, c in enumerate(pf.chain_coefficients()):
        ref = engine.get(chain(k), 0)  # the engine omits zero terms
        assert sympy.simplify(c - ref) == 0, (k, c, ref)


def test_closed_forms_and_radius():
    z, beta = sympy.symbols("z beta")
    gd = derive.principal_flow(derive.gd(), 2)
    assert sympy.simplify(gd.root - (1 - z)) == 0 and gd.radius == 1.0
    assert sympy.simplify(gd.function - sympy.log(1 - z) / z) == 0
    hb = derive.principal_flow(derive.heavy_ball(), 2)
    ref = (1 + beta - z + sympy.sqrt((1 + beta - z) ** 2 - 4 * beta)) / 2
    for b, zz in [(0.5, 0.01), (0.9, 0.001), (0.3, 0.2)]:
        got = complex(hb.root.subs({beta: b, z: zz}))
        assert abs(got - complex(ref.subs({beta: b, z: zz}))) < 1e-12
    b = 0.9
    hb9 = derive.principal_flow(derive.heavy_ball(b), 2)
    assert abs(hb9.radius - (1 - math.sqrt(b)) ** 2) < 1e-9


def test_numeric_rate_and_complex_regime():
    gd = derive.principal_flow(derive.gd(), 2)
    zs = np.array([-0.5, 0.0, 0.3, 0.9, 1.2])
    rate = gd.rate(zs)
    np.testing.assert_allclose(
        rate[:4],
        [np.log(1.5) / -0.5, -1.0, np.log(0.7) / 0.3, np.log(0.1) / 0.9],
        rtol=1e-12,
    )
    assert np.isnan(rate[4])  # h lambda > 1: r = 1 - z < 0, the iterates flip sign
    hb = derive.principal_flow(derive.heavy_ball(0.9), 1)
    r = hb.rate([0.001, 0.01])
    assert np.isfinite(r[0]) and np.isnan(r[1])  # beyond (1 - sqrt(0.9))^2: complex


def test_bad_input():
    def inconsistent(x, *, grad, h):
        return 2 * x - h * grad(x)

    with pytest.raises(derive.DeriveError, match="simple root"):
        derive.principal_flow(inconsistent, 1)
