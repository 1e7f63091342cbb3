"""Text specs of optimizers: a small language, parsed safely into a `Recurrence`.

A spec is the text form of an update rule, for the command line and for files. It is
read by walking Python's syntax tree under a whitelist: nothing in it is ever evaluated
by Python (no `eval`, `exec` or `sympify`), and sizes are bounded.

## Grammar

```text
spec        := statement ((newline | ';') statement)*      # '#' starts a comment
statement   := 'state' NAME (',' NAME)*                    # required, comes first
             | 'param' pdecl (',' pdecl)*                  # optional
             | NAME (',' NAME)* '=' expr (',' expr)*       # assignment
             | NAME ('+=' | '-=' | '*=' | '/=') expr       # augmented assignment
pdecl       := NAME ['=' number]                           # a default value
expr        := expr ('+' | '-' | '*' | '/') expr | '-' expr | '(' expr ')'
             | scalar '**' integer | 'grad(' expr ')' | NAME | number
```

- **Declarations** come before the assignments. `state x, x_prev` names the state;
  the first name is the position $x$. `param beta, nu = 0.5` declares hyper-parameters,
  optionally with a default value. `h` (the step size) is always defined.
- **Assignments** run in order, with Python's sequential semantics: in
  `v = beta*v - h*grad(x); x = x + v` the second line sees the new `v`. In a tuple
  assignment `x, x_prev = x + beta*(x - x_prev) - h*grad(x), x` every right side is
  evaluated before any name is bound. A name that is not a state or a parameter is a
  temporary. After the last statement, the new value of each state is whatever its
  name is bound to; a state that is never assigned keeps its value.
- **Expressions**: numbers (decimals are exact: `0.9` is $9/10$, `1e-3` is $1/1000$),
  names (states, parameters, temporaries, `h`), `+ - * /`, unary `-`, parentheses,
  `**` with a whole-number exponent from 0 to 64 applied to a scalar (numbers, `h`,
  parameters), and `grad(...)`, the loss gradient $\\nabla f = -g$ at an affine
  combination of states (calls may nest).
- An update must be affine in the states: states may be added, subtracted and scaled
  by scalars, never multiplied by each other, raised to a power, or offset by a
  constant; all the nonlinearity sits in `grad`.
- Not allowed: any other call, attribute access, subscripts, strings, lambdas,
  comprehensions, imports, control flow; names starting with `_`; declaring `h`,
  `grad`, `state` or `param`. Inputs are limited to 20,000 characters and 100 levels
  of nesting.

Parameter values: the keyword arguments of [`parse_spec`][derive.parse_spec] (on the
command line, `--param NAME=VALUE`) override the defaults; a parameter with neither
stays a symbol.

## Examples

```text
state x; x = x - h*grad(x)                                  # gradient descent
state x, x_prev; param beta
x, x_prev = x + beta*(x - x_prev) - h*grad(x), x            # heavy ball
state x, v; param beta; v = beta*v - h*grad(x); x = x + v   # heavy ball, velocity form
state x, x_prev; param beta
y = x + beta*(x - x_prev); x, x_prev = y - h*grad(y), x     # Nesterov
state x; y = x - h*grad(x); x = x - h*grad(y)               # extragradient
state x, d; param beta, nu                                  # quasi-hyperbolic momentum
d = beta*d + (1 - beta)*grad(x); x = x - h*((1 - nu)*grad(x) + nu*d)
```
"""

from __future__ import annotations

import ast
import inspect
import keyword
import operator
import re
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction

from ._coefficients import RationalFunction
from ._errors import DeriveError
from ._recurrence import Recurrence, _Affine, exact_number, trace
from ._syntax import CONSTRUCTS as _CONSTRUCTS
from ._syntax import OPERATORS

__all__ = ["parse_spec", "GRAMMAR", "SpecError"]

MAX_LENGTH = 20_000
"""Longest accepted spec, in characters."""

MAX_DEPTH = 100
"""Deepest accepted nesting of sub-expressions."""

MAX_EXPONENT = 64
"""Largest accepted exponent in `**`."""

MAX_BITS = 10_000
"""Largest accepted size, in bits, of an exact number built while parsing."""

MAX_DEGREE = 200
"""Largest accepted total degree of a coefficient in the hyper-parameters and `h`."""

