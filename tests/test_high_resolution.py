"""High-resolution (second-order-in-time) modified equations.

References:
- Kovachki & Stuart, *Continuous time analysis of momentum methods*, JMLR 22 (2021)
  (KS), second result; DESIGN.md: heavy ball to first order is
  h(1+beta)/2 x'' + (1-beta) x' + grad f = 0.
- Shi, Du, Jordan & Su, *Understanding the acceleration phenomenon via
  high-resolution differential equations*, Math. Program. 195 (2022): Nesterov's
  equation carries the Hessian-damping term (derived for our parameterisation below).
- The first-order reduction must be the modified flow (DESIGN; tests/test_published.py
  and tests/test_taylor_residual.py check `modified_flow` against HLW IX and KS).

Monomials: ("d", 1) = x', ("d", 2) = x'', ("f", ()) = grad f(x),
("f", (m,)) = H(x)[m], ("f", (m1, m2)) = D^3f(x)[m1, m2].
"""

import json

import pytest
import sympy

import derive
from derive import DeriveError, gd, heavy_ball, high_resolution_ode, nesterov

beta, h, a = sympy.symbols("beta h a")
X1, X2, G = ("d", 1), ("d", 2), ("f", ())
HX1 = ("f", (X1,))
D3X1X1 = ("f", (X1, X1))
HHX1 = ("f", (HX1,))


def terms(ode):
    """{monomial: SymPy coefficient (with its power of h)} of the left-hand side."""
    out = {}
    for t in ode.terms:
        out[t.monomial] = out.get(t.monomial, 0) + t.sympy * h**t.power
    return out


def assert_terms(ode, expected):
    got = terms(ode)
    assert set(got) == set(expected), f"{sorted(got)} vs {sorted(expected)}"
    for key, value in expected.items():
        assert sympy.cancel(got[key] - value) == 0, f"{key}: {got[key]} != {value}"


# --------------------------------------------------------------- first order in h


def test_heavy_ball_kovachki_stuart():
    """KS (2021), second-order modified equation of heavy ball (DESIGN.md):
    h(1+beta)/2 x'' + (1-beta) x' + grad f = 0."""
    ode = high_resolution_ode(heavy_ball(), 1)
    assert_terms(ode, {X2: h * (1 + beta) / 2, X1: 1 - beta, G: 1})
    assert ode.equation_text() == "h*(beta + 1)/2 x'' + (1 - beta) x' + grad f(x) = 0"


def test_nesterov_hessian_damping():
    """Derived by hand: with x_{n+k} = x(t + k h),
    y = x + beta (x - x(t-h)) = x + beta h x' - beta h^2/2 x'' + O(h^3), so
    grad f(y) = grad f(x) + beta h H(x) x' + O(h^2); and
    x(t+h) - y = sum_j h^j/j! (1 + beta (-1)^j) x^(j) = h (1-beta) x'
    + h^2 (1+beta)/2 x'' + O(h^3). The update x(t+h) = y - h grad f(y), divided by h:
    h(1+beta)/2 x'' + (1-beta) x' + h beta H(x) x' + grad f(x) = O(h^2).
    The h beta H x' term is the Hessian damping of Shi, Du, Jordan & Su (2022)."""
    ode = high_resolution_ode(nesterov(), 1)
    assert_terms(ode, {X2: h * (1 + beta) / 2, X1: 1 - beta, HX1: h * beta, G: 1})
    assert "h*beta H(x)[x']" in ode.text()
    assert "h \\beta\\, \\nabla^2 f(x)\\, \\dot x" in ode.latex()


def test_gradient_descent_second_order_form():
    """x(t+h) - x + h grad f = 0 expands to h x' + h^2/2 x'' + ... + h grad f: to first
    order h/2 x'' + x' + grad f = 0 (derived here), and its reduction is GD's flow."""
    ode = high_resolution_ode(gd(), 1)
    assert_terms(ode, {X2: h / 2, X1: 1, G: 1})
    reduced = high_resolution_ode(gd(), 1, time_order=1)
    assert [(t.power, t.tree, str(t.sympy)) for t in reduced.reduction] == [
        (0, "[]", "1"),
        (1, "[[]]", "-1/2"),
    ]
    assert reduced.agrees_with_modified_flow()
    assert reduced.equation_text() == "x' = -grad f(x) - h/2 H(x)[grad f(x)]"


# --------------------------------------------------------------- second order in h


def test_heavy_ball_order_two():
    """Derived by hand: the h^2 term of the expansion is (1-beta)/6 h^2 x'''. From
    (1-beta) x' = -grad f + O(h): x'' = -H x'/(1-beta) + O(h) and
    x''' = -(D^3f[x', x'] + H x'')/(1-beta) + O(h)
         = -D^3f[x', x']/(1-beta) + H H x'/(1-beta)^2 + O(h), so
    h^2 (1-beta)/6 x''' = -h^2/6 D^3f[x', x'] + h^2/(6(1-beta)) H H x'."""
    ode = high_resolution_ode(heavy_ball(), 2)
    assert_terms(
        ode,
        {
            X2: h * (1 + beta) / 2,
            X1: 1 - beta,
            G: 1,
            D3X1X1: -(h**2) / 6,
            HHX1: h**2 / (6 * (1 - beta)),
        },
    )


