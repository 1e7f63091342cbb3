"""Modified flows and modified losses against published results.

Conventions of the project: g = -grad f, t = n h, F([]) = g, F([[]]) = g'g = H grad f,
and a `Term` is literally `coefficient * h**power * F(tree)`.

References:
- Hairer, Lubich & Wanner (HLW), *Geometric Numerical Integration*, 2nd ed. (2006),
  section IX.1: the modified equation of the explicit Euler method (= gradient descent)
  y' = g - h/2 g'g + h^2 (1/12 g''(g,g) + 1/3 g'g'g) + O(h^3).
- Barrett & Dherin, *Implicit Gradient Regularization*, ICLR 2021: GD follows the
  gradient flow of f + (h/4) |grad f|^2 to first order.
- Kovachki & Stuart, *Continuous time analysis of momentum methods*, JMLR 22 (2021), and
  Ghosh et al., *Implicit regularization in heavy-ball momentum accelerated SGD*, ICLR
  2023 (effective rate h/(1-beta)): heavy ball
  x' = -grad f/(1-beta) - h (1+beta)/(2(1-beta)^3) H grad f + O(h^2).
- Kovachki & Stuart (2021): Nesterov's first-order coefficient
  (1 - beta + 2 beta^2)/(2(1-beta)^3), i.e. x' = -grad f/(1-beta)
  - h (1 - beta + 2 beta^2)/(2(1-beta)^3) H grad f + O(h^2).
"""

from fractions import Fraction

import pytest
import sympy

import derive
from derive import gd, heavy_ball, modified_flow, nesterov

beta = sympy.Symbol("beta")
x, y = sympy.symbols("x y")


def coefficients(flow):
    """{(power, tree): SymPy coefficient} of the literal terms of a flow."""
    return {(t.power, t.tree): t.sympy for t in flow.terms}


def assert_coefficients(flow, expected, subs=None):
    got = coefficients(flow)
    assert set(got) == set(expected), (
        f"trees differ: {sorted(got)} vs {sorted(expected)}"
    )
    for key, value in expected.items():
        value = sympy.sympify(value)
        if subs is not None:
            value = value.subs(subs)
        assert sympy.cancel(got[key] - value) == 0, f"{key}: {got[key]} != {value}"


# --------------------------------------------------------------------------- GD


def test_gd_through_order_two_hlw_ix_1():
    """HLW section IX.1 (explicit Euler): g - h/2 g'g + h^2 (1/12 g''(g,g) + 1/3 g'g'g)."""
    flow = modified_flow(gd(), 2)
    assert_coefficients(
        flow,
        {
            (0, "[]"): 1,
            (1, "[[]]"): sympy.Rational(-1, 2),
            (2, "[[],[]]"): sympy.Rational(1, 12),
            (2, "[[[]]]"): sympy.Rational(1, 3),
        },
    )
    # exact rationals, not floats
    for t in flow.terms:
        assert isinstance(t.sympy, sympy.Rational)


def test_gd_text_shows_the_published_form():
    text = modified_flow(gd(), 2).text(header=False)
    assert "-1/2 g'g" in text
    assert "1/12 g''(g,g)" in text and "1/3 g'g'g" in text


# --------------------------------------------------------------------------- heavy ball

HB_FIRST = {
    (0, "[]"): 1 / (1 - beta),
    (1, "[[]]"): -(1 + beta) / (2 * (1 - beta) ** 3),
}
NAG_FIRST = {
    (0, "[]"): 1 / (1 - beta),
    (1, "[[]]"): -(1 - beta + 2 * beta**2) / (2 * (1 - beta) ** 3),
}


def test_heavy_ball_first_order_symbolic_beta():
    """Kovachki & Stuart (2021); Ghosh et al. (2023): rate 1/(1-beta) and the
    -(1+beta)/(2(1-beta)^3) g'g correction, with beta a symbol."""
    flow = modified_flow(heavy_ball(), 1)
    assert flow.recurrence.parameters == ("beta",)
    assert_coefficients(flow, HB_FIRST)