GRAMMAR = """\
Statements are separated by newlines or ';'; '#' starts a comment.
  state x, v          the state, position first (required, before assignments)
  param beta, nu=0.5  hyper-parameters, optionally with a default value
  y = expr            assignments run in order, as in Python; temporaries are
  x, v = e1, e2       allowed; a tuple assignment evaluates every right side first
Expressions: numbers (0.9 is exactly 9/10), names (states, parameters, temporaries,
h), + - * / ( ), scalar**n for a whole number n, and grad(...), the gradient of the
loss at an affine combination of states. Afterwards each state takes the value
bound to its name. Example, heavy ball in velocity form:
  state x, v; param beta; v = beta*v - h*grad(x); x = x + v"""
"""A short summary of the spec language for `--help` texts."""

_RESERVED = {
    "h": "the step size",
    "grad": "the gradient",
    "state": "a keyword",
    "param": "a keyword",
}

_DECIMAL = re.compile(r"(\d*)\.?(\d*)(?:[eE]([+-]?\d+))?")

_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


# in a spec `^` is not a power (expressions for losses accept it as one)
_OPERATORS = {**OPERATORS, ast.BitXor: "^"}

_ONLY = (
    "A spec holds only 'state'/'param' declarations and assignments built from "
    "numbers, names, + - * / **, parentheses and grad(...)."
)


class SpecError(DeriveError):
    """A [`DeriveError`][derive.DeriveError] located in a spec.

    **Attributes:** `line` and `column` (1-based), besides `problem` and `fix`.

    !!! example
        ```python
        >>> import derive
        >>> try:
        ...     derive.parse_spec("state x\\nx = x - h*grad(x*x)")
        ... except derive.SpecError as e:
        ...     print(e.line, e.column)
        2 16

        ```
    """

    def __init__(self, problem: str, fix: str, line: int, column: int):
        self.line = line
        self.column = column
        super().__init__(problem, fix)

    def __reduce__(self):
        return (type(self), (self.problem, self.fix, self.line, self.column))


class _NotANumber(SpecError):
    """Raised where a number-only expression holds a name or a call."""


@dataclass
class _Segment:
    """One statement: its text (stripped) and its offset in the spec."""

    start: int
    text: str


@dataclass
class _Assignment:
    targets: tuple[str, ...]
    values: tuple[ast.expr, ...]
    augmented: type | None
    node: ast.stmt
    segment: _Segment


