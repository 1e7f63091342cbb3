"""The slow invariant manifold, its reduced flow and its attraction rate.

References:
- Kovachki & Stuart, *Continuous time analysis of momentum methods*, JMLR 22 (2021)
  (KS): heavy ball (HB) and Nesterov (NAG) have an exponentially attractive invariant
  manifold; the momentum forgets at the rate beta per step.
- Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed. (HLW), XV.2: the
  underlying one-step method of a multistep method; the parasitic roots of the
  characteristic polynomial govern the approach to it.
- Published first-order flows (DESIGN.md; tests/test_published.py): HB
  x' = g/(1-beta) - h (1+beta)/(2(1-beta)^3) g'g, NAG with (1-beta+2beta^2) instead
  of (1+beta).
"""

import pytest
import sympy

import derive
from derive import DeriveError, heavy_ball, invariant_manifold, nesterov

beta, h, lam = sympy.symbols("beta h lam")
x, y = sympy.symbols("x y")


def state_coefficients(m, name="x_prev"):
    """{(power, tree): SymPy coefficient} of a state on the manifold."""
    state = next(s for s in m.states if s.name == name)
    return {(t.power, t.tree): t.sympy for t in state.terms}


def assert_same(got, expected):
    assert set(got) == set(expected), f"{sorted(got)} vs {sorted(expected)}"
    for key, value in expected.items():
        assert sympy.cancel(got[key] - value) == 0, f"{key}: {got[key]} != {value}"


# --------------------------------------------------------------- published forms


def test_heavy_ball_previous_iterate_first_order():
    """On the manifold x_prev is the position one step back: x_prev = phi_{-h}(x) for
    the modified flow x' = F = c0 g + h c1 g'g, so (Lie series, by hand)
    x_prev = x - h F + h^2/2 F'F + O(h^3) = x - h c0 g + h^2 (c0^2/2 - c1) g'g.
    HB: c0 = 1/(1-beta), c1 = -(1+beta)/(2(1-beta)^3), so the h^2 coefficient is
    ((1-beta) + (1+beta))/(2(1-beta)^3) = 1/(1-beta)^3."""
    m = invariant_manifold(heavy_ball(), 1)
    assert_same(
        state_coefficients(m),
        {(1, "[]"): -1 / (1 - beta), (2, "[[]]"): 1 / (1 - beta) ** 3},
    )
    assert m.states[0].alpha[0][0] == 0 and m.states[0].alpha[0][1] == 1  # 1 * x


def test_nesterov_previous_iterate_first_order():
    """As above with NAG's c1 = -(1-beta+2beta^2)/(2(1-beta)^3):
    c0^2/2 - c1 = ((1-beta) + (1-beta+2beta^2))/(2(1-beta)^3) = (1-beta+beta^2)/(1-beta)^3."""
    m = invariant_manifold(nesterov(), 1)
    assert_same(
        state_coefficients(m),
        {
            (1, "[]"): -1 / (1 - beta),
            (2, "[[]]"): (1 - beta + beta**2) / (1 - beta) ** 3,
        },
    )


def test_reduced_flow_is_the_modified_flow():
    """KS's third result: on the manifold the dynamics are the modified flow."""
    for rec in (heavy_ball(), nesterov(), heavy_ball(0.9)):
        m = invariant_manifold(rec, 2)
        flow = derive.modified_flow(rec, 2)
        assert [(t.power, t.tree, t.coefficient) for t in m.flow.terms] == [
            (t.power, t.tree, t.coefficient) for t in flow.terms
        ]


def test_ema_state_of_qhm():
    """An EMA of gradients d+ = beta d + (1-beta) grad(x) with x+ = x - h((1-nu)
    grad(x) + nu d+) (quasi-hyperbolic momentum). On the manifold d = Psi(x) with
    Psi(Phi(x)) = beta Psi(x) + (1-beta) grad f(x); the leading flow is g = -grad f,
    so with Psi = grad f + h a H grad f the h-terms give H(-grad f) + a H grad f =
    beta a H grad f, a = 1/(1-beta): d = -g + h/(1-beta) g'g (derived here)."""

    def qhm(x, d, *, grad, h, beta, nu):
        d_new = beta * d + (1 - beta) * grad(x)
        return x - h * ((1 - nu) * grad(x) + nu * d_new), d_new

    m = invariant_manifold(qhm, 1)
    assert m.states[0].alpha == []
    assert_same(
        state_coefficients(m, "d"), {(0, "[]"): -1, (1, "[[]]"): 1 / (1 - beta)}
    )
    assert m.attraction.parasitic_roots == [beta]


