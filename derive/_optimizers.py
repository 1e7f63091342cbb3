"""Built-in optimizers: plain update functions and lower-case factories.

Each optimizer is one plain Python function of its state (the definition the symbolic
tracer reads and the numerics run on arrays) and a factory in the optax manner that
fixes its hyper-parameters. Conventions (DESIGN): loss $f$, $g = -\\nabla f$, step $h$.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, TypeAlias

from ._componentwise.optimizers import ADAPTIVE
from ._errors import DeriveError
from ._exact import ExactValue, exact_number
from ._recurrence import Recurrence
from ._sgd import sgd, sgdm
from ._trace import trace, trace_function

__all__ = [
    "OptimizerDefinition",
    "UpdateFunction",
    "optimizer",
    "optimizer_from",
    "optimizer_names",
    "gd",
    "heavy_ball",
    "nesterov",
    "runge_kutta",
    "gradient_descent_step",
    "heavy_ball_step",
    "nesterov_step",
]


UpdateFunction: TypeAlias = Callable[..., Any]
"""An update rule as a plain Python function `def step(x, ..., *, grad, h, ...)`:
positional arguments are the states (position first), `grad`, `h` and the
hyper-parameters keyword-only; it returns the new position or a tuple of new states
(see [`trace`][derive.trace]). The same function runs on symbolic values (traced) and on
arrays (the numerics)."""

OptimizerDefinition: TypeAlias = str | UpdateFunction | Recurrence
"""Anything [`optimizer`][derive.optimizer] turns into a recurrence: a built-in name, a
text spec, an update function, or a [`Recurrence`][derive.Recurrence]."""

Grad: TypeAlias = Callable[[Any], Any]


def gradient_descent_step(x: Any, *, grad: Grad, h: Any) -> Any:
    """Gradient descent: $x_{n+1} = x_n - h \\nabla f(x_n) = x_n + h g(x_n)$."""
    return x - h * grad(x)


def heavy_ball_step(x: Any, x_prev: Any, *, grad: Grad, h: Any, beta: Any) -> Any:
    """Polyak's heavy ball: $x_{n+1} = x_n + \\beta (x_n - x_{n-1}) - h \\nabla f(x_n)$."""
    return x + beta * (x - x_prev) - h * grad(x)


def nesterov_step(x: Any, x_prev: Any, *, grad: Grad, h: Any, beta: Any) -> Any:
    """Nesterov: $y_n = x_n + \\beta (x_n - x_{n-1})$, $x_{n+1} = y_n - h \\nabla f(y_n)$."""
    y = x + beta * (x - x_prev)
    return y - h * grad(y)


def _check_beta(beta: object) -> Fraction | None:
    if beta is None:
        return None
    b = exact_number(beta)
    if b == 1:
        raise DeriveError(
            "beta = 1 is singular: with full momentum the iterates never forget their "
            "velocity, the characteristic polynomial has a double root at 1 and there "
            "is no slow manifold or modified flow.",
            "Choose 0 <= beta < 1 (e.g. --param beta=0.9), or leave beta symbolic.",
        )
    return b


def gd() -> Recurrence:
    """Gradient descent $x_{n+1} = x_n + h g(x_n)$.

    !!! example
        ```python
        >>> import derive
        >>> derive.gd().states
        ('x',)

        ```
    """
    return trace(gradient_descent_step, name="gd", description="gradient descent")


def heavy_ball(beta: ExactValue | None = None) -> Recurrence:
    """Heavy ball $x_{n+1} = x_n + \\beta (x_n - x_{n-1}) + h g(x_n)$.

    **Arguments:**

    - `beta`: momentum; a number (taken exactly, `0.9` is 9/10) or `None` for a symbol.

    PyTorch's `v = beta*v + grad; x -= lr*v` is this recurrence with `h = lr`.

    !!! example
        ```python
        >>> import derive
        >>> flow = derive.modified_flow(derive.heavy_ball(0.5), order=1)
        >>> [(t.power, t.tree, str(t.coefficient)) for t in flow.terms]
        [(0, '[]', '2'), (1, '[[]]', '-6')]

        ```
    """
    return trace(
        heavy_ball_step,
        name="heavy-ball",
        description="heavy ball",
        beta=_check_beta(beta),
    )


def nesterov(beta: ExactValue | None = None) -> Recurrence:
    """Nesterov's accelerated gradient with fixed momentum $\\beta$:
    $y_n = x_n + \\beta (x_n - x_{n-1})$, $x_{n+1} = y_n + h g(y_n)$.

    !!! example
        ```python
        >>> import derive
        >>> derive.nesterov().parameters
        ('beta',)

        ```
    """
    return trace(
        nesterov_step, name="nesterov", description="Nesterov", beta=_check_beta(beta)
    )


