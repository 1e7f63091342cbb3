"""User-defined optimizers written as plain Python functions.

- Extragradient (Korpelevich 1976), x+ = x - h grad f(x - h grad f(x)): its modified flow
  through order 3 is checked against a DIRECT Taylor expansion, derived in this test, of
  the one-step map and of the time-h flow of the modified field (Lie series) through h^4.
- Quasi-hyperbolic momentum (QHM; Ma & Yarats, ICLR 2019): with nu = 1 it is the EMA
  form of heavy ball, x_{n+1} = x_n + beta (x_n - x_{n-1}) - h (1 - beta) grad f(x_n)
  (eliminate d_n = (x_{n-1} - x_n)/h), i.e. heavy ball with step h (1 - beta); in time
  t = n h the h^k term of heavy ball's flow (in its own step) is therefore scaled by
  (1 - beta)^(k+1). With nu = 0 the position update is gradient descent.
- PyTorch's momentum, v+ = beta v + grad f(x), x+ = x - h v+, is heavy ball with the same
  h (DESIGN, "The mathematics"; eliminate v_n = (x_{n-1} - x_n)/h).
- Momentum methods (heavy ball, Nesterov, QHM) checked directly on the slow manifold:
  one step of the update, run on truncated Taylor series from the states of
  `manifold_states`, must equal the time-h flow of the modified field and return to the
  manifold (HLW ch. XV; Kovachki & Stuart, JMLR 2021), derived in this test.
- The numerical order test (as in test_numerical_order.py) for QHM started with d on the
  slow manifold.
- GD with a symbolic step multiplier c h and with the non-homogeneous step h + h^2,
  against GD's own terms after the time change (derived in this test).
"""

import numpy as np
import pytest
import sympy

from derive import gd, heavy_ball, modified_flow, nesterov, trace
from derive._flow import manifold_states
from test_numerical_order import LOSS as ORDER_TEST_LOSS
from test_numerical_order import global_errors

x, y, h, beta = sympy.symbols("x y h beta")
VARS = (x, y)


def qhm(x, d, *, grad, h, beta, nu):
    d_new = beta * d + (1 - beta) * grad(x)
    return x - h * ((1 - nu) * grad(x) + nu * d_new), d_new


def eg(x, *, grad, h):
    y = x - h * grad(x)
    return x - h * grad(y)


def torch_momentum(x, v, *, grad, h, beta):
    v_new = beta * v + grad(x)
    return x - h * v_new, v_new


def coefficients(flow):
    return {(t.power, t.tree): t.sympy for t in flow.terms}


# --------------------------------------------------------------------------- extragradient
# Exact arithmetic in the polynomial ring Q[h, x, y, S, C, u1, u2] with S = sin(y),
# C = cos(y) (d/dy S = C, d/dy C = -S) and u a constant direction; results are compared
# modulo S^2 + C^2 - 1.

EG_LOSS = x**4 / 4 + x * y**2 + sympy.sin(y)
DEG = 4  # compare through h^4
S, C, u1, u2 = sympy.symbols("S C u1 u2")
GENS = (h, x, y, S, C, u1, u2)


def ring(expr):
    e = sympy.expand(expr).xreplace({sympy.sin(y): S, sympy.cos(y): C})
    return sympy.Poly(e, *GENS, domain="QQ")


def d_dx(p):
    return p.diff(x)


def d_dy(p):
    return p.diff(y) + p.diff(S) * ring(C) - p.diff(C) * ring(S)


def truncate(p, deg=DEG):
    kept = {m: c for m, c in p.terms() if m[0] <= deg}
    return sympy.Poly.from_dict(kept or {(0,) * len(GENS): 0}, *GENS, domain="QQ")


def normal_form(p):
    """p modulo S^2 + C^2 - 1 (C^2 -> 1 - S^2), as an expanded expression."""
    _, r = sympy.reduced(
        p.as_expr(), [C**2 + S**2 - 1], C, S, h, x, y, u1, u2, domain="QQ"
    )
    return sympy.expand(r)


def extragradient_taylor():
    """Phi_h(x) = x - h grad f(x + h u) with u = -grad f(x): expand
    grad f(x + h u) = sum_k h^k/k! (u . nabla)^k grad f(x) with u held constant (exact
    through the order kept), then substitute u. Derived in this test."""
    grad = [ring(sympy.diff(EG_LOSS, v)) for v in VARS]
    sub = {u1: -grad[0].as_expr(), u2: -grad[1].as_expr()}
    out = []
    for v, gi in zip(VARS, grad, strict=True):
        total, term = ring(0), gi
        for k in range(DEG):
            total += term * ring(h**k / sympy.factorial(k))
            term = d_dx(term) * ring(u1) + d_dy(term) * ring(u2)
        total = ring(total.as_expr().xreplace(sub))
        out.append(truncate(ring(v) - ring(h) * total))
    return out


