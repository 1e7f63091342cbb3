"""The `derive` command line: one entry point, one sub-command per task.

`derive flow` prints the modified flow of an optimizer (text, LaTeX or a JSON record).
Other sub-commands live in their own modules, listed in `_EXTRA_COMMANDS`; each is
imported if it exists and provides

```python
def register(subparsers) -> None:
    parser = subparsers.add_parser("codegen", help="...", description="...",
                                   formatter_class=HelpFormatter)
    add_optimizer_arguments(parser)      # OPTIMIZER, --spec, --param
    add_order_argument(parser)           # --order P
    parser.set_defaults(handler=run)     # run(args) -> int exit status
```

Such a module must be cheap to import (no JAX, no SymPy at import time): `derive
--help` imports every one of them. Its handler raises
[`DeriveError`][derive.DeriveError] for bad input, which [`main`][derive._cli.main]
prints as `derive: error: ...` with exit status 2.

Exit status: 0 on success, 2 for bad input or usage (with a one-paragraph message on
stderr that starts with `derive: error:`), 1 for an internal error (a bug; set
`DERIVE_DEBUG=1` to see the traceback), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from fractions import Fraction
from pathlib import Path

from . import __version__
from ._errors import DeriveError
from ._optimizers import BUILTINS
from ._spec import GRAMMAR, MAX_LENGTH

__all__ = [
    "main",
    "build_parser",
    "HelpFormatter",
    "add_optimizer_arguments",
    "add_order_argument",
    "add_format_argument",
    "optimizer_from_args",
]

_EXTRA_COMMANDS = ("derive._cli_codegen", "derive._cli_verify", "derive._cli_manifold")
"""Modules that add sub-commands through `register(subparsers)`, if they exist."""

CONVENTIONS_HELP = """\
Conventions: loss f, g = -grad f, step size h, time t = n h (the iterate x_n is
compared with x(n h)); gradient descent is x+ = x + h g(x). The modified flow
  dx/dt = F_0(x) + h F_1(x) + ... + h^p F_p(x)
matches the iterates up to O(h^(p+1)) (momentum methods: on their slow manifold).
Each term is an exact coefficient times an elementary differential F(tree), with
trees in nested brackets: F([]) = g, F([[]]) = g'g = H grad f, F([[],[]]) = g''(g,g),
F([t1,...,tk]) = g^(k)(F(t1),...,F(tk))."""

OPTIMIZERS_HELP = """\
Optimizers (OPTIMIZER):
  gd            gradient descent          x+ = x - h grad f(x)
  heavy-ball    Polyak's heavy ball       x+ = x + beta (x - x-) - h grad f(x)
  nesterov      Nesterov, fixed momentum  y = x + beta (x - x-), x+ = y - h grad f(y)
  a spec        any other update rule, as text: inline (an argument containing '=',
                ';' or a newline) or from a file with --spec FILE
Parameters without a value (--param) stay symbols; beta = 1 is singular."""

EXAMPLES = """\
Examples:
  derive flow gd --order 2
  derive flow heavy-ball --order 1 --param beta=0.9 --format json
  derive flow nesterov --order 2 --format latex
  derive flow gd --order 1 --loss "x**2/2 + y**4" --vars x,y
  derive flow "state x; y = x - h*grad(x); x = x - h*grad(y)" --order 2
  derive flow --spec qhm.txt --param beta=0.9 --param nu=0.7 --format json"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the layout of descriptions and epilogs, with wider option columns."""

    def __init__(self, prog, **kwargs):
        kwargs.setdefault("max_help_position", 30)
        super().__init__(prog, **kwargs)


class _ArgumentParser(argparse.ArgumentParser):
    """`argparse` with errors in the house format: `derive: error: ...`, status 2."""

    def error(self, message):
        message = message.rstrip()
        if not message.endswith((".", "?", "!")):
            message += "."
        self.exit(2, f"derive: error: {message} Run '{self.prog} --help' for usage.\n")


# ---------------------------------------------------------------------- arguments


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


