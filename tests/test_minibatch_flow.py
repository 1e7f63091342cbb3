"""Modified flows of mini-batch SGD against a direct Taylor expansion of the epoch map.

Independent route (no trees, no logarithm, no manifold): on concrete 2-D per-batch
losses, one epoch of SGD is the composition of the steps x -> x - h grad f_c(x),
computed here as polynomials in (x, y, h); the expectation over random reshuffling is
the average over all m! orders, and with replacement over all m^m sequences. The flow
per step, whose epoch is the time-(m h) map, is expanded as a Lie series
x + sum_j (m h)^j/j! D^j x, D = field . grad. The two maps must agree at the expansion
point through h^(p+1) for a flow of order p (their difference is O(h^(p+2))), and not
at h^(p+2) (the truncation is sharp, so the test can fail). This is the defining
property of the modified equation of the (expected) epoch map (Hairer, Lubich & Wanner,
*Geometric Numerical Integration*, 2nd ed., IX.1) and the definition Smith, Dherin,
Barrett & De (ICLR 2021) use for the mean iterate of reshuffled SGD.

Exactness of the truncation: the per-batch losses are polynomials with rational
coefficients and a nonzero gradient at the origin; every quantity is a polynomial in
(x, y, h) truncated at total degree n = p + 2. A monomial x^a y^b h^k with a + b + k > n
can only reach the coefficient of h^j at the origin after a + b differentiations, each
of which comes with a factor h (a step or a Lie-series term), so it lands at h^(k+a+b)
with k + a + b > n: the coefficients of h^0 .. h^n at the origin are exact.
"""

import itertools
import math
from fractions import Fraction

import pytest
import sympy as sp
from sympy import QQ, ring

import derive

X, Y = sp.symbols("x y")
R, x, y, h = ring("x,y,h", QQ)
# three generic per-batch losses: rational coefficients, nonzero gradients at the origin,
# cubic and quartic terms so that g'' and g''' do not vanish
LOSSES = [
    2 * X + Y / 3 + X**2 - X * Y / 2 + Y**2 / 5 + X**3 / 3 - X * Y**2 + Y**4 / 7,
    -X + Y + X**2 / 4 + 3 * X * Y / 2 - Y**2 + X**2 * Y / 2 + X**4 / 5 - X * Y**3 / 3,
    X / 2 - 2 * Y - X**2 / 3 + X * Y + 2 * Y**2 - Y**3 / 2 + X**3 * Y / 4 + X**2 / 7,
]


def _to_ring(expr):
    poly = sp.Poly(sp.expand(expr), X, Y, sp.Symbol("h"))
    out = R(0)
    for (a, b, k), c in poly.terms():
        out += R(QQ(int(c.p), int(c.q))) * x**a * y**b * h**k
    return out


def _truncate(p, n):
    return R({m: c for m, c in p.terms() if sum(m) <= n})


def _gradient_field(loss):
    p = _to_ring(loss)
    return [-p.diff(x), -p.diff(y)]


def _step(point, field, n):
    """point + h * field(point), composed as polynomials and truncated."""
    gx, gy = field
    sub = [(x, point[0]), (y, point[1])]
    return [
        _truncate(point[0] + h * _truncate(gx.compose(sub), n), n),
        _truncate(point[1] + h * _truncate(gy.compose(sub), n), n),
    ]


def _epoch(order, fields, n):
    point = [x, y]
    for c in order:
        point = _step(point, fields[c], n)
    return point


def _expected_epoch(sampling, m, n):
    fields = [_gradient_field(f) for f in LOSSES[:m]]
    if sampling == "shuffle":
        orders = list(itertools.permutations(range(m)))
    elif sampling == "replacement":
        orders = list(itertools.product(range(m), repeat=m))
    else:
        orders = [tuple(range(m))]
    total = [R(0), R(0)]
    for order in orders:
        e = _epoch(order, fields, n)
        total = [t + v for t, v in zip(total, e, strict=True)]
    scale = R(QQ(1, len(orders)))
    return [scale * t for t in total]