def runge_kutta(
    A: Sequence[Sequence[ExactValue]],
    b: Sequence[ExactValue],
    name: str = "runge-kutta",
) -> Recurrence:
    """An explicit Runge-Kutta method applied to the gradient flow $\\dot x = g(x)$.

    Stages $k_i = g(x + h \\sum_{j<i} a_{ij} k_j)$, $x_{n+1} = x_n + h \\sum_i b_i k_i$.

    **Arguments:**

    - `A`: the strictly lower-triangular coefficient matrix (exact numbers or strings).
    - `b`: the weights.
    - `name`: a name for records.

    !!! example
        ```python
        >>> import derive
        >>> euler = derive.runge_kutta([[0]], [1], name="euler")
        >>> [str(t.coefficient) for t in derive.modified_flow(euler, 1).terms]
        ['1', '-1/2']

        ```
    """
    s = len(b)
    try:
        rows = [[exact_number(a) for a in row] for row in A]
        weights = [exact_number(w) for w in b]
    except TypeError:
        raise DeriveError(
            "the tableau must hold numbers.", "Pass lists of numbers."
        ) from None
    if s == 0 or len(rows) != s or any(len(r) != s for r in rows):
        raise DeriveError(
            f"the tableau is not square with {s} stages (A is {len(rows)} rows).",
            "Give A as an s-by-s list of rows and b with s weights.",
        )
    for i in range(s):
        for j in range(i, s):
            if rows[i][j] != 0:
                raise DeriveError(
                    f"A[{i}][{j}] = {rows[i][j]} is on or above the diagonal: the method is "
                    "implicit.",
                    "Only explicit tableaux (strictly lower-triangular A) are supported.",
                )

    def step(x: Any, *, grad: Grad, h: Any) -> Any:
        ks: list[Any] = []
        for i in range(s):
            y = x
            for j in range(i):
                if rows[i][j]:
                    y = y + h * rows[i][j] * ks[j]
            ks.append(-grad(y))
        out = x
        for i in range(s):
            if weights[i]:
                out = out + h * weights[i] * ks[i]
        return out

    step.__name__ = name.replace("-", "_")
    return trace(step, name=name, description=f"explicit Runge-Kutta ({s} stages)")


_BUILTINS: dict[str, Callable[..., Recurrence]] = {
    "gd": gd,
    "heavy-ball": heavy_ball,
    "nesterov": nesterov,
    "sgd": sgd,
    "sgdm": sgdm,
    **ADAPTIVE,
}


def builtin_name(rec: Recurrence) -> str | None:
    """The built-in name of a recurrence made by a factory (`"heavy-ball"`), or
    `None` for any other definition (a spec, a function, a Runge-Kutta tableau)."""
    from ._sgd import sgd_step, sgdm_step

    steps = {
        "gd": gradient_descent_step,
        "heavy-ball": heavy_ball_step,
        "nesterov": nesterov_step,
        "sgd": sgd_step,
        "sgdm": sgdm_step,
    }
    step = steps.get(rec.name)
    return rec.name if step is not None and rec.function is step else None


def command_words(sub: str, rec: Recurrence, order: int) -> list[str] | None:
    """`derive SUB OPTIMIZER --order P --param ...` rebuilding a derivation, as
    words, when the optimizer has a command-line form (a built-in or a spec, read
    from a file called SPEC_FILE); `None` otherwise."""
    name = builtin_name(rec)
    if rec.source:
        words = [f"derive {sub} --spec SPEC_FILE"]
    elif name is not None:
        words = [f"derive {sub} {name}"]
    else:
        return None
    words.append(f"--order {order}")
    words += [f"--param {k}={v}" for k, v in rec.values.items()]
    return words


def optimizer_names() -> tuple[str, ...]:
    """The names of the built-in optimizers, as [`optimizer`][derive.optimizer] takes them.

    !!! example
        ```python
        >>> import derive
        >>> derive.optimizer_names()
        ('gd', 'heavy-ball', 'nesterov', 'sgd', 'sgdm', 'rmsprop', 'adam', 'adamw', 'nadam')

        ```
    """
    return tuple(_BUILTINS)


def is_spec_text(text: str) -> bool:
    """Whether `text` reads as an inline spec rather than a name (it holds `=`, `;`
    or a newline)."""
    return any(c in text for c in "=;\n")


