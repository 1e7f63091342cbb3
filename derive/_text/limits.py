"""The size limits of every text the toolkit reads (losses, numbers, specs).

One set for all parsers, so that what one refuses the other refuses too. The limits
turn inputs such as `9**9**9` or a megabyte of parentheses into a clear error instead of
exhausting memory or the recursion limit.
"""

from __future__ import annotations

__all__ = [
    "MAX_LENGTH",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_BITS",
    "MAX_DEGREE",
    "MAX_TOWER",
]

MAX_LENGTH = 20_000
"""Longest accepted input, in characters."""

MAX_DEPTH = 100
"""Deepest accepted nesting of sub-expressions (parentheses, calls, powers)."""

MAX_EXPONENT = 1000
"""Largest accepted absolute value of a numerical exponent, in `**` and in decimal
literals (`1e-1000`)."""

MAX_BITS = 10_000
"""Largest accepted size, in bits, of an exact number built while parsing (about 3,000
decimal digits)."""

MAX_DEGREE = 200
"""Largest accepted total degree of a coefficient of a spec in its hyper-parameters and
the step size `h`."""

MAX_TOWER = 4
"""Highest accepted tower of powers with variables in their exponents
(`x**x**x**x`, `exp(exp(exp(exp(x))))`): their derivatives swell past any budget."""
