"""Optimizers as recurrences: the intermediate representation and the symbolic tracer.

An optimizer is a straight-line program on its state: affine combinations of values
and gradient calls `grad(y)` at such combinations (nested calls allowed). A Python
function such as

```python
def heavy_ball(x, x_prev, *, grad, h, beta):
    return x + beta * (x - x_prev) - h * grad(x)
```

is traced by calling it once on symbolic stand-ins: the positional arguments are the
state (the first one is the position $x$), `grad` records a gradient call, `h` and the
other keyword-only arguments (the hyper-parameters) are exact field elements. A function
that returns one value defines a multi-step recurrence (the states are the previous
iterates and shift by one); a function that returns a tuple, one entry per state,
defines the full state update.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import flint

from ._coefficients import (
    RationalFunction,
    RationalFunctionField,
    evaluate,
    rational_function_field,
)
from ._errors import DeriveError

__all__ = ["Combine", "Grad", "Recurrence", "trace", "exact_number"]


@dataclass(frozen=True)
class Combine:
    """A new value $\\sum_k c_k v_k$: `terms` are `(value index, coefficient)` pairs."""

    terms: tuple[tuple[int, Any], ...]


@dataclass(frozen=True)
class Grad:
    """A new value $\\nabla f(v)$ for the value with index `arg` (note: $\\nabla f = -g$)."""

    arg: int


@dataclass(frozen=True, eq=False)
class Recurrence:
    """An optimizer as a straight-line program on its state.

    Values are numbered: `0..len(states)-1` are the current states (`states[0]` is the
    position), then one value per instruction. `outputs[j]` is the value that becomes
    state `j` after one step. Coefficients are exact elements of `field`, the rational
    functions of the symbolic hyper-parameters and of `h`.

    **Attributes:**

    - `name`: a short name for records (`"heavy-ball"`).
    - `states`: state names, position first.
    - `parameters`: the hyper-parameters that stay symbolic.
    - `values`: the hyper-parameters given numerically, as exact `Fraction`s.
    - `field`: the coefficient field $\\mathbb{Q}(\\text{parameters}, h)$.
    - `instructions`, `outputs`: the program.
    - `function`: the Python function that was traced, if any (the numerics run it).
    - `source`: the text spec it was parsed from, if any.
    """

    name: str
    states: tuple[str, ...]
    parameters: tuple[str, ...]
    values: Mapping[str, Fraction]
    field: RationalFunctionField
    instructions: tuple[Combine | Grad, ...]
    outputs: tuple[int, ...]
    function: Callable | None = None
    source: str | None = None
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_grad_calls(self) -> int:
        return sum(isinstance(i, Grad) for i in self.instructions)

    def coefficient_values(self, h, **params) -> list:
        """The program with every coefficient evaluated at numbers (floats allowed).

        Returns a list parallel to `instructions`: `("grad", arg)` or
        `("combine", [(value, number), ...])`, for [`run`][derive.Recurrence.run].
        """
        missing = set(self.parameters) - set(params)
        if missing:
            raise DeriveError(
                f"no value for the symbolic hyper-parameter(s) {sorted(missing)}.",
                "Give every symbolic hyper-parameter a number to run the recurrence.",
            )
        env = {**params, "h": h}
        out = []
        for ins in self.instructions:
            if isinstance(ins, Grad):
                out.append(("grad", ins.arg))
            else:
                out.append(("combine", [(v, evaluate(c, env)) for v, c in ins.terms]))
        return out

    def run(self, state, grad, h, **params):
        """One step of the recurrence on numbers or arrays.

        **Arguments:**

        - `state`: a tuple with one value per state (arrays support `+` and `*`).
        - `grad`: a function returning $\\nabla f$ at a point.
        - `h`, `**params`: numbers for the step size and the symbolic hyper-parameters.

        **Returns:** the new state tuple.

        !!! example
            ```python
            >>> import derive
            >>> derive.heavy_ball(0.5).run((1.0, 1.0), lambda x: 2 * x, h=0.1)
            (0.8, 1.0)

            ```
        """
        program = self.coefficient_values(h, **params)
        values = list(state)
        if len(values) != len(self.states):
            raise DeriveError(
                f"{len(values)} state values for the states {list(self.states)}.", ""
            )
        for kind, data in program:
            if kind == "grad":
                values.append(grad(values[data]))
            else:
                acc = None
                for v, c in data:
                    term = c * values[v]
                    acc = term if acc is None else acc + term
                values.append(acc)
        return tuple(values[o] for o in self.outputs)

    def pretty(self) -> str:
        """The program as readable lines (`v3 = beta*x - beta*x_prev`, ...)."""
        names = list(self.states)
        lines = []
        for k, ins in enumerate(self.instructions):
            name = f"v{len(self.states) + k}"
            if isinstance(ins, Grad):
                lines.append(f"{name} = grad({names[ins.arg]})")
            else:
                parts = [f"({c})*{names[i]}" for i, c in ins.terms]
                lines.append(f"{name} = " + " + ".join(parts))
            names.append(name)
        for s, o in zip(self.states, self.outputs, strict=True):
            lines.append(f"{s}+ = {names[o]}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- tracer


class _Builder:
    def __init__(self, states: tuple[str, ...], field: RationalFunctionField):
        self.states = states
        self.field = field
        self.n_values = len(states)
        self.instructions: list[Combine | Grad] = []

    def scalar(self, value, what: str):
        return to_field(value, self.field, what)

    def materialize(self, a: _Affine) -> int:
        terms = tuple(sorted((i, c) for i, c in a.terms.items() if c))
        if len(terms) == 1 and terms[0][1] == 1:
            return terms[0][0]
        self.instructions.append(Combine(terms))
        self.n_values += 1
        return self.n_values - 1

    def grad(self, arg) -> _Affine:
        if not isinstance(arg, _Affine) or arg.builder is not self:
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
        return _Affine({self.n_values - 1: self.field.one}, self)


def _show(value) -> str:
    """A short readable form of a traced value for error messages."""
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, RationalFunction):
        return str(value.field.to_sympy(value))
    return repr(value)


def _nonlinear(op: str):
    raise DeriveError(
        f"nonlinear use of a state ({op}): an optimizer may only form affine "
        "combinations of its states and call grad on them.",
        "Write the update with +, -, and multiplication or division by numbers, h and "
        "hyper-parameters; put any nonlinearity into the loss.",
    )


class _Affine:
    """A symbolic linear combination of program values (what the traced code sees)."""

    __slots__ = ("terms", "builder")
    __array_ufunc__ = None  # keep NumPy from trying to broadcast over it

    def __init__(self, terms: dict[int, Any], builder: _Builder):
        self.terms = terms
        self.builder = builder

    def _combine(self, other, sign: int):
        if isinstance(other, _Affine):
            if other.builder is not self.builder:
                raise DeriveError("values from two different traces were mixed.", "")
            out = dict(self.terms)
            for i, c in other.terms.items():
                out[i] = out.get(i, self.builder.field.zero) + (c if sign > 0 else -c)
            return _Affine(out, self.builder)
        if other == 0:
            return self
        raise DeriveError(
            f"a constant ({_show(other)}) was added to a state; updates must be affine "
            "combinations of states and gradients with no constant offset.",
            "Remove the constant term (the method must commute with translations).",
        )

    def __add__(self, other):
        return self._combine(other, +1)

    def __radd__(self, other):
        return self._combine(other, +1)

    def __sub__(self, other):
        return self._combine(other, -1)

    def __rsub__(self, other):
        return (-self)._combine(other, +1)

    def __neg__(self):
        return _Affine({i: -c for i, c in self.terms.items()}, self.builder)

    def __pos__(self):
        return self

    def __mul__(self, other):
        if isinstance(other, _Affine):
            _nonlinear("product of two states")
        c = self.builder.scalar(other, "a coefficient")
        return _Affine({i: v * c for i, v in self.terms.items()}, self.builder)

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, _Affine):
            _nonlinear("division by a state")
        c = self.builder.scalar(other, "a divisor")
        if not c:
            raise DeriveError(
                "division by zero in the optimizer's update.",
                "Divide only by nonzero numbers, h or hyper-parameters.",
            )
        return self * (self.builder.field.one / c)

    def __rtruediv__(self, other):
        _nonlinear("division by a state")

    def __pow__(self, other):
        _nonlinear("power of a state")

    def __rpow__(self, other):
        _nonlinear("a state in an exponent")

    def __matmul__(self, other):
        _nonlinear("matrix product of states")

    def _compare(self, other):
        raise DeriveError(
            "the optimizer compares or branches on its state; a recurrence for the "
            "modified flow must be the same straight-line program at every step.",
            "Remove the comparison (if/min/max/abs/sign) from the update rule.",
        )

    __lt__ = __le__ = __gt__ = __ge__ = _compare

    def __bool__(self):
        self._compare(None)

    def __float__(self):
        _nonlinear("conversion of a state to a number")

    def __array__(self, *args, **kwargs):
        _nonlinear(
            "conversion of a state to an array (use only +, -, * and / on states)"
        )

    def __repr__(self):
        return f"<symbolic state combination {self.terms}>"


# ---------------------------------------------------------------------------- scalars


def exact_number(value) -> Fraction:
    """An exact rational from an int, float, Fraction, decimal string or SymPy number.

    Floats are read from their shortest decimal representation, so `0.9` gives 9/10.

    !!! example
        ```python
        >>> from derive import exact_number
        >>> exact_number(0.9), exact_number("1/3"), exact_number(2)
        (Fraction(9, 10), Fraction(1, 3), Fraction(2, 1))

        ```
    """
    if isinstance(value, bool):
        raise DeriveError(
            f"{value!r} is not a number.", "Give a number such as 0.9 or 1/2."
        )
    if isinstance(value, int | Fraction):
        return Fraction(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise DeriveError(
                f"{value!r} is not a finite number.", "Give a finite value."
            )
        return Fraction(repr(value))
    if isinstance(value, flint.fmpq):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, str):
        from ._text.expression import ParseError, parse_number

        try:
            r = parse_number(value)
        except ParseError as e:
            raise DeriveError(str(e), "") from None
        return Fraction(int(r.p), int(r.q))
    mod = type(value).__module__
    if mod.startswith("sympy"):
        if getattr(value, "is_Rational", False):
            return Fraction(int(value.p), int(value.q))
        if getattr(value, "is_Float", False):
            return Fraction(str(value))
    if mod.startswith("numpy"):
        return exact_number(value.item())
    raise DeriveError(
        f"{value!r} is not an exact number.",
        "Give an int, a float, a Fraction or '1/2'.",
    )


def to_field(
    value, field: RationalFunctionField, what: str = "a value"
) -> RationalFunction:
    """Convert a number, field element or SymPy rational expression into `field`."""
    if isinstance(value, RationalFunction):
        return field.convert(value)
    if isinstance(value, _Affine):
        _nonlinear("product of two states")
    mod = type(value).__module__
    if mod.startswith("sympy") and not getattr(value, "is_Number", False):
        return _sympy_to_field(value, field, what)
    try:
        q = exact_number(value)
    except DeriveError:
        raise DeriveError(
            f"{what} of the optimizer is {value!r}, which is not a number, h or a "
            "hyper-parameter.",
            "Use exact numbers, h and the declared hyper-parameters in coefficients.",
        ) from None
    return field.convert(q)


def _sympy_to_field(expr, field: RationalFunctionField, what: str) -> RationalFunction:
    import sympy

    syms = {s.name for s in expr.free_symbols}
    unknown = syms - set(field.names)
    if unknown:
        raise DeriveError(
            f"{what} uses unknown symbols {sorted(unknown)}; known: {list(field.names)}.",
            "Declare every hyper-parameter as a keyword-only argument of the optimizer.",
        )
    gens = [sympy.Symbol(n) for n in field.names]
    expr = expr.subs({s: sympy.Symbol(s.name) for s in expr.free_symbols})
    if not expr.is_rational_function(*gens):
        raise DeriveError(
            f"{what} {expr} is not a rational function of {list(field.names)}.",
            "Coefficients must be rational in h and the hyper-parameters; introduce a "
            "new hyper-parameter for anything else (e.g. s for sqrt(beta)).",
        )
    num, den = sympy.fraction(sympy.together(expr))

    def poly(p):
        P = sympy.Poly(p, *gens, domain="QQ")
        return field.ctx.from_dict(
            {m: flint.fmpq(int(c.p), int(c.q)) for m, c in P.terms()}
        )

    return field.from_polys(poly(num), poly(den))


# ---------------------------------------------------------------------------- tracing


def _signature(fn: Callable) -> tuple[tuple[str, ...], tuple[str, ...]]:
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
    params = tuple(k for k in kw if k not in ("grad", "h"))
    return tuple(states), params


def trace(
    fn: Callable,
    name: str | None = None,
    *,
    description: str = "",
    source: str | None = None,
    **params,
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
    states, declared = _signature(fn)
    for s in (*states, *declared):
        if s in ("h", "grad") or s.startswith("_"):
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
    field_ = rational_function_field((*symbolic, "h"))
    builder = _Builder(states, field_)
    args = [_Affine({i: field_.one}, builder) for i in range(len(states))]
    kwargs = {p: field_.convert(v) for p, v in values.items()}
    kwargs.update({p: field_.gen(p) for p in symbolic})
    kwargs["h"] = field_.gen("h")
    kwargs["grad"] = builder.grad
    try:
        result = fn(*args, **kwargs)
    except DeriveError:
        raise
    except ZeroDivisionError as e:
        raise DeriveError(
            f"division by zero while tracing the optimizer ({e}).", ""
        ) from None
    outputs = _outputs(result, builder, states)
    return Recurrence(
        name=name or getattr(fn, "__name__", "optimizer").replace("_", "-"),
        states=states,
        parameters=symbolic,
        values=values,
        field=field_,
        instructions=tuple(builder.instructions),
        outputs=outputs,
        function=fn,
        source=source,
        description=description,
    )


def _outputs(result, builder: _Builder, states: tuple[str, ...]) -> tuple[int, ...]:
    def check(v, what):
        if isinstance(v, _Affine):
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
            _Affine({i: builder.field.one}, builder) for i in range(len(states) - 1)
        ]
    return tuple(builder.materialize(v) for v in new)