def optimizer(
    definition: OptimizerDefinition,
    /,
    *,
    name: str | None = None,
    **params: ExactValue | None,
) -> Recurrence:
    """An optimizer as a [`Recurrence`][derive.Recurrence], from any of its definitions.

    The one entry point from a definition to the recurrence that the rest of the
    toolkit (derivations, code generation, the numerics) works on.

    **Arguments:**

    - `definition`: a built-in name (see [`optimizer_names`][derive.optimizer_names]),
      a text spec (see
      [`parse_spec`][derive.parse_spec]), a plain Python update function
      `def step(x, ..., *, grad, h, ...)` (see [`trace`][derive.trace]), or a
      recurrence already built (returned as it is).
    - `name`: a name for records (default: the built-in's name, the function's name,
      or `"spec"`).
    - `**params`: exact values for hyper-parameters (`0.9` is $9/10$); a parameter
      without a value stays a symbol.

    **Returns:** the [`Recurrence`][derive.Recurrence].

    **Raises:** [`DeriveError`][derive.DeriveError] for an unknown name or parameter,
    a bad spec, or values given for a recurrence that is already built.

    !!! example
        ```python
        >>> import derive
        >>> derive.optimizer("heavy-ball", beta=0.9).values
        {'beta': Fraction(9, 10)}
        >>> derive.optimizer("state x; x = x - h*grad(x)", name="my-gd").name
        'my-gd'
        >>> def gd(x, *, grad, h):
        ...     return x - h * grad(x)
        >>> derive.optimizer(gd).states
        ('x',)

        ```
    """
    return optimizer_from(definition, params, name=name)


def optimizer_from(
    definition: OptimizerDefinition,
    params: Mapping[str, ExactValue | None],
    *,
    name: str | None = None,
) -> Recurrence:
    """[`optimizer`][derive.optimizer] with the hyper-parameter values in a mapping.

    For code that passes on values it was given (`**params` of its own, a
    configuration): every entry is a hyper-parameter, even one called `name`.

    **Arguments:**

    - `definition`: as for [`optimizer`][derive.optimizer].
    - `params`: hyper-parameter values by name (exact: `0.9` is $9/10$).
    - `name`: a name for records.

    **Returns:** the [`Recurrence`][derive.Recurrence].

    !!! example
        ```python
        >>> import derive
        >>> derive.optimizer_from("heavy-ball", {"beta": 0.9}).values
        {'beta': Fraction(9, 10)}
        >>> spec = "state x; param name; x = x - name*h*grad(x)"
        >>> derive.optimizer_from(spec, {"name": 0.5}, name="scaled-gd").values
        {'name': Fraction(1, 2)}

        ```
    """
    if isinstance(definition, Recurrence):
        if params:
            raise DeriveError(
                f"hyper-parameter values ({', '.join(params)}) were given for the "
                f"optimizer {definition.name!r}, which is already built.",
                "Pass them when building it, e.g. derive.optimizer('heavy-ball', "
                "beta=0.9), or give numbers to its symbolic parameters where it is "
                "run.",
            )
        return definition
    if isinstance(definition, str):
        text = definition.strip()
        if is_spec_text(text):
            from ._text.spec import parse_spec_from

            return parse_spec_from(definition, params, name=name)
        key = text
        factory = _BUILTINS.get(key)
        if factory is None:
            guess = key.lower().replace("_", "-").replace(" ", "-")
            close = difflib.get_close_matches(guess, list(_BUILTINS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DeriveError(
                f"unknown optimizer {definition!r}; the built-ins are "
                f"{', '.join(_BUILTINS)}.{hint}",
                "Or describe the update rule as a spec, e.g. 'state x; x = x - "
                "h*grad(x)', or pass a Python function def step(x, *, grad, h).",
            )
        declared = list(inspect.signature(factory).parameters)
        unknown = sorted(set(params) - set(declared))
        if unknown:
            has = (
                f"its parameters are: {', '.join(declared)}"
                if declared
                else "it has no parameters"
            )
            raise DeriveError(
                f"unknown parameter(s) {', '.join(unknown)} for {key}; {has}.",
                f"Use e.g. {declared[0]}=0.9 (on the command line: --param "
                f"{declared[0]}=0.9)."
                if declared
                else "Remove the parameter values.",
            )
        rec = factory(**params)
        if name is not None:
            import dataclasses

            rec = dataclasses.replace(rec, name=name)
        return rec
    if callable(definition):
        return trace_function(definition, name, params)
    raise DeriveError(
        f"{definition!r} is not an optimizer.",
        "Pass a built-in name such as 'heavy-ball', a text spec, a Python function "
        "def step(x, ..., *, grad, h, ...) or a derive.Recurrence.",
    )
