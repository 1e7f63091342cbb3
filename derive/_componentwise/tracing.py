"""The tracer's componentwise operations: what `*`, `/`, `**`, `abs` and `xp.sqrt` do
on traced values (see `derive._trace`).

Each operation materialises its operands and appends one instruction of
`derive._componentwise.ir`. The position $x$ itself may not enter a componentwise
operation (a nonlinear function of the position breaks $x_{n+1} = x_n + O(h)$, or
translation invariance); this is refused at once, with the error located in a spec.
Other misuses (an operation on a quantity that equals a multiple of $x$ at $h = 0$)
are found by the engine.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any, NoReturn

from .._coefficients import RationalFunction
from .._errors import DeriveError
from .ir import NONSMOOTH, Apply, Constant, Multiply, Power

if TYPE_CHECKING:
    from .._trace import Affine, _Builder

__all__ = [
    "ones",
    "multiply",
    "divide",
    "power",
    "apply",
    "namespace",
    "declares_namespace",
    "SymbolicNamespace",
]


def _check_operand(a: Affine, what: str) -> None:
    if a.terms.get(0) and all(not c for i, c in a.terms.items() if i != 0):
        raise DeriveError(
            f"nonlinear use of the position x ({what}): componentwise operations "
            "(products, quotients, powers, sqrt, abs, exp, log) act on gradients and "
            "on auxiliary states such as moments, never on the position itself.",
            "Apply them to gradients and moments, e.g. m / (sqrt(v) + eps); put any "
            "nonlinearity in x into the loss.",
        )


def ones(builder: _Builder) -> Affine:
    """The vector of ones, emitted once per trace."""
    from .._trace import Affine

    if builder.ones is None:
        builder.emit(Constant())
        builder.ones = builder.n_values - 1
    return Affine({builder.ones: builder.field.one}, builder)


def multiply(a: Affine, b: Affine) -> Affine:
    """$a \\odot b$."""
    if b.builder is not a.builder:
        raise DeriveError("values from two different traces were mixed.", "")
    _check_operand(a, "product of two states")
    _check_operand(b, "product of two states")
    builder = a.builder
    return builder.emit(Multiply(builder.materialize(a), builder.materialize(b)))


def divide(a: Affine, b: Affine) -> Affine:
    """$a \\oslash b = a \\odot b^{-1}$."""
    _check_operand(b, "division by a state")
    return multiply(a, power(b, -1, "division by a state"))


def power(a: Affine, exponent: object, what: str = "power of a state") -> Affine:
    """$a^p$ componentwise for a rational number $p$."""
    _check_operand(a, what)
    if isinstance(exponent, RationalFunction):
        if not exponent.is_constant():
            raise DeriveError(
                f"the exponent of a componentwise power ({what}) is a symbol, not a "
                "number.",
                "Use a number as exponent, e.g. v**0.5 or v**(1/2).",
            )
        value = exponent.constant_value()
        p = Fraction(int(value.p), int(value.q))
    else:
        from .._exact import exact_number
        from .._trace import Affine

        if isinstance(exponent, Affine):
            raise DeriveError(
                "nonlinear use of a state (a state in an exponent).",
                "Use a number as exponent, e.g. v**0.5.",
            )
        p = exact_number(exponent)
    builder = a.builder
    if p == 1:
        return a
    if p == 0:
        return ones(builder)
    return builder.emit(Power(builder.materialize(a), p))


def apply(function: str, a: Affine) -> Affine:
    """$\\phi(a)$ componentwise, $\\phi$ one of `abs`, `exp`, `log`."""
    _check_operand(a, f"{function} of a state")
    builder = a.builder
    name = {"abs": "abs", "exp": "exp", "log": "log"}[function]
    return builder.emit(Apply(name, builder.materialize(a)))  # type: ignore[arg-type]


def _nonsmooth(name: str) -> NoReturn:
    raise DeriveError(
        f"{name} is not smooth: a modified flow is a series of derivatives of the "
        "update, and it has none where the update jumps.",
        "Replace it by a smooth form (e.g. sign(v) ~ v/sqrt(v*v + eps), "
        "max(a, b) ~ (a + b + sqrt((a - b)**2 + eps))/2), or study the optimizer "
        "numerically.",
    )


class SymbolicNamespace:
    """The `xp` a traced update function receives: `xp.sqrt(v)`, `xp.abs(v)`,
    `xp.exp(v)`, `xp.log(v)` record componentwise instructions; non-smooth functions
    (`sign`, `maximum`, ...) are refused with a message."""

    def __init__(self, builder: _Builder):
        self._builder = builder

    def _value(self, v: object, name: str) -> Affine:
        from .._trace import Affine

        if isinstance(v, Affine):
            return v
        raise DeriveError(
            f"xp.{name} was called with {v!r}, not with a traced vector; coefficients "
            "must be rational in h and the hyper-parameters.",
            "Apply xp functions to states and gradients; for a coefficient such as "
            "sqrt(beta), introduce a hyper-parameter.",
        )

    def sqrt(self, v: object) -> Affine:
        return power(self._value(v, "sqrt"), Fraction(1, 2), "square root of a state")

    def abs(self, v: object) -> Affine:
        return apply("abs", self._value(v, "abs"))

    def exp(self, v: object) -> Affine:
        return apply("exp", self._value(v, "exp"))

    def log(self, v: object) -> Affine:
        return apply("log", self._value(v, "log"))

    def square(self, v: object) -> Affine:
        a = self._value(v, "square")
        return multiply(a, a)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name in NONSMOOTH or name in ("sign", "heaviside", "abs_max"):

            def refuse(*args: object, **kwargs: object) -> NoReturn:
                _nonsmooth(f"xp.{name}")

            return refuse
        raise AttributeError(
            f"the symbolic namespace has no function {name!r}; use sqrt, abs, exp, "
            "log, square and the operators + - * / **"
        )


def namespace(builder: _Builder) -> SymbolicNamespace:
    return SymbolicNamespace(builder)


def declares_namespace(fn: Callable[..., Any]) -> bool:
    """Whether `fn` takes a keyword-only argument `xp`."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("xp")
    return p is not None and p.kind == p.KEYWORD_ONLY
