"""Tests of the text spec language `derive._text.spec`.

Reference values: each spec is compared with the built-in optimizer or with the same
update written as a Python function and traced (the engine's own reference path), and
a few closed forms are checked directly:

- GD: x' = g - (h/2) g'g + h^2 (1/12 g''(g,g) + 1/3 g'g'g) (Hairer, Lubich & Wanner,
  *Geometric Numerical Integration*, ch. IX).
- Heavy ball: x' = g/(1-beta) - h (1+beta)/(2(1-beta)^3) g'g (Kovachki & Stuart,
  JMLR 2021; Ghosh et al., ICLR 2023), with g = -grad f.
- Nesterov: the h g'g coefficient is -(1 - beta + 2 beta^2)/(2(1-beta)^3) (DESIGN.md,
  after Kovachki & Stuart 2021).
"""

import builtins
import doctest
import pickle
from fractions import Fraction

import numpy as np
import pytest
import sympy

import derive
import derive._text.spec
from derive import DeriveError, SpecError, modified_flow, parse_spec
from derive._optimizers import heavy_ball_step

beta, nu = sympy.symbols("beta nu")

GD = "state x; x = x - h*grad(x)"
HB = "state x, x_prev; param beta\nx, x_prev = x + beta*(x - x_prev) - h*grad(x), x"
HB_VELOCITY = "state x, v; param beta; v = beta*v - h*grad(x); x = x + v"
NESTEROV = """
# Nesterov's accelerated gradient with fixed momentum
state x, x_prev
param beta
y = x + beta*(x - x_prev)          # look-ahead point
x, x_prev = y - h*grad(y), x
"""
EXTRAGRADIENT = "state x; y = x - h*grad(x); x = x - h*grad(y)"
QHM = (
    "state x, d; param beta, nu; d = beta*d + (1-beta)*grad(x); "
    "x = x - h*((1-nu)*grad(x) + nu*d)"
)


def terms(optimizer, order):
    """`{(power, tree): SymPy coefficient}` of the modified flow."""
    return {(t.power, t.tree): t.sympy for t in modified_flow(optimizer, order).terms}


def assert_same_flow(a, b, order=3):
    ta, tb = terms(a, order), terms(b, order)
    assert ta.keys() == tb.keys()
    for key in ta:
        assert sympy.simplify(ta[key] - tb[key]) == 0, key


def test_docstring_examples():
    result = doctest.testmod(derive._text.spec)
    assert result.attempted > 0
    assert result.failed == 0


# The examples of the brief ------------------------------------------------------------


def test_gradient_descent_equals_builtin_and_closed_form():
    assert_same_flow(parse_spec(GD), derive.gd(), order=4)
    t = terms(parse_spec(GD), 2)
    assert t == {
        (0, "[]"): 1,
        (1, "[[]]"): sympy.Rational(-1, 2),
        (2, "[[[]]]"): sympy.Rational(1, 3),
        (2, "[[],[]]"): sympy.Rational(1, 12),
    }


def test_heavy_ball_previous_iterate_form_equals_builtin():
    assert_same_flow(parse_spec(HB), derive.heavy_ball(), order=3)


def test_heavy_ball_velocity_form_equals_builtin():
    # v = beta v - h grad(x); x = x + v gives x+ - x = beta (x - x-) - h grad(x).
    assert_same_flow(parse_spec(HB_VELOCITY), derive.heavy_ball(), order=3)


def test_heavy_ball_first_order_closed_form():
    t = terms(parse_spec(HB_VELOCITY), 1)
    assert sympy.simplify(t[(0, "[]")] - 1 / (1 - beta)) == 0
    assert sympy.simplify(t[(1, "[[]]")] + (1 + beta) / (2 * (1 - beta) ** 3)) == 0


def test_heavy_ball_numeric_beta():
    spec = parse_spec(HB_VELOCITY, beta=0.9)
    assert spec.values == {"beta": Fraction(9, 10)}
    assert_same_flow(spec, derive.heavy_ball(0.9), order=3)
    t = terms(spec, 1)
    assert t == {(0, "[]"): 10, (1, "[[]]"): -950}