def _parameter(text: str) -> tuple[str, Fraction]:
    name, eq, value = text.partition("=")
    name = name.strip()
    if not eq or not name.isidentifier() or not value.strip():
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE such as beta=0.9 or beta=9/10, got {text!r}"
        )
    from ._parse import ParseError, parse_number

    try:
        number = parse_number(value)
    except ParseError as e:
        raise argparse.ArgumentTypeError(
            f"the value of {name} is not an exact number ({e.problem}); give a "
            "number such as 0.9, 9/10 or 1e-3"
        ) from None
    return name, Fraction(int(number.p), int(number.q))


def add_optimizer_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `OPTIMIZER`, `--spec FILE` and `--param NAME=VALUE` to a sub-command.

    Read them back with [`optimizer_from_args`][derive._cli.optimizer_from_args].

    **Arguments:**

    - `parser`: the sub-command's parser.

    !!! example
        ```python
        >>> import argparse
        >>> from derive._cli import add_optimizer_arguments, optimizer_from_args
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
        help="gd, heavy-ball, nesterov, or an inline spec (text containing '=', ';' "
        "or a newline); omit it with --spec",
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


def add_order_argument(parser: argparse.ArgumentParser, default: int = 2) -> None:
    """Add `--order P`, the highest power of h (a non-negative integer).

    **Arguments:**

    - `parser`: the sub-command's parser.
    - `default`: the order when the option is not given.

    !!! example
        ```python
        >>> import argparse
        >>> from derive._cli import add_order_argument
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
        help=f"highest power of h in the flow (default {default}; at most 12)",
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
        >>> from derive._cli import add_format_argument
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


def _read_spec(path: str) -> str:
    if path == "-":
        return sys.stdin.read(MAX_LENGTH + 1)
    try:
        with open(path, encoding="utf-8") as file:
            return file.read(MAX_LENGTH + 1)
    except OSError as e:
        raise DeriveError(
            f"cannot read the spec file {path!r} ({e.strerror or e}).",
            "Check the path, or pass the spec inline as the OPTIMIZER argument.",
        ) from None
    except UnicodeDecodeError:
        raise DeriveError(
            f"the spec file {path!r} is not UTF-8 text.", "Save it as UTF-8 text."
        ) from None


def _is_inline_spec(text: str) -> bool:
    return any(c in text for c in "=;\n")


def optimizer_from_args(args: argparse.Namespace):
    """The [`Recurrence`][derive.Recurrence] chosen by `OPTIMIZER`/`--spec`/`--param`.

    **Arguments:**

    - `args`: parsed arguments of a parser prepared with
      [`add_optimizer_arguments`][derive._cli.add_optimizer_arguments].

    **Returns:** the recurrence, with the given hyper-parameter values.

    **Raises:** [`DeriveError`][derive.DeriveError] for an unknown optimizer or
    parameter, a parameter given twice, or a bad spec.

    !!! example
        ```python
        >>> import argparse
        >>> from derive._cli import add_optimizer_arguments, optimizer_from_args
        >>> parser = argparse.ArgumentParser()
        >>> add_optimizer_arguments(parser)
        >>> args = parser.parse_args(["state x; y = x - h*grad(x); x = x - h*grad(y)"])
        >>> optimizer_from_args(args).n_grad_calls
        2

        ```
    """
    from ._spec import parse_spec

    params: dict[str, Fraction] = {}
    for name, value in args.param:
        if name in params:
            raise DeriveError(
                f"--param {name} is given twice.", "Give each parameter once."
            )
        params[name] = value
    if args.spec is not None:
        if args.optimizer is not None:
            raise DeriveError(
                f"both an OPTIMIZER ({args.optimizer!r}) and --spec were given.",
                "Give one of them: a built-in name or inline spec, or --spec FILE.",
            )
        name = "spec" if args.spec == "-" else Path(args.spec).stem or "spec"
        return parse_spec(_read_spec(args.spec), name=name, **params)
    if args.optimizer is None:
        raise DeriveError(
            "no optimizer was given.",
            f"Name one of {', '.join(BUILTINS)}, pass a spec inline such as "
            "'state x; x = x - h*grad(x)', or use --spec FILE.",
        )
    text = args.optimizer
    if text in BUILTINS:
        factory = BUILTINS[text]
        declared = list(inspect.signature(factory).parameters)
        unknown = sorted(set(params) - set(declared))
        if unknown:
            has = (
                f"its parameters are: {', '.join(declared)}"
                if declared
                else "it has no parameters"
            )
            raise DeriveError(
                f"unknown parameter(s) {', '.join(unknown)} for {text}; {has}.",
                f"Use e.g. --param {declared[0]}=0.9."
                if declared
                else "Remove the --param options.",
            )
        return factory(**params)
    if _is_inline_spec(text):
        return parse_spec(text, name="spec", **params)
    hint = ""
    if os.path.exists(text):
        hint = f" To read a spec from the file {text!r}, use --spec {text}."
    else:
        import difflib

        close = difflib.get_close_matches(text, list(BUILTINS), n=1)
        if close:
            hint = f" Did you mean {close[0]!r}?"
    raise DeriveError(
        f"unknown optimizer {text!r}; the built-ins are {', '.join(BUILTINS)}.{hint}",
        "Or describe the update rule as a spec, e.g. 'state x; x = x - h*grad(x)' "
        "(see 'derive flow --help').",
    )


