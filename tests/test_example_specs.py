"""The ready-made specs in examples/specs/: each one derives, carries its name, and
has coefficients checked by a route that does not go through the derivation.

Independent routes:
- PyTorch SGD with dampening is heavy ball with step h(1 - tau) (substitute
  v = -h b), so its coefficient of h^k on any tree is (1 - tau)^(k+1) times heavy
  ball's (in the velocity time n h): checked against the built-in heavy ball.
- optax's Nesterov and Lookahead are checked on f = lam x^2/2, where the iteration is
  linear: the flow there is (log r)/h x with r the principal eigenvalue of the update
  matrix, written out by hand below and expanded with SymPy.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import sympy

import derive
from derive.cli import main

SPECS = Path(__file__).parent.parent / "examples" / "specs"
OURS = {
    "torch-sgd-dampening.txt": "torch-sgd-dampening",
    "optax-nesterov.txt": "optax-nesterov",
    "lookahead.txt": "lookahead-k5",
}

h, lam, x, u = sympy.symbols("h lam x u")


def spec(name, **params):
    return derive.parse_spec((SPECS / name).read_text(encoding="utf-8"), **params)


@pytest.mark.parametrize("filename", sorted(p.name for p in SPECS.glob("*.txt")))
def test_every_example_spec_derives(filename, capsys):
    status = main(["flow", "--spec", str(SPECS / filename), "--order", "2"])
    out = capsys.readouterr().out
    assert status == 0
    if filename in OURS:
        assert out.startswith(f"Modified flow of {OURS[filename]} ")


def test_torch_sgd_dampening_is_rescaled_heavy_ball():
    flow = derive.modified_flow(spec("torch-sgd-dampening.txt"), order=2)
    mu, tau = sympy.symbols("mu tau")
    hb = derive.modified_flow(derive.heavy_ball(), order=2)
    expected = {
        (t.power, t.tree): t.sympy.subs(sympy.Symbol("beta"), mu)
        * (1 - tau) ** (t.power + 1)
        for t in hb.terms
    }
    got = {(t.power, t.tree): t.sympy for t in flow.terms}
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert sympy.simplify(got[key] - value) == 0, key


def quadratic_flow(flow):
    """The flow on f = lam x^2/2, as coefficients of h^k lam^(k+1) x."""
    component = sympy.expand(flow.on(lam * x**2 / 2, [x]).components[0])
    return [component.coeff(h, k).coeff(lam, k + 1).coeff(x) for k in range(4)]


def log_series(r, order=4):
    """Coefficients c_1..c_order of log r(u) = sum c_n u^n."""
    s = sympy.series(sympy.log(r), u, 0, order + 1).removeO()
    return [sympy.nsimplify(sympy.expand(s).coeff(u, n)) for n in range(1, order + 1)]


@pytest.mark.parametrize("mu", [Fraction(9, 10), Fraction(1, 3)])
def test_optax_nesterov_on_a_quadratic(mu):
    """t+ = mu t + lam x, x+ = x - h (lam x + mu t+); with s = h t and u = h lam the
    update matrix on (x, s) is [[1 - u (1 + mu), -mu^2], [u, mu]]: trace
    1 + mu - u (1 + mu), determinant mu (1 - u); r is its root that tends to 1."""
    flow = derive.modified_flow(spec("optax-nesterov.txt", mu=mu), order=3)
    m = sympy.Rational(mu.numerator, mu.denominator)
    trace = 1 + m - u * (1 + m)
    det = m * (1 - u)
    r = (trace + sympy.sqrt(trace**2 - 4 * det)) / 2
    assert r.subs(u, 0) == 1
    assert quadratic_flow(flow) == log_series(r)


def test_lookahead_on_a_quadratic():
    """k = 5 steps of GD multiply x by (1 - u)^5; the outer step by
    r = 1 - alpha (1 - (1 - u)^5) (symbolic alpha)."""
    flow = derive.modified_flow(spec("lookahead.txt"), order=3)
    alpha = sympy.Symbol("alpha")
    r = 1 - alpha * (1 - (1 - u) ** 5)
    series = sympy.expand(sympy.series(sympy.log(r), u, 0, 5).removeO())
    expected = [series.coeff(u, n) for n in range(1, 5)]
    got = quadratic_flow(flow)
    assert [sympy.simplify(a - b) for a, b in zip(got, expected, strict=True)] == [
        0
    ] * 4


def test_lookahead_spec_matches_the_python_definition():
    """The unrolled spec and a loop over range(k) with k = 5 give the same flow."""

    def lookahead(x, *, grad, h, alpha, k):
        y = x
        for _ in range(k):
            y = y - h * grad(y)
        return x + alpha * (y - x)

    a = derive.modified_flow(spec("lookahead.txt", alpha=0.5), order=3)
    b = derive.modified_flow(lookahead, 3, alpha=0.5, k=5)
    assert [(t.power, t.tree, t.sympy) for t in a.terms] == [
        (t.power, t.tree, t.sympy) for t in b.terms
    ]


@pytest.mark.parametrize(
    "filename, r",
    [
        # one-step methods on f = lam x^2/2 with u = h lam: x+ = r(u) x
        ("extragradient.txt", 1 - u + u**2),  # y = (1 - u) x, x+ = x - u y
        ("rk2.txt", 1 - u + u**2 / 2),  # Heun: the degree-2 Taylor polynomial of e^-u
        ("rk4.txt", 1 - u + u**2 / 2 - u**3 / 6 + u**4 / 24),  # classical RK4
    ],
)
def test_one_step_specs_on_a_quadratic(filename, r):
    """A one-step method is x+ = r(u) x on the quadratic, so its flow there is
    (log r(u))/h x (Hairer, Lubich & Wanner IX.1); RK2 and RK4 have no terms below
    h^2 and h^4 (their orders)."""
    flow = derive.modified_flow(spec(filename), order=3)
    assert quadratic_flow(flow) == log_series(r)


@pytest.mark.parametrize(
    "beta, nu", [(Fraction(9, 10), Fraction(7, 10)), (Fraction(1, 3), Fraction(1, 2))]
)
def test_qhm_on_a_quadratic(beta, nu):
    """QHM (Ma & Yarats): d+ = beta d + (1 - beta) lam x, x+ = x - h((1 - nu) lam x +
    nu d+). With s = h d the update matrix on (x, s) is
    [[1 - u (1 - nu beta), -nu beta], [(1 - beta) u, beta]]: trace
    1 + beta - u (1 - nu beta), determinant beta (1 - u (1 - nu)); r is its root
    that tends to 1."""
    flow = derive.modified_flow(spec("qhm.txt", beta=beta, nu=nu), order=3)
    b = sympy.Rational(beta.numerator, beta.denominator)
    n = sympy.Rational(nu.numerator, nu.denominator)
    trace = 1 + b - u * (1 - n * b)
    det = b * (1 - u * (1 - n))
    r = (trace + sympy.sqrt(trace**2 - 4 * det)) / 2
    assert r.subs(u, 0) == 1
    assert quadratic_flow(flow) == log_series(r)
