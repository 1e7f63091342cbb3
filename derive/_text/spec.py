"""Text specs of optimizers: a small language, parsed safely into a `Recurrence`.

A spec is the text form of an update rule, for the command line and for files. It is
read by walking Python's syntax tree under a whitelist: nothing in it is ever evaluated
by Python (no `eval`, `exec` or `sympify`), and sizes are bounded.

## Grammar

```text
spec        := statement ((newline | ';') statement)*      # '#' starts a comment
statement   := 'state' NAME (',' NAME)*                    # required, comes first
             | 'name' OPTIMIZER_NAME                       # optional, e.g. torch-sgd
             | 'param' pdecl (',' pdecl)*                  # optional
             | NAME (',' NAME)* '=' expr (',' expr)*       # assignment
             | NAME ('+=' | '-=' | '*=' | '/=') expr       # augmented assignment
pdecl       := NAME ['=' number]                           # a default value
expr        := expr ('+' | '-' | '*' | '/') expr | '-' expr | '(' expr ')'
             | scalar '**' integer | 'grad(' expr ')' | NAME | number
```

- **Declarations** come before the assignments. `state x, x_prev` names the state;
  the first name is the position $x$. `param beta, nu = 0.5` declares hyper-parameters,
  optionally with a default value. `h` (the step size) is always defined.
- **Name**: `name torch-sgd` names the optimizer in records, generated modules and
  output folders (a letter, then letters, digits or `_ . + -`); without it the name
  is the one given to [`parse_spec`][derive.parse_spec] or on the command line
  (`--name`), else the spec file's stem, else `"spec"`.
- **Assignments** run in order, with Python's sequential semantics: in
  `v = beta*v - h*grad(x); x = x + v` the second line sees the new `v`. In a tuple
  assignment `x, x_prev = x + beta*(x - x_prev) - h*grad(x), x` every right side is
  evaluated before any name is bound. A name that is not a state or a parameter is a
  temporary. After the last statement, the new value of each state is whatever its
  name is bound to; a state that is never assigned keeps its value.
- **Expressions**: numbers (decimals are exact: `0.9` is $9/10$, `1e-3` is $1/1000$),
  names (states, parameters, temporaries, `h`), `+ - * /`, unary `-`, parentheses,
  `**` with a whole-number exponent from 0 to 1000 applied to a scalar (coefficients
  have degree at most 200 in the parameters and `h`) (numbers, `h`,
  parameters), and `grad(...)`, the loss gradient $\\nabla f = -g$ at an affine
  combination of states (calls may nest).
- An update must be affine in the states: states may be added, subtracted and scaled
  by scalars, never multiplied by each other, raised to a power, or offset by a
  constant; all the nonlinearity sits in `grad`.
- Not allowed: any other call, attribute access, subscripts, strings, lambdas,
  comprehensions, imports, control flow; names starting with `_`; declaring `h`,
  `grad`, `state` or `param`. Inputs are limited to 20,000 characters and 100 levels
  of nesting.

Parameter values: the keyword arguments of [`parse_spec`][derive.parse_spec] (on the
command line, `--param NAME=VALUE`) override the defaults; a parameter with neither
stays a symbol.

## Examples

```text
state x; x = x - h*grad(x)                                  # gradient descent
state x, x_prev; param beta
x, x_prev = x + beta*(x - x_prev) - h*grad(x), x            # heavy ball
state x, v; param beta; v = beta*v - h*grad(x); x = x + v   # heavy ball, velocity form
state x, x_prev; param beta
y = x + beta*(x - x_prev); x, x_prev = y - h*grad(y), x     # Nesterov
state x; y = x - h*grad(x); x = x - h*grad(y)               # extragradient
state x, d; param beta, nu                                  # quasi-hyperbolic momentum
d = beta*d + (1 - beta)*grad(x); x = x - h*((1 - nu)*grad(x) + nu*d)
```
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from .._errors import DeriveError
from .._exact import ExactValue
from .._recurrence import Recurrence
from .._trace import trace_function
from .limits import MAX_LENGTH
from .names import optimizer_name
from .spec_program import (
    SpecError,
    _declaration,
    _Program,
    _split,
)
from .spec_statements import (
    _statement,
)
from .spec_step import (
    _Step,
)

__all__ = ["parse_spec", "parse_spec_from", "GRAMMAR", "SpecError"]

GRAMMAR = """\
Statements are separated by newlines or ';'; '#' starts a comment.
  state x, v          the state, position first (required, before assignments)
  name torch-sgd      the optimizer's name (optional; default: the file's stem)
  param beta, nu=0.5  hyper-parameters, optionally with a default value
  y = expr            assignments run in order, as in Python; temporaries are
  x, v = e1, e2       allowed; a tuple assignment evaluates every right side first
