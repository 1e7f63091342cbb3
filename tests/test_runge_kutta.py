"""Explicit Runge-Kutta methods: order conditions and modified equations.

Independent route: the B-series of an RK method is computed in this file from its
tableau by the elementary weights (HLW section III.1.2, Table III.1.1 and Theorem
III.1.4, with sigma-normalised coefficients B(a, y) = y + sum_t h^|t| a(t)/sigma(t) F(t)):
stage values Y_i = y + h sum_j a_ij k_j, k_i = g(Y_i); with
Phi_i(t) = prod over the children t_k of t of (sum_j a_ij Phi_j(t_k)) (so Phi_i([]) = 1),
a(t) = sum_i b_i Phi_i(t). The modified field is then the B-series logarithm, and it must
equal what `modified_flow` gets by tracing the method as a recurrence (a different
route: symbolic tracing, slow-manifold solve, h-homogeneity).
"""

from fractions import Fraction

import pytest

from derive import (
    BSeries,
    DeriveError,
    exponential,
    gd,
    logarithm,
    modified_flow,
    runge_kutta,
    tree_table,
)

TABLE = tree_table(6)

EULER = ([[0]], [1])
MIDPOINT = ([[0, 0], [Fraction(1, 2), 0]], [0, 1])
HEUN = ([[0, 0], [1, 0]], [Fraction(1, 2), Fraction(1, 2)])
# Kutta's third-order method (Kutta 1901; the tableaux in HLW section II.1.1): order 3
KUTTA3 = (
    [[0, 0, 0], [Fraction(1, 2), 0, 0], [-1, 2, 0]],
    [Fraction(1, 6), Fraction(2, 3), Fraction(1, 6)],
)
# the classical fourth-order method (Kutta 1901; HLW section II.1.1)
RK4 = (
    [
        [0, 0, 0, 0],
        [Fraction(1, 2), 0, 0, 0],
        [0, Fraction(1, 2), 0, 0],
        [0, 0, 1, 0],
    ],
    [Fraction(1, 6), Fraction(1, 3), Fraction(1, 3), Fraction(1, 6)],
)
METHODS = {
    "euler": (EULER, 1),
    "midpoint": (MIDPOINT, 2),
    "heun": (HEUN, 2),
    "kutta3": (KUTTA3, 3),
    "rk4": (RK4, 4),
}


def elementary_weights(A, b, max_nodes):
    """{tree index: a(t)} of the RK method's B-series (sigma-normalised), from the tableau."""
    s = len(b)
    A = [[Fraction(v) for v in row] for row in A]
    b = [Fraction(v) for v in b]
    stage: dict[int, list[Fraction]] = {}  # Phi_i(t)
    out = {}
    for t in TABLE.up_to(max_nodes):
        phis = []
        for i in range(s):
            prod = Fraction(1)
            for c in TABLE.children[t]:
                prod *= sum(A[i][j] * stage[c][j] for j in range(s))
            phis.append(prod)
        stage[t] = phis
        out[t] = sum(b[i] * phis[i] for i in range(s))
    return out


def as_fraction(q):
    return Fraction(int(q.p), int(q.q))


def literal_terms(flow):
    """{(power, tree): Fraction}: the literal coefficient of h^power F(tree)."""
    return {(t.power, t.tree): as_fraction(t.coefficient) for t in flow.terms}


def route_terms(A, b, order):
    """The same table from log of the elementary-weight B-series (this file's route)."""
    weights = elementary_weights(A, b, order + 1)
    series = BSeries(
        {TABLE.bracket(t): w for t, w in weights.items()}, max_nodes=order + 1, empty=1
    )
    field = logarithm(series)
    out = {}
    for i in TABLE.up_to(order + 1):
        c = as_fraction(field.coefficients[i])
        if c:
            out[(TABLE.size[i] - 1, TABLE.bracket(i))] = c / TABLE.sigma[i]
    return out


# --------------------------------------------------------------------------- the route


def test_elementary_weights_of_euler():
    """Explicit Euler: a([]) = 1 and a(t) = 0 otherwise (y1 = y + h g(y))."""
    w = elementary_weights(*EULER, 5)
    assert w[0] == 1
    assert all(v == 0 for t, v in w.items() if t != 0)