def lie_series_time_h(field):
    """Time-h flow of x' = X_h(x): x + sum_j h^j/j! D^j x, D w = w' X_h, truncated at
    h^DEG (X_h itself depends on h; the Lie series holds for any fixed h)."""
    X = [truncate(ring(c)) for c in field]
    term = [ring(v) for v in VARS]
    total = list(term)
    for j in range(1, DEG + 1):
        term = [truncate(d_dx(w) * X[0] + d_dy(w) * X[1], DEG - j) for w in term]
        total = [
            a + b * ring(h**j / sympy.factorial(j))
            for a, b in zip(total, term, strict=True)
        ]
    return [truncate(a) for a in total]


def h_part(p, k):
    return sympy.Poly.from_dict(
        {m: c for m, c in p.terms() if m[0] == k} or {(0,) * len(GENS): 0},
        *GENS,
        domain="QQ",
    )


def test_extragradient_flow_against_direct_taylor_expansion():
    flow = modified_flow(eg, 3)
    field = flow.on(EG_LOSS, list(VARS)).components
    direct = extragradient_taylor()
    via_flow = lie_series_time_h(field)
    for i in range(2):
        for k in range(DEG + 1):
            diff = normal_form(h_part(direct[i], k) - h_part(via_flow[i], k))
            assert diff == 0, f"component {i}, h^{k}: {diff}"


def test_extragradient_flow_truncated_at_order_two_misses_h4():
    """Control: with the order-2 flow the h^4 coefficient no longer matches (while
    h^0..h^3 still do), so the comparison above does test the h^3 terms."""
    field = modified_flow(eg, 2).on(EG_LOSS, list(VARS)).components
    direct = extragradient_taylor()
    via_flow = lie_series_time_h(field)
    diffs = [
        [
            normal_form(h_part(direct[i], k) - h_part(via_flow[i], k))
            for k in range(DEG + 1)
        ]
        for i in range(2)
    ]
    assert all(d[k] == 0 for d in diffs for k in range(DEG))
    assert any(d[DEG] != 0 for d in diffs)


def test_extragradient_first_order_by_hand():
    """Phi_h = x + h g + h^2 g'g + O(h^3), so the modified field is
    g + h (1 - 1/2) g'g = g + h/2 g'g (HLW section IX.1: b = a - 1/gamma at the first
    correction), opposite in sign to GD's -h/2 g'g."""
    c = coefficients(modified_flow(eg, 1))
    assert c == {(0, "[]"): 1, (1, "[[]]"): sympy.Rational(1, 2)}


# --------------------------------------------------------------------------- on the manifold
# One step of a momentum method, run symbolically in the ring above from the states that
# `manifold_states` gives, must land on the time-h flow of the modified field and back
# on the manifold. Derived in this test: the step functions below are plain Python run on
# truncated series; grad f and the state formulas are evaluated at shifted points by
# Taylor expansion (u . nabla)^k / k! with u = (shifted point - x).


def hb_step(x, x_prev, *, grad, h, beta):
    return x + beta * (x - x_prev) - h * grad(x)


def nag_step(x, x_prev, *, grad, h, beta):
    z = x + beta * (x - x_prev)
    return z - h * grad(z)


class SeriesVector:
    """A point whose coordinates are ring elements truncated at h^DEG."""

    def __init__(self, comps):
        self.comps = [truncate(c) for c in comps]

    def __add__(self, other):
        return SeriesVector(
            [a + b for a, b in zip(self.comps, other.comps, strict=True)]
        )

    def __sub__(self, other):
        return SeriesVector(
            [a - b for a, b in zip(self.comps, other.comps, strict=True)]
        )

    def __mul__(self, scalar):
        s = ring(scalar)
        return SeriesVector([a * s for a in self.comps])

    __rmul__ = __mul__


def taylor_terms(component, deg=DEG):
    """[(u . nabla)^k c / k!], k = 0..deg; the k-th truncated at h^(deg-k) since it
    will multiply u^k = O(h^k)."""
    terms = [truncate(component, deg)]
    for k in range(1, deg + 1):
        prev = terms[-1]
        nxt = (d_dx(prev) * ring(u1) + d_dy(prev) * ring(u2)) * ring(
            sympy.Rational(1, k)
        )
        terms.append(truncate(nxt, deg - k))
    return terms