@pytest.mark.parametrize(
    "value", [Fraction(1, 2), Fraction(9, 10), Fraction(0), Fraction(-1, 3)]
)
def test_heavy_ball_first_order_numeric_beta(value):
    """The same published coefficients at numerical beta (exact rationals)."""
    flow = modified_flow(heavy_ball(value), 1)
    assert_coefficients(
        flow, HB_FIRST, subs={beta: sympy.Rational(value.numerator, value.denominator)}
    )


def test_heavy_ball_half_by_hand():
    """beta = 1/2: rate 1/(1-1/2) = 2 and -(3/2)/(2 (1/8)) = -6 (arithmetic on the
    published formula)."""
    flow = modified_flow(heavy_ball(0.5), 1)
    assert coefficients(flow) == {(0, "[]"): 2, (1, "[[]]"): -6}


def test_heavy_ball_beta_zero_is_gd():
    """beta = 0 removes the momentum: the flow is GD's (HLW section IX.1), through order 3."""
    assert coefficients(modified_flow(heavy_ball(0), 3)) == coefficients(
        modified_flow(gd(), 3)
    )


def test_heavy_ball_beta_one_is_an_error():
    """DESIGN: beta = 1 (double characteristic root at 1) must be a clear error."""
    with pytest.raises(derive.DeriveError):
        heavy_ball(1)


# --------------------------------------------------------------------------- Nesterov


def test_nesterov_first_order_symbolic_beta():
    """Kovachki & Stuart (2021): coefficient of g'g is -(1 - beta + 2 beta^2)/(2(1-beta)^3)."""
    flow = modified_flow(nesterov(), 1)
    assert_coefficients(flow, NAG_FIRST)


@pytest.mark.parametrize("value", [Fraction(1, 2), Fraction(9, 10), Fraction(1, 5)])
def test_nesterov_first_order_numeric_beta(value):
    flow = modified_flow(nesterov(value), 1)
    assert_coefficients(
        flow, NAG_FIRST, subs={beta: sympy.Rational(value.numerator, value.denominator)}
    )


def test_nesterov_differs_from_heavy_ball_at_first_order():
    """The two first-order coefficients differ by (2 beta - 2 beta^2)/(2(1-beta)^3)
    = beta/(1-beta)^2 (subtracting the two published formulas)."""
    hb = coefficients(modified_flow(heavy_ball(), 1))[(1, "[[]]")]
    nag = coefficients(modified_flow(nesterov(), 1))[(1, "[[]]")]
    assert sympy.cancel((nag - hb) - beta / (1 - beta) ** 2) == 0


# --------------------------------------------------------------------------- modified losses

LOSS = x**4 / 4 + x * y**2 + sympy.sin(y) + sympy.exp(x / 3)


def grad_sq(f):
    return sum(sympy.diff(f, v) ** 2 for v in (x, y))


def test_gd_modified_loss_barrett_dherin():
    """Barrett & Dherin (2021): f + (h/4) |grad f|^2, on a concrete non-quadratic loss."""
    h = sympy.Symbol("h")
    flow = modified_flow(gd(), 1)
    assert flow.modified_loss.through_order == 1
    got = flow.modified_loss.on(LOSS, [x, y])
    assert sympy.cancel(got - (LOSS + h / 4 * grad_sq(LOSS))) == 0


def test_heavy_ball_modified_loss():
    """f/(1-beta) + h (1+beta)/(4(1-beta)^3) |grad f|^2: minus its gradient is the
    heavy-ball first-order flow above (Kovachki & Stuart 2021; Ghosh et al. 2023)."""
    h = sympy.Symbol("h")
    flow = modified_flow(heavy_ball(), 1)
    assert flow.modified_loss.through_order == 1
    got = flow.modified_loss.on(LOSS, [x, y])
    expected = LOSS / (1 - beta) + h * (1 + beta) / (4 * (1 - beta) ** 3) * grad_sq(
        LOSS
    )
    assert sympy.cancel(got - expected) == 0
    got9 = modified_flow(heavy_ball(0.9), 1).modified_loss.on(LOSS, [x, y])
    assert sympy.cancel(got9 - expected.subs(beta, sympy.Rational(9, 10))) == 0


