"""Exact modified flows of RMSProp, Adam, AdamW and NAdam (the componentwise engine), each
checked by a route that does not use it:

- a direct Taylor expansion in h of one step of the recurrence, written out here in
  PyTorch's form, on a concrete non-polynomial 2-D loss at a rational point: started
  on the derived slow manifold, one step must land on the time-h map of the derived
  flow up to O(h^4) (order 2), exactly;
- the first-order modified equation of Adam and RMSProp in Cattaneo, Klusowski &
  Shigida's convention (eps inside the square root), re-derived by hand below;
- the large-eps limit of Adam, which is heavy ball with the step h (1 - beta1)/eps;
- RMSProp with beta2 = 0 and eps = 0, which is sign descent (no correction at any
  order away from zero gradient components);
- bad input: non-smooth functions, vanishing denominators, beta = 1 (exit status 2).

The automatic-differentiation route and the numerical order test are in
tests/test_adaptive_numerics.py.
"""

from __future__ import annotations

from fractions import Fraction as Fr
from typing import Any

import pytest
import sympy

import derive
from derive.cli import main

x, y, h, s = sympy.symbols("x y h s")
V = (x, y)
LOSS = "log(1 + x**2 + 2*y**2) + x*y"
f = sympy.log(1 + x**2 + 2 * y**2) + x * y
# a point where both gradient components are nonzero (55/159 and -43/106)
P = {x: sympy.Rational(1, 2), y: sympy.Rational(-1, 3)}
GRAD = [sympy.diff(f, v).xreplace(P) for v in V]


def _fix(e: sympy.Expr) -> sympy.Expr:
    """|.| and sign replaced by their values' signs at P (smooth near P)."""
    e = e.replace(sympy.Abs, lambda a: sympy.sign(a.xreplace(P)) * a)
    return e.replace(sympy.sign, lambda a: sympy.sign(a.xreplace(P)))