# ---------------------------------------------------------------------- flow


def _variables(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",")]
    bad = [v for v in names if not v.isidentifier() or v.startswith("_")]
    if not names or bad or not all(names):
        raise DeriveError(
            f"--vars {text!r} is not a comma-separated list of names.",
            "Give the loss variables as names separated by commas, e.g. --vars x,y.",
        )
    return names


def _flow(args: argparse.Namespace) -> int:
    from ._flow import modified_flow

    if args.loss is not None and args.vars is None:
        raise DeriveError(
            "--loss needs --vars, the coordinates of the loss.",
            f"Add e.g. --vars x,y (the names used in {args.loss!r}).",
        )
    if args.vars is not None and args.loss is None:
        raise DeriveError(
            "--vars was given without --loss.",
            'Add the loss, e.g. --loss "x**2/2 + y**4" --vars x,y.',
        )
    variables = _variables(args.vars) if args.vars is not None else None
    recurrence = optimizer_from_args(args)
    flow = modified_flow(recurrence, args.order)
    if args.format == "json":
        print(flow.to_json(loss=args.loss, variables=variables))
        return 0
    explicit = flow.on(args.loss, variables) if args.loss is not None else None
    loss = flow.modified_loss
    if args.format == "latex":
        import sympy

        print(flow.latex())
        if loss.through_order >= 0:
            print(loss.latex)
        if explicit is not None:
            rows = [
                f"\\dot{{{sympy.latex(v)}}} &= {sympy.latex(_by_power(c))}"
                for v, c in zip(explicit.variables, explicit.components, strict=True)
            ]
            print("\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}")
        return 0
    print(flow.text())
    if explicit is not None:
        print(f"\non the loss f = {explicit.loss} (variables {', '.join(variables)}):")
        for v, c in zip(explicit.variables, explicit.components, strict=True):
            print(f"  d{v}/dt = {_by_power(c)}")
        if loss.through_order >= 0:
            print(
                f"  modified loss through order {loss.through_order}: "
                f"{_by_power(loss.on(args.loss, variables))}"
            )
    return 0


def _by_power(expr):
    """`expr` collected by powers of h, each coefficient factored (for display)."""
    import sympy

    return sympy.collect(sympy.expand(expr), sympy.Symbol("h"), sympy.factor)