def test_nesterov_modified_loss():
    """f/(1-beta) + h (1-beta+2beta^2)/(4(1-beta)^3) |grad f|^2 (from the published
    first-order flow, as for heavy ball)."""
    h = sympy.Symbol("h")
    flow = modified_flow(nesterov(), 1)
    got = flow.modified_loss.on(LOSS, [x, y])
    expected = LOSS / (1 - beta) + h * (1 - beta + 2 * beta**2) / (
        4 * (1 - beta) ** 3
    ) * grad_sq(LOSS)
    assert sympy.cancel(got - expected) == 0


def _h_part(expr, k):
    h = sympy.Symbol("h")
    return sympy.expand(expr).coeff(h, k)


def test_gd_first_order_field_is_minus_gradient_of_modified_loss():
    """For order 1 the explicit field is exactly -grad of the modified loss, power by
    power, and equals -grad f - (h/2) H grad f computed here from SymPy's Hessian."""
    flow = modified_flow(gd(), 1)
    field = flow.on(LOSS, [x, y])
    ml = flow.modified_loss.on(LOSS, [x, y])
    grad = sympy.Matrix([sympy.diff(LOSS, v) for v in (x, y)])
    hess = sympy.hessian(LOSS, (x, y))
    for k in (0, 1):
        part = _h_part(ml, k)
        for comp, v in zip(field.components, (x, y), strict=True):
            assert sympy.cancel(_h_part(comp, k) + sympy.diff(part, v)) == 0
    direct = -grad - sympy.Rational(1, 2) * hess * grad
    for comp, d in zip(field.components, direct, strict=True):
        assert sympy.cancel(_h_part(comp, 0) + _h_part(comp, 1) - d) == 0


def test_heavy_ball_first_order_field_is_minus_gradient_of_modified_loss():
    flow = modified_flow(heavy_ball(), 1)
    field = flow.on(LOSS, [x, y])
    ml = flow.modified_loss.on(LOSS, [x, y])
    for k in (0, 1):
        part = _h_part(ml, k)
        for comp, v in zip(field.components, (x, y), strict=True):
            assert sympy.cancel(_h_part(comp, k) + sympy.diff(part, v)) == 0


NONQUAD = x**4 / 4 + x * y**2 + sympy.sin(y)


def test_gd_second_order_term_is_not_a_gradient():
    """GD's h^2 term (1/12 g''(g,g) + 1/3 g'g'g) is not a gradient field: on
    f = x^4/4 + x y^2 + sin(y) its Jacobian is not symmetric (evaluated exactly at a
    point). Derived in this test: grad(grad f . H grad f) = 2 H H grad f + D^3f(grad f,
    grad f) would need the ratio 1/3 : 1/6, not 1/3 : 1/12."""
    flow = modified_flow(gd(), 2)
    tests = flow.gradient_tests
    assert [t.is_gradient for t in tests] == [True, True, False]
    assert flow.modified_loss.through_order == 1
    field = flow.on(NONQUAD, [x, y])
    F2 = sympy.Matrix([_h_part(c, 2) for c in field.components])
    J = F2.jacobian([x, y])
    asym = sympy.cancel(J[0, 1] - J[1, 0])
    assert asym != 0
    value = asym.subs({x: sympy.Rational(1, 2), y: sympy.Rational(1, 3)})
    assert abs(float(value)) > 1e-3
    # and the h^2 field computed directly from the published formula
    g = -sympy.Matrix([sympy.diff(NONQUAD, v) for v in (x, y)])
    Jg = g.jacobian([x, y])
    g2 = sympy.Matrix(
        [
            sum(
                sympy.diff(gi, a, b) * g[i] * g[j]
                for i, a in enumerate((x, y))
                for j, b in enumerate((x, y))
            )
            for gi in g
        ]
    )
    expected = sympy.Rational(1, 12) * g2 + sympy.Rational(1, 3) * Jg * Jg * g
    assert sympy.cancel(F2 - expected) == sympy.zeros(2, 1)


def test_gd_first_order_terms_have_symmetric_jacobians():
    """Control for the test above: the h^0 and h^1 fields are gradients, so their
    Jacobians on the same loss are symmetric."""
    field = modified_flow(gd(), 2).on(NONQUAD, [x, y])
    for k in (0, 1):
        Fk = sympy.Matrix([_h_part(c, k) for c in field.components])
        J = Fk.jacobian([x, y])
        assert sympy.cancel(J[0, 1] - J[1, 0]) == 0
