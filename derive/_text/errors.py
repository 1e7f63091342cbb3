"""The error of the expression parser: a located [`DeriveError`][derive.DeriveError].

Free of SymPy, so that callers can catch it without importing SymPy.
"""

from __future__ import annotations

from typing import Any

from .._errors import DeriveError

__all__ = ["ParseError"]


class ParseError(DeriveError):
    """Raised when text is not an expression that `derive` accepts (a
    [`DeriveError`][derive.DeriveError]).

    The message names the offending construct, shows the input with a caret under it,
    and says what is allowed instead.

    **Attributes:**

    - `problem`: what is wrong, in words.
    - `text`: the input that was being parsed.
    - `column`: the 1-based column of the offending construct in its line, or `None`
      when the problem concerns the whole input.
    - `hint`: how to fix it.
    """

    def __init__(
        self,
        problem: str,
        text: str,
        offset: int | None = None,
        hint: str | None = None,
    ):
        self.problem = problem
        self.text = text
        self.offset = offset
        self.hint = hint
        self.fix = hint or ""
        self.line: int | None = None
        self.column: int | None = None
        if offset is not None:
            before = text[:offset]
            self.line = before.count("\n") + 1
            self.column = offset - (before.rfind("\n") + 1) + 1
        Exception.__init__(self, self._message())

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problem, self.text, self.offset, self.hint))

    def _message(self) -> str:
        if self.column is None or self.line is None:
            shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
            lines = [f"{self.problem}, in {shown!r}"]
        else:
            where = f"column {self.column}"
            if "\n" in self.text:
                where = f"line {self.line}, {where}"
            source = self.text.split("\n")[self.line - 1].replace("\t", " ")
            start = max(0, self.column - 1 - 40)
            snippet = source[start : start + 80]
            caret = " " * (self.column - 1 - start) + "^"
            prefix, suffix = (
                ("..." if start else ""),
                ("..." if start + 80 < len(source) else ""),
            )
            caret = " " * len(prefix) + caret
            lines = [
                f"{self.problem}, at {where}:",
                f"    {prefix}{snippet}{suffix}",
                f"    {caret}",
            ]
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)