def evaluate_shifted(terms, point, deg=DEG):
    """The component at `point` = x + O(h): sum_k terms[k] with u = point - x."""
    delta = [truncate(p - ring(v), deg) for p, v in zip(point, VARS, strict=True)]
    for d in delta:
        assert all(m[0] >= 1 for m, _ in d.terms() if d != 0), "point is not x + O(h)"
    powers = [[ring(1)], [ring(1)]]

    def power(i, a):
        while len(powers[i]) <= a:
            powers[i].append(truncate(powers[i][-1] * delta[i], deg))
        return powers[i][a]

    total = ring(0)
    for t in terms:
        groups = {}
        for m, c in t.terms():
            groups.setdefault((m[5], m[6]), {})[(*m[:5], 0, 0)] = c
        for (a, b), coeffs in groups.items():
            c = sympy.Poly.from_dict(coeffs, *GENS, domain="QQ")
            total += truncate(c * truncate(power(0, a) * power(1, b), deg), deg)
    return truncate(total, deg)


GRAD_TAYLOR = [taylor_terms(ring(sympy.diff(EG_LOSS, v))) for v in VARS]


def symbolic_grad(point):
    return SeriesVector([evaluate_shifted(t, point.comps) for t in GRAD_TAYLOR])


def assert_through(lhs, rhs, upto, what):
    for i in range(2):
        for k in range(upto + 1):
            diff = normal_form(h_part(lhs[i], k) - h_part(rhs[i], k))
            assert diff == 0, f"{what}, component {i}, h^{k}: {diff}"


MOMENTUM = {
    "heavy-ball": (hb_step, lambda: heavy_ball(0.5), {"beta": sympy.Rational(1, 2)}),
    "nesterov": (nag_step, lambda: nesterov(0.5), {"beta": sympy.Rational(1, 2)}),
    "qhm": (
        qhm,
        lambda: trace(qhm, beta=0.5, nu=0.7),
        {"beta": sympy.Rational(1, 2), "nu": sympy.Rational(7, 10)},
    ),
}


@pytest.mark.slow  # 3-5 s of CPU each (symbolic Taylor series with sin/cos)
@pytest.mark.parametrize("name", list(MOMENTUM))
def test_one_step_from_the_manifold_follows_the_flow(name):
    """From (x, Psi(x)) one step gives x+ = Phi_h(x) + O(h^(p+2)), Phi_h the time-h
    flow of the order-p field; the other state comes back on the manifold:
    Psi(Phi_h(x)) (x_prev: x itself, accurate to O(h^(p+2)); qhm's d = O(1) state,
    one power less: O(h^(p+1)), see `manifold_states`)."""
    step, factory, params = MOMENTUM[name]
    p = DEG - 1
    flow = modified_flow(factory(), p)
    phi = lie_series_time_h(flow.on(EG_LOSS, list(VARS)).components)
    state_name = flow.recurrence.states[1]
    psi = manifold_states(flow, EG_LOSS, list(VARS))[state_name]
    psi = [ring(c) for c in psi]
    X = SeriesVector([ring(v) for v in VARS])
    out = step(X, SeriesVector(psi), grad=symbolic_grad, h=h, **params)
    if isinstance(out, tuple):
        x_new, other_new = out
        other_new = other_new.comps
        upto_other = p
    else:
        x_new, other_new = out, X.comps  # multi-step form: the new x_prev is x
        upto_other = p + 1
    assert_through(x_new.comps, phi, p + 1, f"{name}: x+ vs the flow")
    psi_at_phi = [evaluate_shifted(taylor_terms(c), phi) for c in psi]
    assert_through(
        other_new, psi_at_phi, upto_other, f"{name}: {state_name}+ on the manifold"
    )


# --------------------------------------------------------------------------- QHM identities


def test_qhm_nu_one_is_heavy_ball_with_step_h_times_one_minus_beta():
    order = 3
    q = coefficients(modified_flow(qhm, order, nu=1))
    hb = coefficients(modified_flow(heavy_ball(), order))
    assert set(q) == set(hb)
    for (k, tree), c in hb.items():
        expected = c * (1 - beta) ** (k + 1)
        assert sympy.cancel(q[(k, tree)] - expected) == 0, (k, tree)


