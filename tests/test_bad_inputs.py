"""Every bad input answered with a message and exit status 2, no silently wrong result.

Each case here was a failure of the toolkit before these checks existed (an internal
error, a traceback, a wrong or misleading output); the test states what is expected
now.
"""

from __future__ import annotations

import json
import os

import pytest

import derive
from derive import DeriveError
from derive.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def refused(capsys, *argv, phrase):
    status, out, err = run(capsys, *argv)
    assert status == 2, (out, err)
    assert err.startswith("derive: error: ")
    assert "Traceback" not in err and "internal error" not in err
    assert phrase in err, err
    return err


# --------------------------------------------------------------- loss variables


@pytest.mark.parametrize(
    "variables, phrase",
    [
        ("e,x", "mathematical constant"),
        ("E,x", "mathematical constant"),
        ("pi,x", "mathematical constant"),
        ("I,x", "mathematical constant"),
        ("sqrt,x", "function of the expression language"),
        ("float,x", "Python built-in"),
        ("x,ｘ", "same name once normalised"),
        ("lambda,x", "Python keyword"),
    ],
)
def test_colliding_variable_names_refused(capsys, variables, phrase):
    refused(
        capsys,
        "flow",
        "gd",
        "--order",
        "1",
        "--loss",
        "x**2",
        "--vars",
        variables,
        phrase=phrase,
    )
    with pytest.raises(DeriveError, match=phrase):
        derive.modified_flow(derive.gd(), 1).on("x**2", variables)


def test_full_width_names_normalised_once():
    """`ｘ` (full-width) is the name `x` for Python; it is read as `x` everywhere."""
    assert derive.variable_names("ｘ,y") == ["x", "y"]
    flow = derive.modified_flow(derive.gd(), order=0)
    assert flow.on("x**2/2", "ｘ").components == flow.on("x**2/2", "x").components


def test_numerics_loss_uses_the_same_names():
    numerics = pytest.importorskip("numerics")
    with pytest.raises(DeriveError, match="mathematical constant"):
        numerics.loss_from_expression("e*x**2 + exp(1)*x", "e,x")


# --------------------------------------------------------------- the loss itself


@pytest.mark.parametrize(
    "loss, phrase",
    [
        ("abs(x)", "not differentiable"),
        ("x**2 + abs(x - 1)", "not differentiable"),
        ("sqrt(-1)*x**2", "not real"),
        ("log(-2)*x**2", "not real"),
        ("asin(2)*x**2", "not real"),
    ],
)
def test_non_smooth_or_complex_loss_refused(capsys, loss, phrase):
    for command in ("flow", "codegen"):
        err = refused(
            capsys,
            command,
            "gd",
            "--order",
            "1",
            "--loss",
            loss,
            "--vars",
            "x",
            phrase=phrase,
        )
        assert "re(x)" not in err and "Derivative" not in err


# --------------------------------------------------------------- validity, attraction


@pytest.mark.parametrize(
    "argv",
    [
        ("heavy-ball", "--param", "beta=3"),
        ("heavy-ball", "--param", "beta=-1"),
        ("state x, v; v = 2*v - h*grad(x); x = x + v",),
    ],
)
def test_flow_off_an_attracting_manifold_says_so(capsys, argv):
    status, out, _ = run(capsys, "flow", *argv, "--order", "1")
    assert status == 0 and "NOT attracting" in out
    status, out, _ = run(capsys, "flow", *argv, "--order", "1", "--format", "latex")
    assert status == 0 and "% WARNING: the slow manifold is NOT attracting" in out
    status, out, _ = run(capsys, "flow", *argv, "--order", "1", "--format", "json")
    assert status == 0
    assert "NOT attracting" in json.loads(out)["warnings"][0]


def test_attracting_flow_has_no_warning():
    flow = derive.modified_flow(derive.heavy_ball(0.9), order=1)
    assert flow.warnings == [] and "WARNING" not in flow.text()