def test_nesterov_equals_builtin_and_closed_form():
    spec = parse_spec(NESTEROV)
    assert_same_flow(spec, derive.nesterov(), order=3)
    first = terms(spec, 1)[(1, "[[]]")]
    assert sympy.simplify(first + (1 - beta + 2 * beta**2) / (2 * (1 - beta) ** 3)) == 0


def test_extragradient_equals_python_function():
    def extragradient(x, *, grad, h):
        y = x - h * grad(x)
        return x - h * grad(y)

    assert_same_flow(parse_spec(EXTRAGRADIENT), extragradient, order=3)
    # x+ = x + h g(x + h g(x)) = x + h g + h^2 g'g + ..., so F_1 = g'g - g'g/2.
    assert terms(parse_spec(EXTRAGRADIENT), 1)[(1, "[[]]")] == sympy.Rational(1, 2)


def test_quasi_hyperbolic_momentum_equals_python_function():
    def qhm(x, d, *, grad, h, beta, nu):
        d_new = beta * d + (1 - beta) * grad(x)
        return x - h * ((1 - nu) * grad(x) + nu * d_new), d_new

    assert_same_flow(parse_spec(QHM), qhm, order=2)
    assert_same_flow(
        parse_spec(QHM, beta=0.9, nu=0.7), derive.trace(qhm, beta=0.9, nu=0.7)
    )


def test_quasi_hyperbolic_momentum_with_nu_zero_is_gradient_descent():
    assert_same_flow(parse_spec(QHM, beta=0.9, nu=0), derive.gd(), order=3)


# Semantics ----------------------------------------------------------------------------


def test_sequential_and_tuple_assignments():
    sequential = parse_spec("state x, v; v = 2*v + x; x = x + v")
    simultaneous = parse_spec("state x, v; x, v = x + v, 2*v + x")
    grad = lambda y: 0 * y  # noqa: E731
    assert sequential.run((1.0, 1.0), grad, h=0.1) == (4.0, 3.0)
    assert simultaneous.run((1.0, 1.0), grad, h=0.1) == (2.0, 3.0)
    assert sequential.function(1.0, 1.0, grad=grad, h=0.1) == (4.0, 3.0)


def test_tuple_assignment_in_velocity_form_matches_sequential():
    tuple_form = (
        "state x, v; param beta\nv, x = beta*v - h*grad(x), x + beta*v - h*grad(x)"
    )
    assert_same_flow(parse_spec(tuple_form), parse_spec(HB_VELOCITY), order=3)


def test_augmented_assignment():
    assert_same_flow(parse_spec("state x\nx -= h*grad(x)"), derive.gd(), order=3)
    spec = "state x, v; param beta; v *= beta; v -= h*grad(x); x += v"
    assert_same_flow(parse_spec(spec), derive.heavy_ball(), order=2)


def test_layout_comments_continuations_and_line_endings():
    text = (
        "# heavy ball\r\n"
        "  state x, v   # position first\r\n"
        "\r\n"
        "param beta = 0.9 ; v = (beta*v\r\n"
        "     - h*grad(x))  # a bracket continues the line\r\n"
        "x = x + \\\r\n"
        "    v\r\n"
    )
    assert_same_flow(parse_spec(text), derive.heavy_ball(0.9), order=2)


def test_parameters_defaults_overrides_and_symbols():
    text = (
        "state x, v; param beta = 0.9, nu = 1/2, c; v = beta*v - h*grad(x); x = x + v"
    )
    spec = parse_spec(text)
    assert spec.values == {"beta": Fraction(9, 10), "nu": Fraction(1, 2)}
    assert spec.parameters == ("c",)
    spec = parse_spec(text, beta="1/3", c=2)
    assert spec.values == {"beta": Fraction(1, 3), "nu": Fraction(1, 2), "c": 2}
    spec = parse_spec(text, beta=None)
    assert set(spec.parameters) == {"beta", "c"}