@dataclass
class _Program:
    text: str
    states: list[str] = field(default_factory=list)
    params: dict[str, Fraction | None] = field(default_factory=dict)
    assignments: list[_Assignment] = field(default_factory=list)
    numbers: dict[ast.AST, Fraction] = field(default_factory=dict)
    exponents: dict[ast.AST, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ locations
    def position(self, offset: int) -> tuple[int, int]:
        before = self.text[:offset]
        return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1

    def offset(self, seg: _Segment, node: ast.AST) -> int:
        """The offset in the spec of `node`, parsed from `seg` (`ast` counts bytes)."""
        lines = seg.text.split("\n")
        line = lines[node.lineno - 1]
        chars = len(line.encode("utf-8")[: node.col_offset].decode("utf-8", "ignore"))
        return seg.start + sum(len(s) + 1 for s in lines[: node.lineno - 1]) + chars

    def error(self, where, problem: str, fix: str = _ONLY, seg=None) -> SpecError:
        """A `SpecError` at `where`: an offset, or an `ast` node of `seg`."""
        snippet = ""
        if isinstance(where, ast.AST):
            piece = ast.get_source_segment(seg.text, where) or ""
            piece = " ".join(piece.split())
            if piece:
                snippet = f" ('{piece if len(piece) <= 40 else piece[:37] + '...'}')"
            where = self.offset(seg, where)
        line, column = self.position(where)
        problem = problem if problem.endswith(".") else problem + "."
        return SpecError(
            f"spec line {line}, column {column}{snippet}: {problem}", fix, line, column
        )

    # ------------------------------------------------------------------ numbers
    def literal(self, node: ast.Constant, seg: _Segment) -> Fraction:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self.error(node, f"the constant {value!r} is not allowed", seg=seg)
        if isinstance(value, int):
            return self.bounded(Fraction(value), node, seg)
        if isinstance(value, float):
            literal = (ast.get_source_segment(seg.text, node) or "").replace("_", "")
            match = _DECIMAL.fullmatch(literal)
            if match is None:
                raise self.error(node, f"{literal!r} is not a decimal number", seg=seg)
            if match.group(3) is not None and abs(int(match.group(3))) > 1000:
                raise self.error(
                    node,
                    f"the exponent of {literal!r} is too large",
                    "Decimal exponents are limited to 1000 in absolute value.",
                    seg,
                )
            return self.bounded(Fraction(literal), node, seg)
        if isinstance(value, complex):
            raise self.error(node, "complex numbers are not allowed", seg=seg)
        raise self.error(node, f"a {type(value).__name__} is not allowed", seg=seg)

    def bounded(self, value, node: ast.AST, seg: _Segment):
        """`value` if its size is within bounds, else a `SpecError` at `node`."""
        if isinstance(value, Fraction):
            bits = max(value.numerator.bit_length(), value.denominator.bit_length())
            if bits > MAX_BITS:
                raise self.error(
                    node,
                    f"this builds a number of about {int(bits * 0.30103)} digits",
                    f"Exact numbers are limited to {MAX_BITS} bits; use a parameter "
                    "for large constants.",
                    seg,
                )
        elif isinstance(value, RationalFunction):
            degree = max(value.num.total_degree(), value.den.total_degree())
            if degree > MAX_DEGREE:
                raise self.error(
                    node,
                    f"this builds a coefficient of degree {degree} in h and the "
                    "parameters",
                    f"Coefficients are limited to degree {MAX_DEGREE}.",
                    seg,
                )
        return value

    def constant(self, node: ast.AST, seg: _Segment, depth: int = 0) -> Fraction:
        """Evaluate a number-only expression (an exponent, a default value)."""
        if depth > MAX_DEPTH:
            raise self.error(node, "the expression is nested too deeply", seg=seg)
        if isinstance(node, ast.Constant):
            return self.literal(node, seg)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = self.constant(node.operand, seg, depth + 1)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            left = self.constant(node.left, seg, depth + 1)
            right = self.constant(node.right, seg, depth + 1)
            if isinstance(node.op, ast.Div) and right == 0:
                raise self.error(node, "division by zero", "Fix the divisor.", seg)
            return self.bounded(_ARITHMETIC[type(node.op)](left, right), node, seg)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            base = self.constant(node.left, seg, depth + 1)
            n = self.exponent(node.right, seg, depth + 1)
            if _bits(base) * n > MAX_BITS:
                raise self.error(
                    node,
                    f"this power builds a number of about {int(_bits(base) * n * 0.3)}"
                    " digits",
                    f"Exact numbers are limited to {MAX_BITS} bits.",
                    seg,
                )
            return base**n
        error = self.error(
            node,
            "expected a number here",
            "Write a number such as 2, 0.9 or 1/2 (no names or calls).",
            seg,
        )
        raise _NotANumber(error.problem, error.fix, error.line, error.column)

    def exponent(self, node: ast.AST, seg: _Segment, depth: int = 0) -> int:
        try:
            value = self.constant(node, seg, depth)
        except _NotANumber:
            raise self.error(
                node,
                "the exponent of '**' must be a whole number",
                "Write powers with a number exponent such as beta**2; for a "
                "symbolic power introduce a parameter.",
                seg,
            ) from None
        if value.denominator != 1 or not 0 <= value <= MAX_EXPONENT:
            raise self.error(
                node,
                f"the exponent {value} is not a whole number from 0 to {MAX_EXPONENT}",
                "Use a non-negative integer exponent, e.g. beta**2; write 1/beta "
                "instead of beta**-1.",
                seg,
            )
        return int(value)


def _bits(value: Fraction) -> int:
    return max(abs(value.numerator).bit_length(), value.denominator.bit_length(), 1)


# ---------------------------------------------------------------------- splitting


def _split(program: _Program) -> list[_Segment]:
    """Cut the spec into statements at newlines and ';' outside brackets."""
    text = program.text
    segments, start, depth, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if c in "'\"":
            raise program.error(i, "string literals are not allowed", _ONLY)
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(depth - 1, 0)
        elif c == "\\" and text.startswith("\n", i + 1):
            i += 2
            continue
        elif c in "\n;" and depth == 0:
            segments.append((start, text[start:i]))
            start = i + 1
        i += 1
    segments.append((start, text[start:]))
    out = []
    for start, piece in segments:
        stripped = piece.lstrip()
        start += len(piece) - len(stripped)
        stripped = stripped.rstrip()
        if stripped and not stripped.startswith("#"):
            out.append(_Segment(start, stripped))
    return out


def _parse_segment(program: _Program, seg: _Segment, mode: str = "exec") -> ast.AST:
    try:
        return ast.parse(seg.text, mode=mode)
    except SyntaxError as exc:
        offset = seg.start
        if exc.lineno is not None and exc.offset is not None:
            lines = seg.text.split("\n")
            k = min(max(exc.lineno, 1), len(lines)) - 1
            col = min(max(exc.offset - 1, 0), len(lines[k]))
            offset += sum(len(s) + 1 for s in lines[:k]) + col
        reason = exc.msg.split(" (")[0].rstrip(".")
        if "integer string conversion" in exc.msg:
            reason = "an integer literal with too many digits"
        problem = "invalid syntax" + (
            "" if reason == "invalid syntax" else f" ({reason})"
        )
        raise program.error(offset, problem) from None
    except (RecursionError, MemoryError):
        raise program.error(
            seg.start,
            "the statement is too long or too deeply nested to parse",
            "Split it into several assignments with temporaries.",
        ) from None
    except ValueError as exc:  # e.g. null characters
        raise program.error(seg.start, f"invalid text ({exc})") from None


# ---------------------------------------------------------------------- declarations


def _items(seg: _Segment, begin: int) -> list[_Segment]:
    """The comma-separated items of a declaration, from `seg.text[begin:]`."""
    out, depth, start = [], 0, begin
    for i in range(begin, len(seg.text) + 1):
        c = seg.text[i] if i < len(seg.text) else ","
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth <= 0:
            piece = seg.text[start:i]
            lead = len(piece) - len(piece.lstrip())
            out.append(_Segment(seg.start + start + lead, piece.strip()))
            start = i + 1
    return out


def _declared_name(program: _Program, item: _Segment, kind: str) -> str:
    if not item.text:
        raise program.error(
            item.start,
            f"a name is missing in the '{kind}' declaration",
            f"List names separated by commas, e.g. '{kind} "
            f"{'x, v' if kind == 'state' else 'beta, nu'}'.",
        )
    node = _parse_segment(program, item, "eval").body
    if not isinstance(node, ast.Name):
        raise program.error(
            item.start,
            f"'{item.text}' is not a name",
            f"Write '{kind}' followed by names separated by commas.",
        )
    name = node.id
    if name in _RESERVED or name.startswith("_"):
        what = _RESERVED.get(name, "reserved (names starting with '_')")
        raise program.error(
            item.start,
            f"'{name}' cannot be declared as a {kind}: it is {what}",
            "Choose another name.",
        )
    if name in program.states or name in program.params:
        raise program.error(
            item.start, f"'{name}' is declared twice", "Declare each name once."
        )
    return name


def _declaration(program: _Program, seg: _Segment, kind: str) -> None:
    if program.assignments:
        raise program.error(
            seg.start,
            f"the '{kind}' declaration comes after an assignment",
            "Put the 'state' and 'param' lines before the first assignment.",
        )
    items = _items(seg, len(kind))
    if kind == "state":
        if program.states:
            raise program.error(
                seg.start,
                "the state is declared twice",
                "List all states in one line, position first: 'state x, v'.",
            )
        program.states.extend(_declared_name(program, item, kind) for item in items)
        return
    for item in items:
        name_text, eq, default_text = item.text.partition("=")
        name_seg = _Segment(item.start, name_text.rstrip())
        name = _declared_name(program, name_seg, kind)
        default = None
        if eq:
            lead = len(default_text) - len(default_text.lstrip())
            default_seg = _Segment(
                item.start + len(name_text) + 1 + lead, default_text.strip()
            )
            if not default_seg.text:
                raise program.error(
                    default_seg.start,
                    f"the default value of '{name}' is missing",
                    "Write e.g. 'param beta = 0.9', or 'param beta' for a symbol.",
                )
            node = _parse_segment(program, default_seg, "eval").body
            try:
                default = program.constant(node, default_seg)
            except _NotANumber:
                raise program.error(
                    default_seg.start,
                    f"the default value of '{name}' is not a number",
                    "Write e.g. 'param beta = 0.9' or 'param beta = 1/2'.",
                ) from None
        program.params[name] = default


# ---------------------------------------------------------------------- statements


def _known(program: _Program, temporaries: list[str]) -> dict[str, str]:
    known = {s: "state" for s in program.states}
    known.update({p: "parameter" for p in program.params})
    known["h"] = "step size"
    known.update({t: "temporary" for t in temporaries if t not in known})
    return known


def _target(program: _Program, node: ast.AST, seg: _Segment) -> str:
    if not isinstance(node, ast.Name):
        what = _CONSTRUCTS.get(type(node), f"a {type(node).__name__}")
        raise program.error(
            node,
            f"cannot assign to {what}",
            "Assign to names: 'x = ...' or 'x, v = ..., ...'.",
            seg,
        )
    name = node.id
    if name in program.params:
        raise program.error(
            node,
            f"'{name}' is a parameter and cannot be assigned",
            "Use a temporary with another name, or declare it as a state.",
            seg,
        )
    if name in _RESERVED or name.startswith("_"):
        what = _RESERVED.get(name, "reserved (names starting with '_')")
        raise program.error(
            node, f"'{name}' cannot be assigned: it is {what}", "Rename it.", seg
        )
    return name


def _statement(program: _Program, seg: _Segment, temporaries: list[str]) -> None:
    first = re.match(r"[^\W\d]\w*", seg.text)
    word = first.group() if first else ""
    if keyword.iskeyword(word) or keyword.issoftkeyword(word):
        what = {"import": "imports", "from": "imports", "lambda": "lambdas"}.get(
            word, f"'{word}' statements"
        )
        raise program.error(seg.start, f"{what} are not allowed", _ONLY)
    module = _parse_segment(program, seg)
    for node in module.body:
        if isinstance(node, ast.Assign):
            if len(node.targets) > 1:
                raise program.error(
                    node,
                    "chained assignments ('a = b = ...') are not allowed",
                    "Write one assignment per statement.",
                    seg,
                )
            target = node.targets[0]
            if isinstance(target, ast.Tuple | ast.List):
                names = [_target(program, t, seg) for t in target.elts]
                if not isinstance(node.value, ast.Tuple):
                    raise program.error(
                        node.value,
                        f"the left side names {len(names)} values but the right side "
                        "is a single expression",
                        "Give one expression per name: 'x, x_prev = x + v, x'.",
                        seg,
                    )
                values = node.value.elts
                if len(values) != len(names):
                    raise program.error(
                        node.value,
                        f"{len(names)} names are assigned {len(values)} values",
                        "Give one expression per name: 'x, x_prev = x + v, x'.",
                        seg,
                    )
                if len(set(names)) != len(names):
                    raise program.error(
                        target,
                        "a name appears twice on the left side",
                        "Assign each name once per statement.",
                        seg,
                    )
            else:
                names, values = [_target(program, target, seg)], [node.value]
            augmented = None
        elif isinstance(node, ast.AugAssign):
            if type(node.op) not in _ARITHMETIC:
                symbol = _OPERATORS.get(type(node.op), "**")
                raise program.error(
                    node,
                    f"the operator '{symbol}=' is not allowed",
                    "Use +=, -=, *= or /=, or write 'x = ...'.",
                    seg,
                )
            names, values = [_target(program, node.target, seg)], [node.value]
            augmented = type(node.op)
        elif isinstance(node, ast.Expr):
            _check(program, node.value, seg, _known(program, temporaries), 0)
            raise program.error(
                node,
                "this expression is not assigned to anything",
                "Assign it to a state or a temporary, e.g. 'x = x - h*grad(x)'.",
                seg,
            )
        elif isinstance(node, ast.AnnAssign):
            raise program.error(
                node, "annotations are not allowed", "Write 'name = expr'.", seg
            )
        else:
            raise program.error(node, "this statement is not allowed", _ONLY, seg)
        if not program.states:
            raise program.error(
                seg.start,
                "the state is not declared before the first assignment",
                "Start the spec with a 'state' line naming the position first, e.g. "
                "'state x' or 'state x, v'.",
            )
        known = _known(program, temporaries)
        if augmented is not None and names[0] not in known:
            _check(program, node.target, seg, known, 0)
        for value in values:
            _check(program, value, seg, known, 0)
        temporaries.extend(n for n in names if n not in program.states)
        program.assignments.append(
            _Assignment(tuple(names), tuple(values), augmented, node, seg)
        )


def _spine(node: ast.AST, group: tuple[type, ...]) -> tuple[ast.AST, list[ast.BinOp]]:
    """Walk the left spine of `a + b - c ...` (or of `*`, `/`) without recursion."""
    chain = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, group):
        chain.append(node)
        node = node.left
    return node, chain[::-1]