def test_pole_of_an_update_coefficient_is_a_condition():
    flow = derive.modified_flow("state x; param beta; x = x - h*grad(x)/beta", 1)
    assert flow.conditions == ["beta != 0"]
    assert "valid for: beta != 0" in flow.text()


# --------------------------------------------------------------- tracing


def lookahead(x, *, grad, h, alpha, k):
    """Lookahead (Zhang et al., NeurIPS 2019) around k steps of gradient descent."""
    y = x
    for _ in range(k):
        y = y - h * grad(y)
    return x + alpha * (y - x)


def test_whole_number_parameter_shapes_the_program():
    """Lookahead with alpha = 1/2, k = 5 on f = lam x^2/2: the step multiplies x by
    r = 1 - alpha (1 - (1 - h lam)^k), so the flow is log(r)/h x exactly; its series
    in u = h lam is -5/2 u + 15/8 u^2 + 55/24 u^3 (hand expansion, checked here
    against SymPy's series)."""
    import sympy

    flow = derive.modified_flow(lookahead, 2, alpha=0.5, k=5)
    u = sympy.Symbol("u")
    r = 1 - sympy.Rational(1, 2) * (1 - (1 - u) ** 5)
    series = sympy.series(sympy.log(r), u, 0, 4).removeO()
    assert [series.coeff(u, n) for n in (1, 2, 3)] == [
        sympy.Rational(-5, 2),
        sympy.Rational(15, 8),
        sympy.Rational(55, 24),
    ]
    lam, x, h = sympy.symbols("lam x h")
    field = flow.on(lam * x**2 / 2, [x]).components[0]
    expected = sum(series.coeff(u, n) * h ** (n - 1) * lam**n * x for n in (1, 2, 3))
    assert sympy.expand(field - expected) == 0


def test_symbolic_count_refused():
    with pytest.raises(DeriveError, match="cannot stay symbolic"):
        derive.modified_flow(lookahead, 2, alpha=0.5)


def test_numpy_ufunc_on_state_refused():
    np = pytest.importorskip("numpy")

    def sign_descent(x, *, grad, h):
        return x - h * np.sign(grad(x))

    with pytest.raises(DeriveError, match="NumPy function"):
        derive.modified_flow(sign_descent, 1)


# --------------------------------------------------------------- codegen output


def test_codegen_path_checked_before_computing(capsys, tmp_path, monkeypatch):
    import derive._codegen as codegen_module

    def fail(*args, **kwargs):
        raise AssertionError("computed before the path was checked")

    monkeypatch.setattr(codegen_module, "codegen", fail)
    missing = tmp_path / "no" / "such" / "x.py"
    refused(capsys, "codegen", "gd", "-o", str(missing), phrase="does not exist")
    assert not (tmp_path / "no").exists()
    refused(capsys, "codegen", "gd", "-o", str(tmp_path), phrase="is a folder")
    refused(capsys, "codegen", "gd", "-o", str(tmp_path / "a\rb.py"), phrase="control")
    existing = tmp_path / "old.py"
    existing.write_text("# keep\n")
    refused(capsys, "codegen", "gd", "-o", str(existing), phrase="--force")
    assert existing.read_text() == "# keep\n"


def test_codegen_force_replaces_atomically(capsys, tmp_path):
    target = tmp_path / "gd1.py"
    target.write_text("# old\n")
    status, _, _ = run(capsys, "codegen", "gd", "--order", "1", "-o", str(target))
    assert status == 2
    status, _, err = run(
        capsys, "codegen", "gd", "--order", "1", "-o", str(target), "--force"
    )
    assert status == 0, err
    assert target.read_text().startswith('"""Modified flow of gd')
    assert sorted(os.listdir(tmp_path)) == ["gd1.py"]  # no temporary file left