def test_qhm_nu_one_numeric_beta():
    order = 3
    q = coefficients(modified_flow(qhm, order, beta=0.9, nu=1))
    hb = coefficients(modified_flow(heavy_ball(0.9), order))
    assert set(q) == set(hb)
    for (k, tree), c in hb.items():
        assert q[(k, tree)] == c * sympy.Rational(1, 10) ** (k + 1), (k, tree)


def test_qhm_nu_zero_is_gd():
    gd_terms = coefficients(modified_flow(gd(), 3))
    assert coefficients(modified_flow(qhm, 3, nu=0)) == gd_terms
    q = coefficients(modified_flow(qhm, 3, beta=0.5, nu=0))
    assert q == gd_terms


def test_pytorch_momentum_is_heavy_ball():
    order = 3
    got = coefficients(modified_flow(torch_momentum, order))
    hb = coefficients(modified_flow(heavy_ball(), order))
    assert set(got) == set(hb)
    for key, c in hb.items():
        assert sympy.cancel(got[key] - c) == 0, key


# --------------------------------------------------------------------------- numerical order

LOSS = ORDER_TEST_LOSS  # the loss, start and horizon of test_numerical_order.py
HS = [0.08, 0.04, 0.02, 0.01]


def qhm_errors(p, params):
    """max_n |x_n - x(n h)| for QHM started with d on the slow manifold, by the same
    routine as the built-ins' order test (on the same loss, start and horizon)."""
    return global_errors(trace(qhm, **params), p, HS)


@pytest.mark.parametrize("p", [0, 1, 2, 3])
def test_qhm_observed_order(p):
    """Slope p + 1 within 0.2 (same argument as test_numerical_order.py)."""
    errors = qhm_errors(p, {"beta": 0.5, "nu": 0.7})
    assert min(errors) > 1e-12
    slope = float(np.polyfit(np.log(HS), np.log(errors), 1)[0])
    table = "\n".join(
        f"  h={hv:.3f}  error={e:.3e}" for hv, e in zip(HS, errors, strict=True)
    )
    assert abs(slope - (p + 1)) < 0.2, f"QHM order {p}: slope {slope:.3f}\n{table}"


def test_qhm_manifold_state_is_the_gradient_to_leading_order():
    """On the slow manifold d = EMA of gradients = grad f(x) + O(h) (d is a fixed point
    of d = beta d + (1 - beta) grad f(x) as h -> 0)."""
    flow = modified_flow(qhm, 1, beta=0.5, nu=0.7)
    d = manifold_states(flow, LOSS, list(VARS))["d"]
    for di, v in zip(d, VARS, strict=True):
        assert sympy.cancel(sympy.expand(di).coeff(h, 0) - sympy.diff(LOSS, v)) == 0


# --------------------------------------------------------------------------- rescaled GD
# GD with step eta: x_{n+1} = x_n + eta g(x_n) follows sum_k eta^k F_k in its own time
# n eta, where F_k are GD's terms; in time t = n h the field is (eta/h) sum_k eta^k F_k
# (derived in this test from the time change).


def scaled_gd(x, *, grad, h, c):
    return x - c * h * grad(x)


def polynomial_step_gd(x, *, grad, h):
    return x - (h + h**2) * grad(x)


def test_symbolic_step_multiplier():
    """eta = c h: the h^k term is c^(k+1) times GD's."""
    c = sympy.Symbol("c")
    got = coefficients(modified_flow(scaled_gd, 3))
    ref = coefficients(modified_flow(gd(), 3))
    assert set(got) == set(ref)
    for (k, tree), v in ref.items():
        assert sympy.cancel(got[(k, tree)] - v * c ** (k + 1)) == 0, (k, tree)


def test_non_homogeneous_step_size():
    """eta = h + h^2 (not homogeneous in h, so the engine expands rational functions of
    h): dx/dt = sum_k (1 + h)^(k+1) h^k F_k, re-expanded in powers of h through h^3."""
    order = 3
    flow = modified_flow(polynomial_step_gd, order)
    assert not flow.manifold.homogeneous
    ref = modified_flow(gd(), order).terms
    expected = {}
    for t in ref:
        series = sympy.expand((1 + h) ** (t.power + 1) * h**t.power * t.sympy)
        for k in range(order + 1):
            c = series.coeff(h, k)
            if c:
                expected[(k, t.tree)] = expected.get((k, t.tree), 0) + c
    assert coefficients(flow) == expected