def test_exact_numbers_and_powers():
    spec = parse_spec("state x; param b; x = x - h*(0.1 + 1e-1 + b**2 - b*b)*grad(x)")
    assert terms(spec, 0) == {(0, "[]"): sympy.Rational(1, 5)}
    spec = parse_spec("state x; x = x - (2**3/4 - 1)*h**1*grad(x)")
    assert terms(spec, 0) == {(0, "[]"): 1}


def test_nested_gradient_calls():
    # Heun's method on the gradient flow (a second-order Runge-Kutta method).
    text = "state x; k = grad(x); x = x - h/2*(k + grad(x - h*k))"
    heun = derive.runge_kutta([[0, 0], [1, 0]], [Fraction(1, 2), Fraction(1, 2)])
    assert_same_flow(parse_spec(text), heun, order=3)
    nested = parse_spec("state x; x = x - h*grad(x - h*grad(x - h*grad(x)))")
    assert nested.n_grad_calls == 3


def test_record_keeps_source_and_name():
    spec = parse_spec(EXTRAGRADIENT, name="extragradient")
    assert spec.source == EXTRAGRADIENT
    assert spec.name == "extragradient"
    assert parse_spec(GD).name == "spec"
    record = modified_flow(spec, 1).to_dict()
    assert record["spec"] == EXTRAGRADIENT
    assert record["optimizer"] == "extragradient"


def test_function_runs_on_arrays_like_the_builtin_definition():
    spec = parse_spec(HB_VELOCITY, beta=0.5)
    x, v = np.array([1.0, -2.0]), np.array([0.5, 0.25])

    def grad(y):
        return np.array([2.0, 4.0]) * y

    new_x, new_v = spec.function(x, v, grad=grad, h=0.1)
    # The velocity form: x+ = x + beta (x - x-) - h grad(x) with x - x- = v.
    expected = heavy_ball_step(x, x - v, grad=grad, h=0.1, beta=0.5)
    np.testing.assert_allclose(new_x, expected)
    np.testing.assert_allclose(new_v, new_x - x)
    np.testing.assert_allclose(spec.run((x, v), grad, h=0.1)[0], expected)


def test_unicode_names():
    spec = parse_spec("state x, v; param β = 0.9; v = β*v - h*grad(x); x = x + v")
    assert spec.values == {"β": Fraction(9, 10)}