_SUMS = (ast.Add, ast.Sub)
_PRODUCTS = (ast.Mult, ast.Div)


def _check(
    program: _Program, node: ast.AST, seg: _Segment, known: dict, depth: int
) -> None:
    """Check an expression statically: allowed constructs, names, exponents."""
    if depth > MAX_DEPTH:
        raise program.error(
            node,
            f"the expression is nested more than {MAX_DEPTH} levels deep",
            "Split it into several assignments with temporaries.",
            seg,
        )
    if isinstance(node, ast.Constant):
        program.numbers[node] = program.literal(node, seg)
    elif isinstance(node, ast.Name):
        name = node.id
        if name == "grad":
            raise program.error(
                node,
                "grad is used without an argument",
                "Call it at a point, as in grad(x).",
                seg,
            )
        if name.startswith("__"):
            raise program.error(
                node,
                f"the name '{name}' is not allowed",
                "Names may not start with '__'.",
                seg,
            )
        if name not in known:
            listed = ", ".join(f"{k} ({v})" for k, v in known.items())
            raise program.error(
                node,
                f"unknown name '{name}'; the names defined here are {listed}",
                "Declare states in the 'state' line (e.g. 'state x, x_prev') and "
                "hyper-parameters with 'param', or assign the name before this line.",
                seg,
            )
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise program.error(
                node,
                f"the operator '{_OPERATORS[type(node.op)]}' is not allowed",
                seg=seg,
            )
        _check(program, node.operand, seg, known, depth + 1)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        _check(program, node.left, seg, known, depth + 1)
        program.exponents[node] = program.exponent(node.right, seg)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, _SUMS + _PRODUCTS):
        group = _SUMS if isinstance(node.op, _SUMS) else _PRODUCTS
        first, chain = _spine(node, group)
        _check(program, first, seg, known, depth + 1)
        for link in chain:
            _check(program, link.right, seg, known, depth + 1)
    elif isinstance(node, ast.BinOp):
        symbol = _OPERATORS.get(type(node.op), "?")
        fix = "Write powers with '**'." if symbol == "^" else _ONLY
        raise program.error(node, f"the operator '{symbol}' is not allowed", fix, seg)
    elif isinstance(node, ast.Call):
        if not (isinstance(node.func, ast.Name) and node.func.id == "grad"):
            called = node.func.id if isinstance(node.func, ast.Name) else None
            raise program.error(
                node,
                f"calling '{called}' is not allowed"
                if called
                else "only grad(...) can be called",
                "The only function in a spec is grad(...); put other functions into "
                "the loss.",
                seg,
            )
        if (
            node.keywords
            or len(node.args) != 1
            or isinstance(node.args[0], ast.Starred)
        ):
            raise program.error(
                node,
                "grad takes exactly one argument (a point) and no keywords",
                "Write grad(x) or grad(x + beta*(x - x_prev)).",
                seg,
            )
        _check(program, node.args[0], seg, known, depth + 1)
    else:
        what = _CONSTRUCTS.get(type(node), f"a {type(node).__name__} expression")
        raise program.error(node, f"{what} is not allowed", _ONLY, seg)


