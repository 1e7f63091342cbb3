"""The `derive manifold`, `derive ode` and `derive reproduce` sub-commands.

Reference values: heavy ball on its manifold x_prev = x - h/(1-beta) g + ... and the
parasitic root beta (Kovachki & Stuart, JMLR 22 (2021); derived in
tests/test_invariant_manifold.py); at beta = 9/10, 1/(1-beta) = 10. The second-order
equations of heavy ball and Nesterov (KS 2021; Shi, Du, Jordan & Su 2022; derived in
tests/test_high_resolution.py).
"""

import json

import pytest

from derive.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_manifold_text(capsys):
    status, out, _ = run(capsys, "manifold", "heavy-ball", "--order", "1")
    assert status == 0
    assert "x_prev = x" in out and "h * (-1/(1 - beta) g)" in out
    assert "parasitic root(s): beta" in out
    assert "attracting where -1 < beta < 1" in out


def test_manifold_json_numeric(capsys):
    status, out, _ = run(
        capsys, "manifold", "nesterov", "--param", "beta=0.9", "--format", "json"
    )
    assert status == 0
    record = json.loads(out)
    assert record["attraction"]["parasitic_roots"] == ["9/10"]
    assert record["attraction"]["per_step_value"] == pytest.approx(0.9)
    assert record["attraction"]["attracting"] is True
    assert record["states"][0]["terms"][0]["coefficient"] == "-10"


def test_manifold_latex_and_loss(capsys):
    status, out, _ = run(capsys, "manifold", "heavy-ball", "--format", "latex")
    assert status == 0 and "x_{\\mathrm{prev}} &= x" in out
    status, out, _ = run(
        capsys,
        "manifold",
        "heavy-ball",
        "--param",
        "beta=0.5",
        "--order",
        "0",
        "--loss",
        "x**2/2",
        "--vars",
        "x",
    )
    assert status == 0 and "x_prev[x] = 2*h*x + x" in out  # x + 2 h (grad f = x)


def test_manifold_of_a_spec_with_an_ema_state(capsys):
    spec = "state x, d; param beta; d = beta*d + (1-beta)*grad(x); x = x - h*d"
    status, out, _ = run(capsys, "manifold", spec, "--order", "1")
    assert status == 0 and "d = -g" in out and "parasitic root(s): beta" in out


def test_manifold_not_attracting(capsys):
    status, out, _ = run(capsys, "manifold", "heavy-ball", "--param", "beta=-1.5")
    assert status == 0 and "NOT attracting" in out


def test_ode_default_is_kovachki_stuart(capsys):
    status, out, _ = run(capsys, "ode", "heavy-ball")
    assert status == 0
    assert "  h*(beta + 1)/2 x''\n+ (1 - beta) x'\n+ grad f(x)\n= 0" in out
    assert "first-order reduction = modified flow: yes" in out


def test_ode_nesterov_json(capsys):
    status, out, _ = run(capsys, "ode", "nesterov", "--format", "json")
    assert status == 0
    record = json.loads(out)
    assert record["equation"] == (
        "h*(beta + 1)/2 x'' + (1 - beta) x' + h*beta H(x)[x'] + grad f(x) = 0"
    )
    assert record["agrees_with_modified_flow"] is True


def test_ode_first_order_reduction_and_loss(capsys):
    status, out, _ = run(capsys, "ode", "gd", "--time-order", "1", "--order", "1")
    assert status == 0 and "x' = -grad f(x)" in out
    status, out, _ = run(
        capsys,
        "ode",
        "heavy-ball",
        "--param",
        "beta=0.5",
        "--loss",
        "x**4/4 - x**2/2",
        "--vars",
        "x",
    )
    assert status == 0 and "x'' = 2*(-2*x**3 + 2*x - x')/(3*h)" in out
    status, out, _ = run(capsys, "ode", "nesterov", "--order", "2", "--format", "latex")
    assert status == 0 and "\\ddot x" in out


@pytest.mark.parametrize(
    "argv, phrase",
    [
        (
            ["ode", "state x, v; param beta; v = beta*v - h*grad(x); x = x + v"],
            "previous-iterate form",
        ),
        (["ode", "heavy-ball", "--order", "0"], "no x'' term"),
        (["manifold", "heavy-ball", "--loss", "x**2"], "--loss and --vars"),
        (["reproduce", "kovachki-stuart", "--beta", "1"], "outside [0, 1)"),
    ],
)
def test_errors(capsys, argv, phrase):
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert err.startswith("derive: error:") and phrase in err


def test_reproduce_help(capsys):
    status, out, _ = run(capsys, "reproduce", "--help")
    assert status == 0 and "Kovachki & Stuart" in out and "--out DIR" in out