def _lie_flow(field, T_over_h, n):
    """x + sum_j (T h)^j / j! D^j x, D = field . grad, truncated."""
    out, term = [x, y], [x, y]
    for j in range(1, n + 1):
        term = [_truncate(t.diff(x) * field[0] + t.diff(y) * field[1], n) for t in term]
        scale = R(QQ(T_over_h**j, math.factorial(j))) * h**j
        out = [_truncate(o + scale * t, n) for o, t in zip(out, term, strict=True)]
    return out


def _origin_coefficients(poly_pair, n):
    out = []
    for k in range(n + 1):
        row = []
        for p in poly_pair:
            row.append(p.coeff_wrt(h, k).coeff(1) if k else p.coeff_wrt(h, 0).coeff(1))
        out.append(row)
    return out


@pytest.mark.parametrize(
    "sampling,m,order",
    [
        ("shuffle", 3, 2),
        ("shuffle", 2, 2),
        ("replacement", 3, 2),
        ("replacement", 2, 1),
        ("fixed", 3, 2),
    ],
)
def test_epoch_flow_against_taylor_expansion(sampling, m, order):
    flow = derive.minibatch_flow("sgd", order, batches=m, sampling=sampling)
    n = order + 2
    explicit = flow.on(LOSSES[:m], "x,y")
    field = [_truncate(_to_ring(c), n) for c in explicit.components]
    predicted = _lie_flow(field, m, n)
    actual = _expected_epoch(sampling, m, n)
    diff = [p - a for p, a in zip(predicted, actual, strict=True)]
    at_origin = _origin_coefficients(diff, n)
    for k in range(n):  # h^0 .. h^(p+1) agree
        assert at_origin[k] == [0, 0], (k, at_origin[k])
    assert at_origin[n] != [0, 0]  # h^(p+2) does not: the truncation is sharp


def test_symbolic_batches_agree_with_numbers():
    symbolic = derive.minibatch_flow("sgd", 3, batches="m", sampling="shuffle")
    for m in (2, 3, 5):
        numeric = derive.minibatch_flow("sgd", 3, batches=m, sampling="shuffle")
        a = {(t.power, t.tree): t.sympy.subs(sp.Symbol("m"), m) for t in symbolic.terms}
        b = {(t.power, t.tree): t.sympy for t in numeric.terms}
        for key in set(a) | set(b):
            assert sp.simplify(a.get(key, 0) - b.get(key, 0)) == 0, key


def test_smith_dherin_barrett_de_first_order():
    # Smith, Dherin, Barrett & De, ICLR 2021, eq. (2)-(4): after one randomly shuffled
    # epoch the mean iterate follows the gradient flow of
    # f + (h/(4m)) sum_k |grad f_k|^2, with t = n h and n counting steps
    flow = derive.minibatch_flow("sgd", 1, batches="m", sampling="shuffle")
    ml = flow.modified_loss
    assert ml.through_order == 1
    assert ml.text == "f + h*(1/4 |grad f|^2 + 1/4 <|grad e_k|^2>)"
    for m in (2, 3):
        losses = LOSSES[:m]
        full = sum(losses) / m
        grad2 = [sp.diff(f, X) ** 2 + sp.diff(f, Y) ** 2 for f in losses]
        smith = full + sp.Symbol("h") / (4 * m) * sum(grad2)
        assert sp.expand(ml.on(losses, "x,y") - smith) == 0
    # with replacement the first-order regulariser is that of full-batch GD
    repl = derive.minibatch_flow("sgd", 1, batches="m", sampling="replacement")
    assert repl.modified_loss.text == "f + h*(1/4 |grad f|^2)"


