"""Higher orders against closed forms on quadratic losses.

On f = x^T A x / 2 every method here is a linear recurrence. Its iterates on the slow
manifold are x_{n+1} = R x_n with R the principal root (R -> I as h -> 0) of the
characteristic equation, so the exact modified flow is x' = (log R / h) x (DESIGN, "The
mathematics"; HLW ch. XV for the underlying one-step method of a multistep method):

- GD:       R = I - h A;
- HB:       R^2 - ((1 + beta) I - h A) R + beta I = 0;
- Nesterov: R^2 - (1 + beta)(I - h A) R + beta (I - h A) = 0.

The series of log R / h is derived in this test: the ansatz R = I + sum_k C_k h^k is put
into the characteristic equation and solved order by order (the coefficient of C_k at
order k is (1 - beta), the characteristic polynomial's derivative at 1), then
log R = sum_j (-1)^(j+1) (R - I)^j / j is expanded. Nothing here uses the B-series
engine; it is compared with `modified_flow(...).on(loss, variables)`.
"""

from fractions import Fraction

import pytest
import sympy

from derive import gd, heavy_ball, modified_flow, nesterov
from derive._concrete import ConcreteLoss

h, lam, beta, x, y = sympy.symbols("h lam beta x y")
ORDER = 4  # the flow through h^4; R through h^5

# --------------------------------------------------------------------------- series in h
# A matrix power series in h is a list [M_0, ..., M_K] of sympy matrices (1x1 for the
# scalar case).


def ser_mul(a, b, K):
    out = [sympy.zeros(*a[0].shape) for _ in range(K + 1)]
    for i, ai in enumerate(a):
        for j in range(K + 1 - i):
            out[i + j] += ai * b[j]
    return out


def ser_add(*terms):
    return [sum(ms[1:], ms[0]) for ms in zip(*terms, strict=True)]


def ser_scale(a, c):
    return [c * m for m in a]


def const(M, K):
    return [M] + [sympy.zeros(*M.shape) for _ in range(K)]


def linear(M0, M1, K):
    """M0 + h M1."""
    return [M0, M1] + [sympy.zeros(*M0.shape) for _ in range(K - 1)]


def principal_root(char_eq, dim, K):
    """Solve char_eq(R) = 0 for R = I + sum_{k=1}^K C_k h^k order by order.

    `char_eq(R, K)` returns the series of the characteristic equation; its coefficient
    of h^k is (1 - beta) C_k + (terms in C_1..C_{k-1})."""
    eye = sympy.eye(dim)
    R = const(eye, K)
    for k in range(1, K + 1):
        residual = char_eq(R, K)[k]  # with C_k = 0
        # coefficient of C_k at order k: found by probing with C_k = I
        probe = list(R)
        probe[k] = eye
        slope = char_eq(probe, K)[k] - residual
        assert (slope - slope[0, 0] * eye).applyfunc(sympy.cancel).is_zero_matrix
        c = sympy.cancel(slope[0, 0])
        assert sympy.cancel(c - (1 - beta)) == 0
        R[k] = (-residual / c).applyfunc(sympy.factor)
    assert all(sympy.cancel(e) == 0 for m in char_eq(R, K) for e in m)
    return R


def log_over_h(R, K):
    """Coefficients of h^0..h^(K-1) of log(R)/h for R = I + O(h)."""
    dim = R[0].shape[0]
    U = [sympy.zeros(dim, dim)] + list(R[1:])
    total = [sympy.zeros(dim, dim) for _ in range(K + 1)]
    power = const(sympy.eye(dim), K)
    for j in range(1, K + 1):
        power = ser_mul(power, U, K)
        total = ser_add(total, ser_scale(power, sympy.Rational((-1) ** (j + 1), j)))
    return [m.applyfunc(sympy.factor) for m in total[1:]]


def hb_equation(A):
    dim = A.shape[0]
    eye = sympy.eye(dim)

    def eq(R, K):
        return ser_add(
            ser_mul(R, R, K),
            ser_scale(ser_mul(linear((1 + beta) * eye, -A, K), R, K), -1),
            const(beta * eye, K),
        )

    return eq