def _register_flow(subparsers) -> None:
    parser = subparsers.add_parser(
        "flow",
        help="the modified flow of an optimizer, with exact coefficients",
        description="Print the modified flow of an optimizer to order P in h, with "
        "exact coefficients,\nits modified loss where one exists, and optionally the "
        "explicit field on a loss.\n\n"
        f"{CONVENTIONS_HELP}\n\n{OPTIMIZERS_HELP}\n\nThe spec language (full "
        f"reference: the docstring of derive._spec):\n{_indent(GRAMMAR)}\n\n"
        "Output: text (default), latex (an aligned environment to paste), or json "
        "(one object\nwith optimizer, order, conventions, parameters, terms [power, "
        "tree, coefficient,\nlatex], modified_loss and, with --loss, vector_field: "
        "one SymPy string per\nvariable, in the variables, h and the symbolic "
        "parameters; read them with\nsympy.parse_expr(s, local_dict={name: "
        "sympy.Symbol(name) for each of these names}),\nsince names such as beta "
        "or gamma are SymPy functions by default).",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add_optimizer_arguments(parser)
    add_order_argument(parser)
    parser.add_argument(
        "--loss",
        metavar="EXPR",
        help='a concrete loss, e.g. "x**2/2 + y**4" (numbers, + - * / **, sin, cos, '
        "exp, log, sqrt, tanh, ...); needs --vars",
    )
    parser.add_argument(
        "--vars",
        metavar="X,Y",
        help="the loss's variables, comma-separated (e.g. x,y)",
    )
    add_format_argument(parser)
    parser.set_defaults(handler=_flow)


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.splitlines())


# ---------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """The `derive` argument parser with every available sub-command.

    **Returns:** an `argparse.ArgumentParser`; each sub-command sets `handler`.

    !!! example
        ```python
        >>> from derive._cli import build_parser
        >>> args = build_parser().parse_args(["flow", "gd", "--order", "1"])
        >>> args.command, args.order, args.format
        ('flow', 1, 'text')

        ```
    """
    parser = _ArgumentParser(
        prog="derive",
        description="Exact modified flows of optimizers (backward error analysis).\n\n"
        f"{CONVENTIONS_HELP}\n\n{OPTIMIZERS_HELP}\n\nA spec, in brief (details: "
        f"'derive flow --help'):\n{_indent(GRAMMAR)}",
        epilog=EXAMPLES + "\n\nRun 'derive COMMAND --help' for a command's options.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"derive (optflow) {__version__}"
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands", required=True
    )
    _register_flow(subparsers)
    for module_name in _EXTRA_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                continue
            _broken(module_name, e)
            continue
        except Exception as e:
            _broken(module_name, e)
            continue
        try:
            module.register(subparsers)
        except Exception as e:
            _broken(module_name, e)
    return parser


def _broken(module_name: str, error: Exception) -> None:
    if os.environ.get("DERIVE_DEBUG"):
        raise error
    print(
        f"derive: warning: the sub-commands of {module_name} are unavailable "
        f"({type(error).__name__}: {error}); please report this bug.",
        file=sys.stderr,
    )


def _is_input_error(error: BaseException) -> bool:
    if isinstance(error, DeriveError):
        return True
    parse = sys.modules.get("derive._parse")
    return parse is not None and isinstance(error, parse.ParseError)


def _message(error: BaseException) -> str:
    lines = [line.rstrip() for line in str(error).strip().splitlines()]
    return "\n".join(line for line in lines if line)


def main(argv: list[str] | None = None) -> int:
    """Run the `derive` command line.

    **Arguments:**

    - `argv`: the arguments after the program name (default: `sys.argv[1:]`).

    **Returns:** the exit status: 0 on success, 2 for bad input or usage (the message
    on stderr starts with `derive: error:`), 1 for an internal error.

    !!! example
        ```python
        >>> from derive._cli import main
        >>> main(["flow", "gd", "--order", "1"])  # doctest: +ELLIPSIS
        Modified flow of gd through order 1...
        ...
        0

        ```
    """
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, --version, usage errors
            return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("derive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader (e.g. `| head`) closed the pipe: stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as error:
        if _is_input_error(error):
            print(f"derive: error: {_message(error)}", file=sys.stderr)
            return 2
        if os.environ.get("DERIVE_DEBUG"):
            raise
        print(
            f"derive: internal error ({type(error).__name__}: {_message(error)}). "
            "This is a bug in derive: please report it with the command that caused "
            "it; run with DERIVE_DEBUG=1 to see the traceback.",
            file=sys.stderr,
        )
        return 1