def test_generated_module_names_a_missing_parameter():
    pytest.importorskip("jax")
    module = derive.codegen(derive.heavy_ball(), 1).load()
    with pytest.raises(KeyError, match="symbolic parameter.*beta"):
        module.coefficients({"h": 0.1})


@pytest.mark.parametrize("names", ["F_0,x", "F_1,y_", "s0,state"])
def test_explicit_module_with_awkward_names_runs(names):
    jnp = pytest.importorskip("jax.numpy")
    a, b = names.split(",")
    code = derive.codegen(
        derive.heavy_ball(), 2, loss=f"{a}**2/2 + {b}**4/4 + {a}*{b}", variables=names
    )
    module = code.load()
    point = jnp.array([0.3, -0.2])
    out = module.vector_field(0.0, point, {"h": 0.1, "beta": 0.5})
    flow = derive.modified_flow(derive.heavy_ball(), 2)
    explicit = flow.on(f"{a}**2/2 + {b}**4/4 + {a}*{b}", names)
    import sympy

    values = {v: p for v, p in zip(explicit.variables, (0.3, -0.2), strict=True)}
    values.update({sympy.Symbol("h"): 0.1, sympy.Symbol("beta"): 0.5})
    for got, comp in zip(out, explicit.components, strict=True):
        assert float(got) == pytest.approx(float(comp.subs(values)), rel=1e-12)


# --------------------------------------------------------------- names


def test_spec_name_statement_and_cli_name(capsys, tmp_path):
    spec = tmp_path / "my-method.txt"
    spec.write_text("state x\nx = x - h*grad(x)\n")
    status, out, _ = run(capsys, "flow", "--spec", str(spec), "--order", "0")
    assert status == 0 and "Modified flow of my-method" in out
    spec.write_text("name torch-sgd\nstate x\nx = x - h*grad(x)\n")
    status, out, _ = run(capsys, "codegen", "--spec", str(spec), "--order", "0")
    assert status == 0 and 'OPTIMIZER = "torch-sgd"' in out
    assert "Optimizer: spec" not in out
    status, out, _ = run(
        capsys, "flow", "--spec", str(spec), "--name", "mine", "--order", "0"
    )
    assert "Modified flow of mine" in out
    refused(capsys, "flow", "gd", "--name", "a/b", phrase="not a usable")
    for command in ("flow", "codegen", "manifold", "ode"):
        status, out, _ = run(capsys, command, "heavy-ball", "--name", "hb", "--help")
        assert "--name NAME" in out


def test_spec_name_statement_errors():
    with pytest.raises(DeriveError, match="two 'name' statements"):
        derive.parse_spec("name a; name b; state x; x = x - h*grad(x)")
    with pytest.raises(DeriveError, match="not a usable optimizer name"):
        derive.parse_spec("name a/b; state x; x = x - h*grad(x)")
    # 'name' stays usable as a temporary
    rec = derive.parse_spec("state x; name = x - h*grad(x); x = name")
    assert rec.name == "spec"


# --------------------------------------------------------------- bounded work


def test_work_limit_is_an_option(capsys):
    refused(capsys, "flow", "heavy-ball", "--order", "4", "--max-work", "10",
            phrase="--max-work 136")  # fmt: skip
    status, out, _ = run(capsys, "flow", "heavy-ball", "--order", "4")
    assert status == 0 and "h^4" in out


def test_high_degree_denominator_prints_quickly():
    """A denominator of degree 40 in one parameter: the condition of validity is the
    factor itself, not its roots (root isolation took minutes)."""
    num = "*".join(f"({i}+p)" for i in range(1, 41))
    den = "*".join(f"({i}+2*p)" for i in range(1, 41))
    flow = derive.modified_flow(
        f"state x, v; param p; v = {num}*v/({den}) - h*grad(x); x = x + v", 1
    )
    # the pole of v's coefficient at 2p + 1 = 0 is found (a linear factor, solved)
    assert "p != -1/2" in flow.conditions
    assert "valid for:" in flow.text()
