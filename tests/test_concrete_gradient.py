"""Gradient decisions for the loss at hand (`derive flow --loss`).

The generic verdict (is F_k a gradient for every loss) and the concrete one (on this
loss, by the exact curl test) are both reported; the concrete modified loss is checked
by differentiating it back: -grad(f~) must equal the explicit field, term by term.
"""

from __future__ import annotations

import json

import pytest
import sympy

import derive
from derive._concrete_gradient import concrete_gradient
from derive.cli import main

h = sympy.Symbol("h")


def check_potential(flow, explicit, result):
    """-grad of the concrete modified loss is the field through its order."""
    for v, comp in zip(explicit.variables, explicit.components, strict=True):
        field = sum(
            (
                h**k * sympy.expand(comp).coeff(h, k)
                for k in range(result.through_order + 1)
            ),
            sympy.Integer(0),
        )
        assert sympy.simplify(-sympy.diff(result.modified_loss, v) - field) == 0


def test_quadratic_with_gradient_h2_term():
    """GD's h^2 term 1/3 g'g'g + 1/12 g''(g,g) is not a gradient for a generic loss
    (Hairer, Lubich & Wanner, IX.9), but on a quadratic f = x.Hx/2, g'' = 0 and
    g'g'g = -H^3 x = -grad(x.H^3 x/2): on this loss it is a gradient, with
    f~_2 = x.H^3 x/6."""
    flow = derive.modified_flow(derive.gd(), order=2)
    explicit = flow.on("x**2/2 + 3*y**2/2 + x*y/2", "x,y")
    result = concrete_gradient(flow, explicit)
    assert result.generic == [True, True, False]
    assert result.verdicts == ["gradient"] * 3
    assert result.through_order == 2
    check_potential(flow, explicit, result)
    # the h^2 part by hand: f~_2 = (1/3) x.H^3 x/2, H = [[1, 1/2], [1/2, 3]]
    x, y = explicit.variables
    H = sympy.Matrix([[1, sympy.Rational(1, 2)], [sympy.Rational(1, 2), 3]])
    X = sympy.Matrix([x, y])
    by_hand = sympy.Rational(1, 3) * (X.T * H**3 * X)[0] / 2
    assert sympy.expand(result.modified_loss.coeff(h, 2) - by_hand) == 0


@pytest.mark.parametrize("loss", ["x**4/4 - x**2/2", "sin(x)*exp(x)", "log(1 + x**2)"])
def test_every_one_dimensional_field_is_a_gradient(loss):
    flow = derive.modified_flow(derive.heavy_ball(sympy.Rational(1, 2)), order=2)
    explicit = flow.on(loss, "x")
    result = concrete_gradient(flow, explicit)
    assert result.verdicts == ["gradient"] * 3
    assert result.generic[2] is False
    check_potential(flow, explicit, result)


def test_non_gradient_term_on_a_non_quadratic_loss():
    flow = derive.modified_flow(derive.gd(), order=2)
    explicit = flow.on("x**2/2 + y**4/4 + x*y", "x,y")
    result = concrete_gradient(flow, explicit)
    assert result.verdicts == ["gradient", "gradient", "not a gradient"]
    assert result.through_order == 1
    check_potential(flow, explicit, result)


def test_cli_reports_both_verdicts(capsys):
    argv = ["flow", "gd", "--order", "2", "--loss", "x**2/2 + 3*y**2/2 + x*y/2"]
    assert main([*argv, "--vars", "x,y"]) == 0
    out = capsys.readouterr().out
    assert "h^2: gradient on this loss (generic: not a gradient)" in out
    assert "modified loss on this loss through order 2:" in out
    assert "not a gradient field for a generic loss" in out
    assert main([*argv, "--vars", "x,y", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)["gradient_on_loss"]
    assert record["through_order"] == 2
    assert record["terms"][2] == {"power": 2, "on_loss": "gradient", "generic": False}
