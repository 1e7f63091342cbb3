"""The parts of a spec: its statements, located errors, exact literals and declarations."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, TypeAlias, TypeVar, overload

from .._coefficients import RationalFunction
from .._errors import DeriveError
from .limits import MAX_BITS, MAX_DEGREE, MAX_DEPTH, MAX_EXPONENT
from .numbers import decimal_literal
from .syntax import OPERATORS

__all__ = ["SpecError"]

_RESERVED = {
    "h": "the step size",
    "grad": "the gradient",
    "state": "a keyword",
    "param": "a keyword",
}

_Located: TypeAlias = ast.expr | ast.stmt
"""A syntax-tree node with a position in its statement."""

_T = TypeVar("_T")

_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
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

    def __reduce__(self) -> tuple[Any, ...]:
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
    augmented: type[ast.operator] | None
    node: ast.stmt
    segment: _Segment


@dataclass
class _Program:
    text: str
    states: list[str] = field(default_factory=list)
    params: dict[str, Fraction | None] = field(default_factory=dict)
    assignments: list[_Assignment] = field(default_factory=list)
    numbers: dict[ast.Constant, Fraction] = field(default_factory=dict)
    exponents: dict[ast.BinOp, Fraction] = field(default_factory=dict)

    # ------------------------------------------------------------------ locations
    def position(self, offset: int) -> tuple[int, int]:
        before = self.text[:offset]
        return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1

    def offset(self, seg: _Segment, node: _Located) -> int:
        """The offset in the spec of `node`, parsed from `seg` (`ast` counts bytes)."""
        lines = seg.text.split("\n")
        line = lines[node.lineno - 1]
        chars = len(line.encode("utf-8")[: node.col_offset].decode("utf-8", "ignore"))
        return seg.start + sum(len(s) + 1 for s in lines[: node.lineno - 1]) + chars

    def error(
        self,
        where: int | _Located,
        problem: str,
        fix: str = _ONLY,
        seg: _Segment | None = None,
    ) -> SpecError:
        """A `SpecError` at `where`: an offset, or an `ast` node of `seg`."""
        snippet = ""
        if isinstance(where, ast.AST):
            if seg is None:
                raise TypeError("a node's position needs its statement (seg)")
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
            literal = ast.get_source_segment(seg.text, node) or repr(value)
            try:
                exact = decimal_literal(literal)
            except ValueError as e:
                raise self.error(
                    node, str(e), "Write a number such as 0.9.", seg
                ) from None
            return self.bounded(exact, node, seg)
        if isinstance(value, complex):
            raise self.error(node, "complex numbers are not allowed", seg=seg)
        raise self.error(node, f"a {type(value).__name__} is not allowed", seg=seg)

    def bounded(self, value: _T, node: _Located, seg: _Segment) -> _T:
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

    def constant(self, node: ast.expr, seg: _Segment, depth: int = 0) -> Fraction:
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

    def exponent(self, node: ast.expr, seg: _Segment, depth: int = 0) -> int:
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

    def power_exponent(self, node: ast.expr, seg: _Segment) -> Fraction:
        """The exponent of `**` in an assignment: a rational number (a whole number
        from 0 to 1000 for a scalar base, checked when the base is known; any
        rational of absolute value at most 1000 for a vector)."""
        try:
            value = self.constant(node, seg)
        except _NotANumber:
            raise self.error(
                node,
                "the exponent of '**' must be a whole number (a rational number for "
                "a vector)",
                "Write powers with a number exponent such as beta**2 or v**0.5; for "
                "a symbolic power introduce a parameter.",
                seg,
            ) from None
        if abs(value) > MAX_EXPONENT:
            raise self.error(
                node,
                f"the exponent {value} is not a number from -{MAX_EXPONENT} to "
                f"{MAX_EXPONENT}",
                "Use a smaller exponent.",
                seg,
            )
        return value


def _bits(value: Fraction) -> int:
    return max(abs(value.numerator).bit_length(), value.denominator.bit_length(), 1)


# ---------------------------------------------------------------------- splitting


def _split(program: _Program) -> list[_Segment]:
    """Cut the spec into statements at newlines and ';' outside brackets."""
    text = program.text
    segments: list[tuple[int, str]] = []
    start, depth, i = 0, 0, 0
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


@overload
def _parse_segment(
    program: _Program, seg: _Segment, mode: Literal["exec"] = "exec"
) -> ast.Module: ...


@overload
def _parse_segment(
    program: _Program, seg: _Segment, mode: Literal["eval"]
) -> ast.Expression: ...


def _parse_segment(
    program: _Program, seg: _Segment, mode: Literal["exec", "eval"] = "exec"
) -> ast.Module | ast.Expression:
    try:
        if mode == "eval":
            return ast.parse(seg.text, mode="eval")
        return ast.parse(seg.text, mode="exec")
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
    out: list[_Segment] = []
    depth, start = 0, begin
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
        default: Fraction | None = None
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