def test_one_batch_is_full_batch():
    for name, full in [("sgd", derive.gd()), ("sgdm", derive.heavy_ball(0.5))]:
        params = {"mu": 0.5} if name == "sgdm" else {}
        for sampling in ("shuffle", "replacement", "fixed"):
            flow = derive.minibatch_flow(
                name, 3, batches=1, sampling=sampling, **params
            )
            ref = derive.modified_flow(full, 3)
            got = [(t.power, str(t.coefficient)) for t in flow.terms]
            want = [(t.power, str(t.coefficient)) for t in ref.terms]
            assert sorted(got) == sorted(want), (name, sampling)


def test_general_route_equals_closed_form_for_sgd():
    # the closed forms of plain SGD (linear extensions) against the explicit sum over
    # step assignments used for every other optimizer (the same recurrence written as
    # a spec, which the closed form does not recognise by name)
    spec = derive.parse_spec("state x; x = x - h*grad(x)")
    for sampling in ("shuffle", "replacement"):
        a = derive.minibatch_flow("sgd", 3, batches=3, sampling=sampling)
        b = derive.minibatch_flow(spec, 3, batches=3, sampling=sampling)
        assert [(t.tree, t.coefficient) for t in a.terms] == [
            (t.tree, t.coefficient) for t in b.terms
        ]


def test_momentum_expectation_reduces_to_sgd_at_mu_zero():
    for sampling in ("shuffle", "replacement"):
        a = derive.minibatch_flow("sgd", 2, batches=3, sampling=sampling)
        b = derive.minibatch_flow("sgdm", 2, batches=3, sampling=sampling, mu=0)
        assert [(t.tree, t.coefficient) for t in a.terms] == [
            (t.tree, t.coefficient) for t in b.terms
        ]


def test_symbolic_momentum_first_order():
    # the fixed-order epoch of SGDM with symbolic mu, m = 2: the leading term is the
    # effective learning rate 1/(1 - mu) times the mean field, exactly
    flow = derive.minibatch_flow("sgdm", 1, batches=2, sampling="fixed")
    lead = {t.tree: sp.simplify(t.sympy) for t in flow.terms if t.power == 0}
    mu = sp.Symbol("mu")
    assert set(lead) == {"[]_1", "[]_2"}
    assert all(sp.simplify(c - 1 / (2 * (1 - mu))) == 0 for c in lead.values())
    assert "mu != 1" in flow.conditions


def test_json_record_has_the_flow_keys():
    flow = derive.minibatch_flow("sgd", 1, batches=2)
    record = flow.to_dict(losses=["x**2/2 + y", "x*y"], variables="x,y")
    full = derive.modified_flow(derive.gd(), 1).to_dict(loss="x**2", variables="x")
    assert set(full) <= set(record)
    assert record["batches"] == 2 and record["sampling"] == "shuffle"
    local = {s: sp.Symbol(s) for s in record["symbols"]}
    parsed = [sp.parse_expr(s, local_dict=local) for s in record["vector_field"]]
    expected = flow.on(["x**2/2 + y", "x*y"], "x,y").components
    assert all(sp.simplify(a - b) == 0 for a, b in zip(parsed, expected, strict=True))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"batches": 0}, "at least 1"),
        ({"batches": 2.5}, "whole number"),
        ({"batches": 2, "sampling": "cyclic"}, "unknown sampling"),
        ({"batches": "m", "sampling": "fixed"}, "needs a number of batches"),
        ({"batches": 40, "sampling": "fixed"}, "colored trees"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(derive.DeriveError, match=match):
        derive.minibatch_flow("sgd", 3, **kwargs)


def test_bad_momentum_and_symbolic_batches():
    with pytest.raises(derive.DeriveError, match="mu = 1 is singular"):
        derive.minibatch_flow("sgdm", 1, batches=2, mu=1)
    with pytest.raises(derive.DeriveError, match="only for plain SGD"):
        derive.minibatch_flow("sgdm", 1, batches="m", mu=Fraction(1, 2))
    flow = derive.minibatch_flow("sgd", 1, batches=3)
    with pytest.raises(derive.DeriveError, match="2 per-batch losses"):
        flow.on(["x", "y"], "x,y")
