"""Whole-number hyper-parameters that shape the program (Lookahead's `k` inner steps).

A traced optimizer sees its hyper-parameters as exact field elements, so that
`beta * v` stays exact. A parameter that counts something (`for _ in range(k)`) must
be a Python integer instead. When a parameter's value is a whole number the tracer
passes a `WholeNumber`: an `int` (so `range(k)` works) whose arithmetic stays exact
(`1 / k` is `Fraction(1, k)`, never a float). A parameter used as a count without a
value cannot be symbolic; `structural_error` turns Python's `TypeError` into a
message that says so.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from ._errors import DeriveError

__all__ = ["WholeNumber", "structural_error"]


def _wrap(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return WholeNumber(value)
    if isinstance(value, Fraction) and value.denominator == 1:
        return WholeNumber(value.numerator)
    return value


class WholeNumber(int):
    """An `int` whose arithmetic is exact: division and negative powers give a
    `Fraction`, and sums and products stay `WholeNumber`s.

    !!! example
        ```python
        >>> from derive._structural import WholeNumber
        >>> k = WholeNumber(5)
        >>> list(range(k))[-1], 1 / k, (k - 1) / k, k ** -1
        (4, Fraction(1, 5), Fraction(4, 5), Fraction(1, 5))

        ```
    """

    def _exact(self, other: Any, op: str) -> Any:
        if isinstance(other, int | Fraction):
            return _wrap(getattr(Fraction(int(self)), op)(other))
        return NotImplemented

    def __truediv__(self, other: Any) -> Any:
        return self._exact(other, "__truediv__")

    def __rtruediv__(self, other: Any) -> Any:
        return self._exact(other, "__rtruediv__")

    def __add__(self, other: Any) -> Any:
        return self._exact(other, "__add__")

    def __radd__(self, other: Any) -> Any:
        return self._exact(other, "__radd__")

    def __sub__(self, other: Any) -> Any:
        return self._exact(other, "__sub__")

    def __rsub__(self, other: Any) -> Any:
        return self._exact(other, "__rsub__")

    def __mul__(self, other: Any) -> Any:
        return self._exact(other, "__mul__")

    def __rmul__(self, other: Any) -> Any:
        return self._exact(other, "__rmul__")

    def __pow__(self, other: Any, modulo: Any = None) -> Any:
        if modulo is not None or not isinstance(other, int):
            return NotImplemented
        return _wrap(Fraction(int(self)) ** other)

    def __neg__(self) -> WholeNumber:
        return WholeNumber(-int(self))

    def __pos__(self) -> WholeNumber:
        return self


def whole_numbers(values: dict[str, Fraction]) -> dict[str, Any]:
    """The values that are whole numbers as `WholeNumber`s (others unchanged)."""
    return {k: _wrap(v) for k, v in values.items()}


def structural_error(error: TypeError, symbolic: tuple[str, ...]) -> DeriveError:
    """A [`DeriveError`][derive.DeriveError] for a `TypeError` raised while tracing:
    a NumPy function applied to a state, or a symbolic parameter used as a count."""
    text = str(error)
    if "ufunc" in text or "numpy" in text.lower() or "array" in text:
        return DeriveError(
            f"a NumPy function was applied to the optimizer's state while tracing it "
            f"({text}); the tracer reads only +, -, * and / on states and grad(...).",
            "Write the update with +, -, * and / (e.g. x - h*grad(x)); a "
            "componentwise nonlinearity such as numpy.sign has no modified flow in this "
            "toolkit.",
        )
    if symbolic and ("integer" in text or "index" in text or "int" in text):
        names = ", ".join(symbolic)
        return DeriveError(
            f"tracing the optimizer failed with {text!r}: a hyper-parameter used as a "
            f"whole number (e.g. range(k)) cannot stay symbolic (symbolic here: "
            f"{names}).",
            "Give it a whole-number value, e.g. k=5 (on the command line: --param "
            "k=5).",
        )
    return DeriveError(
        f"tracing the optimizer raised TypeError: {text}.",
        "Use only +, -, * and / on states and grad(...), with numbers, h and the "
        "hyper-parameters as coefficients.",
    )
