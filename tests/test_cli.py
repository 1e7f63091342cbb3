"""Tests of the `derive` command line (`derive.cli`).

Reference values:

- Heavy ball, first order (Kovachki & Stuart, JMLR 22 (2021); Ghosh et al., ICLR 2023),
  with g = -grad f: x' = g/(1-beta) - h (1+beta)/(2(1-beta)^3) g'g. At beta = 9/10 the
  coefficients are 1/(1/10) = 10 and -(19/10)/(2/1000) = -950.
- Gradient descent, first order (Barrett & Dherin, ICLR 2021; HLW ch. IX):
  x' = -grad f - (h/2) H grad f. For f = x^2/2 + y^4, grad f = (x, 4y^3) and
  H grad f = (x, 12y^2 * 4y^3) = (x, 48y^5), so x' = -x - h x/2, y' = -4y^3 - 24 h y^5.
"""

import doctest
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy

import derive
import derive.cli
import derive.cli._main
from derive.cli import main

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src")}


def run(capsys, *argv):
    """`main(argv)` in-process: (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_docstring_examples():
    for module in (derive.cli._arguments, derive.cli._main):
        result = doctest.testmod(module)
        assert result.attempted > 0
        assert result.failed == 0


# Help -------------------------------------------------------------------------------


def test_top_level_help_teaches(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for phrase in [
        "g = -grad f",
        "t = n h",
        "gd",
        "heavy-ball",
        "nesterov",
        "state x, v",
        "grad(...)",
        "derive flow heavy-ball --order 1 --param beta=0.9 --format json",
        "flow",
    ]:
        assert phrase in out, phrase


def test_flow_help_teaches(capsys):
    status, out, _ = run(capsys, "flow", "--help")
    assert status == 0
    for phrase in [
        "g = -grad f",
        "t = n h",
        "F([[]]) = g'g = H grad f",
        "heavy-ball",
        "--spec FILE",
        "--param NAME=VALUE",
        "--loss EXPR",
        "--vars",
        "{text,latex,json}",
        "param beta",
        "v = beta*v - h*grad(x); x = x + v",
        "vector_field",
        "Examples:",
    ]:
        assert phrase in out, phrase


def test_version(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0
    assert derive.__version__ in out


def test_help_does_not_import_jax_or_sympy():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "derive", "--help"],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert result.returncode == 0
    assert "usage: derive" in result.stdout
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines()]
    heavy = [m for m in imported if m.split(".")[0] in ("jax", "jaxlib", "sympy")]
    assert heavy == []


def test_console_script_heavy_ball_json():
    script = Path(sys.executable).with_name("derive")
    if not script.exists():
        pytest.skip("the console script is not installed (pip install -e .)")
    result = subprocess.run(
        [
            str(script),
            "flow",
            "heavy-ball",
            "--order",
            "1",
            "--param",
            "beta=0.9",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    coefficients = {(t["power"], t["tree"]): t["coefficient"] for t in record["terms"]}
    assert coefficients == {(0, "[]"): "10", (1, "[[]]"): "-950"}
    assert record["parameters"] == {"beta": "9/10"}


# flow: outputs -----------------------------------------------------------------------


def test_flow_text_default_order_two(capsys):
    status, out, err = run(capsys, "flow", "gd")
    assert status == 0 and err == ""
    assert "g = -grad f" in out  # the conventions are stated
    assert "h * (-1/2 g'g)" in out
    (second,) = [line for line in out.splitlines() if "h^2 *" in line]
    assert "1/12 g''(g,g)" in second and "1/3 g'g'g" in second  # HLW IX
    assert "h^3" not in out


def test_flow_json_record(capsys):
    status, out, _ = run(
        capsys,
        "flow",
        "heavy-ball",
        "--order",
        "1",
        "--param",
        "beta=9/10",
        "--format",
        "json",
    )
    assert status == 0
    record = json.loads(out)  # one JSON object, nothing else
    for key in [
        "optimizer",
        "order",
        "conventions",
        "parameters",
        "terms",
        "modified_loss",
    ]:
        assert key in record
    assert record["optimizer"] == "heavy-ball"
    assert record["order"] == 1
    assert "g = -grad f" in record["conventions"]
    assert record["parameters"] == {"beta": "9/10"}
    for term in record["terms"]:
        assert {"power", "tree", "coefficient", "latex"} <= set(term)
    coefficients = {(t["power"], t["tree"]): t["coefficient"] for t in record["terms"]}
    assert coefficients == {(0, "[]"): "10", (1, "[[]]"): "-950"}
    assert record["modified_loss"]["through_order"] == 1
    assert "vector_field" not in record


def test_flow_symbolic_parameter_json(capsys):
    status, out, _ = run(capsys, "flow", "nesterov", "--order", "1", "--format", "json")
    assert status == 0
    record = json.loads(out)
    assert record["parameters"] == {"beta": "beta"}
    beta = sympy.Symbol("beta")
    first = {(t["power"], t["tree"]): t["coefficient"] for t in record["terms"]}[
        (1, "[[]]")
    ]
    value = sympy.sympify(first, locals={"beta": beta})
    expected = -(1 - beta + 2 * beta**2) / (2 * (1 - beta) ** 3)  # DESIGN.md, NAG
    assert sympy.simplify(value - expected) == 0


def test_flow_loss_json_gradient_descent(capsys):
    status, out, _ = run(
        capsys,
        "flow", "gd", "--order", "1", "--loss", "x**2/2 + y**4", "--vars", "x,y",
        "--format", "json",
    )  # fmt: skip
    assert status == 0
    record = json.loads(out)
    x, y, h = sympy.symbols("x y h")
    field = [sympy.sympify(s) for s in record["vector_field"]]
    expected = [-x - h * x / 2, -4 * y**3 - 24 * h * y**5]
    assert [sympy.expand(a - b) for a, b in zip(field, expected, strict=True)] == [0, 0]


def test_flow_loss_json_heavy_ball_keeps_beta_symbolic(capsys):
    status, out, _ = run(
        capsys,
        "flow", "heavy-ball", "--order", "1", "--loss", "x**2/2 + y**4", "--vars", "x,y",
        "--format", "json",
    )  # fmt: skip
    assert status == 0
    record = json.loads(out)
    x, y, h, beta = sympy.symbols("x y h beta")
    names = {"x": x, "y": y, "h": h, "beta": beta}
    field = [sympy.sympify(s, locals=names) for s in record["vector_field"]]
    grad = [x, 4 * y**3]
    hessian_grad = [x, 48 * y**5]
    expected = [
        -g / (1 - beta) - h * (1 + beta) / (2 * (1 - beta) ** 3) * hg
        for g, hg in zip(grad, hessian_grad, strict=True)
    ]
    assert [sympy.simplify(a - b) for a, b in zip(field, expected, strict=True)] == [
        0,
        0,
    ]


def test_flow_loss_with_given_parameter_is_substituted(capsys):
    status, out, _ = run(
        capsys,
        "flow", "heavy-ball", "--order", "1", "--param", "beta=0.5", "--loss", "x**2/2",
        "--vars", "x", "--format", "json",
    )  # fmt: skip
    assert status == 0
    x, h = sympy.symbols("x h")
    (component,) = json.loads(out)["vector_field"]
    # g/(1-beta) = -2x and -(1+beta)/(2(1-beta)^3) H grad f = -6x at beta = 1/2.
    assert sympy.expand(sympy.sympify(component) - (-2 * x - 6 * h * x)) == 0


def test_flow_text_with_loss(capsys):
    status, out, _ = run(
        capsys, "flow", "gd", "--order", "1", "--loss", "x**2/2 + y**4", "--vars", "x,y"
    )
    assert status == 0
    assert "dx/dt = g" in out
    assert "dx/dt = -h*x/2 - x" in out
    assert "dy/dt = -24*h*y**5 - 4*y**3" in out
    assert "modified loss through order 1" in out


def test_flow_latex(capsys):
    status, out, _ = run(
        capsys, "flow", "heavy-ball", "--order", "1", "--loss", "x**2/2", "--vars", "x",
        "--format", "latex",
    )  # fmt: skip
    assert status == 0
    assert out.count("\\begin{aligned}") == 2
    assert "\\tilde f" in out
    assert "\\dot{x} &=" in out
    assert "Traceback" not in out


def test_flow_inline_spec_matches_builtin(capsys):
    _, builtin, _ = run(
        capsys, "flow", "heavy-ball", "--order", "3", "--format", "json"
    )
    spec = "state x, v; param beta; v = beta*v - h*grad(x); x = x + v"
    status, out, _ = run(capsys, "flow", spec, "--order", "3", "--format", "json")
    assert status == 0
    record = json.loads(out)
    assert record["spec"] == spec
    assert record["terms"] == json.loads(builtin)["terms"]


def test_flow_inline_spec_with_newlines(capsys):
    spec = "state x\ny = x - h*grad(x)\nx = x - h*grad(y)"
    status, out, _ = run(capsys, "flow", spec, "--order", "1")
    assert status == 0
    assert "h * (1/2 g'g)" in out


def test_flow_spec_file_and_params(capsys, tmp_path):
    path = tmp_path / "qhm.txt"
    path.write_text(
        "# quasi-hyperbolic momentum (Ma & Yarats 2019)\n"
        "state x, d\n"
        "param beta, nu = 0.7\n"
        "d = beta*d + (1 - beta)*grad(x)\n"
        "x = x - h*((1 - nu)*grad(x) + nu*d)\n",
        encoding="utf-8",
    )
    status, out, _ = run(
        capsys, "flow", "--spec", str(path), "--param", "beta=0.9", "--format", "json"
    )
    assert status == 0
    record = json.loads(out)
    assert record["optimizer"] == "qhm"
    assert record["parameters"] == {"beta": "9/10", "nu": "7/10"}


def test_flow_spec_from_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("state x; x = x - h*grad(x)\n"))
    status, out, _ = run(capsys, "flow", "--spec", "-", "--order", "0")
    assert status == 0
    assert "dx/dt = g" in out


# flow: errors ------------------------------------------------------------------------

ERRORS = [
    # (arguments, phrase in the message)
    (["flow", "heavy-ball", "--param", "beta=1"], "beta = 1 is singular"),
    (["flow", "nesterov", "--param", "beta=1"], "beta = 1 is singular"),
    (
        [
            "flow",
            "state x, v; param beta; v = beta*v - h*grad(x); x = x + v",
            "--param",
            "beta=1",
        ],
        "beta = 1",
    ),
    (["flow", "lion"], "unknown optimizer 'lion'"),
    (["flow", "heavy_ball"], "Did you mean 'heavy-ball'?"),
    (["flow", "heavy-ball", "--param", "gamma=0.5"], "its parameters are: beta"),
    (["flow", "gd", "--param", "beta=0.5"], "it has no parameters"),
    (
        ["flow", "state x; param b; x = x - h*b*grad(x)", "--param", "c=1"],
        "declares: b",
    ),
    (["flow", "state x; x = x - h*grad(x*x)"], "product of two states"),
    (["flow", "state x, v; v = v*x; x = x + v"], "product of two states"),
    (["flow", "state x; x = x**2"], "power of a state"),
    (["flow", "gd", "--order", "-1"], "non-negative"),
    (["flow", "gd", "--order", "1.5"], "whole number"),
    (["flow", "gd", "--order", "two"], "whole number"),
    (["flow", "gd", "--order", "13"], "at most 12"),
    (["flow", "state x; x = = x"], "invalid syntax"),
    (["flow", "state x; x = (x - h*grad(x)"], "invalid syntax"),
    (["flow", "state x; x = __import__('os').system('x')"], "string literals"),
    (["flow", "state x; x = __import__"], "'__import__' is not allowed"),
    (["flow", "state x; x = ().__class__"], "attribute access"),
    (["flow", "state x; x = x - 9**9**9*h*grad(x)"], "exponent 387420489"),
    (["flow", "state x; x = " + "(" * 500 + "x" + ")" * 500], "nested parentheses"),
    (["flow", "state x; x = x - h*grad(x)" + " " * 20_000], "20000 characters"),
    (["flow", "state x, v; x = x - h*grad(x)"], "not determined"),
    (["flow", "gd", "--loss", "x**2"], "--loss needs --vars"),
    (["flow", "gd", "--vars", "x"], "--vars was given without --loss"),
    (["flow", "gd", "--loss", "x**2 + z", "--vars", "x"], "unknown name 'z'"),
    (["flow", "gd", "--loss", "x**2 + __import__('os')", "--vars", "x"], "not allowed"),
    (["flow", "heavy-ball", "--loss", "x**2", "--vars", "x,h"], "clash with h"),
    (["flow", "gd", "--loss", "x**2", "--vars", "x y"], "comma-separated list"),
    (["flow", "gd", "--loss", "x**2", "--vars", "x,,y"], "comma-separated list"),
    (["flow", "gd", "--param", "beta"], "expected NAME=VALUE"),
    (["flow", "heavy-ball", "--param", "beta=abc"], "not an exact number"),
    (["flow", "heavy-ball", "--param", "beta=0.5", "--param", "beta=0.9"], "twice"),
    (["flow"], "no optimizer was given"),
    (["flow", "gd", "--spec", "x.txt"], "both an OPTIMIZER"),
    (["flow", "--spec", "/nonexistent/spec.txt"], "cannot read the spec file"),
    (["flow", "gd", "--format", "pdf"], "invalid choice"),
    (["flow", "gd", "--bogus"], "unrecognized arguments"),
    ([], "required: COMMAND"),
    (["fly"], "invalid choice"),
]


@pytest.mark.parametrize(("argv", "phrase"), ERRORS, ids=range(len(ERRORS)))
def test_flow_errors(capsys, argv, phrase):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.startswith("derive: error: ")
    assert phrase in err
    assert "Traceback" not in err
    assert "\n\n" not in err.strip()  # one paragraph


def test_spec_file_not_utf8(capsys, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"state x; x = x - h*grad(x) # \xff\n")
    status, _, err = run(capsys, "flow", "--spec", str(path))
    assert status == 2
    assert err.startswith("derive: error: ") and "UTF-8" in err


def test_existing_file_as_optimizer_suggests_spec_option(capsys, tmp_path, monkeypatch):
    (tmp_path / "mine.spec").write_text(
        "state x; x = x - h*grad(x)\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "flow", "mine.spec")
    assert status == 2
    assert "--spec mine.spec" in err


def test_usage_error_from_subprocess_has_status_two():
    result = subprocess.run(
        [sys.executable, "-m", "derive", "flow", "gd", "--order", "-3"],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("derive: error: ")
    assert "Traceback" not in result.stderr


def test_internal_error_asks_for_a_bug_report(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(derive._flow, "modified_flow", broken)
    monkeypatch.delenv("DERIVE_DEBUG", raising=False)
    status, _, err = run(capsys, "flow", "gd")
    assert status == 1
    assert "internal error" in err and "bug" in err and "boom" in err
    assert "Traceback" not in err
    monkeypatch.setenv("DERIVE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["flow", "gd"])


# Sub-command registration -------------------------------------------------------------


def test_plugin_commands_are_registered(capsys, monkeypatch):
    def register(subparsers):
        parser = subparsers.add_parser("hello", help="say hello")
        parser.add_argument("--name", default="world")
        parser.set_defaults(handler=lambda args: print(f"hello {args.name}") or 0)

    monkeypatch.setattr(
        derive.cli._main, "plugins", lambda: [("hello", lambda: register)]
    )
    status, out, err = run(capsys, "hello", "--name", "flow")
    assert (status, out, err) == (0, "hello flow\n", "")
    status, out, _ = run(capsys, "--help")
    assert "hello" in out and "flow" in out


def test_the_installed_plugins_are_numerics_commands():
    """The entry points of this distribution (pyproject.toml) are found."""
    names = [name for name, _ in derive.cli.plugins()]
    assert {"verify", "reproduce"} <= set(names)


def test_broken_plugin_does_not_break_flow(capsys, monkeypatch):
    def broken():
        raise ImportError("half-written module")

    monkeypatch.setattr(derive.cli._main, "plugins", lambda: [("test-broken", broken)])
    monkeypatch.delenv("DERIVE_DEBUG", raising=False)
    status, out, err = run(capsys, "flow", "gd", "--order", "0")
    assert status == 0
    assert "dx/dt = g" in out
    assert err.startswith("derive: warning:") and "test-broken" in err
