"""Direct Taylor-expansion check of modified flows on a concrete non-polynomial loss.

Independent route (no B-series, no manifold): if $x(t)$ solves the order-$p$ modified
flow $\\dot x = \\sum_{k \\le p} h^k F_k(x)$, then substituting its time-$\\pm h$ flow maps
(expanded as Lie series in $h$, with the field's own $h$-dependence kept) into the
optimizer's recurrence must leave a residual of order $h^{p+2}$:

- GD: $\\varphi_h(x) - x + h \\nabla f(x)$,
- heavy ball: $\\varphi_h(x) - x - \\beta (x - \\varphi_{-h}(x)) + h \\nabla f(x)$,
- Nesterov: $\\varphi_h(x) - y + h \\nabla f(y)$ with $y = x + \\beta(x - \\varphi_{-h}(x))$.

This is the defining property of the modified equation (Hairer, Lubich & Wanner,
*Geometric Numerical Integration*, 2nd ed., section IX.1 for one-step methods and
section XV.3 for multistep methods). The residual's coefficients of $h^0 \\dots h^{p+1}$
at the expansion point must vanish exactly; that of $h^{p+2}$ must not (the truncation is
sharp, so the test can fail).

To keep the algebra exact and fast the loss is non-polynomial but has rational Taylor
coefficients at the origin, and every quantity is a polynomial in $(x, y, h)$ truncated
at total degree $n = p + 2$, with $f$ replaced by its Taylor polynomial of degree
$n + 1$. This is exact for the coefficients at the origin: a monomial
$x^a y^b h^m$ with $a + b + m > n$ would need $a + b$ further differentiations to be
seen at the origin, and every differentiation (a Lie-series step, or a derivative of
$g$ in an elementary differential) comes with a factor $h$; composing with a point
$x + O(h)$ trades each unit of $x$-degree for at least one of $h$.
"""

from __future__ import annotations

import itertools

import pytest
import sympy as sp
from sympy import QQ, ring

import derive

X, Y = sp.symbols("x y")
T = sp.Symbol("t")
# smooth, non-polynomial, non-convex; gradient at the origin is (2, 2/3), nonzero
LOSS = sp.exp(X - Y / 3) + sp.sin(X * Y) + sp.log(1 + X + Y**2 / 2) - X**2 + Y**2
R, x, y, h = ring("x,y,h", QQ)
BETA = sp.Rational(1, 2)


def _taylor_polynomial(expr, degree):
    scaled = expr.subs({X: T * X, Y: T * Y}, simultaneous=True)
    series = sp.series(scaled, T, 0, degree + 1).removeO()
    return sp.expand(series.subs(T, 1))


def _truncate(p, degree, n_h):
    # `degree` is kept in the signature for readability at the call sites: it equals n_h
    return R({m: c for m, c in p.terms() if m[0] + m[1] + m[2] <= n_h})


def _field(flow, f, degree, n_h):
    """The flow's field for the polynomial loss f, built here from the terms' trees.

    F(t) is computed directly, g^(k)(v_1..v_k)_i = sum over index tuples of partial
    derivatives of g_i times the components of the v's, independently of derive's own
    concrete evaluation.
    """
    variables = (x, y)
    g = [-f.diff(x), -f.diff(y)]
    table = flow.table
    cache = {}

    def F(i):
        if i in cache:
            return cache[i]
        kids = [F(c) for c in table.children[i]]
        out = []
        for gi in g:
            total = R(0)
            for idx in itertools.product(range(2), repeat=len(kids)):
                d = gi
                prod = R(1)
                for j, kid in zip(idx, kids, strict=True):
                    d = d.diff(variables[j])
                    prod = _truncate(prod * kid[j], degree, n_h)
                total += _truncate(d * prod, degree, n_h)
            out.append(total)
        cache[i] = out
        return out

    field = [R(0), R(0)]
    for term in flow.terms:
        c = QQ(int(term.coefficient.p), int(term.coefficient.q))
        comps = F(term.index)
        field = [
            a + R(c) * h**term.power * b for a, b in zip(field, comps, strict=True)
        ]
    return [_truncate(c, degree, n_h) for c in field]


def _lie_flow(field, sign, degree, n_h):
    """Time-(sign*h) flow map x + sum_j (sign h)^j/j! D^j x, D = field . grad."""
    out, term = [x, y], [x, y]
    for j in range(1, n_h + 1):
        term = [
            _truncate(t.diff(x) * field[0] + t.diff(y) * field[1], degree, n_h)
            for t in term
        ]
        scale = R(sp.Rational(sign**j, sp.factorial(j))) * h**j
        out = [
            _truncate(o + scale * t, degree, n_h)
            for o, t in zip(out, term, strict=True)
        ]
    return out


def _residual(name, p):
    n_h = p + 2
    degree = n_h
    poly = _taylor_polynomial(LOSS, n_h + 1)
    optimizer = {
        "gd": derive.gd(),
        "heavy-ball": derive.heavy_ball(BETA),
        "nesterov": derive.nesterov(BETA),
    }[name]
    flow = derive.modified_flow(optimizer, p)
    f = R.from_expr(poly)
    field = _field(flow, f, degree, n_h)
    grad = [f.diff(x), f.diff(y)]
    fwd = _lie_flow(field, +1, degree, n_h)
    if name == "gd":
        return [a - v + h * g for a, v, g in zip(fwd, (x, y), grad, strict=True)], n_h
    bwd = _lie_flow(field, -1, degree, n_h)
    b = R(BETA)
    if name == "heavy-ball":
        return [
            a - v - b * (v - c) + h * g
            for a, v, c, g in zip(fwd, (x, y), bwd, grad, strict=True)
        ], n_h
    point = [v + b * (v - c) for v, c in zip((x, y), bwd, strict=True)]
    grad_at = [
        _truncate(g.compose([(x, point[0]), (y, point[1])]), degree, n_h) for g in grad
    ]
    return [a - q + h * g for a, q, g in zip(fwd, point, grad_at, strict=True)], n_h


def _coefficients_at_origin(poly, n_h):
    out = [QQ(0)] * (n_h + 1)
    for (i, j, k), c in poly.terms():
        if i == 0 and j == 0 and k <= n_h:
            out[k] = c
    return out


@pytest.mark.parametrize("name", ["gd", "heavy-ball", "nesterov"])
@pytest.mark.parametrize("p", [0, 1, 2, 3])
def test_modified_flow_satisfies_recurrence(name, p):
    residual, n_h = _residual(name, p)
    coeffs = [_coefficients_at_origin(r, n_h) for r in residual]
    for k in range(p + 2):
        assert all(c[k] == 0 for c in coeffs), (
            f"{name}, order {p}: h^{k} residual {[c[k] for c in coeffs]}"
        )
    assert any(c[p + 2] != 0 for c in coeffs), (
        f"{name}, order {p}: h^{p + 2} residual vanishes"
    )