# --------------------------------------------------------------- direct expansions


def truncate(expr, K):
    return sum(expr.coeff(h, j) * h**j for j in range(K + 1))


def principal_root_series(char, K):
    """r = 1 + sum_k c_k h^k solving char(r) = 0 order by order (independent of the
    engine: each order is one linear equation for c_k, with coefficient
    char'(1) = 1 - beta)."""
    cs = sympy.symbols(f"c1:{K + 1}")
    r = 1 + sum(c * h ** (k + 1) for k, c in enumerate(cs))
    expr = sympy.expand(char(r))
    sol = {}
    for k in range(1, K + 1):
        eq = expr.coeff(h, k).subs(sol)
        sol[cs[k - 1]] = sympy.solve(eq, cs[k - 1])[0]
    return sympy.expand(r.subs(sol))


@pytest.mark.parametrize(
    "name, factory, char",
    [
        ("heavy ball", heavy_ball, lambda r: r**2 - (1 + beta - h * lam) * r + beta),
        (
            "Nesterov",
            nesterov,
            lambda r: r**2 - (1 + beta) * (1 - h * lam) * r + beta * (1 - h * lam),
        ),
    ],
)
def test_quadratic_closed_form_to_order_four(name, factory, char):
    """On f = lam x^2/2 the iterates on the manifold are x_{n+1} = r x_n with r the
    principal characteristic root (DESIGN; HLW XV.2), so x_prev = x/r exactly. Both
    sides through h^4 (order 3: trees with up to 4 nodes), beta and lam symbolic."""
    K = 4
    r = principal_root_series(char, K)
    # 1/r = sum_k (1 - r)^k, truncated after h^K (1 - r = O(h))
    u, inverse, power = sympy.expand(1 - r), 0, sympy.Integer(1)
    for _ in range(K + 1):
        inverse += power
        power = truncate(sympy.expand(power * u), K)
    expected = sympy.expand(x * inverse)
    m = invariant_manifold(factory(), K - 1)
    got = m.on(lam * x**2 / 2, [x]).states["x_prev"][0]
    for j in range(K + 1):
        assert sympy.cancel(got.coeff(h, j) - expected.coeff(h, j)) == 0, j


LOSS = x**4 / 4 - x**2 / 2 + x * y + y**3 / 3  # non-convex, polynomial for speed


def lie_series_backward(field, order):
    """phi_{-h}(x) = sum_k (-h)^k/k! D^k x, D = field . grad, truncated after h^order."""
    out, term = [x, y], [x, y]
    for k in range(1, order + 1):
        term = [
            sympy.expand(
                sum(sympy.diff(t, v) * f for v, f in zip((x, y), field, strict=True))
            )
            for t in term
        ]
        term = [sum(t.coeff(h, j) * h**j for j in range(order)) for t in term]
        out = [
            o + (-h) ** k / sympy.factorial(k) * t
            for o, t in zip(out, term, strict=True)
        ]
    return [
        sum(sympy.expand(o).coeff(h, j) * h**j for j in range(order + 1)) for o in out
    ]


def test_previous_iterate_is_the_backward_flow_map_on_a_loss():
    """x_prev = phi_{-h}(x) through h^3 on a non-convex polynomial loss (beta = 1/2),
    with phi from the modified flow evaluated by SymPy here (HLW XV.2)."""
    for rec in (heavy_ball(0.5), nesterov(0.5)):
        m = invariant_manifold(rec, 2)
        field = m.flow.on(LOSS, [x, y]).components
        expected = lie_series_backward(field, 3)
        got = m.on(LOSS, [x, y]).states["x_prev"]
        for a, b in zip(got, expected, strict=True):
            assert sympy.expand(a - b) == 0


# --------------------------------------------------------------- attraction


def test_linear_part_is_evaluated_at_h_zero():
    """The state update's linear part at h = 0, not at h = 1 (fixed in
    SlowManifold.linear_part): for QHM the weight of d in x+ is -h nu beta, so 0 at
    h = 0 (it was -nu beta)."""

    def qhm(x, d, *, grad, h, beta, nu):
        d_new = beta * d + (1 - beta) * grad(x)
        return x - h * ((1 - nu) * grad(x) + nu * d_new), d_new

    M = invariant_manifold(qhm, 0).attraction.matrix
    assert M == sympy.Matrix([[1, 0], [0, beta]])


