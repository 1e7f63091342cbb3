"""Tests of `derive.codegen`: generated JAX modules of modified flows.

Reference values come from the symbolic instantiation `ModifiedFlow.on(loss, vars)`
(SymPy, evaluated with mpmath at 30 digits), i.e. from the same exact coefficients
rendered through an independent path (symbolic differentiation instead of `jax.jvp`).

Golden files: `tests/golden/*.py`. After an intended change to the generator,
regenerate them with

    UPDATE_GOLDEN=1 python -m pytest tests/test_codegen.py

and review the diff. The comparison ignores only the `Toolkit: optimizer-flows <version>` line.
"""

import functools
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy  # noqa: E402

import derive  # noqa: E402
from derive.cli import main  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
LOSS = "(x**2 - 1)**2/4 + y**2/2 + x*y/5 + sin(x)/3"
VERSION_LINE = re.compile(r"^Toolkit: optimizer-flows .*$", re.MULTILINE)


def loss_tree(params):
    """LOSS on a pytree {"a": [x], "b": [y]}."""
    x, y = params["a"][0], params["b"][0]
    return (x**2 - 1) ** 2 / 4 + y**2 / 2 + x * y / 5 + jnp.sin(x) / 3


def as_tree(p):
    return {"a": jnp.array([p[0]]), "b": jnp.array([p[1]])}


def from_tree(tree):
    return np.array([float(tree["a"][0]), float(tree["b"][0])])


POINTS = np.random.default_rng(0).uniform(-1.5, 1.5, size=(3, 2))

CASES = {
    "gd": (lambda: derive.gd(), {}),
    "heavy-ball-symbolic": (lambda: derive.heavy_ball(), {"beta": 0.7}),
    "heavy-ball-1/2": (lambda: derive.heavy_ball("1/2"), {}),
    "nesterov-symbolic": (lambda: derive.nesterov(), {"beta": 0.6}),
}


@functools.cache
def flow_of(name, order=3):
    return derive.modified_flow(CASES[name][0](), order)


@functools.cache
def reference(name):
    return reference_by_order(flow_of(name), CASES[name][1])


def reference_by_order(flow, params):
    """F_k at each point from `flow.on(LOSS, "x,y")`, per power k of h (mpmath).

    The parameters are substituted exactly (0.7 is 7/10) before evaluating.
    """
    field = flow.on(LOSS, "x,y")
    x, y = field.variables
    h = sympy.Symbol("h")
    exact = {sympy.Symbol(p): sympy.Rational(str(v)) for p, v in params.items()}
    comps = [c.xreplace(exact) for c in field.components]  # expanded in h already
    fn = sympy.lambdify(
        [x, y],
        [[c.coeff(h, k) for c in comps] for k in range(flow.order + 1)],
        "mpmath",
    )
    with mpmath.workdps(30):
        values = [fn(mpmath.mpf(float(p[0])), mpmath.mpf(float(p[1]))) for p in POINTS]
        return [
            np.array([[float(v) for v in point[k]] for point in values])
            for k in range(flow.order + 1)
        ]


def rel_err(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b))


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    flow = flow_of(request.param)
    code = derive.codegen(flow)
    return request.param, flow, code.load(), CASES[request.param][1]


# ---------------------------------------------------------------- (a) golden files


def golden_source(filename, code):
    path = GOLDEN / filename
    if os.environ.get("UPDATE_GOLDEN"):
        code.write(path)
    return path.read_text(encoding="utf-8")


def strip_version(text):
    return VERSION_LINE.sub("Toolkit: optimizer-flows <version>", text)


@pytest.mark.parametrize(
    "filename, build, order",
    [
        ("gd_order2.py", lambda: derive.gd(), 2),
        ("heavy_ball_order3.py", lambda: derive.heavy_ball(), 3),
    ],
)
def test_golden(filename, build, order, monkeypatch):
    code = derive.codegen(build(), order)
    assert strip_version(code.source) == strip_version(golden_source(filename, code))

    # no formatter runs: the same text comes out on a machine without ruff (or any
    # other program) on the PATH
    def no_programs(*args, **kwargs):
        raise AssertionError("codegen must not run a program")

    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(subprocess, "run", no_programs)
    monkeypatch.setattr(subprocess, "Popen", no_programs)
    assert derive.codegen(build(), order).source == code.source


