"""Tests of the safe expression parser `derive._text.expression`."""

import doctest
import pickle

import pytest
import sympy

import derive._text.expression
from derive._text.expression import ParseError, parse_expression, parse_number

x, y, beta = sympy.symbols("x y beta", real=True)
NAMES = {"x": x, "y": y, "beta": beta}


def parse(text, **kwargs):
    return parse_expression(text, NAMES, **kwargs)


def test_docstring_examples():
    result = doctest.testmod(derive._text.expression)
    assert result.attempted > 0
    assert result.failed == 0


# Exact arithmetic -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.9", sympy.Rational(9, 10)),
        ("0.1", sympy.Rational(1, 10)),
        ("1e-3", sympy.Rational(1, 1000)),
        ("2E+2", sympy.Integer(200)),
        ("1.", sympy.Integer(1)),
        (".5", sympy.Rational(1, 2)),
        ("1_000.25", sympy.Rational(4001, 4)),
        ("0.1 + 0.2", sympy.Rational(3, 10)),
        ("1/3", sympy.Rational(1, 3)),
        ("-7", sympy.Integer(-7)),
    ],
)
def test_decimals_are_exact(text, expected):
    value = parse(text)
    assert value == expected
    assert isinstance(value, sympy.Rational)


def test_decimal_coefficient_in_expression():
    assert parse("0.9*x + 1e-3") == sympy.Rational(9, 10) * x + sympy.Rational(1, 1000)


# Powers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x^2", x**2),
        ("x**2", x**2),
        # `^` has the precedence of `**`, not of Python's bitwise xor.
        ("x^2 + 1", x**2 + 1),
        ("2*x^3", 2 * x**3),
        ("-x^2", -(x**2)),
        ("2^-1", sympy.Rational(1, 2)),
        # Right associative, as `**`.
        ("2^3^2", sympy.Integer(512)),
        ("x^0.5", sympy.sqrt(x)),
        ("(x + y)^2", (x + y) ** 2),
    ],
)
def test_powers(text, expected):
    assert parse(text) == expected


# Functions, constants, names ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("sin", sympy.sin),
        ("cos", sympy.cos),
        ("tan", sympy.tan),
        ("exp", sympy.exp),
        ("log", sympy.log),
        ("sqrt", sympy.sqrt),
        ("tanh", sympy.tanh),
        ("sinh", sympy.sinh),
        ("cosh", sympy.cosh),
        ("atan", sympy.atan),
        ("asin", sympy.asin),
        ("acos", sympy.acos),
        ("abs", sympy.Abs),
    ],
)
def test_function_whitelist(name, function):
    assert parse(f"{name}(x + 1)") == function(x + 1)


def test_constants_and_loss():
    assert parse("pi") == sympy.pi
    assert parse("E") == sympy.E
    assert parse("log(8, 2)") == 3
    loss = parse("x^2/2 + 0.1*cos(pi*y) - log(1 + exp(-beta*x))")
    expected = (
        x**2 / 2
        + sympy.Rational(1, 10) * sympy.cos(sympy.pi * y)
        - sympy.log(1 + sympy.exp(-beta * x))
    )
    assert sympy.simplify(loss - expected) == 0


def test_names_take_precedence_over_constants():
    e = sympy.Symbol("E")
    assert parse_expression("E + 1", {"E": e}) == e + 1


def test_unicode_names():
    b = sympy.Symbol("β")
    assert parse_expression("β^2", {"β": b}) == b**2


def test_allow_unknown_gives_real_symbols():
    value = parse_expression("a*z + 1", allow_unknown=True)
    a, z = sympy.Symbol("a", real=True), sympy.Symbol("z", real=True)
    assert value == a * z + 1
    assert all(s.is_real for s in value.free_symbols)


def test_function_names_may_be_called():
    phi = sympy.Function("phi")
    assert parse_expression("phi(x)^2", {"phi": phi, "x": x}) == phi(x) ** 2


def test_numbers_in_names_are_accepted():
    assert parse_expression("2*k", {"k": 3}) == 6


def test_bad_names_mapping():
    with pytest.raises(TypeError, match="names\\['x'\\]"):
        parse_expression("x", {"x": object()})


def test_whitespace_and_newlines():
    assert parse("  x +\ty  ") == x + y
    assert parse("(x\n + y)") == x + y


def test_long_sums_are_not_deep_nesting():
    # 500 terms: the sum is flattened, not counted as 500 levels of nesting.
    assert parse(" + ".join(["x"] * 500)) == 500 * x


# Rejections -------------------------------------------------------------------------


