"""The `derive` command line: one entry point, one sub-command per task.

The core sub-commands (`flow`, `codegen`, `manifold`, `ode`, `cite`) come with `derive`.
Others are plug-ins: a distribution declares them in the entry-point group
`derive.commands`, each entry pointing at a function

```python
def register(subparsers) -> None:
    parser = subparsers.add_parser("verify", help="...", description="...",
                                   formatter_class=derive.cli.HelpFormatter)
    derive.cli.add_optimizer_arguments(parser)   # OPTIMIZER, --spec, --param
    derive.cli.add_order_argument(parser)        # --order P
    parser.set_defaults(handler=run)             # run(args) -> int exit status
```

(`numerics` registers `verify`, `compare` and `reproduce` this way). A plug-in module
must be cheap to import (no JAX, no SymPy at import time): `derive --help` imports
every one of them. A handler raises [`DeriveError`][derive.DeriveError] for bad input,
which [`main`][derive.cli.main] prints as `derive: error: ...` with exit status 2.

Exit status: 0 on success, 1 when a check fails (or for an internal error, a bug: set
`DERIVE_DEBUG=1` to see the traceback), 2 for bad input or usage (with a
one-paragraph message on stderr that starts with `derive: error:`), 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import NoReturn, cast

from .._errors import DeriveError
from .._text.spec import GRAMMAR
from .._version import DISTRIBUTION, __version__, installed_at
from . import _cite, _codegen, _flow, _manifold
from ._arguments import HelpFormatter, Subparsers
from ._texts import CONVENTIONS_HELP, EXAMPLES, OPTIMIZERS_HELP, indent

__all__ = ["main", "build_parser", "COMMAND_GROUP"]

COMMAND_GROUP = "derive.commands"
"""The entry-point group in which distributions register extra sub-commands."""

Register = Callable[[Subparsers], object]
"""A sub-command's `register(subparsers)`: adds its parser, sets `handler`."""

_CORE: tuple[Register, ...] = (
    _flow.register,
    _codegen.register,
    _manifold.register_manifold,
    _manifold.register_ode,
    _cite.register,
)


class _ArgumentParser(argparse.ArgumentParser):
    """`argparse` with errors in the house format: `derive: error: ...`, status 2."""

    def error(self, message: str) -> NoReturn:
        message = message.rstrip()
        if not message.endswith((".", "?", "!")):
            message += "."
        self.exit(2, f"derive: error: {message} Run '{self.prog} --help' for usage.\n")


def plugins() -> Iterable[tuple[str, Callable[[], Register]]]:
    """The registered plug-ins: `(entry-point name, loader)` pairs, in name order.

    A loader returns the plug-in's `register(subparsers)` function.
    """
    found = metadata.entry_points(group=COMMAND_GROUP)
    return [(ep.name, ep.load) for ep in sorted(found, key=lambda ep: ep.name)]


def _version_text() -> str:
    return (
        f"derive {__version__} (distribution {DISTRIBUTION}, installed at "
        f"{installed_at()})"
    )


def build_parser() -> argparse.ArgumentParser:
    """The `derive` argument parser with the core and every plug-in sub-command.

    **Returns:** an `argparse.ArgumentParser`; each sub-command sets `handler`.

    !!! example
        ```python
        >>> from derive.cli import build_parser
        >>> args = build_parser().parse_args(["flow", "gd", "--order", "1"])
        >>> args.command, args.order, args.format
        ('flow', 1, 'text')

        ```
    """
    parser = _ArgumentParser(
        prog="derive",
        description="Exact modified flows of optimizers (backward error analysis).\n\n"
        f"{CONVENTIONS_HELP}\n\n{OPTIMIZERS_HELP}\n\nA spec, in brief (details: "
        f"'derive flow --help'):\n{indent(GRAMMAR)}",
        epilog=EXAMPLES + "\n\nRun 'derive COMMAND --help' for a command's options.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version_text())
    # its parsers are _ArgumentParsers; register functions only read them as
    # ArgumentParsers, so the (invariant) type parameter may be widened
    subparsers = cast(
        Subparsers,
        parser.add_subparsers(
            dest="command", metavar="COMMAND", title="commands", required=True
        ),
    )
    for register in _CORE:
        register(subparsers)
    for name, load in plugins():
        try:
            load()(subparsers)
        except Exception as error:
            _broken(name, error)
    return parser


def _broken(name: str, error: Exception) -> None:
    if os.environ.get("DERIVE_DEBUG"):
        raise error
    print(
        f"derive: warning: the sub-command plug-in {name!r} (entry point group "
        f"{COMMAND_GROUP}) is unavailable ({type(error).__name__}: {error}); please "
        "report this bug.",
        file=sys.stderr,
    )


def _message(error: BaseException) -> str:
    lines = [line.rstrip() for line in str(error).strip().splitlines()]
    return "\n".join(line for line in lines if line)


def main(argv: list[str] | None = None) -> int:
    """Run the `derive` command line.

    **Arguments:**

    - `argv`: the arguments after the program name (default: `sys.argv[1:]`).

    **Returns:** the exit status: 0 on success, 1 when a check fails or for an
    internal error, 2 for bad input or usage (the message on stderr starts with
    `derive: error:`).

    !!! example
        ```python
        >>> from derive.cli import main
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
        from .._budget import work_limits

        with work_limits(
            getattr(args, "max_work", None), getattr(args, "max_size", None)
        ):
            return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("derive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader (e.g. `| head`) closed the pipe: stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except DeriveError as error:
        print(f"derive: error: {_message(error)}", file=sys.stderr)
        return 2
    except (RecursionError, MemoryError) as error:
        if os.environ.get("DERIVE_DEBUG"):
            raise
        print(
            f"derive: error: the work ran out of {'stack' if isinstance(error, RecursionError) else 'memory'} "
            f"({type(error).__name__}): the input is too large or too deeply nested "
            "for this order. Use a lower --order, fewer symbolic parameters (give "
            "values with --param) or a simpler loss.",
            file=sys.stderr,
        )
        return 2
    except Exception as error:
        if os.environ.get("DERIVE_DEBUG"):
            raise
        print(
            f"derive: internal error ({type(error).__name__}: {_message(error)}). "
            "This is a bug in derive: please report it with the command that caused "
            "it; run with DERIVE_DEBUG=1 to see the traceback.",
            file=sys.stderr,
        )
        return 1