def ruff_format(text):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--isolated",
            "--line-length",
            "88",
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_generated_modules_are_in_ruff_layout():
    """The emitter writes ruff's layout itself (an independent check of the layout,
    with ruff from the dev extra): golden files and explicit modules with long
    expressions are left unchanged by `ruff format`."""
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted(GOLDEN.glob("*.py"))}
    texts["nesterov order 4"] = derive.codegen(derive.nesterov(), 4).source
    texts["explicit heavy ball order 3"] = derive.codegen(
        derive.heavy_ball(), 3, loss="exp(x*y)/(1+x**2) + log(1+y**2)", variables="x,y"
    ).source
    texts["explicit nesterov order 3"] = derive.codegen(
        derive.nesterov(), 3, loss=LOSS, variables="x,y"
    ).source
    for name, text in texts.items():
        assert ruff_format(text) == text, name


# ---------------------------------------------------------------- (b) vs SymPy


def test_matches_symbolic_instantiation(case):
    name, flow, mod, params = case
    ref = reference(name)
    h = 0.1
    args = {"h": h, **params}

    @jax.jit
    def evaluate(y):
        fields = [mod.make_vector_field(loss_tree, k)(0.0, y, args) for k in range(4)]
        full = mod.vector_field(0.0, y, {**args, "loss": loss_tree})
        return mod.terms_by_order(loss_tree, y, args), fields, full

    for i, p in enumerate(POINTS):
        terms, fields, full = evaluate(as_tree(p))
        for k in range(flow.order + 1):
            assert rel_err(from_tree(terms[k]), ref[k][i]) < 1e-12, (k, p)
            # truncation at order k keeps the powers of h up to k
            expected = sum(h**j * ref[j][i] for j in range(k + 1))
            assert rel_err(from_tree(fields[k]), expected) < 1e-12, (k, p)
        assert rel_err(from_tree(full), from_tree(fields[3])) < 1e-15
    with pytest.raises(ValueError, match="order must be between"):
        mod.make_vector_field(loss_tree, order=flow.order + 1)


def test_constants(case):
    name, flow, mod, params = case
    assert mod.OPTIMIZER == flow.recurrence.name
    assert mod.ORDER == 3
    assert mod.PARAMETERS == flow.parameters
    assert mod.SYMBOLIC_PARAMETERS == tuple(params)
    assert [(p, t) for p, t, _ in mod.TERMS] == [(t.power, t.tree) for t in flow.terms]


def test_hand_values_heavy_ball():
    """HB coefficients at beta = 1/2 (flow.text: 2 g - 6 h g'g + ...) on f = x^2/2."""
    mod = derive.codegen(derive.heavy_ball("1/2"), 1).load()
    field = mod.make_vector_field(lambda p: p["w"] @ p["w"] / 2)
    y = {"w": jnp.array([1.0, -2.0])}
    # g = -x, g'g = x: field = 2 (-x) - 6 h x
    got = field(0.0, y, {"h": 0.1})["w"]
    np.testing.assert_allclose(got, -2.6 * y["w"], rtol=1e-15)


# ---------------------------------------------------------------- (c) explicit mode


def test_explicit_mode_equals_matrix_free():
    flow = flow_of("heavy-ball-symbolic")
    explicit = derive.codegen(flow, loss=LOSS, variables="x,y")
    assert explicit.mode == "explicit"
    ex = explicit.load()
    mf = derive.codegen(flow).load()
    assert ex.VARIABLES == ("x", "y")
    args = {"h": 0.15, "beta": 0.7}
    ref = reference("heavy-ball-symbolic")

    @jax.jit
    def both(y):
        terms = ex.terms_by_order(y, args)
        by_order = [
            (
                ex.make_vector_field(k)(0.0, y, args),
                mf.make_vector_field(ex.loss, k)(0.0, y, args),
            )
            for k in range(4)
        ]
        return (
            ex.loss(y),
            terms,
            by_order,
            mf.vector_field(0.0, y, {**args, "loss": ex.loss}),
        )

    for i, p in enumerate(POINTS):
        loss, terms, by_order, full = both(jnp.array(p))
        assert abs(float(loss) - float(loss_tree(as_tree(p)))) < 1e-14
        for k, term in enumerate(terms):
            assert rel_err(term, ref[k][i]) < 1e-12
        for a, b in by_order:
            assert rel_err(a, b) < 1e-12
        assert rel_err(by_order[3][0], full) < 1e-12


