"""Names typed by a user for the coordinates of a loss: normalised once, checked once.

A coordinate name goes to three places: the SymPy expression of the loss, the printed
results, and generated Python (JAX) code. A name that means something else in any of
them would give a silently wrong result (a variable `e` printed next to SymPy's `E`,
a variable `sqrt` shadowing the function, a full-width `ｘ` that Python reads as `x`),
so every such name is refused here, with the same rule on every side. Names are
normalised with Unicode NFKC, the normalisation Python applies to identifiers, and two
names that normalise to the same one are refused.
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from .._errors import DeriveError

__all__ = ["RESERVED_NAMES", "variable_names"]

_MATH_FUNCTIONS = (
    "sin cos tan exp log sqrt tanh sinh cosh atan asin acos abs sign re im ln Abs"
)
_MATH_CONSTANTS = "e E pi I oo nan zoo inf"

RESERVED_NAMES: frozenset[str] = frozenset(
    [*_MATH_FUNCTIONS.split(), *_MATH_CONSTANTS.split(), "h", "grad", "jnp", "jax"]
)
"""Names that cannot be loss coordinates: the functions and constants of the
expression language and of SymPy's printed output (`e`, `E`, `pi`, `I`, `sqrt`, ...),
the step size `h`, `grad`, and the module names of generated code."""


def _why(name: str) -> str | None:
    if name in _MATH_CONSTANTS.split():
        return "it is the name of a mathematical constant"
    if name in _MATH_FUNCTIONS.split():
        return "it is the name of a function of the expression language"
    if name == "h":
        return "it would clash with h, the step size"
    if name in RESERVED_NAMES:
        return "it is reserved for generated code"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "it is a Python keyword"
    if name in vars(builtins):
        return "it is a Python built-in name"
    if name.startswith("_"):
        return "names starting with '_' are reserved"
    return None


def variable_names(variables: str | Sequence[Any]) -> list[str]:
    """The coordinates of a loss as checked, NFKC-normalised names.

    **Arguments:**

    - `variables`: `"x,y"`, or a sequence of names or SymPy symbols.

    **Returns:** the names, normalised (`"ｘ"` becomes `"x"`).

    **Raises:** [`DeriveError`][derive.DeriveError] for an empty list, a name that
    is not an identifier, a name given twice (also after normalisation), or a name
    that collides with a constant, a function, `h`, a Python keyword or built-in
    (see `RESERVED_NAMES`).

    !!! example
        ```python
        >>> import derive
        >>> derive.variable_names("x, y")
        ['x', 'y']
        >>> derive.variable_names("e,x")
        Traceback (most recent call last):
        ...
        derive._errors.DeriveError: the variable name 'e' cannot be used: it is the name of a mathematical constant. Rename it, e.g. e1 (every name of --vars must be a plain identifier that means nothing else).

        ```
    """
    if isinstance(variables, str):
        raw = [v.strip() for v in variables.split(",")]
    else:
        raw = [
            v if isinstance(v, str) else getattr(v, "name", str(v)) for v in variables
        ]
    if not raw or not all(raw):
        raise DeriveError(
            f"the variables {variables!r} are not a comma-separated list of names.",
            "Give the loss variables as names separated by commas, e.g. --vars x,y.",
        )
    names = []
    for r in raw:
        n = unicodedata.normalize("NFKC", r)
        if not n.isidentifier():
            raise DeriveError(
                f"the variable name {r!r} is not an identifier, so the variables are "
                "not a comma-separated list of names.",
                "Give the loss variables as names separated by commas, e.g. "
                "--vars x,y.",
            )
        names.append(n)
    seen: dict[str, str] = {}
    for r, n in zip(raw, names, strict=True):
        if n in seen:
            same = (
                f"{seen[n]!r} and {r!r} are the same name once normalised (Unicode "
                f"NFKC, as Python reads identifiers: both are {n!r})"
                if seen[n] != r
                else f"{r!r} is given twice"
            )
            raise DeriveError(
                f"the variables are not distinct names: {same}.",
                "Give each coordinate a distinct plain name, e.g. x,y.",
            )
        seen[n] = r
        why = _why(n)
        if why is not None:
            raise DeriveError(
                f"the variable name {r!r} cannot be used: {why}.",
                f"Rename it, e.g. {n.strip('_') or 'x'}1 (every name of --vars must "
                "be a plain identifier that means nothing else).",
            )
    return names


_OPTIMIZER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.+-]{0,63}")


def optimizer_name(text: str, where: str = "--name") -> str:
    """Check an optimizer's name (`--name`, a spec's `name` statement): it goes into
    records, generated modules and output folder names, so it is plain ASCII.

    **Returns:** the name. **Raises:** [`DeriveError`][derive.DeriveError].

    !!! example
        ```python
        >>> from derive._text.names import optimizer_name
        >>> optimizer_name("torch-sgd-dampening")
        'torch-sgd-dampening'

        ```
    """
    if not isinstance(text, str) or not _OPTIMIZER_NAME.fullmatch(text):
        raise DeriveError(
            f"{where} {text!r} is not a usable optimizer name: it names records, "
            "generated modules and output folders.",
            "Use a letter followed by at most 63 letters, digits or the characters "
            "_ . + - (e.g. torch-sgd or qhm_09).",
        )
    return text
