"""Arguments shared by the sub-commands, and reading them back.

A sub-command (in `derive` or in a plug-in) builds its parser with these helpers so
that `OPTIMIZER`, `--spec`, `--param`, `--name`, `--order`, `--format`, `--loss` and
`--vars` mean the same thing everywhere. Nothing here imports SymPy or JAX.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeAlias

from .._errors import DeriveError
from .._optimizers import is_spec_text, optimizer_names
from .._recurrence import Recurrence

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""The type of the argument of a sub-command's `register(subparsers)`: what
`argparse.ArgumentParser.add_subparsers` returns, on which `add_parser` makes the
sub-command's parser."""

__all__ = [
    "HelpFormatter",
    "Subparsers",
    "add_optimizer_arguments",
    "add_order_argument",
    "add_format_argument",
    "add_loss_arguments",
    "optimizer_from_args",
    "loss_from_args",
    "parse_variables",
    "MAX_ORDER",
]

MAX_ORDER = 12
"""The highest order the command line accepts (trees with 13 nodes)."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the layout of descriptions and epilogs, with wider option columns."""

    def __init__(self, prog: str, **kwargs: Any) -> None:
        kwargs.setdefault("max_help_position", 30)
        super().__init__(prog, **kwargs)


def _order(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"the order must be a whole number such as 2, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"the order must be a non-negative whole number, got {value}; use 0 for "
            "the leading-order flow, 1 for the first correction, ..."
        )
    return value


def _positive(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive whole number, got {text!r}"
        )
    return value


def _parameter(text: str) -> tuple[str, Fraction]:
    name, eq, value = text.partition("=")
    name = name.strip()
    if not eq or not name.isidentifier() or not value.strip():
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE such as beta=0.9 or beta=9/10, got {text!r}"
        )
    from .._text.expression import ParseError, parse_number

    try:
        number = parse_number(value)
    except ParseError as e:
        raise argparse.ArgumentTypeError(
            f"the value of {name} is not an exact number ({e.problem}); give a "
            "number such as 0.9, 9/10 or 1e-3"
        ) from None
    return name, Fraction(int(number.p), int(number.q))


