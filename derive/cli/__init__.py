"""The `derive` command line, and the interface for plug-in sub-commands.

[`main`][derive.cli.main] runs the command line. A distribution adds sub-commands by
declaring, in its metadata, entry points in the group `derive.commands`
([`COMMAND_GROUP`][derive.cli.COMMAND_GROUP]) that name a function
`register(subparsers)`; the helpers below give every sub-command the same optimizer,
order, format and loss arguments.
"""

from ._arguments import MAX_ORDER as MAX_ORDER
from ._arguments import HelpFormatter as HelpFormatter
from ._arguments import Subparsers as Subparsers
from ._arguments import add_format_argument as add_format_argument
from ._arguments import add_loss_arguments as add_loss_arguments
from ._arguments import add_optimizer_arguments as add_optimizer_arguments
from ._arguments import add_order_argument as add_order_argument
from ._arguments import loss_from_args as loss_from_args
from ._arguments import optimizer_from_args as optimizer_from_args
from ._arguments import parse_variables as parse_variables
from ._main import COMMAND_GROUP as COMMAND_GROUP
from ._main import build_parser as build_parser
from ._main import main as main
from ._main import plugins as plugins

__all__ = [
    "COMMAND_GROUP",
    "MAX_ORDER",
    "HelpFormatter",
    "Subparsers",
    "add_format_argument",
    "add_loss_arguments",
    "add_optimizer_arguments",
    "add_order_argument",
    "build_parser",
    "loss_from_args",
    "main",
    "optimizer_from_args",
    "parse_variables",
    "plugins",
]