def test_no_eval_exec_or_sympify(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the spec parser must not evaluate text")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sympy, "sympify", forbidden)
    parse_spec(QHM, beta=0.9)
    with pytest.raises(DeriveError):
        parse_spec("state x; x = eval(x)")


# Errors -------------------------------------------------------------------------------

ERRORS = [
    # (spec, phrase in the message, line, column)
    ("state x; x = x - h*grad(x*x)", "product of two states", 1, 25),
    ("state x, v\nv = x*v\nx = x + v", "product of two states", 2, 5),
    ("state x\nx = x**2", "power of a state", 2, 5),
    ("state x\nx = x - h*grad(x)/x", "division by a state", 2, 9),
    ("state x; x = x + 1", "constant (1) is added to a state", 1, 14),
    ("state x; param c; x = c + x", "constant is added to a state", 1, 23),
    ("state x; x = x - h*grad(x, x)", "exactly one argument", 1, 20),
    ("state x; x = x - h*grad()", "exactly one argument", 1, 20),
    ("state x; x = x - h*grad(y=x)", "no keywords", 1, 20),
    ("state x; x = x - h*grad(*x)", "exactly one argument", 1, 20),
    ("state x; x = x - h*grad", "without an argument", 1, 20),
    ("state x; x = grad(h)", "applied to a scalar", 1, 14),
    ("state x; x = h", "'x' is set to a scalar", 1, 10),
    ("state x; x = x - h*sin(x)", "calling 'sin' is not allowed", 1, 20),
    ("state x; x = x - h*(x)(x)", "calling 'x' is not allowed", 1, 20),
    ("state x; x = x - h*(x + x)(x)", "only grad(...) can be called", 1, 20),
    ("state x\n\nx = x - h*bta*grad(x)", "unknown name 'bta'", 3, 11),
    ("state x\nx = x + beta*(x - x_prev)", "unknown name 'beta'", 2, 9),
    ("state x\nx, x_prev = x - h*grad(x) + x_prev, x", "unknown name 'x_prev'", 2, 29),
    ("state x; x = x - h*y; y = grad(x)", "unknown name 'y'", 1, 20),
    ("x = x - h*grad(x)", "state is not declared", 1, 1),
    ("param beta; x = x - h*grad(x)", "state is not declared", 1, 13),
    ("state x; x = x - h*grad(x); state y", "comes after an assignment", 1, 29),
    ("state x; x = x - h*grad(x); param b", "comes after an assignment", 1, 29),
    ("state x\nstate y\nx = x - h*grad(x)", "declared twice", 2, 1),
    ("state x, x\nx = x", "'x' is declared twice", 1, 10),
    ("state x; param x; x = x", "'x' is declared twice", 1, 16),
    ("state x; param h; x = x", "it is the step size", 1, 16),
    ("state grad; grad = grad", "it is the gradient", 1, 7),
    ("state x; param state", "it is a keyword", 1, 16),
    ("state _x; _x = _x", "reserved", 1, 7),
    ("state = 1", "keyword of the spec language", 1, 1),
    (
        "state x; param beta = nu; x = x",
        "default value of 'beta' is not a number",
        1,
        23,
    ),
    ("state x; param beta = ; x = x", "default value of 'beta' is missing", 1, 22),
    ("state x,; x = x", "a name is missing", 1, 9),
    ("state x + 1; x = x", "is not a name", 1, 7),
    ("state x; param beta; beta = 1", "'beta' is a parameter", 1, 22),
    ("state x; h = x", "it is the step size", 1, 10),
    ("state x; x = x - h*grad(x) + _y", "unknown name '_y'", 1, 30),
    ("state x; x.y = 1", "cannot assign to attribute access", 1, 10),
    ("state x; x[0] = 1", "cannot assign to subscript", 1, 10),
    ("state x; x = y = x", "chained assignments", 1, 10),
    ("state x, v; x, v = x", "single expression", 1, 20),
    ("state x, v; x, v = x, v, x", "2 names are assigned 3 values", 1, 20),
    ("state x, v; x, x = x, v", "appears twice", 1, 13),
    ("state x; x **= 2", "'**=' is not allowed", 1, 10),
    ("state x; x: int = x", "annotations", 1, 10),
    ("state x; grad(x)", "not assigned to anything", 1, 10),
    ("state x; x = x - h^2*grad(x)", "'^' is not allowed", 1, 14),
    ("state x; x = x - h % 2*grad(x)", "'%' is not allowed", 1, 18),
    ("state x; x = x - h**0.5*grad(x)", "exponent 1/2 is not a whole number", 1, 21),
    (
        "state x; param b; x = x - h**b*grad(x)",
        "exponent of '**' must be a whole",
        1,
        30,
    ),
    ("state x; x = x - h**-1*grad(x)", "exponent -1", 1, 21),
    ("state x; x = x - h**1001*grad(x)", "exponent 1001", 1, 21),
    ("state x; x = x - h*1j*grad(x)", "complex numbers", 1, 20),
    ("state x; x = x - h*True*grad(x)", "constant True", 1, 20),
    ("state x; x = x - None", "constant None", 1, 18),
    ("state x; x = x if x else x", "conditional expression", 1, 14),
    ("state x; x = x < 1", "comparison", 1, 14),
    ("state x; x = (x, x)", "tuple", 1, 14),
    ("state x; x = {x: 1}", "dictionary", 1, 14),
    ("state x; x = [y for y in x]", "comprehension", 1, 14),
    ("state x; x = (y := x)", "assignment expression", 1, 15),
    ("state x; x = not x", "'not' is not allowed", 1, 14),
    ("state x; x = x - h*grad(x)\n  )", "invalid syntax", 2, 3),
    ("state x; x = = x", "invalid syntax", 1, 14),
    ("state x; x = (x", "invalid syntax", 1, 14),
    ("state x; if x: x = 1", "'if' statements are not allowed", 1, 10),
    ("state x; for y in x: x = y", "'for' statements are not allowed", 1, 10),
    ("state x; def f(): pass", "'def' statements are not allowed", 1, 10),
    ("state x; del x", "'del' statements are not allowed", 1, 10),
    ("state x; x = x - h*grad(x) / (1 - 1)", "division by zero", 1, 31),
    (
        "state x; param beta = 1; x = x - h/(1 - beta)*grad(x)",
        "division by zero",
        1,
        37,
    ),
    ("state x; param b = 1/0; x = x", "division by zero", 1, 20),
]


@pytest.mark.parametrize(("text", "phrase", "line", "column"), ERRORS)
def test_errors_name_problem_line_and_column(text, phrase, line, column):
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    message = str(info.value)
    assert phrase in message
    assert message.startswith(f"spec line {line}, column {column}")
    assert (info.value.line, info.value.column) == (line, column)
    assert info.value.fix  # every error says how to fix it


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("state x", "assigns nothing"),
        ("param beta", "declares no state"),
        ("", "declares no state"),
        ("# only a comment\n\n", "declares no state"),
    ],
)
def test_errors_about_the_whole_spec(text, phrase):
    with pytest.raises(DeriveError, match=phrase):
        parse_spec(text)


