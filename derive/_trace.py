"""The symbolic tracer: an optimizer written as a Python function, read into a `Recurrence`.

An optimizer is a straight-line program on its state: affine combinations of values
and gradient calls `grad(y)` at such combinations (nested calls allowed), and, for
adaptive optimizers, componentwise operations on vectors (products, quotients, powers,
`abs`, `exp`, `log`; see `derive._componentwise.ir`). A Python function such as

```python
def heavy_ball(x, x_prev, *, grad, h, beta):
    return x + beta * (x - x_prev) - h * grad(x)
```

is traced by calling it once on symbolic stand-ins: the positional arguments are the
state (the first one is the position $x$), `grad` records a gradient call, `h` and the
other keyword-only arguments (the hyper-parameters) are exact field elements. A function
that returns one value defines a multi-step recurrence (the states are the previous
iterates and shift by one); a function that returns a tuple, one entry per state,
defines the full state update. A function that declares a keyword-only argument `xp`
receives an array namespace (`xp.sqrt`, `xp.abs`, `xp.exp`, `xp.log`): a symbolic one
when traced, NumPy or `jax.numpy` when run on arrays.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any, NoReturn, cast

from ._budget import check_parameter_count
from ._coefficients import (
    RationalFunction,
    RationalFunctionField,
    rational_function_field,
)
from ._componentwise import tracing as _cw
from ._errors import DeriveError
from ._exact import ExactValue, exact_number, to_field
from ._recurrence import Combine, Grad, Instruction, Recurrence
from ._structural import structural_error, whole_numbers

__all__ = ["trace", "trace_function", "Affine"]


class _Builder:
    def __init__(self, states: tuple[str, ...], field: RationalFunctionField):
        self.states = states
        self.field = field
        self.n_values = len(states)
        self.instructions: list[Instruction] = []
        self.ones: int | None = None

    def emit(self, instruction: Instruction) -> Affine:
        """Append an instruction; the new value as a traced combination."""
        self.instructions.append(instruction)
        self.n_values += 1
        return Affine({self.n_values - 1: self.field.one}, self)

    def scalar(self, value: object, what: str) -> RationalFunction:
        return to_field(value, self.field, what)

    def materialize(self, a: Affine) -> int:
        terms = tuple(sorted((i, c) for i, c in a.terms.items() if c))
        if len(terms) == 1 and terms[0][1] == 1:
            return terms[0][0]
        self.instructions.append(Combine(terms))
        self.n_values += 1
        return self.n_values - 1

    def grad(self, arg: object) -> Affine:
        if not isinstance(arg, Affine) or arg.builder is not self:
            raise DeriveError(
                f"grad was called with {_show(arg)}, which is not a combination of the "
                "optimizer's states.",
                "Call grad on the state or on an affine combination of states, "
                "e.g. grad(x) or grad(x + beta*(x - x_prev)).",
            )
        if not any(c for c in arg.terms.values()):
            raise DeriveError(
                "grad was called at the zero vector (all coefficients cancel).",
                "Evaluate the gradient at a point near x, e.g. grad(x + beta*v).",
            )
        idx = self.materialize(arg)
        self.instructions.append(Grad(idx))
        self.n_values += 1
        return Affine({self.n_values - 1: self.field.one}, self)


def _show(value: object) -> str:
    """A short readable form of a traced value for error messages."""
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, RationalFunction):
        return str(value.field.to_sympy(value))
    return repr(value)


def _nonlinear(op: str) -> NoReturn:
    raise DeriveError(
        f"nonlinear use of a state ({op}): an optimizer may only form affine "
        "combinations of its states and call grad on them.",
        "Write the update with +, -, and multiplication or division by numbers, h and "
        "hyper-parameters; put any nonlinearity into the loss.",
    )


class Affine:
    """A symbolic linear combination of program values (what the traced code sees)."""

    __slots__ = ("terms", "builder")
    __array_ufunc__ = None  # keep NumPy from trying to broadcast over it

    def __init__(self, terms: dict[int, RationalFunction], builder: _Builder):
        self.terms = terms
        self.builder = builder

    def _combine(self, other: object, sign: int) -> Affine:
        if isinstance(other, Affine):
            if other.builder is not self.builder:
                raise DeriveError("values from two different traces were mixed.", "")
            out = dict(self.terms)
            for i, c in other.terms.items():
                out[i] = out.get(i, self.builder.field.zero) + (c if sign > 0 else -c)
            return Affine(out, self.builder)
        if other == 0:
            return self
        if not self.terms.get(0):  # a vector plus a constant (sqrt(v) + eps)
            c = self.builder.scalar(other, "a constant")
            ones = _cw.ones(self.builder)
            return self._combine(ones * (c if sign > 0 else -c), +1)
        raise DeriveError(
            f"a constant ({_show(other)}) was added to a state; updates must be affine "
            "combinations of states and gradients with no constant offset.",
            "Remove the constant term (the method must commute with translations).",
        )

    def __add__(self, other: object) -> Affine:
        return self._combine(other, +1)

    def __radd__(self, other: object) -> Affine:
        return self._combine(other, +1)

    def __sub__(self, other: object) -> Affine:
        return self._combine(other, -1)

    def __rsub__(self, other: object) -> Affine:
        return (-self)._combine(other, +1)

    def __neg__(self) -> Affine:
        return Affine({i: -c for i, c in self.terms.items()}, self.builder)

    def __pos__(self) -> Affine:
        return self

    def __mul__(self, other: object) -> Affine:
        if isinstance(other, Affine):
            return _cw.multiply(self, other)
        c = self.builder.scalar(other, "a coefficient")
        return Affine({i: v * c for i, v in self.terms.items()}, self.builder)

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> Affine:
        if isinstance(other, Affine):
            return _cw.divide(self, other)
        c = self.builder.scalar(other, "a divisor")
        if not c:
            raise DeriveError(
                "division by zero in the optimizer's update.",
                "Divide only by nonzero numbers, h or hyper-parameters.",
            )
        return self * (self.builder.field.one / c)

    def __rtruediv__(self, other: object) -> Affine:
        return _cw.power(self, -1, "division by a state") * other

    def __pow__(self, other: object) -> Affine:
        return _cw.power(self, other, "power of a state")

    def __abs__(self) -> Affine:
        return _cw.apply("abs", self)

    def __rpow__(self, other: object) -> NoReturn:
        _nonlinear("a state in an exponent")

    def __matmul__(self, other: object) -> NoReturn:
        _nonlinear("matrix product of states")

    def _compare(self, other: object) -> NoReturn:
        raise DeriveError(
            "the optimizer compares or branches on its state; a recurrence for the "
            "modified flow must be the same straight-line program at every step.",
            "Remove the comparison (if/min/max/abs/sign) from the update rule.",
        )

    __lt__ = __le__ = __gt__ = __ge__ = _compare

    def __bool__(self) -> NoReturn:
        self._compare(None)

    def __float__(self) -> NoReturn:
        _nonlinear("conversion of a state to a number")

    def __array__(self, *args: object, **kwargs: object) -> NoReturn:
        _nonlinear(
            "conversion of a state to an array (use only +, -, * and / on states)"
        )

    def __repr__(self) -> str:
        return f"<symbolic state combination {self.terms}>"


# ---------------------------------------------------------------------------- tracing


def _signature(fn: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise DeriveError(f"cannot read the signature of {fn!r}.", "") from None
    states, kw = [], []
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            states.append(p.name)
        elif p.kind == p.KEYWORD_ONLY:
            kw.append(p.name)
        else:
            raise DeriveError(
                f"the optimizer's signature has *{p.name}/**{p.name}.",
                "Write def step(x, x_prev, *, grad, h, beta): states positional, "
                "grad, h and hyper-parameters keyword-only.",
            )
    if not states:
        raise DeriveError(
            "the optimizer function takes no state.",
            "Write def step(x, *, grad, h): ... with the position x first.",
        )
    missing = {"grad", "h"} - set(kw)
    if missing:
        raise DeriveError(
            f"the optimizer function lacks the keyword-only argument(s) {sorted(missing)}.",
            "Write def step(x, *, grad, h, ...): grad and h are keyword-only.",
        )
    params = tuple(k for k in kw if k not in ("grad", "h", "xp"))
    return tuple(states), params


def trace(
    fn: Callable[..., Any],
    name: str | None = None,
    *,
    description: str = "",
    source: str | None = None,
    **params: ExactValue | None,
) -> Recurrence:
    """Trace an optimizer written as a plain Python function into a [`Recurrence`][derive.Recurrence].

    **Arguments:**

    - `fn`: `def step(x, s2, ..., *, grad, h, p1, p2, ...)`; positional arguments are
      the state (position first), `grad(y)` is the loss gradient $\\nabla f(y)$, `h` the
      step size and the other keyword-only arguments hyper-parameters. Return the new
      position (multi-step form: the states are previous iterates) or a tuple with the
      new value of every state.
    - `name`: name for records (default: the function's name).
    - `**params`: values for hyper-parameters. A number is taken exactly (`0.9` is
      9/10); `None` or a missing value keeps the parameter as a symbol of its name.

    **Returns:** the [`Recurrence`][derive.Recurrence].

    !!! example
        ```python
        >>> import derive
        >>> def qhm(x, d, *, grad, h, beta, nu):
        ...     d_new = beta * d + (1 - beta) * grad(x)
        ...     return x - h * ((1 - nu) * grad(x) + nu * d_new), d_new
        >>> rec = derive.trace(qhm, beta=0.9)
        >>> rec.states, rec.parameters, rec.values
        (('x', 'd'), ('nu',), {'beta': Fraction(9, 10)})

        ```
    """
    return trace_function(fn, name, params, description=description, source=source)


def trace_function(
    fn: Callable[..., Any],
    name: str | None,
    params: Mapping[str, ExactValue | None],
    *,
    description: str = "",
    source: str | None = None,
) -> Recurrence:
    """[`trace`][derive.trace] with the hyper-parameter values in a mapping, so that a
    hyper-parameter may be called `description` or `source`."""
    states, declared = _signature(fn)
    for s in (*states, *declared):
        if s in ("h", "grad", "xp") or s.startswith("_"):
            raise DeriveError(f"the name {s!r} is reserved.", "Rename the argument.")
    unknown = set(params) - set(declared)
    if unknown:
        raise DeriveError(
            f"unknown hyper-parameter(s) {sorted(unknown)} for {name or fn.__name__}; "
            f"it takes {list(declared) or 'none'}.",
            "Check the spelling, or add the parameter to the optimizer's signature.",
        )
    values = {k: exact_number(v) for k, v in params.items() if v is not None}
    symbolic = tuple(p for p in declared if p not in values)
    check_parameter_count(name or str(getattr(fn, "__name__", "optimizer")), symbolic)
    field_ = rational_function_field((*symbolic, "h"))
    builder = _Builder(states, field_)
    args = [Affine({i: field_.one}, builder) for i in range(len(states))]
    kwargs: dict[str, Any] = {p: field_.convert(v) for p, v in values.items()}
    kwargs.update(whole_numbers(values))  # a count such as range(k) works
    kwargs.update({p: field_.gen(p) for p in symbolic})
    kwargs["h"] = field_.gen("h")
    kwargs["grad"] = builder.grad
    if _cw.declares_namespace(fn):
        kwargs["xp"] = _cw.namespace(builder)
    try:
        result = fn(*args, **kwargs)
    except DeriveError:
        raise
    except ZeroDivisionError as e:
        raise DeriveError(
            f"division by zero while tracing the optimizer ({e}).", ""
        ) from None
    except TypeError as e:
        raise structural_error(e, symbolic) from None
    outputs = _outputs(result, builder, states)
    return Recurrence(
        name=name or getattr(fn, "__name__", "optimizer").replace("_", "-"),
        states=states,
        parameters=symbolic,
        values=values,
        field=field_,
        instructions=cast(tuple[Combine | Grad, ...], tuple(builder.instructions)),
        outputs=outputs,
        function=fn,
        source=source,
        description=description,
    )


def _outputs(
    result: object, builder: _Builder, states: tuple[str, ...]
) -> tuple[int, ...]:
    def check(v: object, what: str) -> Affine:
        if isinstance(v, Affine):
            return v
        raise DeriveError(
            f"the optimizer returned {v!r} for {what}, not a combination of its states.",
            "Return the new position (multi-step form) or a tuple with one new value "
            "per state.",
        )

    if isinstance(result, tuple | list):
        if len(result) != len(states):
            raise DeriveError(
                f"the optimizer returned {len(result)} values for {len(states)} states "
                f"{list(states)}.",
                "Return one new value per state, in the order of the arguments, or "
                "just the new position for a multi-step recurrence.",
            )
        new = [check(v, f"state {s!r}") for v, s in zip(result, states, strict=True)]
    else:
        first = check(result, "the new position")
        # multi-step: (x, x1, x2, ...) -> (x+, x, x1, ...)
        new = [first] + [
            Affine({i: builder.field.one}, builder) for i in range(len(states) - 1)
        ]
    return tuple(builder.materialize(v) for v in new)