Expressions: numbers (0.9 is exactly 9/10), names (states, parameters, temporaries,
h), + - * / ( ), scalar**n for a whole number n, and grad(...), the gradient of the
loss at an affine combination of states. Afterwards each state takes the value
bound to its name. Example, heavy ball in velocity form:
  state x, v; param beta; v = beta*v - h*grad(x); x = x + v"""
"""A short summary of the spec language for `--help` texts."""

# ---------------------------------------------------------------------- public


def parse_spec(
    text: str, name: str | None = None, **params: ExactValue | None
) -> Recurrence:
    """Parse a text spec of an optimizer into a [`Recurrence`][derive.Recurrence].

    The spec language is documented in `derive._text.spec` (and by `derive flow --help`):
    a `state` line, optional `param` lines, then assignments with Python's sequential
    semantics, built from numbers, names, `+ - * /`, `**` with whole-number exponents,
    parentheses and `grad(...)`. Nothing is evaluated by Python.

    **Arguments:**

    - `text`: the spec, at most 20,000 characters.
    - `name`: a name for records (default: the spec's `name` statement, else
      `"spec"`).
    - `**params`: values for the declared hyper-parameters; they override the
      defaults of `param` lines. A number is taken exactly (`0.9` is $9/10$);
      a parameter with no value stays a symbol.

    **Returns:** the traced [`Recurrence`][derive.Recurrence], with the spec as its
    `source`.

    **Raises:** [`DeriveError`][derive.DeriveError] (a `SpecError` naming the line and
    column) for anything outside the language or an update that is not affine in the
    states.

    !!! example
        ```python
        >>> import derive
        >>> hb = derive.parse_spec(
        ...     "state x, v; param beta = 0.5\\n"
        ...     "v = beta*v - h*grad(x); x = x + v"
        ... )
        >>> hb.states, hb.values
        (('x', 'v'), {'beta': Fraction(1, 2)})
        >>> flow = derive.modified_flow(hb, order=1)
        >>> [(t.power, t.tree, str(t.coefficient)) for t in flow.terms]
        [(0, '[]', '2'), (1, '[[]]', '-6')]

        ```
    """
    return parse_spec_from(text, params, name=name)


def parse_spec_from(
    text: str, params: Mapping[str, ExactValue | None], *, name: str | None = None
) -> Recurrence:
    """[`parse_spec`][derive.parse_spec] with the parameter values in a mapping (so
    that a parameter may be called `name`)."""
    if not isinstance(text, str):
        raise TypeError(f"expected the spec as a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    program = _Program(text)
    if len(text) > MAX_LENGTH:
        raise DeriveError(
            f"the spec is {len(text)} characters long.",
            f"Specs are limited to {MAX_LENGTH} characters.",
        )
    temporaries: list[str] = []
    spec_name: str | None = None
    for seg in _split(program):
        named = re.fullmatch(r"name(?:\s+(.*))?", seg.text, re.DOTALL)
        if named and "=" not in seg.text:
            if spec_name is not None:
                raise program.error(
                    seg.start, "the spec has two 'name' statements", "Keep one."
                )
            spec_name = optimizer_name(
                (named.group(1) or "").strip(), "the spec's 'name' statement"
            )
            continue
        kind = re.match(r"(state|param)(?![\w])", seg.text)
        if kind and re.match(r"\s+[^\W\d]", seg.text[kind.end() :]):
            _declaration(program, seg, kind.group(1))
        elif kind:
            raise program.error(
                seg.start,
                f"'{kind.group(1)}' is a keyword of the spec language",
                f"Write '{kind.group(1)}' followed by names, e.g. "
                f"'{'state x, v' if kind.group(1) == 'state' else 'param beta'}'; "
                "use another name for variables.",
            )
        else:
            _statement(program, seg, temporaries)
    if not program.states:
        raise DeriveError(
            "the spec declares no state.",
            "Start it with a 'state' line naming the position first, e.g. "
            "'state x; x = x - h*grad(x)'.",
        )
    if not program.assignments:
        raise DeriveError(
            "the spec assigns nothing, so it does not update its state.",
            "Add an update such as 'x = x - h*grad(x)'.",
        )
    unknown = sorted(set(params) - set(program.params))
    if unknown:
        declared = ", ".join(program.params) or "none"
        raise DeriveError(
            f"unknown parameter(s) {', '.join(unknown)} for the spec; it declares: "
            f"{declared}.",
            "Check the spelling, or declare the parameter with 'param NAME'.",
        )
    values = {p: params.get(p, default) for p, default in program.params.items()}
    name = name or spec_name or "spec"
    step = _Step(program, name, values)
    return trace_function(step, name, values, source=text)
