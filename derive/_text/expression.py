"""Safe parsing of mathematical text into exact SymPy expressions.

Text typed by a user (a command-line argument, a loss in a specification file) is read
by walking its Python syntax tree under a whitelist. Nothing is ever evaluated by
Python: no `eval`, no `sympify` of strings. Decimal literals are converted exactly, so
`0.9` is $9/10$ and `1e-3` is $1/1000$, and sizes are bounded so that inputs such as
`9**9**9` are refused instead of exhausting memory.
"""

from __future__ import annotations

import ast
import io
import math
import tokenize
import unicodedata
from collections.abc import Callable, Mapping
from typing import TypeAlias

import sympy

from .errors import ParseError
from .limits import MAX_BITS, MAX_DEPTH, MAX_EXPONENT, MAX_LENGTH, MAX_TOWER
from .numbers import decimal_literal
from .syntax import CONSTRUCTS as _CONSTRUCTS
from .syntax import OPERATORS as _OPERATORS

__all__ = ["ParseError", "parse_expression", "parse_number"]

_FUNCTIONS: dict[str, tuple[Callable[..., sympy.Expr], tuple[int, ...]]] = {
    "sin": (sympy.sin, (1,)),
    "cos": (sympy.cos, (1,)),
    "tan": (sympy.tan, (1,)),
    "exp": (sympy.exp, (1,)),
    "log": (sympy.log, (1, 2)),
    "sqrt": (sympy.sqrt, (1,)),
    "tanh": (sympy.tanh, (1,)),
    "sinh": (sympy.sinh, (1,)),
    "cosh": (sympy.cosh, (1,)),
    "atan": (sympy.atan, (1,)),
    "asin": (sympy.asin, (1,)),
    "acos": (sympy.acos, (1,)),
    "abs": (sympy.Abs, (1,)),
}

_CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "E": sympy.E}

_ALLOWED = (
    "Only numbers, names, parentheses, the operators + - * / ** (or ^), the "
    f"functions {', '.join(_FUNCTIONS)} and the constants {', '.join(_CONSTANTS)} "
    "are allowed."
)


_Node: TypeAlias = ast.expr | ast.keyword
"""A syntax-tree node with a position."""

_UNDEFINED = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)


def _size_bits(expr: sympy.Basic) -> int:
    """Estimate from above the bits of the numbers that evaluating `expr` creates."""
    if expr.is_Rational:
        return max(abs(expr.p).bit_length(), expr.q.bit_length(), 1)
    if expr.is_Pow and expr.exp.is_Rational:
        return _size_bits(expr.base) * max(1, math.ceil(abs(expr.exp)))
    return sum(_size_bits(arg) for arg in expr.args)


def _tower(expr: sympy.Basic) -> int:
    """The height of the highest tower of powers with symbolic exponents in `expr`."""
    if expr.is_Pow and expr.exp.free_symbols:
        return 1 + max(_tower(expr.base), _tower(expr.exp))
    if expr.func is sympy.exp and expr.free_symbols:
        return 1 + _tower(expr.args[0])
    return max((_tower(a) for a in expr.args), default=0)