def test_unknown_parameter_lists_the_declared_ones():
    with pytest.raises(DeriveError, match="unknown parameter.*gamma.*declares: beta"):
        parse_spec(HB_VELOCITY, gamma=0.5)
    with pytest.raises(DeriveError, match="declares: none"):
        parse_spec(GD, beta=0.5)


def test_state_never_updated_is_an_engine_error():
    spec = parse_spec("state x, v; x = x - h*grad(x)")
    with pytest.raises(DeriveError, match="not determined"):
        modified_flow(spec, 1)


def test_singular_momentum_is_an_engine_error():
    with pytest.raises(DeriveError, match="beta = 1"):
        modified_flow(parse_spec(HB, beta=1), 1)


def test_errors_pickle():
    with pytest.raises(SpecError) as info:
        parse_spec("state x; x = x*x")
    copy = pickle.loads(pickle.dumps(info.value))
    assert (str(copy), copy.line, copy.column) == (str(info.value), 1, 14)


def test_not_a_string():
    with pytest.raises(TypeError, match="str"):
        parse_spec(b"state x")


HOSTILE = [
    "__import__('os').system('x')",
    "state x; x = __import__('os').system('x')",
    "state x; x = __import__",
    "state x; x = ().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "state x; x = x.__class__",
    "state x; x = grad.__globals__",
    "state x; x = exec(x)",
    "state x; import os",
    "state x; from os import system",
    "state x; x = lambda: 0",
    "state x; x = x - 9**9**9*h*grad(x)",
    "state x; x = x - (10**64)**64*h*grad(x)",
    "state x; param b; x = x - ((1 + b)**64)**64*h*grad(x)",
    "state x; param b; x = x - (" + "*".join(["(1 + b)**60"] * 5) + ")*h*grad(x)",
    "state x; x = x - 1e100000*h*grad(x)",
    "state x; x = x - 0x" + "f" * 5000 + "*h*grad(x)",
    "state x; x = x - " + "9" * 5000 + "*h*grad(x)",
    "state x; x = " + "(" * 1000 + "x" + ")" * 1000,
    "state x; x = " + "-" * 10_000 + "x",
    "state x; x = x" + " + x" * 4000,
    "state x; x = x - h*" + "grad(" * 150 + "x" + ")" * 150,
    "state x; x = x - h*grad(x)" + " " * 20_000,
    "state x; x = x - h*grad(x)\x00",
    "state x; x = f'{x}'",
    'state x; x = "x"',
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_inputs_are_refused(text):
    with pytest.raises(DeriveError):
        parse_spec(text)


def test_long_but_legitimate_sums_are_accepted():
    # A long chain of + is not deep nesting.
    text = "state x; x = x - h*(" + " + ".join(["grad(x)"] * 500) + ")/500"
    assert terms(parse_spec(text), 0) == {(0, "[]"): 1}