def test_explicit_mode_renames_clashing_variables():
    code = derive.codegen(
        derive.gd(), 1, loss="y**2/2 + t*y + args**2", variables="y,t,args"
    )
    mod = code.load()
    assert mod.VARIABLES == ("y", "t", "args")
    y = jnp.array([1.0, 2.0, 3.0])
    # g = -(y + t, y, 2 args); g'g = H grad f = (y + t + t, y + t, 4 args)
    g = -np.array([3.0, 1.0, 6.0])
    gpg = np.array([1 * 3.0 + 1 * 1.0, 1 * 3.0, 2 * 6.0])
    np.testing.assert_allclose(mod.vector_field(0.0, y, {"h": 0.1}), g - 0.05 * gpg)


def test_awkward_parameter_names_and_empty_powers():
    """Parameters called `args` and `order`, the same tree at two powers of h (an
    h**2 inside the update), and a power of h with no term (midpoint rule)."""
    spec = (
        "state x, v; param args, order\n"
        "v = args*v - h*grad(x) - h**2*order*grad(x); x = x + v"
    )
    flow = derive.modified_flow(derive.parse_spec(spec), 2)
    assert {t.tree for t in flow.terms if t.power == 1} == {"[]", "[[]]"}
    mf = derive.codegen(flow).load()
    ex = derive.codegen(flow, loss="x**4/4 + y**2/2 + sin(x)", variables="x,y").load()
    args = {"h": 0.1, "args": 0.5, "order": 0.3}
    y = jnp.array([0.3, -0.4])
    want = ex.vector_field(0.0, y, args)
    assert rel_err(mf.vector_field(0.0, y, {**args, "loss": ex.loss}), want) < 1e-13

    half = derive.exact_number("1/2")
    midpoint = derive.runge_kutta([[0, 0], [half, 0]], [0, 1], name="midpoint")
    mod = derive.codegen(midpoint, 2).load()
    assert [p for p, _, _ in mod.TERMS] == [0, 2, 2]
    terms = mod.terms_by_order(ex.loss, y, {"h": 0.1})
    np.testing.assert_array_equal(terms[1], np.zeros(2))


def test_integer_coefficients_beyond_int64():
    """HB at beta = 0.99, order 4: coefficients up to 1.76e19 > 2**63 (flow.text)."""
    flow = derive.modified_flow(derive.heavy_ball(0.99), 4)
    assert max(abs(t.coefficient) for t in flow.terms) > 2**63
    mf = derive.codegen(flow).load()
    ex = derive.codegen(flow, loss="x**4/4 + y**2/2", variables="x,y").load()
    y = jnp.array([0.3, -0.4])
    want = ex.vector_field(0.0, y, {"h": 1e-3})
    got = jax.jit(mf.make_vector_field(ex.loss))(0.0, y, {"h": 1e-3})
    assert rel_err(got, want) < 1e-12


def test_arguments_are_checked():
    with pytest.raises(derive.DeriveError, match="both a loss and its variables"):
        derive.codegen(derive.gd(), 1, loss="x**2")
    with pytest.raises(derive.DeriveError, match="no order"):
        derive.codegen(derive.gd())
    flow = derive.modified_flow(derive.gd(), 1)
    with pytest.raises(derive.DeriveError, match="order=2"):
        derive.codegen(flow, 2)
    with pytest.raises(derive.DeriveError, match="module name"):
        derive.codegen(flow, name="not a name")


# ---------------------------------------------------------------- (d) header


def test_header_and_content_hash():
    code = derive.codegen(derive.heavy_ball(), 3)
    header, body = code.source.split('\n"""\n', 1)
    flat = " ".join(header.split())
    assert f"Toolkit: optimizer-flows {derive.__version__}" in header
    assert "Optimizer: heavy-ball" in header
    assert "Order: 3" in header
    assert 'Parameters: beta = beta (symbolic: pass args["beta"])' in header
    assert "Conventions: " + " ".join(derive.CONVENTIONS.split()) in flat
    assert "h^3  [[],[],[]]  g'''(g,g,g)  -beta*(beta + 1)/(2*(1 - beta)**7)" in header
    stated = re.search(r"Content hash: sha256:([0-9a-f]{64})", header).group(1)
    assert stated == code.content_hash == derive.content_hash(code.source)
    assert derive.verify_content_hash(code.source) == stated
    assert stated == hashlib.sha256(body.encode()).hexdigest()
    assert code.sha256 == hashlib.sha256(code.source.encode()).hexdigest()
    tampered = code.source.replace("(1 - beta) ** 3", "(1 - beta) ** 2")
    with pytest.raises(derive.DeriveError, match="was edited"):
        derive.verify_content_hash(tampered)
    # the body imports nothing beyond jax, jax.numpy (and the stdlib)
    imports = re.findall(r"^(?:import|from) (\S+)", body, re.MULTILINE)
    assert set(imports) <= {"jax", "jax.numpy"}


