"""Python source text for generated modules, emitted already formatted.

Generated modules are written in the layout of `ruff format` (spaces around binary
operators, `**` hugging simple operands, double quotes, lines of at most 88 characters
with long expressions broken inside parentheses, one operand per line) by the code
below, not by running a formatter afterwards, so that the text and its content hash
are the same on every machine. (For the longest expressions of explicit fields ruff
would sometimes choose a different, equally valid, break.)
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sympy
    from sympy.printing.printer import Printer

__all__ = [
    "LINE_LENGTH",
    "coefficient_code",
    "expression_printer",
    "spaced",
    "quote",
    "literal",
    "identifier",
    "assignment",
]

LINE_LENGTH = 88
"""The longest line the generated code aims for (ruff's default)."""

_INT32 = 2**31 - 1
_BINARY = {"+", "-", "*", "/", "**"}


def _printer_class() -> type[Printer]:
    from sympy.printing.str import StrPrinter

    class CoefficientPrinter(StrPrinter):
        """SymPy's string printer with integers beyond int32 written as `float(n)`:
        JAX cannot take them as weak-typed ints (OverflowError for
        `17642229001000000000 * beta` with a traced `beta`)."""

        def _print_Integer(self, expr: sympy.Integer) -> str:
            n = int(expr)
            return f"float({n})" if abs(n) > _INT32 else str(n)

        def _print_Rational(self, expr: sympy.Rational) -> str:
            # Python divides the two integers, correctly rounded, before JAX sees them
            return f"{self._print_Integer(expr.p)}/{self._print_Integer(expr.q)}"

    return CoefficientPrinter


def coefficient_code(expr: sympy.Expr) -> str:
    """A coefficient (a SymPy rational function of the parameters) as Python text.

    !!! example
        ```python
        >>> import derive
        >>> from derive._codegen.python import coefficient_code
        >>> term = derive.modified_flow(derive.heavy_ball(), 1).terms[1]
        >>> coefficient_code(term.sympy)
        '-(beta + 1) / (2 * (1 - beta) ** 3)'

        ```
    """
    import sympy

    return spaced(_printer_class()().doprint(sympy.sympify(expr)))


def expression_printer() -> Printer:
    """SymPy's JAX printer for explicit fields: `jnp.` for `jax.numpy.`, `1/x**k` for
    negative integer powers, integers beyond int32 as floats."""
    from sympy.printing.numpy import JaxPrinter

    class _Printer(JaxPrinter):
        def _print_Integer(self, expr: sympy.Integer) -> str:
            n = int(expr)
            return f"float({n})" if abs(n) > _INT32 else str(n)

        def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
            b, e = expr.as_base_exp()
            if e.is_Integer and e.is_negative:
                base = self.parenthesize(b, 50)  # PRECEDENCE["Pow"] = 60, Mul = 50
                return f"1/{base}" if e == -1 else f"1/{self.parenthesize(b, 60)}**{-e}"
            return super()._print_Pow(expr, rational=rational)

        def _module_format(self, fqn: str, register: bool = True) -> str:
            text = super()._module_format(fqn, register)
            return (
                "jnp." + text[len("jax.numpy.") :]
                if text.startswith("jax.numpy.")
                else text
            )

    return _Printer({"fully_qualified_modules": True, "allow_unknown_functions": False})


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    return [
        t
        for t in tokenize.generate_tokens(io.StringIO(text).readline)
        if t.type not in (tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.NL)
    ]


def spaced(text: str) -> str:
    """One Python expression laid out as ruff does: spaces around binary operators,
    `**` hugging simple operands, `, ` after commas."""
    toks = _tokens(text)
    out: list[str] = []
    prev = None
    for k, tok in enumerate(toks):
        s = tok.string
        if tok.type == tokenize.OP and s in _BINARY:
            unary = s in {"+", "-"} and (
                prev is None or prev.string in {"(", ",", *_BINARY}
            )
            if unary:
                out.append(s)
            elif s == "**":
                nxt = toks[k + 1] if k + 1 < len(toks) else None
                simple = (
                    prev is not None
                    and prev.type in (tokenize.NAME, tokenize.NUMBER)
                    and nxt is not None
                    and nxt.type in (tokenize.NAME, tokenize.NUMBER)
                )
                out.append("**" if simple else " ** ")
            else:
                out.append(f" {s} ")
        elif s == ",":
            out.append(", ")
        else:
            out.append(s)
        prev = tok
    return "".join(out)


def _split_top_level(text: str, operators: tuple[str, ...]) -> list[str]:
    """`text` (already spaced) cut before each top-level binary operator among
    `operators` (written with their surrounding spaces, e.g. `" + "`)."""
    parts, depth, start, k = [], 0, 0, 0
    while k < len(text):
        ch = text[k]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and k > 0:
            for op in operators:
                if text.startswith(op, k - 1):
                    parts.append(text[start : k - 1])
                    start = k
                    break
        k += 1
    parts.append(text[start:])
    return [p for p in parts if p]


def _broken_lines(value: str, indent: str) -> list[str]:
    """The lines of the expression `value` at `indent`, broken as a formatter breaks
    a binary expression: one operand of the lowest-precedence operator per line (`+`
    and `-`, else `*` and `/`), an operand that is still too long broken the same way,
    and a parenthesised group or call broken inside its parentheses."""
    if len(indent) + len(value) <= LINE_LENGTH:
        return [indent + value]
    for operators in ((" + ", " - "), (" * ", " / ")):
        parts = _split_top_level(value, operators)
        if len(parts) > 1:
            lines = []
            for part in parts:
                sign, body = "", part
                if part[:2] in ("+ ", "- ", "* ", "/ "):
                    sign, body = part[:2], part[2:]
                sub = _broken_lines(body, indent)
                lines += [indent + sign + sub[0][len(indent) :], *sub[1:]]
            return lines
    opening = value.find("(")
    if value.endswith(")") and opening >= 0 and _closes_at_end(value, opening):
        inner = value[opening + 1 : -1]
        return [
            indent + value[: opening + 1],
            *_broken_lines(inner, indent + "    "),
            indent + ")",
        ]
    return [indent + value]  # an atom too long to break


def _closes_at_end(text: str, opening: int) -> bool:
    """Whether the bracket opened at `opening` is closed by the last character."""
    depth = 0
    for k in range(opening, len(text)):
        depth += text[k] in "([{"
        depth -= text[k] in ")]}"
        if depth == 0:
            return k == len(text) - 1
    return False


def assignment(
    indent: str, target: str, value: str, suffix: str = "", separator: str | None = None
) -> list[str]:
    """`target = value` (or `target: value,` with `suffix=","` in a dict), broken
    over several lines inside parentheses when it is longer than the line length.

    !!! example
        ```python
        >>> from derive._codegen.python import assignment
        >>> assignment("    ", "s0", "a + b")
        ['    s0 = a + b']

        ```
    """
    sep = separator if separator is not None else (": " if suffix else " = ")
    line = f"{indent}{target}{sep}{value}{suffix}"
    if len(line) <= LINE_LENGTH:
        return [line]
    hugged = _hug_last_group(indent, f"{target}{sep}", value) if not suffix else None
    if hugged is not None:
        return hugged
    body = _broken_lines(value, indent + "    ")
    return [f"{indent}{target}{sep}(", *body, f"{indent}){suffix}"]


def _hug_last_group(indent: str, head: str, value: str) -> list[str] | None:
    """`head value` with the brackets of the last group of `value` opening on the
    first line (`s = 1 / (` ... `)`), as a formatter writes a right-hand side that
    ends with a bracketed group and has at most one top-level operator; `None` when
    that layout does not apply."""
    if not value.endswith(")"):
        return None
    for operators in ((" + ", " - "), (" * ", " / ")):
        parts = _split_top_level(value, operators)
        if len(parts) > 2:
            return None
        if len(parts) == 2:
            break
    opening = _opening_of_last(value)
    if opening is None or len(indent + head + value[: opening + 1]) > LINE_LENGTH:
        return None
    if opening == 0 or value[opening - 1] not in " -(":  # a call: keep it whole
        return None
    inner = value[opening + 1 : -1]
    return [
        indent + head + value[: opening + 1],
        *_broken_lines(inner, indent + "    "),
        indent + ")",
    ]


def _opening_of_last(text: str) -> int | None:
    """The position of the bracket that the last character of `text` closes."""
    depth = 0
    for k in range(len(text) - 1, -1, -1):
        depth += text[k] in ")]}"
        depth -= text[k] in "([{"
        if depth == 0:
            return k
    return None


def quote(text: str) -> str:
    """A string literal in double quotes (ruff's preference)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: object) -> str:
    """Python text for str, int, tuples and dicts of them, with double quotes."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items())
            + "}"
        )
    return repr(value)


def identifier(text: str) -> str:
    """`text` made a valid Python identifier (non-word characters become `_`)."""
    out = re.sub(r"\W", "_", text)
    return out if out and not out[0].isdigit() else "_" + out
