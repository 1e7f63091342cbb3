"""Decimal literals read exactly: `0.9` is $9/10$, `1e-3` is $1/1000$."""

from __future__ import annotations

import re
from fractions import Fraction

from .limits import MAX_EXPONENT

__all__ = ["decimal_literal"]

_DECIMAL = re.compile(r"(\d*)\.?(\d*)(?:[eE]([+-]?\d+))?")


def decimal_literal(literal: str) -> Fraction:
    """The exact value of a decimal literal as written in the source (`1_000.5e-3`).

    **Raises:** `ValueError` with a reason when the text is not a decimal literal or its
    exponent exceeds [`MAX_EXPONENT`][derive._text.limits.MAX_EXPONENT]; callers turn it
    into their own located error.

    !!! example
        ```python
        >>> from derive._text.numbers import decimal_literal
        >>> decimal_literal("0.9"), decimal_literal("1e-3")
        (Fraction(9, 10), Fraction(1, 1000))

        ```
    """
    text = literal.replace("_", "")
    match = _DECIMAL.fullmatch(text)
    if match is None or not (match.group(1) or match.group(2)):
        raise ValueError(f"{literal!r} is not a decimal number")
    if match.group(3) is not None and abs(int(match.group(3))) > MAX_EXPONENT:
        raise ValueError(
            f"the exponent of {literal!r} is too large (exponents are limited to "
            f"{MAX_EXPONENT} in absolute value)"
        )
    return Fraction(text)