def reject(text, *fragments, names=NAMES, **kwargs):
    with pytest.raises(ParseError) as info:
        parse_expression(text, names, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return info.value


@pytest.mark.parametrize(
    ("text", "construct", "column"),
    [
        ("__import__('os')", "call of '__import__'", 1),
        ("x.__class__", "attribute access", 2),
        ("lambda: 0", "lambda", 1),
        ("[1,2]", "list", 1),
        ('"s"', "string literal", 1),
        ("open('f')", "call of 'open'", 1),
        ("x[0]", "subscript", 2),
        ("(1, 2)", "tuple", 3),
        ("{1: 2}", "dictionary", 1),
        ("[i for i in x]", "comprehension", 1),
        ("(i for i in x)", "generator expression", 1),
        ("x if y else 1", "conditional expression", 3),
        ("x < y", "comparison", 3),
        ("x and y", "boolean operator", 3),
        ("x % 2", "operator '%'", 3),
        ("x // 2", "operator '//'", 3),
        ("x @ y", "operator '@'", 3),
        ("~x", "operator '~'", 1),
        ("not x", "operator 'not'", 1),
        ("f'{x}'", "f-string", 1),
        ("b'x'", "bytes literal", 1),
        ("1j", "complex number", 1),
        ("True", "constant True", 1),
        ("None", "constant None", 1),
        ("sin(*x)", "starred argument", 5),
        ("sin(x=1)", "keyword argument", 5),
        ("(lambda: 0)()", "only calls of named functions", 1),
        ("x.real()", "only calls of named functions", 1),
        ("pi(2)", "'pi' is a constant", 1),
        ("x(2)", "'x' is not a function", 1),
        ("(x := 1)", "assignment expression", 2),
        ("x + __builtins__", "'__builtins__' is not allowed", 5),
    ],
)
def test_rejected_constructs(text, construct, column):
    error = reject(text, construct, text)
    assert error.column == column
    assert isinstance(error, ValueError)


def test_message_shows_input_column_and_fix():
    error = reject("x + y.__class__", "attribute access ('.')")
    message = str(error)
    lines = message.splitlines()
    assert lines[0] == "attribute access ('.') is not allowed, at column 6:"
    assert lines[1] == "    x + y.__class__"
    assert lines[2] == "         ^"
    assert "Only numbers, names, parentheses" in message
    assert "sin, cos" in message


def test_caret_with_power_operator_and_unicode():
    # `^` is rewritten internally as `**`; columns still refer to the input.
    b = sympy.Symbol("β")
    error = reject("β^2 + x^2 % 3", "operator '%'", names={"β": b, "x": x})
    assert error.column == 11


def test_multiline_position():
    error = reject("(x\n + y.z)", "attribute access")
    assert (error.line, error.column) == (2, 5)
    assert "line 2, column 5" in str(error)


def test_unknown_name_lists_allowed_names():
    reject("x + z", "unknown name 'z'", "x, y, beta, pi, E")


def test_function_without_argument():
    reject("sin + 1", "function 'sin' is used without an argument", "sin(x)")


def test_wrong_number_of_arguments():
    reject("sin(x, y)", "sin takes 1 argument, not 2")
    reject("log(x, y, 2)", "log takes 1 or 2 arguments, not 3")


def test_syntax_errors():
    reject("x +* 2", "not a valid expression")
    reject("x = 1", "not a valid expression")
    reject("import os", "not a valid expression")
    reject("x; y", "not a valid expression")
    reject("", "empty expression")
    reject("   ", "empty expression")
    reject("\x00", "not a valid expression")


def test_non_string_input():
    with pytest.raises(TypeError):
        parse_expression(1.5)


# Denial of service -------------------------------------------------------------------


def test_power_tower_is_refused():
    error = reject("9**9**9", "the exponent 387420489 is too large", "1000")
    assert error.column == 4
    reject("9^9^9", "too large")


@pytest.mark.parametrize(
    "text",
    [
        "2**1001",
        "x**-1001",
        "2**(10**9 + sqrt(2))",
        "2**(10**9 * pi)",
        "1e1001",
        "1e99999999999",
    ],
)
def test_large_exponents_are_refused(text):
    reject(text, "too large", "1000")


def test_exponent_at_the_limit_is_accepted():
    assert parse("2**1000") == 2**1000
    assert parse("x**-1000") == x**-1000


def test_huge_numbers_are_refused():
    reject("(10**1000)**1000", "the power would create a number", "bits")
    reject("(10**1000 * x)**1000", "the power would create a number")
    reject("*".join(["(10**1000)**2"] * 20), "the product would create a number")


def test_length_and_depth_limits():
    reject(
        "x+" * 10_001 + "x", "characters long", "20000"
    )  # the one limit of every parser
    reject("sin(" * 150 + "x" + ")" * 150, "nested more than 100 levels")
    reject("-" * 3000 + "x", "too long or too deeply nested")
    reject("(" * 300 + "x" + ")" * 300, "not a valid expression")


def test_undefined_values_are_refused():
    reject("1/0", "division by zero")
    reject("x/(y - y)", "division by zero")
    reject("0**-1", "division by zero")
    reject("log(0)", "undefined", "zoo")


def test_parse_error_pickles():
    error = reject("x.y", "attribute access")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert copy.column == error.column


# parse_number -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.5", sympy.Rational(1, 2)),
        ("1/2", sympy.Rational(1, 2)),
        ("-3", sympy.Integer(-3)),
        ("2e-3", sympy.Rational(1, 500)),
        ("9/10", sympy.Rational(9, 10)),
        (" 0.99 ", sympy.Rational(99, 100)),
    ],
)
def test_parse_number(text, expected):
    value = parse_number(text)
    assert value == expected
    assert isinstance(value, sympy.Rational)


@pytest.mark.parametrize("text", ["sqrt(2)", "beta", "pi", "x + 1"])
def test_parse_number_rejects_non_rationals(text):
    with pytest.raises(ParseError, match="is not a rational number"):
        parse_number(text)


def test_parse_number_rejects_unsafe_input():
    with pytest.raises(ParseError, match="call of '__import__'"):
        parse_number("__import__('os')")