def add_optimizer_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `OPTIMIZER`, `--spec FILE`, `--param NAME=VALUE` and `--name NAME`.

    Read them back with [`optimizer_from_args`][derive.cli.optimizer_from_args].

    **Arguments:**

    - `parser`: the sub-command's parser.

    !!! example
        ```python
        >>> import argparse
        >>> from derive.cli import add_optimizer_arguments, optimizer_from_args
        >>> parser = argparse.ArgumentParser()
        >>> add_optimizer_arguments(parser)
        >>> args = parser.parse_args(["heavy-ball", "--param", "beta=0.9"])
        >>> optimizer_from_args(args).values
        {'beta': Fraction(9, 10)}

        ```
    """
    parser.add_argument(
        "optimizer",
        nargs="?",
        metavar="OPTIMIZER",
        help=f"{', '.join(optimizer_names())}, or an inline spec (text containing "
        "'=', ';' or a newline); omit it with --spec",
    )
    parser.add_argument(
        "--spec",
        metavar="FILE",
        help="read the optimizer's spec from FILE ('-' for standard input)",
    )
    parser.add_argument(
        "--param",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        type=_parameter,
        help="give a hyper-parameter an exact value (0.9 is 9/10; 1/2 works too); "
        "repeat for several; parameters without a value stay symbols",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        help="the optimizer's name in records, generated modules and output folders "
        "(default: the built-in's name, the spec's 'name' statement, the spec file's "
        "stem, else 'spec')",
    )


def add_order_argument(parser: argparse.ArgumentParser, default: int = 2) -> None:
    """Add `--order P`, the highest power of h (a non-negative integer).

    **Arguments:**

    - `parser`: the sub-command's parser.
    - `default`: the order when the option is not given.

    !!! example
        ```python
        >>> import argparse
        >>> from derive.cli import add_order_argument
        >>> parser = argparse.ArgumentParser()
        >>> add_order_argument(parser)
        >>> parser.parse_args(["--order", "3"]).order
        3

        ```
    """
    parser.add_argument(
        "--order",
        metavar="P",
        type=_order,
        default=default,
        help=f"highest power of h in the flow (default {default}; at most {MAX_ORDER})",
    )
    parser.add_argument(
        "--max-work",
        metavar="N",
        type=_positive,
        default=None,
        help="refuse derivations estimated above N work units (trees x (1 + "
        "symbolic parameters)^3; default 40000: heavy ball with symbolic beta to "
        "order 10)",
    )
    parser.add_argument(
        "--max-size",
        metavar="N",
        type=_positive,
        default=None,
        help="with --loss: stop when one term of the explicit field exceeds N SymPy "
        "nodes (default 200000)",
    )


def add_format_argument(
    parser: argparse.ArgumentParser,
    choices: tuple[str, ...] = ("text", "latex", "json"),
) -> None:
    """Add `--format`, with the first of `choices` as default.

    **Arguments:**

    - `parser`: the sub-command's parser.
    - `choices`: the accepted formats.

    !!! example
        ```python
        >>> import argparse
        >>> from derive.cli import add_format_argument
        >>> parser = argparse.ArgumentParser()
        >>> add_format_argument(parser)
        >>> parser.parse_args([]).format
        'text'

        ```
    """
    parser.add_argument(
        "--format",
        choices=choices,
        default=choices[0],
        help=f"output format (default {choices[0]})",
    )
    if "latex" in choices:
        parser.add_argument(
            "--standalone",
            action="store_true",
            help="with --format latex: a complete LaTeX document (amsmath) instead "
            "of display blocks to paste",
        )


def add_loss_arguments(parser: argparse.ArgumentParser, what: str = "") -> None:
    """Add `--loss EXPR` and `--vars X,Y` (read back with
    [`loss_from_args`][derive.cli.loss_from_args]).

    **Arguments:**

    - `parser`: the sub-command's parser.
    - `what`: a prefix for the help texts (e.g. `"explicit mode: "`).
    """
    parser.add_argument(
        "--loss",
        metavar="EXPR",
        help=f'{what}a concrete loss, e.g. "x**2/2 + y**4" (numbers, + - * / **, '
        "sin, cos, exp, log, sqrt, tanh, ...); needs --vars",
    )
    parser.add_argument(
        "--vars",
        metavar="X,Y",
        help=f"{what}the loss's variables, comma-separated, in order (e.g. x,y)",
    )


def parse_variables(text: str) -> list[str]:
    """The names of `--vars X,Y` (a [`DeriveError`][derive.DeriveError] if malformed).

    !!! example
        ```python
        >>> from derive.cli import parse_variables
        >>> parse_variables("x, y")
        ['x', 'y']

        ```
    """
    from .._text.names import variable_names

    return variable_names(text)


def loss_from_args(
    args: argparse.Namespace,
) -> tuple[str, list[str]] | tuple[None, None]:
    """`(loss, variables)` from `--loss` and `--vars`, or `(None, None)` for neither.

    **Raises:** [`DeriveError`][derive.DeriveError] when only one of them is given.
    """
    if args.loss is not None and args.vars is None:
        raise DeriveError(
            "--loss needs --vars, the coordinates of the loss: --loss and --vars go "
            "together.",
            f"Add e.g. --vars x,y (the names used in {args.loss!r}).",
        )
    if args.vars is not None and args.loss is None:
        raise DeriveError(
            "--vars was given without --loss: --loss and --vars go together.",
            'Add the loss, e.g. --loss "x**2/2 + y**4" --vars x,y.',
        )
    if args.loss is None:
        return None, None
    return args.loss, parse_variables(args.vars)


def _read_spec(path: str, limit: int) -> str:
    if path == "-":
        return sys.stdin.read(limit + 1)
    try:
        with open(path, encoding="utf-8") as file:
            return file.read(limit + 1)
    except OSError as e:
        raise DeriveError(
            f"cannot read the spec file {path!r} ({e.strerror or e}).",
            "Check the path, or pass the spec inline as the OPTIMIZER argument.",
        ) from None
    except UnicodeDecodeError:
        raise DeriveError(
            f"the spec file {path!r} is not UTF-8 text.", "Save it as UTF-8 text."
        ) from None


def parameter_values(args: argparse.Namespace) -> dict[str, Fraction]:
    """The values of `--param NAME=VALUE` by name (a [`DeriveError`][derive.DeriveError]
    for a parameter given twice)."""
    params: dict[str, Fraction] = {}
    for name, value in args.param:
        if name in params:
            raise DeriveError(
                f"--param {name} is given twice.", "Give each parameter once."
            )
        params[name] = value
    return params


def optimizer_from_args(args: argparse.Namespace) -> Recurrence:
    """The [`Recurrence`][derive.Recurrence] chosen by `OPTIMIZER`/`--spec`/`--param`.

    **Arguments:**

    - `args`: parsed arguments of a parser prepared with
      [`add_optimizer_arguments`][derive.cli.add_optimizer_arguments].

    **Returns:** the recurrence (through [`derive.optimizer`][derive.optimizer]),
    with the given hyper-parameter values.

    **Raises:** [`DeriveError`][derive.DeriveError] for an unknown optimizer or
    parameter, a parameter given twice, or a bad spec.

    !!! example
        ```python
        >>> import argparse
        >>> from derive.cli import add_optimizer_arguments, optimizer_from_args
        >>> parser = argparse.ArgumentParser()
        >>> add_optimizer_arguments(parser)
        >>> args = parser.parse_args(["state x; y = x - h*grad(x); x = x - h*grad(y)"])
        >>> optimizer_from_args(args).n_grad_calls
        2

        ```
    """
    from .._optimizers import optimizer_from
    from .._text.limits import MAX_LENGTH
    from .._text.names import optimizer_name

    params = parameter_values(args)
    given = getattr(args, "name", None)
    name = None if given is None else optimizer_name(given)
    if args.spec is not None:
        if args.optimizer is not None:
            raise DeriveError(
                f"both an OPTIMIZER ({args.optimizer!r}) and --spec were given.",
                "Give one of them: a built-in name or inline spec, or --spec FILE.",
            )
        rec = optimizer_from(_read_spec(args.spec, MAX_LENGTH), params, name=name)
        stem = "" if args.spec == "-" else Path(args.spec).stem
        if name is None and rec.name == "spec" and stem:
            # no --name and no 'name' statement: the file's stem, if usable
            try:
                rec = dataclasses.replace(rec, name=optimizer_name(stem))
            except DeriveError:
                pass
        return rec
    if args.optimizer is None:
        raise DeriveError(
            "no optimizer was given.",
            f"Name one of {', '.join(optimizer_names())}, pass a spec inline such as "
            "'state x; x = x - h*grad(x)', or use --spec FILE.",
        )
    text = args.optimizer
    if not is_spec_text(text) and os.path.exists(text):
        names = optimizer_names()
        if text.strip() not in names:
            raise DeriveError(
                f"unknown optimizer {text!r}; the built-ins are {', '.join(names)}. "
                f"To read a spec from the file {text!r}, use --spec {text}.",
                "Or describe the update rule as a spec, e.g. 'state x; x = x - "
                "h*grad(x)' (see 'derive flow --help').",
            )
    return optimizer_from(text, params, name=name)