def _named(e: sympy.Expr, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    """`e` with its parameter symbols replaced by the test's (matched by name)."""
    return e.xreplace({q: symbols[q.name] for q in e.free_symbols if q.name in symbols})


def _at(e: sympy.Expr, w: list[sympy.Expr] | None = None, n: int = 0) -> sympy.Expr:
    """$d^n/ds^n\\, e(P + s w)$ at $s = 0$ (directional derivatives at P)."""
    if not n:
        return e.xreplace(P)
    assert w is not None
    line = {v: P[v] + s * wi for v, wi in zip(V, w, strict=True)}
    return sympy.diff(e.xreplace(line), s, n).xreplace({s: 0})


def _time_h_map(by_power: list[list[sympy.Expr]]) -> list[sympy.Expr]:
    """The time-h map of $F = F_0 + h F_1 + h^2 F_2$ at P through $h^3$:
    $x + h F + \\frac{h^2}{2} F'F + \\frac{h^3}{6}(F''(F, F) + F'F'F)$."""
    Fk = [[_fix(c) for c in comps] for comps in by_power]
    F0 = [_at(c) for c in Fk[0]]
    F1 = [_at(c) for c in Fk[1]]
    F2 = [_at(c) for c in Fk[2]]
    J0F0 = [_at(c, F0, 1) for c in Fk[0]]
    J0F1 = [_at(c, F1, 1) for c in Fk[0]]
    J1F0 = [_at(c, F0, 1) for c in Fk[1]]
    J0J0F0 = [_at(c, J0F0, 1) for c in Fk[0]]
    H0F0F0 = [_at(c, F0, 2) for c in Fk[0]]
    return [
        P[V[i]]
        + h * F0[i]
        + h**2 * (F1[i] + J0F0[i] / 2)
        + h**3 * (F2[i] + (J0F1[i] + J1F0[i]) / 2 + (H0F0F0[i] + J0J0F0[i]) / 6)
        for i in range(2)
    ]


B1, B2, EPS, WD = Fr(1, 2), Fr(3, 4), Fr(1, 10), Fr(1, 5)


def _pytorch_step(
    name: str, states: dict[str, list[sympy.Expr]], inside: bool = False
) -> list[sympy.Expr]:
    """One step of torch.optim.RMSprop / Adam / AdamW / NAdam without bias correction
    (PyTorch documentation, Algorithm boxes; NAdam with its momentum schedule settled
    at beta1, Dozat 2016), at P, from the given moments; `inside`: sqrt(v + eps)."""
    b1, b2, eps, wd = (
        sympy.Rational(q.numerator, q.denominator) for q in (B1, B2, EPS, WD)
    )
    v1 = [b2 * a + (1 - b2) * gi**2 for a, gi in zip(states["v"], GRAD, strict=True)]
    if name == "rmsprop":
        m1 = GRAD
    else:
        m1 = [b1 * a + (1 - b1) * gi for a, gi in zip(states["m"], GRAD, strict=True)]
    if name == "nadam":
        m1 = [b1 * a + (1 - b1) * gi for a, gi in zip(m1, GRAD, strict=True)]
    decay = wd if name == "adamw" else 0
    root = [sympy.sqrt(v + eps) if inside else sympy.sqrt(v) + eps for v in v1]
    return [P[V[i]] - h * (m1[i] / root[i] + decay * P[V[i]]) for i in range(2)]


@pytest.mark.parametrize(
    "name, inside",
    [
        ("rmsprop", False),
        ("adam", False),
        ("adamw", False),
        ("nadam", False),
        ("adam", True),
    ],
)
def test_one_step_is_the_time_h_map_through_order_2(name: str, inside: bool) -> None:
    """Direct Taylor expansion of the recurrence (backward error analysis, Hairer,
    Lubich & Wanner, Geometric Numerical Integration, IX.1): from the derived slow
    manifold, x_1 - Phi_h(x_0) = O(h^4) exactly, with Phi_h the derived flow's
    time-h map (this checks F_0, F_1, F_2 and the moments through h^1)."""
    values: dict[str, Any] = {"beta2": B2, "eps": EPS}
    if name != "rmsprop":
        values["beta1"] = B1
    if name == "adamw":
        values["weight_decay"] = WD
    rec = getattr(derive, name)(**values, eps_inside_sqrt=inside)
    flow = derive.modified_flow(rec, 2)
    phi = _time_h_map(flow.on(LOSS, "x,y").by_power)
    manifold = flow.manifold_on(LOSS, "x,y")
    states = {k: [_fix(c).xreplace(P) for c in v] for k, v in manifold.items()}
    step = _pytorch_step(name, states, inside)
    for a, b in zip(step, phi, strict=True):
        residual = sympy.series(a - b, h, 0, 4).removeO()
        assert sympy.simplify(residual) == 0
    # and the check can fail: a wrong h^2 coefficient leaves an h^3 residual
    wrong = [c + h**3 / 1000 for c in phi]
    assert sympy.simplify(sympy.series(step[0] - wrong[0], h, 0, 4).removeO()) != 0


def test_cattaneo_klusowski_shigida_first_order() -> None:
    """Cattaneo, Klusowski & Shigida, "On the implicit bias of Adam" (ICML 2024),
    full-batch Adam (Section 3; their beta = beta1, rho = beta2, eps inside the root,
    loss E): with d = sqrt((dE)^2 + eps) componentwise and the perturbed one-norm
    N = sum_i sqrt((d_i E)^2 + eps),

        dx/dt = -dE/d - h (1/d) (c + (1 + rho)/(2 (1 - rho)) eps/d^2) grad N,
        c = beta/(1 - beta) - rho/(1 - rho),

    re-derived by hand (m+ = -g + h beta/(1-beta) g'F0, sqrt(v+) = d - h rho/(1-rho)
    g g'F0/d, F_1 = phi_1 - F_0'F_0/2 with F_0'[u] = eps g'[u]/d^3). For small eps
    the h-term is -h c grad N / d: the one-norm is anti-penalised when rho > beta
    (c < 0), the typical regime they report, and penalised when beta > rho; RMSProp
    is beta = 0 (c = -rho/(1 - rho): always anti-penalised for small eps)."""
    b1, b2, eps = sympy.symbols("beta1 beta2 eps", positive=True)
    E = f
    dE = [sympy.diff(E, v) for v in V]
    d = [sympy.sqrt(q**2 + eps) for q in dE]
    N = sum(d)
    for name, beta in (("adam", b1), ("rmsprop", sympy.Integer(0))):
        c = beta / (1 - beta) - b2 / (1 - b2)
        expected = [
            -(c + (1 + b2) / (2 * (1 - b2)) * eps / d[i] ** 2)
            * sympy.diff(N, V[i])
            / d[i]
            for i in range(2)
        ]
        rec = getattr(derive, name)(eps_inside_sqrt=True)
        got = derive.modified_flow(rec, 1).on(LOSS, "x,y").by_power
        mine = {"beta1": b1, "beta2": b2, "eps": eps}
        for i in range(2):
            F0, F1 = (_named(_fix(got[k][i]).xreplace(P), mine) for k in (0, 1))
            assert sympy.simplify(F0 - (-dE[i] / d[i]).xreplace(P)) == 0
            diff = F1 - expected[i].xreplace(P)
            assert sympy.simplify(diff) == 0, (name, i)


def test_large_eps_limit_is_heavy_ball() -> None:
    """For eps -> oo Adam is x+ = x - (h/eps) m+, an exponential moving average, i.e.
    heavy ball x+ = x + beta1 (x - x-) + H g with H = h (1 - beta1)/eps; in time
    t = n h the flows agree term by term: eps^(k+1) F_k -> (1 - beta1)^(k+1) G_k
    with G_k heavy ball's (exactly, at a point, through order 2)."""
    eps = sympy.Symbol("eps", positive=True)
    adam = derive.modified_flow(derive.adam(beta1=B1, beta2=B2), 2)
    hb = derive.modified_flow(derive.heavy_ball(B1), 2)
    F = adam.on(LOSS, "x,y").by_power
    G = hb.on(LOSS, "x,y").by_power
    one_minus = 1 - sympy.Rational(1, 2)
    for k in range(3):
        for i in range(2):
            Fk = sympy.cancel(_named(_fix(F[k][i]).xreplace(P), {"eps": eps}))
            limit = sympy.limit(eps ** (k + 1) * Fk, eps, sympy.oo)
            assert (
                sympy.simplify(limit - one_minus ** (k + 1) * G[k][i].xreplace(P)) == 0
            )


def test_rmsprop_without_averaging_is_sign_descent() -> None:
    """RMSProp with beta2 = 0 and eps = 0 steps x+ = x + h sign(g): a one-step map
    whose field is locally constant, so its modified flow is sign(g) with no
    correction at any order (away from zero gradient components)."""
    flow = derive.modified_flow(derive.rmsprop(beta2=0, eps=0), 3)
    assert [t.power for t in flow.terms] == [0]
    assert flow.on("x**4/4 + x*y + y**2", "x,y").components[0] == sympy.sign(
        -(x**3) - y
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["flow", "adam", "--param", "beta1=1"], "beta1 = 1 is singular"),
        (["flow", "rmsprop", "--param", "beta2=1"], "beta2 = 1 is singular"),
        (
            [
                "flow",
                "state x, v; v = v/2 + grad(x)*grad(x)/2; x = x - h*sign(grad(x))",
            ],
            "'sign' is not smooth",
        ),
        (
            ["flow", "state x, v; v = v/2 + grad(x)*grad(x)/2; x = x - h*max(v, 1)"],
            "'max' is not smooth",
        ),
        (
            [
                "flow",
                "state x, v; v = v/2 + grad(x)*grad(x)/2; x = x - h*grad(x)/(v - v)",
            ],
            "a quotient has a base that vanishes",
        ),
    ],
)
def test_bad_input(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clear message and exit status 2, no traceback (the issue's bad-input list)."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