def test_nesterov_order_two():
    """Derived by hand, continuing the first-order derivation: the h^2 terms are
    (1-beta)/6 x''' (shifts), -beta/2 H x'' (from y - x = ... - beta h^2/2 x'') and
    beta^2/2 D^3f[x', x'] (from (beta h x')^2/2 in grad f(y)); with x''' and x'' as in
    the heavy-ball test: H x'' -> -H H x'/(1-beta), so
    -(1/6 + beta/2) H x'' -> (1+3beta)/(6(1-beta)) H H x' and
    D^3f[x', x'] gets beta^2/2 - 1/6."""
    ode = high_resolution_ode(nesterov(), 2)
    assert_terms(
        ode,
        {
            X2: h * (1 + beta) / 2,
            X1: 1 - beta,
            HX1: h * beta,
            G: 1,
            D3X1X1: h**2 * (beta**2 / 2 - sympy.Rational(1, 6)),
            HHX1: h**2 * (1 + 3 * beta) / (6 * (1 - beta)),
        },
    )


# --------------------------------------------------------------- the reduction


@pytest.mark.parametrize("order", [0, 1, 2, 3])
@pytest.mark.parametrize("factory", [gd, heavy_ball, nesterov])
def test_first_order_reduction_is_the_modified_flow(factory, order):
    """Independent route: the Taylor expansion of the recurrence, reduced by the slow
    relation x' = F_h(x), must give the B-series modified flow (symbolic beta),
    coefficient by coefficient, through h^3."""
    ode = high_resolution_ode(factory(), order, time_order=1)
    flow = derive.modified_flow(factory(), order)
    assert {(t.power, t.tree): t.sympy for t in ode.reduction} == {
        (t.power, t.tree): t.sympy for t in flow.terms
    }
    if order:
        assert high_resolution_ode(factory(), order).agrees_with_modified_flow()


def test_reduction_with_nested_gradients_and_three_steps():
    """Heun's method (a gradient evaluated at x - h grad f: nested calls expand into
    D^k f(x)[grad f, ...]) and a three-step method with a symbolic parameter, through
    order 3."""
    heun = derive.runge_kutta([[0, 0], [1, 0]], [0.5, 0.5])
    assert high_resolution_ode(heun, 3).agrees_with_modified_flow()

    def three(x, x1, x2, *, grad, h, a):
        return x + a * (x - x1) + (x1 - x2) / 4 - h * grad(x + a * (x - x1))

    ode = high_resolution_ode(three, 3)
    assert ode.agrees_with_modified_flow()
    assert ode.parameters == {"a": "a"}


def test_spec_in_previous_iterate_form():
    spec = derive.parse_spec(
        "state x, x_prev; param beta; x, x_prev = x + beta*(x - x_prev) - h*grad(x), x"
    )
    assert terms(high_resolution_ode(spec, 1)) == terms(
        high_resolution_ode(heavy_ball(), 1)
    )


# --------------------------------------------------------------- concrete loss


def test_on_a_concrete_loss():
    """HB, beta = 1/2, f = x^4/4 - x^2/2: 3h/4 x'' + x'/2 + x^3 - x = 0, so
    x'' = -(4/(3h)) (x'/2 + x^3 - x) (arithmetic on the KS form)."""
    x = sympy.Symbol("x")
    ode = high_resolution_ode(heavy_ball(0.5), 1)
    explicit = ode.on("x**4/4 - x**2/2", "x")
    (v,), (acc,) = explicit.velocity, explicit.acceleration
    assert (
        sympy.expand(explicit.equations[0] - (3 * h / 4 * acc + v / 2 + x**3 - x)) == 0
    )
    expected = -sympy.Rational(4, 3) / h * (v / 2 + x**3 - x)
    assert sympy.simplify(explicit.solved[0] - expected) == 0


def test_nesterov_on_a_quadratic_has_hessian_damping():
    """On f = (x^2 + 10 y^2)/2, H = diag(1, 10): the damping of y' is
    (1 - beta) + 10 h beta (KS / Shi et al. form above)."""
    ode = high_resolution_ode(nesterov(), 1)
    eqs = ode.on("x**2/2 + 5*y**2", "x,y")
    yp = eqs.velocity[1]
    assert sympy.expand(eqs.equations[1].coeff(yp) - (1 - beta + 10 * h * beta)) == 0


# --------------------------------------------------------------- errors, records


def test_velocity_form_is_a_clear_error():
    spec = derive.parse_spec(
        "state x, v; param beta; v = beta*v - h*grad(x); x = x + v"
    )
    with pytest.raises(DeriveError, match="previous-iterate form"):
        high_resolution_ode(spec, 1)


def test_bad_orders():
    with pytest.raises(DeriveError, match="no x'' term"):
        high_resolution_ode(heavy_ball(), 0)
    with pytest.raises(DeriveError):
        high_resolution_ode(heavy_ball(), -1)
    with pytest.raises(DeriveError):
        high_resolution_ode(heavy_ball(), 1, time_order=3)


def test_record():
    ode = high_resolution_ode(nesterov(0.5), 2)
    record = json.loads(ode.to_json(loss="x**2/2 + y**4", variables="x,y"))
    assert record["time_order"] == 2
    assert record["agrees_with_modified_flow"] is True
    assert record["equation"].startswith("3*h/4 x'' + 1/2 x' + h/2 H(x)[x']")
    assert {
        "power": 1,
        "monomial": "H(x)[x']",
        "latex": "\\nabla^2 f(x)\\, \\dot x",
        "coefficient": "1/2",
    } in record["terms"]
    assert record["first_order_reduction"][0] == {
        "power": 0,
        "tree": "[]",
        "coefficient": "2",
    }
    assert len(record["explicit"]["equations"]) == 2