@pytest.mark.parametrize("name", list(METHODS))
def test_order_conditions(name):
    """An RK method of order p has a(t) = 1/gamma(t) exactly for |t| <= p and not for
    some tree with p+1 nodes (HLW Theorem III.1.5 / Table III.1.1: Euler 1, midpoint and
    Heun 2, Kutta 3, classical RK4 4)."""
    (A, b), p = METHODS[name]
    w = elementary_weights(A, b, p + 1)
    for t in TABLE.up_to(p):
        assert w[t] == Fraction(1, TABLE.gamma(t)), TABLE.bracket(t)
    assert any(w[t] != Fraction(1, TABLE.gamma(t)) for t in TABLE.of_size(p + 1))


def test_exact_flow_has_the_weights_one_over_gamma():
    """Cross-check of the convention: exp(g) (the exact flow) has a(t) = 1/gamma(t), the
    value the order conditions above compare with."""
    flow = exponential(BSeries({"[]": 1}, max_nodes=5))
    for t in TABLE.up_to(5):
        assert as_fraction(flow.coefficients[t]) == Fraction(1, TABLE.gamma(t))


# --------------------------------------------------------------------------- the engine


def test_explicit_euler_is_gd_through_order_five():
    euler = modified_flow(runge_kutta(*EULER, name="euler"), 5)
    assert literal_terms(euler) == literal_terms(modified_flow(gd(), 5))


@pytest.mark.parametrize("name", ["midpoint", "heun"])
def test_second_order_methods_have_no_h_term(name):
    (A, b), _ = METHODS[name]
    flow = modified_flow(runge_kutta(A, b, name=name), 2)
    groups = flow.by_power()
    assert [(t.tree, as_fraction(t.coefficient)) for t in groups[0]] == [("[]", 1)]
    assert groups[1] == []
    assert groups[2], "an order-2 method has a nonzero h^2 term"


def test_rk4_has_no_terms_through_h3_and_a_nonzero_h4_term():
    (A, b), _ = METHODS["rk4"]
    flow = modified_flow(runge_kutta(A, b, name="rk4"), 4)
    groups = flow.by_power()
    assert [(t.tree, as_fraction(t.coefficient)) for t in groups[0]] == [("[]", 1)]
    assert groups[1] == [] and groups[2] == [] and groups[3] == []
    assert groups[4]


def test_midpoint_h2_term_against_logarithm_of_elementary_weights():
    """The explicit midpoint rule's h^2 term equals the one from log of its
    elementary-weight series, and the value by hand: a([[],[]]) = 1/4, a([[[]]]) = 0
    (y1 = y + h g + h^2/2 g'g + h^3/8 g''(g,g) + ...); for a method of order p the first
    correction of the modified equation is its local error (HLW section IX.1), so
    b(t) = a(t) - 1/gamma(t): b([[],[]]) = 1/4 - 1/3 = -1/12, b([[[]]]) = -1/6
    (sigma-normalised), i.e. the literal term h^2 (-1/24 g''(g,g) - 1/6 g'g'g)."""
    A, b = MIDPOINT
    flow = modified_flow(runge_kutta(A, b, name="midpoint"), 2)
    got = {k: v for k, v in literal_terms(flow).items() if k[0] == 2}
    assert got == {k: v for k, v in route_terms(A, b, 2).items() if k[0] == 2}
    assert got == {(2, "[[],[]]"): Fraction(-1, 24), (2, "[[[]]]"): Fraction(-1, 6)}


@pytest.mark.parametrize("name", list(METHODS))
def test_all_terms_against_logarithm_of_elementary_weights(name):
    """Every term through h^4 (trees with up to 5 nodes) by both routes."""
    (A, b), _ = METHODS[name]
    flow = modified_flow(runge_kutta(A, b, name=name), 4)
    assert literal_terms(flow) == route_terms(A, b, 4)


@pytest.mark.parametrize(
    ("A", "b"),
    [
        ([[Fraction(1, 2)]], [1]),  # implicit midpoint
        (
            [[0, 0], [Fraction(1, 2), Fraction(1, 2)]],
            [Fraction(1, 2), Fraction(1, 2)],
        ),  # trapezoidal
        ([[0, Fraction(1, 2)], [0, 0]], [0, 1]),  # entry above the diagonal
    ],
)
def test_implicit_tableau_raises(A, b):
    with pytest.raises(DeriveError):
        runge_kutta(A, b)


def test_malformed_tableau_raises():
    with pytest.raises(DeriveError):
        runge_kutta([[0, 0]], [1])
    with pytest.raises(DeriveError):
        runge_kutta([], [])