def test_heavy_ball_and_nesterov_share_the_linear_part():
    """NAG's update x+ = (1+beta) x - beta x_prev - h grad(y) has the same linear part
    at h = 0 as HB's: [[1+beta, -beta], [1, 0]], characteristic polynomial
    (zeta - 1)(zeta - beta) (KS)."""
    hb = invariant_manifold(heavy_ball(), 0).attraction
    nag = invariant_manifold(nesterov(), 0).attraction
    assert hb.matrix == nag.matrix == sympy.Matrix([[1 + beta, -beta], [1, 0]])
    for a in (hb, nag):
        assert a.parasitic_roots == [beta]
        assert a.per_step == sympy.Abs(beta)
        assert sympy.simplify(a.per_unit_time - sympy.log(sympy.Abs(beta)) / h) == 0
        assert a.attracting is None  # symbolic
        assert "-1 < beta < 1" in a.statement
        assert a.polynomial_text() == "(zeta - 1)*(zeta - beta)"


def test_numeric_attraction_rates():
    """beta = 9/10: rho = 9/10 per step, log(9/10)/h per unit time (KS)."""
    a = invariant_manifold(nesterov(0.9), 1).attraction
    assert a.parasitic_roots == [sympy.Rational(9, 10)]
    assert a.attracting is True
    assert a.per_step_value() == pytest.approx(0.9)
    assert a.per_unit_time_value(0.01) == pytest.approx(-10.536051565782628)
    assert "attracting" in a.statement and "9/10" in a.statement


def test_not_attracting_is_stated():
    """beta = -3/2: the parasitic root has modulus 3/2 >= 1: the manifold exists as a
    formal series (1 - beta != 0) but does not attract."""
    a = invariant_manifold(heavy_ball(-1.5), 1).attraction
    assert a.attracting is False
    assert a.statement.startswith("NOT attracting")
    assert "-3/2" in a.statement


def test_complex_parasitic_roots_of_a_three_step_method():
    """x+ = x + a (x - x1) + b (x1 - x2) - h grad(x): the characteristic polynomial is
    z^3 - (1+a) z^2 + (a-b) z + b = (z - 1)(z^2 - a z - b) (expanded by hand); with
    a = 1/2, b = -1/4 the parasitic roots (1 +- i sqrt 3)/4 have modulus 1/2."""

    def three(x, x1, x2, *, grad, h, a, b):
        return x + a * (x - x1) + b * (x1 - x2) - h * grad(x)

    att = invariant_manifold(derive.trace(three, a=0.5, b=-0.25), 1).attraction
    assert len(att.parasitic_roots) == 2
    assert all(abs(complex(r)) == pytest.approx(0.5) for r in att.parasitic_roots)
    assert sympy.simplify(att.per_step - sympy.Rational(1, 2)) == 0
    assert att.attracting is True


def test_gradient_descent_has_no_parasitic_roots():
    m = invariant_manifold(derive.gd(), 1)
    assert m.states == [] and m.attraction.parasitic_roots == []
    assert "whole space" in m.text()


def test_beta_one_is_an_error():
    """DESIGN: beta = 1 (second root at 1) is a clear error."""
    with pytest.raises(DeriveError):
        invariant_manifold(heavy_ball(1), 1)


# --------------------------------------------------------------- renderings


def test_renderings():
    m = invariant_manifold(heavy_ball(), 1)
    text = m.text()
    assert "x_prev = x" in text and "parasitic root(s): beta" in text
    assert "reduced flow on the manifold" in text
    latex = m.latex()
    assert "x_{\\mathrm{prev}} &= x" in latex and "\\rho" in latex
    record = m.to_dict(loss="x**2/2 + y**4", variables="x,y")
    assert record["attraction"]["parasitic_roots"] == ["beta"]
    assert record["states"][0]["terms"][0] == {
        "power": 1,
        "tree": "[]",
        "differential": "g",
        "coefficient": "-1/(1 - beta)",
        "latex": "- \\frac{1}{1 - \\beta}\\, h\\,g",
    }
    assert record["reduced_flow"]["terms"][0]["coefficient"] == "1/(1 - beta)"
    assert "x_prev" in record["explicit_states"]
    m.to_json()  # serialisable