def nesterov_equation(A):
    dim = A.shape[0]
    eye = sympy.eye(dim)

    def eq(R, K):
        contraction = linear(eye, -A, K)  # I - h A
        return ser_add(
            ser_mul(R, R, K),
            ser_scale(ser_mul(contraction, R, K), -(1 + beta)),
            ser_scale(contraction, beta),
        )

    return eq


def gd_root(A, K):
    return linear(sympy.eye(A.shape[0]), -A, K)


# --------------------------------------------------------------------------- engine side


def engine_rate_1d(optimizer, order=ORDER):
    """Coefficients of h^0..h^order of the engine's field on f = lam x^2/2, divided by x."""
    flow = modified_flow(optimizer, order)
    params = (*flow.recurrence.parameters, "lam")
    field = flow.on(ConcreteLoss(lam * x**2 / 2, [x], params), None)
    (comp,) = field.components
    rate = sympy.expand(comp / x)
    assert not rate.has(x), "the field on a quadratic must be linear in x"
    return [rate.coeff(h, k) for k in range(order + 1)]


def closed_form_rate_1d(method, K=ORDER + 1):
    A = sympy.Matrix([[lam]])
    if method == "gd":
        R = gd_root(A, K)
    elif method == "hb":
        R = principal_root(hb_equation(A), 1, K)
    else:
        R = principal_root(nesterov_equation(A), 1, K)
    return [m[0, 0] for m in log_over_h(R, K)]


def assert_rates(engine, closed, subs=None):
    for k, (e, c) in enumerate(zip(engine, closed, strict=True)):
        if subs:
            c = c.subs(subs)
        assert sympy.cancel(e - c) == 0, (
            f"h^{k}: engine {sympy.factor(e)} vs closed form {sympy.factor(c)}"
        )


# --------------------------------------------------------------------------- 1-D, symbolic


def test_gd_closed_form_by_hand():
    """log(1 - h lam)/h = -lam - h lam^2/2 - h^2 lam^3/3 - h^3 lam^4/4 - h^4 lam^5/5
    (the Mercator series), and the engine agrees through h^4."""
    closed = closed_form_rate_1d("gd")
    assert closed == [-(lam ** (k + 1)) / (k + 1) for k in range(ORDER + 1)]
    assert_rates(engine_rate_1d(gd()), closed)


def test_heavy_ball_closed_form_symbolic_beta():
    closed = closed_form_rate_1d("hb")
    # leading terms as published (Kovachki & Stuart 2021): -lam/(1-beta) and
    # -(1+beta)/(2(1-beta)^3) lam^2 (g'g = lam^2 x on this loss)
    assert sympy.cancel(closed[0] + lam / (1 - beta)) == 0
    assert sympy.cancel(closed[1] + (1 + beta) / (2 * (1 - beta) ** 3) * lam**2) == 0
    assert_rates(engine_rate_1d(heavy_ball()), closed)


def test_nesterov_closed_form_symbolic_beta():
    closed = closed_form_rate_1d("nag")
    assert (
        sympy.cancel(
            closed[1] + (1 - beta + 2 * beta**2) / (2 * (1 - beta) ** 3) * lam**2
        )
        == 0
    )
    assert_rates(engine_rate_1d(nesterov()), closed)


@pytest.mark.parametrize("value", [Fraction(1, 2), Fraction(9, 10)])
@pytest.mark.parametrize("method", ["hb", "nag"])
def test_momentum_closed_form_numeric_beta(method, value):
    opt = heavy_ball(value) if method == "hb" else nesterov(value)
    b = sympy.Rational(value.numerator, value.denominator)
    assert_rates(engine_rate_1d(opt), closed_form_rate_1d(method), subs={beta: b})


def test_closed_form_route_solves_the_characteristic_equation_numerically():
    """Sanity check of the route: at beta = 1/2, lam = 1 the truncated rate matches
    log(r)/h for the numerically computed principal root r of the HB equation, with an
    error that shrinks like h^5 (the first omitted power)."""
    import math

    closed = closed_form_rate_1d("hb")
    bv, lv = 0.5, 1.0
    coef = [float(c.subs({beta: bv, lam: lv})) for c in closed]

    def error(hv):
        rate = sum(c * hv**k for k, c in enumerate(coef))
        s = 1 + bv - hv * lv
        r = (s + math.sqrt(s * s - 4 * bv)) / 2  # the root near 1
        return abs(rate - math.log(r) / hv)

    assert error(1e-3) < 1e-9
    ratio = error(4e-3) / error(2e-3)
    assert 25 < ratio < 40, ratio  # 2^5 = 32