# ---------------------------------------------------------------------- evaluation


class _Step:
    """The spec as a Python function `step(*states, grad, h, **params)`."""

    def __init__(self, program: _Program, name: str, values: dict):
        self.program = program
        self.__name__ = name.replace("-", "_")
        self.__doc__ = program.text
        P = inspect.Parameter
        parameters = [P(s, P.POSITIONAL_OR_KEYWORD) for s in program.states]
        parameters += [P("grad", P.KEYWORD_ONLY), P("h", P.KEYWORD_ONLY)]
        for p in program.params:
            d = P.empty if values[p] is None else exact_number(values[p])
            parameters.append(P(p, P.KEYWORD_ONLY, default=d))
        self.__signature__ = inspect.Signature(parameters)

    def __call__(self, *args, **kwargs):
        program = self.program
        bound = self.__signature__.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        exact = isinstance(values["h"], RationalFunction)
        env = {s: values[s] for s in program.states}
        for p in program.params:
            value = values[p]
            env[p] = (
                float(value) if isinstance(value, Fraction) and not exact else value
            )
        env["h"] = values["h"]
        context = (env, values["grad"], exact)
        last = {}
        for a in program.assignments:
            results = [self.evaluate(v, a.segment, context) for v in a.values]
            if a.augmented is not None:
                op = _ARITHMETIC[a.augmented]
                results = [
                    self.apply(op, a.node, a.segment, env[a.targets[0]], results[0])
                ]
            for name, value in zip(a.targets, results, strict=True):
                env[name] = value
                last[name] = a
        new = tuple(env[s] for s in program.states)
        if exact:
            for s, value in zip(program.states, new, strict=True):
                if not isinstance(value, _Affine):
                    a = last[s]
                    raise program.error(
                        a.node,
                        f"the state '{s}' is set to a scalar (a number, h or a "
                        "parameter), not to a combination of states and gradients",
                        "Update each state with an affine combination of states and "
                        "grad(...) calls, e.g. 'x = x - h*grad(x)'.",
                        a.segment,
                    )
        return new

    def apply(self, fn, node: ast.AST, seg: _Segment, *args):
        """`fn(*args)`, with tracer errors located at `node`."""
        try:
            value = fn(*args)
        except SpecError:
            raise
        except DeriveError as e:
            raise self.program.error(node, _lower(e.problem), e.fix, seg) from None
        except ZeroDivisionError:
            raise self.program.error(
                node,
                "division by zero",
                "Check the divisor; with parameter values it may vanish (e.g. "
                "1/(1 - beta) at beta = 1).",
                seg,
            ) from None
        return self.program.bounded(value, node, seg)

    def check_offset(self, left, right, node: ast.AST, seg: _Segment) -> None:
        """Refuse `state + constant`: updates must commute with translations."""
        if isinstance(left, _Affine) == isinstance(right, _Affine):
            return
        scalar = right if isinstance(left, _Affine) else left
        if scalar != 0:
            shown = f" ({scalar})" if isinstance(scalar, Fraction) else ""
            raise self.program.error(
                node,
                f"a constant{shown} is added to a state; an update must be an "
                "affine combination of states and gradients with no constant offset",
                "Remove the constant term (the method must commute with translations),"
                " or multiply it by a state or a gradient.",
                seg,
            )

    def evaluate(self, node: ast.AST, seg: _Segment, context):
        env, grad, exact = context
        if isinstance(node, ast.Constant):
            value = self.program.numbers[node]
            return value if exact else float(value)
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.UnaryOp):
            value = self.evaluate(node.operand, seg, context)
            if isinstance(node.op, ast.UAdd):
                return value
            return self.apply(operator.neg, node, seg, value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            base = self.evaluate(node.left, seg, context)
            n = self.program.exponents[node]
            if isinstance(base, RationalFunction):
                degree = max(base.num.total_degree(), base.den.total_degree())
                if degree * n > MAX_DEGREE:
                    raise self.program.error(
                        node,
                        f"this power has degree {degree * n} in h and the parameters",
                        f"Coefficients are limited to degree {MAX_DEGREE}.",
                        seg,
                    )
            elif isinstance(base, Fraction) and _bits(base) * n > MAX_BITS:
                raise self.program.error(
                    node,
                    "this power builds a number that is too large",
                    f"Exact numbers are limited to {MAX_BITS} bits.",
                    seg,
                )
            return self.apply(operator.pow, node, seg, base, n)
        if isinstance(node, ast.BinOp):
            group = _SUMS if isinstance(node.op, _SUMS) else _PRODUCTS
            first, chain = _spine(node, group)
            value = self.evaluate(first, seg, context)
            for link in chain:
                right = self.evaluate(link.right, seg, context)
                if exact and group is _SUMS:
                    self.check_offset(value, right, link, seg)
                if isinstance(link.op, ast.Div) and _is_zero(right):
                    raise self.program.error(
                        link.right,
                        "division by zero",
                        "Check the divisor; with parameter values it may vanish "
                        "(e.g. 1 - beta at beta = 1).",
                        seg,
                    )
                value = self.apply(_ARITHMETIC[type(link.op)], link, seg, value, right)
            return value
        # A call of grad (the only one `_check` lets through).
        point = self.evaluate(node.args[0], seg, context)
        if exact and not isinstance(point, _Affine):
            raise self.program.error(
                node,
                "grad is applied to a scalar (a number, h or a parameter), not to a "
                "point",
                "Call grad on a state or an affine combination of states, e.g. "
                "grad(x) or grad(x + beta*(x - x_prev)).",
                seg,
            )
        return self.apply(grad, node, seg, point)


def _is_zero(value) -> bool:
    return isinstance(value, Fraction | RationalFunction | int | float) and value == 0


def _lower(problem: str) -> str:
    return problem[:1].lower() + problem[1:] if problem[1:2].islower() else problem


# ---------------------------------------------------------------------- public


def parse_spec(text: str, name: str | None = None, **params) -> Recurrence:
    """Parse a text spec of an optimizer into a [`Recurrence`][derive.Recurrence].

    The spec language is documented in `derive._spec` (and by `derive flow --help`):
    a `state` line, optional `param` lines, then assignments with Python's sequential
    semantics, built from numbers, names, `+ - * /`, `**` with whole-number exponents,
    parentheses and `grad(...)`. Nothing is evaluated by Python.

    **Arguments:**

    - `text`: the spec, at most 20,000 characters.
    - `name`: a name for records (default `"spec"`).
    - `**params`: values for the declared hyper-parameters; they override the
      defaults of `param` lines. A number is taken exactly (`0.9` is $9/10$);
      a parameter with no value stays a symbol.

    **Returns:** the traced [`Recurrence`][derive.Recurrence], with the spec as its
    `source`.

    **Raises:** [`DeriveError`][derive.DeriveError] (a `SpecError` naming the line and
    column) for anything outside the language or an update that is not affine in the
    states.

    !!! example
        ```python
        >>> import derive
        >>> hb = derive.parse_spec(
        ...     "state x, v; param beta = 0.5\\n"
        ...     "v = beta*v - h*grad(x); x = x + v"
        ... )
        >>> hb.states, hb.values
        (('x', 'v'), {'beta': Fraction(1, 2)})
        >>> flow = derive.modified_flow(hb, order=1)
        >>> [(t.power, t.tree, str(t.coefficient)) for t in flow.terms]
        [(0, '[]', '2'), (1, '[[]]', '-6')]

        ```
    """
    if not isinstance(text, str):
        raise TypeError(f"expected the spec as a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    program = _Program(text)
    if len(text) > MAX_LENGTH:
        raise DeriveError(
            f"the spec is {len(text)} characters long.",
            f"Specs are limited to {MAX_LENGTH} characters.",
        )
    temporaries: list[str] = []
    for seg in _split(program):
        kind = re.match(r"(state|param)(?![\w])", seg.text)
        if kind and re.match(r"\s+[^\W\d]", seg.text[kind.end() :]):
            _declaration(program, seg, kind.group(1))
        elif kind:
            raise program.error(
                seg.start,
                f"'{kind.group(1)}' is a keyword of the spec language",
                f"Write '{kind.group(1)}' followed by names, e.g. "
                f"'{'state x, v' if kind.group(1) == 'state' else 'param beta'}'; "
                "use another name for variables.",
            )
        else:
            _statement(program, seg, temporaries)
    if not program.states:
        raise DeriveError(
            "the spec declares no state.",
            "Start it with a 'state' line naming the position first, e.g. "
            "'state x; x = x - h*grad(x)'.",
        )
    if not program.assignments:
        raise DeriveError(
            "the spec assigns nothing, so it does not update its state.",
            "Add an update such as 'x = x - h*grad(x)'.",
        )
    unknown = sorted(set(params) - set(program.params))
    if unknown:
        declared = ", ".join(program.params) or "none"
        raise DeriveError(
            f"unknown parameter(s) {', '.join(unknown)} for the spec; it declares: "
            f"{declared}.",
            "Check the spelling, or declare the parameter with 'param NAME'.",
        )
    values = {p: params.get(p, default) for p, default in program.params.items()}
    step = _Step(program, name or "spec", values)
    return trace(step, name=name or "spec", source=text, **values)