def test_numeric_parameters_in_header():
    code = derive.codegen(derive.heavy_ball(0.9), 1)
    assert "Parameters: beta = 9/10\n" in code.source
    mod = code.load()
    assert mod.PARAMETERS == {"beta": "9/10"} and mod.SYMBOLIC_PARAMETERS == ()


# ---------------------------------------------------------------- (e) diffrax


def test_diffrax_tsit5_on_a_pytree_state():
    diffrax = pytest.importorskip("diffrax")
    mod = derive.codegen(derive.heavy_ball(), 2).load()
    args = {"h": 0.05, "beta": 0.7}
    y0 = as_tree([1.2, -0.8])
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(mod.make_vector_field(loss_tree)),
        diffrax.Tsit5(),
        t0=0.0,
        t1=1.0,
        dt0=0.05,
        y0=y0,
        args=args,
        stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-12),
    )
    y1 = jax.tree_util.tree_map(lambda leaf: leaf[-1], sol.ys)
    assert jax.tree_util.tree_structure(y1) == jax.tree_util.tree_structure(y0)
    assert np.all(np.isfinite(from_tree(y1)))
    assert float(loss_tree(y1)) < float(loss_tree(y0))


# ---------------------------------------------------------------- (f) command line


def test_cli_writes_a_module_that_imports_and_runs(tmp_path, capsys):
    out = tmp_path / "hb3.py"
    assert main(["codegen", "heavy-ball", "--order", "3", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    text = out.read_text()
    assert strip_version(text) == strip_version(
        (GOLDEN / "heavy_ball_order3.py").read_text()
    )
    spec = importlib.util.spec_from_file_location("hb3", out)
    hb3 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hb3)
    field = hb3.make_vector_field(lambda w: jnp.sum(w**2) / 2)
    got = field(0.0, jnp.array([1.0, 2.0]), {"h": 0.1, "beta": 0.5})
    # f = |w|^2/2, beta = 1/2: g = -w, g'g = w, g'g'g = -w, g'g'g'g = w, g'' = 0, so
    # with the coefficients 2, -6, 104/3, -252 (heavy_ball docstring, flow.text)
    # the field is -(2 + 6 h + 104/3 h^2 + 252 h^3) w
    rate = 2 + 6 * 0.1 + (104 / 3) * 0.01 + 252 * 0.001
    np.testing.assert_allclose(got, -rate * np.array([1.0, 2.0]), rtol=1e-13)


def test_cli_stdout_params_and_explicit(capsys):
    argv = ["codegen", "heavy-ball", "--order", "1", "--param", "beta=1/2"]
    assert main([*argv, "--loss", "x**2/2", "--vars", "x"]) == 0
    source = capsys.readouterr().out
    assert 'PARAMETERS = {"beta": "1/2"}' in source
    assert 'VARIABLES = ("x",)' in source
    assert derive.verify_content_hash(source)


def test_cli_spec_file(tmp_path, capsys):
    spec = tmp_path / "hbv.txt"
    spec.write_text("state x, v; param beta\nv = beta*v - h*grad(x); x = x + v\n")
    argv = ["codegen", "--spec", str(spec), "--order", "1", "--param", "beta=0.5"]
    assert main(argv) == 0
    source = capsys.readouterr().out
    assert "Optimizer: hbv" in source and "Spec:" in source
    mod = derive.GeneratedCode(source, None, "hbv", "matrix-free").load()
    y = {"w": jnp.array([1.0])}
    got = mod.make_vector_field(lambda p: p["w"][0] ** 2 / 2)(0.0, y, {"h": 0.1})
    np.testing.assert_allclose(got["w"], [-2.6], rtol=1e-14)  # 2 g - 6 h g'g at w = 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["codegen", "lion", "--order", "1"], "unknown optimizer"),
        (["codegen", "gd", "--order", "1", "--param", "beta=0.5"], "unknown parameter"),
        (["codegen", "heavy-ball", "--order", "1", "--param", "beta=1"], "singular"),
        (["codegen", "gd", "--order", "1", "--loss", "x**2"], "go together"),
        (["codegen", "gd", "--loss", "x**2", "--vars", "x,"], "--vars"),
        (["codegen", "--order", "1"], "no optimizer"),
    ],
)
def test_cli_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("derive: error:") and message in err