# --------------------------------------------------------------------------- 2-D, matrices

A2 = sympy.Matrix([[2, sympy.Rational(1, 2)], [sympy.Rational(1, 2), 1]])
V = sympy.Matrix([x, y])
LOSS2 = sympy.expand((V.T * A2 * V)[0, 0] / 2)


def engine_field_2d(optimizer, order):
    field = modified_flow(optimizer, order).on(LOSS2, [x, y])
    return [
        [sympy.expand(c).coeff(h, k) for c in field.components]
        for k in range(order + 1)
    ]


def closed_field_2d(R, order):
    logs = log_over_h(R, order + 1)
    return [list(logs[k] * V) for k in range(order + 1)]


def assert_fields(engine, closed):
    for k, (e, c) in enumerate(zip(engine, closed, strict=True)):
        for i, (ei, ci) in enumerate(zip(e, c, strict=True)):
            assert sympy.cancel(ei - ci) == 0, f"h^{k}, component {i}: {ei} vs {ci}"


def test_gd_matrix_logarithm():
    """GD: field = log(I - h A)/h x = -(A + h A^2/2 + h^2 A^3/3 + h^3 A^4/4) x."""
    order = 3
    closed = closed_field_2d(gd_root(A2, order + 1), order)
    by_hand = [list(-(A2 ** (k + 1)) / (k + 1) * V) for k in range(order + 1)]
    assert_fields(closed, by_hand)
    assert_fields(engine_field_2d(gd(), order), closed)


def test_heavy_ball_matrix_logarithm_symbolic_beta():
    order = 3
    R = principal_root(hb_equation(A2), 2, order + 1)
    assert_fields(engine_field_2d(heavy_ball(), order), closed_field_2d(R, order))


def test_nesterov_matrix_logarithm_symbolic_beta():
    order = 3
    R = principal_root(nesterov_equation(A2), 2, order + 1)
    assert_fields(engine_field_2d(nesterov(), order), closed_field_2d(R, order))


def test_heavy_ball_matrix_logarithm_numeric_beta():
    order = 3
    R = principal_root(hb_equation(A2), 2, order + 1)
    R = [m.subs(beta, sympy.Rational(9, 10)) for m in R]
    assert_fields(engine_field_2d(heavy_ball(0.9), order), closed_field_2d(R, order))


# --------------------------------------------------------------------------- the manifold
# On the slow manifold x_n = R x_{n-1}, so the previous iterate is x_prev = R^(-1) x.


def inverse_series(r, K):
    """1/r for the scalar series r = 1 + O(h), order by order."""
    inv = [sympy.Integer(1)] + [sympy.Integer(0)] * K
    for k in range(1, K + 1):
        inv[k] = sympy.cancel(-sum(r[j] * inv[k - j] for j in range(1, k + 1)))
    return inv


@pytest.mark.parametrize("method", ["hb", "nag"])
def test_manifold_previous_iterate_is_inverse_root(method):
    """`manifold_states(flow, ...)["x_prev"]` of the order-p flow equals R^(-1) x through
    h^(p+1) on f = 3 x^2/2, with symbolic beta."""
    from derive._flow import manifold_states

    order = 3
    lam0 = sympy.Integer(3)
    eq = hb_equation if method == "hb" else nesterov_equation
    R = principal_root(eq(sympy.Matrix([[lam0]])), 1, order + 1)
    expected = inverse_series([m[0, 0] for m in R], order + 1)
    opt = heavy_ball() if method == "hb" else nesterov()
    flow = modified_flow(opt, order)
    (prev,) = manifold_states(flow, lam0 * x**2 / 2, [x])["x_prev"]
    ratio = sympy.expand(prev / x)
    assert not ratio.has(x)
    for k in range(order + 2):
        got = ratio.coeff(h, k)
        assert sympy.cancel(got - expected[k]) == 0, f"h^{k}: {got} vs {expected[k]}"