def _power_tokens(source: str) -> tuple[str, list[int]]:
    """Replace each `^` operator by `**`, keeping Python's precedence for powers.

    Returns the new text and the positions in it where a `**` replaced a `^`.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return source, []  # `ast.parse` reports the error with its position.
    starts = [0]
    for line in source.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    carets = [
        starts[token.start[0] - 1] + token.start[1]
        for token in tokens
        if token.type == tokenize.OP and token.string == "^"
    ]
    pieces, previous, inserted = [], 0, []
    for k, position in enumerate(carets):
        pieces.append(source[previous:position] + "**")
        inserted.append(position + k)
        previous = position + 1
    pieces.append(source[previous:])
    return "".join(pieces), inserted


class _Parser:
    def __init__(
        self, text: str, names: Mapping[str, object], allow_unknown: bool
    ) -> None:
        self.text = text
        self.names: dict[str, sympy.Basic] = {}
        for key, value in names.items():
            if not isinstance(value, sympy.FunctionClass):
                try:
                    value = sympy.sympify(value, strict=True)
                except sympy.SympifyError:
                    raise TypeError(
                        f"names[{key!r}] must be a SymPy object or a number, "
                        f"not {type(value).__name__}"
                    ) from None
            self.names[unicodedata.normalize("NFKC", key)] = value
        self.allow_unknown = allow_unknown
        stripped = text.lstrip()
        self.lead = len(text) - len(stripped)
        self.source, self.inserted = _power_tokens(stripped.rstrip())
        self.lines = self.source.split("\n")
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line) + 1)

    # Positions: `ast` counts UTF-8 bytes in a line of `self.source`; map them back to
    # characters of the original text.
    def _offset(self, lineno: int, col_bytes: int) -> int:
        line = self.lines[lineno - 1]
        chars = len(line.encode("utf-8")[:col_bytes].decode("utf-8", "ignore"))
        position = self.starts[lineno - 1] + chars
        return position - sum(1 for s in self.inserted if s < position) + self.lead

    def after(self, node: ast.expr) -> int:
        """Offset of the first character after `node` (and its closing parentheses)."""
        assert node.end_lineno is not None and node.end_col_offset is not None
        offset = self._offset(node.end_lineno, node.end_col_offset)
        while offset < len(self.text) and self.text[offset] in " \t\n)":
            offset += 1
        return offset

    def error(
        self, where: _Node | int | None, problem: str, hint: str | None = _ALLOWED
    ) -> ParseError:
        """A `ParseError` at `where`: an `ast` node, a text offset, or `None`."""
        if isinstance(where, ast.AST):
            where = self._offset(where.lineno, where.col_offset)
        return ParseError(problem, self.text, where, hint)

    def too_large(self, node: ast.expr, what: str, bits: int) -> ParseError:
        digits = int(bits * math.log10(2))
        return self.error(
            node,
            f"the {what} would create a number of about {digits} digits",
            f"Numbers are limited to {MAX_BITS} bits (about {int(MAX_BITS * 0.30103)} "
            "digits); write large constants as names instead.",
        )

    def parse(self) -> sympy.Expr:
        if not self.source:
            raise ParseError("empty expression", self.text, None, _ALLOWED)
        try:
            tree = ast.parse(self.source, mode="eval")
        except SyntaxError as exc:
            offset = None
            if exc.lineno is not None and exc.offset is not None:
                # SyntaxError columns count characters (1-based) in a line.
                line = self.lines[min(exc.lineno, len(self.lines)) - 1]
                col = min(max(exc.offset - 1, 0), len(line))
                offset = self._offset(exc.lineno, len(line[:col].encode("utf-8")))
            reason = exc.msg.split(".")[0]
            if "Exceeds the limit" in exc.msg:
                reason = "a number has more than 4300 digits"
            raise ParseError(
                f"not a valid expression ({reason})", self.text, offset, _ALLOWED
            ) from None
        except (RecursionError, MemoryError):
            raise ParseError(
                "the expression is too long or too deeply nested for Python's parser",
                self.text,
                None,
                "Split it into simpler parts.",
            ) from None
        except ValueError as exc:  # For example, null characters.
            raise ParseError(
                f"not a valid expression ({exc})", self.text, None, _ALLOWED
            ) from None
        result = self.expr(tree.body, 0)
        undefined = [a for a in _UNDEFINED if result.has(a)]
        if undefined:
            raise ParseError(
                f"the expression is undefined (it contains {undefined[0]})",
                self.text,
                None,
                "Check for a division by zero or the logarithm of zero.",
            )
        return result

    def expr(self, node: ast.expr, depth: int) -> sympy.Expr:
        if depth > MAX_DEPTH:
            raise self.error(
                node,
                f"the expression is nested more than {MAX_DEPTH} levels deep",
                "Split it into simpler parts.",
            )
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.expr(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return self.expr(node.operand, depth + 1)
            raise self.error(
                node, f"operator {_OPERATORS[type(node.op)]!r} is not allowed"
            )
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, (ast.Add, ast.Sub)):
                return self.sum(node, depth)
            if isinstance(node.op, (ast.Mult, ast.Div)):
                return self.product(node, depth)
            if isinstance(node.op, (ast.Pow, ast.BitXor)):
                return self.power(node, depth)
            raise self.error(
                self.after(node.left),
                f"operator {_OPERATORS[type(node.op)]!r} is not allowed",
            )
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        construct = _CONSTRUCTS.get(type(node), f"{type(node).__name__} expression")
        where: _Node | int = node
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            where = self.after(node.value)  # The '.' or the '['.
        elif isinstance(node, ast.Compare):
            where = self.after(node.left)
        elif isinstance(node, ast.BoolOp):
            where = self.after(node.values[0])
        elif isinstance(node, ast.IfExp):
            where = self.after(node.body)
        elif isinstance(node, ast.Tuple) and node.elts:
            where = self.after(node.elts[0])  # The ','.
        raise self.error(where, f"{construct} is not allowed")

    def constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self.error(node, f"constant {value!r} is not allowed")
        if isinstance(value, int):
            return sympy.Integer(value)
        if isinstance(value, float):
            literal = ast.get_source_segment(self.source, node) or repr(value)
            try:
                exact = decimal_literal(literal)
            except ValueError as e:
                reason = str(e)
                if "Exceeds the limit" in reason:
                    reason = "a number has more than 4300 digits"
                raise self.error(node, reason, None) from None
            return sympy.Rational(exact.numerator, exact.denominator)
        if isinstance(value, complex):
            raise self.error(node, "complex number ('j' suffix) is not allowed")
        kind = "string" if isinstance(value, str) else type(value).__name__
        raise self.error(node, f"{kind} literal is not allowed")

    def name(self, node: ast.Name) -> sympy.Expr:
        name = node.id
        if name in self.names:
            if isinstance(self.names[name], sympy.FunctionClass):
                raise self.error(
                    node,
                    f"function {name!r} is used without an argument",
                    f"Call it, as in {name}(x).",
                )
            return self.names[name]
        if name.startswith("__"):
            raise self.error(
                node,
                f"name {name!r} is not allowed (names starting with '__' are reserved)",
            )
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        if name in _FUNCTIONS:
            raise self.error(
                node,
                f"function {name!r} is used without an argument",
                f"Call it, as in {name}(x).",
            )
        if self.allow_unknown:
            return sympy.Symbol(name, real=True)
        allowed = ", ".join([*self.names, *_CONSTANTS])
        raise self.error(
            node, f"unknown name {name!r}", f"The names allowed here are: {allowed}."
        )

    def sum(self, node: ast.expr, depth: int) -> sympy.Expr:
        # Walk the left spine of `a + b - c + ...` without recursion, so that long sums
        # do not count as deep nesting.
        terms = []
        while isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            terms.append((node.op, node.right))
            node = node.left
        values = [self.expr(node, depth + 1)]
        for op, right in reversed(terms):
            value = self.expr(right, depth + 1)
            values.append(value if isinstance(op, ast.Add) else -value)
        return sympy.Add(*values)

    def product(self, node: ast.expr, depth: int) -> sympy.Expr:
        factors = []
        while isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            factors.append((node.op, node.right))
            node = node.left
        values = [self.expr(node, depth + 1)]
        for op, right in reversed(factors):
            value = self.expr(right, depth + 1)
            if isinstance(op, ast.Div):
                if value == 0:
                    raise self.error(right, "division by zero", None)
                value = sympy.Pow(value, -1)
            values.append(value)
        bits = sum(_size_bits(v) for v in values)
        if bits > MAX_BITS:
            raise self.too_large(node, "product", bits)
        return sympy.Mul(*values)

    def defined(self, value: sympy.Expr, node: ast.expr) -> sympy.Expr:
        """`value`, or an error if it is undefined (`log(0, 0)` is nan)."""
        undefined = [a for a in _UNDEFINED if value.has(a)]
        if undefined:
            raise self.error(
                node,
                f"the expression is undefined (it contains {undefined[0]})",
                "Check for a division by zero or the logarithm of zero.",
            )
        return value

    def power(self, node: ast.BinOp, depth: int) -> sympy.Expr:
        base = self.defined(self.expr(node.left, depth + 1), node.left)
        exponent = self.defined(self.expr(node.right, depth + 1), node.right)
        if not exponent.free_symbols:
            coefficient, rest = exponent.as_coeff_Add()
            if (
                abs(coefficient) > MAX_EXPONENT
                or abs(rest.as_coeff_Mul()[0]) > MAX_EXPONENT
            ):
                raise self.error(
                    node.right,
                    f"the exponent {exponent} is too large",
                    f"Exponents are limited to {MAX_EXPONENT} in absolute value.",
                )
        else:
            # a symbolic exponent: its numbers are bounded too (2**(x + 10**11) would
            # expand into a number of 10**11 bits), and towers are kept low
            big = [
                a
                for a in exponent.atoms(sympy.Rational)
                if abs(a) > MAX_EXPONENT or a.q > MAX_EXPONENT
            ]
            if big:
                raise self.error(
                    node.right,
                    f"the exponent {exponent} contains the number {big[0]}, too large "
                    "for an exponent",
                    f"Numbers in exponents are limited to {MAX_EXPONENT} in absolute "
                    "value.",
                )
            if _tower(base) + _tower(exponent) + 1 > MAX_TOWER:
                raise self.error(
                    node,
                    f"the power tower is more than {MAX_TOWER} levels high (powers with "
                    "variables in their exponents, nested)",
                    "Its derivatives grow too fast to work with; use a simpler loss.",
                )
        if exponent.is_Rational:
            bits = _size_bits(base) * max(1, math.ceil(abs(exponent)))
            if bits > MAX_BITS:
                raise self.too_large(node, "power", bits)
            if base == 0 and exponent < 0:
                raise self.error(
                    node, "division by zero (zero to a negative power)", None
                )
        return sympy.Pow(base, exponent)

    def call(self, node: ast.Call, depth: int) -> sympy.Expr:
        if not isinstance(node.func, ast.Name):
            raise self.error(node, "only calls of named functions are allowed")
        name = node.func.id
        if name in self.names:
            function = self.names[name]
            if not isinstance(function, sympy.FunctionClass):
                raise self.error(node, f"{name!r} is not a function")
            arities = None
        elif name in _FUNCTIONS:
            function, arities = _FUNCTIONS[name]
        elif name in _CONSTANTS:
            raise self.error(node, f"{name!r} is a constant, not a function")
        else:
            raise self.error(node, f"call of {name!r} is not allowed")
        if node.keywords:
            raise self.error(node.keywords[0], "keyword argument is not allowed")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.error(arg, "starred argument ('*') is not allowed")
        if arities is not None and len(node.args) not in arities:
            counts = " or ".join(map(str, arities))
            raise self.error(
                node,
                f"{name} takes {counts} argument{'s' if arities[-1] > 1 else ''}, "
                f"not {len(node.args)}",
                None,
            )
        args = [self.defined(self.expr(a, depth + 1), a) for a in node.args]
        if function is sympy.log and len(args) == 2:
            # log(a, b) = log(a)/log(b), each part checked (SymPy's two-argument log
            # may spend minutes evaluating an undefined base such as asin(8))
            top = self.defined(sympy.log(args[0]), node.args[0])
            bottom = self.defined(sympy.log(args[1]), node.args[1])
            if bottom == 0:
                raise self.error(node, "division by zero (a logarithm to base 1)", None)
            if all(a.is_Rational for a in args):
                return self.defined(sympy.log(*args), node)  # log(8, 2) is 3
            return top / bottom
        result = self.defined(function(*args), node)
        if function is sympy.exp and _tower(result) > MAX_TOWER:
            raise self.error(
                node,
                f"the tower of exponentials is more than {MAX_TOWER} levels high",
                "Its derivatives grow too fast to work with; use a simpler loss.",
            )
        return result


def parse_expression(
    text: str,
    names: Mapping[str, sympy.Basic] | None = None,
    *,
    allow_unknown: bool = False,
) -> sympy.Expr:
    """Parse mathematical text into an exact SymPy expression, safely.

    The text is read by walking its Python syntax tree; only numbers, names,
    parentheses, unary `+`/`-`, the binary operators `+ - * /` and `**` (also written
    `^`, with the precedence of `**`), the functions `sin cos tan exp log sqrt tanh
    sinh cosh atan asin acos abs` and the constants `pi`, `E` are accepted. Nothing is
    evaluated by Python. Decimal literals are exact rationals: `0.9` is $9/10$ and
    `1e-3` is $1/1000$.

    **Arguments:**

    - `text`: the expression, at most 20,000 characters.
    - `names`: the identifiers allowed in `text` and the SymPy objects they stand for.
        A name mapped to a SymPy function class (such as `sympy.Function("phi")`) may
        be called. Entries here take precedence over `pi` and `E`.
    - `allow_unknown`: if `True`, an identifier not in `names` becomes
        `sympy.Symbol(name, real=True)` instead of an error.

    **Returns:**

    The SymPy expression.

    **Raises:**

    `ParseError` (a `ValueError`) naming the construct
    that is not allowed, with its column and how to fix it. Sizes are bounded:
    numerical exponents at most 1000 in absolute value, nesting at most 100 levels.

    **Example:**

    ```python
    >>> import sympy
    >>> x, beta = sympy.symbols("x beta", real=True)
    >>> parse_expression("0.9*x^2 + sin(beta)", {"x": x, "beta": beta})
    9*x**2/10 + sin(beta)
    >>> parse_expression("exp(-y)/2", allow_unknown=True)
    exp(-y)/2

    ```
    """
    if not isinstance(text, str):
        raise TypeError(f"expected the expression as a str, got {type(text).__name__}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_LENGTH:
        raise ParseError(
            f"the input is {len(text)} characters long",
            text,
            None,
            f"Inputs are limited to {MAX_LENGTH} characters.",
        )
    return _Parser(text, names or {}, allow_unknown).parse()


def parse_number(text: str) -> sympy.Rational:
    """Parse text into an exact rational number.

    Accepts integers, decimals, scientific notation and fractions, such as `"-3"`,
    `"0.5"`, `"2e-3"` or `"9/10"`; more generally any expression of
    `parse_expression` whose value is rational.

    **Arguments:**

    - `text`: the number.

    **Returns:**

    A `sympy.Rational` (a `sympy.Integer` for whole numbers).

    **Raises:**

    `ParseError` if the text is not a rational number,
    for example `"sqrt(2)"` or `"beta"`.

    **Example:**

    ```python
    >>> parse_number("0.9"), parse_number("2e-3"), parse_number("-3")
    (9/10, 1/500, -3)

    ```
    """
    value = parse_expression(text, allow_unknown=True)
    if not isinstance(value, sympy.Rational):
        raise ParseError(
            f"{value} is not a rational number",
            text,
            None,
            "Give a number such as 0.9, 9/10, -3 or 2e-3.",
        )
    return value
