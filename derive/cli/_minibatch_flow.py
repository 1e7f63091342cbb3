"""`derive flow sgd|sgdm|OPTIMIZER --batches M ...`: the flow of a mini-batch optimizer.

Part of `derive flow`: these arguments are added to its parser, and `run` hands over
to [`run_minibatch`][] when a mini-batch flow is asked for (`sgd`, `sgdm`, or
`--batches`/`--batch-losses` with any optimizer). Nothing here imports SymPy at import
time.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .._errors import DeriveError

if TYPE_CHECKING:
    from .._recurrence import Recurrence

__all__ = ["add_minibatch_arguments", "wants_minibatch", "run_minibatch", "HELP"]

MINIBATCH_NAMES = ("sgd", "sgdm")

HELP = """\
Mini-batch optimizers (one batch per step; t = n h with n counting steps):
  sgd           SGD (PyTorch)             x+ = x - h grad f_c(x)
  sgdm          SGD with momentum         v+ = mu v + grad f_c(x), x+ = x - h v+
                (PyTorch convention; --param mu=0.9; effective rate h/(1 - mu))
  --batches M   the number of batches per epoch (any optimizer above works too)
  --sampling    shuffle (random reshuffling, default), replacement, or fixed (batch
                c at step c of every epoch); shuffle and replacement print the flow
                of the expected epoch map with f = mean of the batch losses, g =
                -grad f, deviations d_k = g_k - g and <...> averages over batches
  --batch-losses EXPR_1 ... EXPR_M --vars X,Y   concrete per-batch losses: the
                JSON vector_field is then one SymPy string per variable"""


def _batches(text: str) -> int | str:
    text = text.strip()
    if text == "m":
        return "m"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"the number of batches must be a whole number such as 4 (or m for a "
            f"symbol), got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"the number of batches must be at least 1, got {value}"
        )
    return value


def add_minibatch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--batches`, `--sampling` and `--batch-losses` to `derive flow`."""
    group = parser.add_argument_group("mini-batch optimizers")
    group.add_argument(
        "--batches",
        metavar="M",
        type=_batches,
        help="batches per epoch: the flow of a mini-batch optimizer (m: a symbol, "
        "plain SGD only)",
    )
    group.add_argument(
        "--sampling",
        choices=("shuffle", "replacement", "fixed"),
        default=None,
        help="batch order: shuffle (random reshuffling, default), replacement, fixed",
    )
    group.add_argument(
        "--batch-losses",
        metavar="EXPR",
        nargs="+",
        help="one concrete loss per batch (needs --vars); --batches defaults to their "
        "number",
    )


def wants_minibatch(args: argparse.Namespace) -> bool:
    """Whether `derive flow` should print a mini-batch flow."""
    name = (args.optimizer or "").strip()
    return (
        name in MINIBATCH_NAMES
        or args.batches is not None
        or args.batch_losses is not None
        or args.sampling is not None
    )


def _recurrence(args: argparse.Namespace) -> Recurrence:
    from .._sgd import minibatch_optimizer
    from ._arguments import optimizer_from_args, parameter_values

    name = (args.optimizer or "").strip()
    if name in MINIBATCH_NAMES and args.spec is None:
        return minibatch_optimizer(name, **parameter_values(args))
    return optimizer_from_args(args)


def run_minibatch(args: argparse.Namespace) -> int:
    """Print the mini-batch flow chosen by the arguments; returns 0."""
    from .._minibatch import minibatch_flow
    from ._arguments import parse_variables
    from ._flow import print_flow

    if args.loss is not None:
        raise DeriveError(
            "--loss gives one loss; a mini-batch flow needs one loss per batch.",
            'Use --batch-losses "EXPR_1" ... "EXPR_M" --vars x,y.',
        )
    losses = args.batch_losses
    if losses is not None and args.vars is None:
        raise DeriveError(
            "--batch-losses needs --vars, the coordinates of the losses.",
            "Add e.g. --vars x,y.",
        )
    if args.vars is not None and losses is None:
        raise DeriveError(
            "--vars was given without --batch-losses.",
            'Add the per-batch losses, e.g. --batch-losses "x**2" "(x-1)**2" --vars x.',
        )
    batches = args.batches
    if batches is None:
        if losses is None:
            raise DeriveError(
                "a mini-batch flow needs the number of batches per epoch.",
                "Add e.g. --batches 4 (or --batch-losses with one loss per batch).",
            )
        batches = len(losses)
    elif losses is not None and batches != "m" and len(losses) != batches:
        raise DeriveError(
            f"--batches {batches} was given with {len(losses)} batch losses.",
            "Give one loss per batch, or leave --batches out.",
        )
    variables = parse_variables(args.vars) if losses is not None else None
    recurrence = _recurrence(args)
    flow = minibatch_flow(
        recurrence, args.order, batches=batches, sampling=args.sampling or "shuffle"
    )
    if args.format == "json":
        print(flow.to_json(losses=losses, variables=variables))
        return 0
    if losses is None or variables is None:  # both None, as checked above
        print_flow(flow, args.format, standalone=args.standalone)
        return 0
    explicit = flow.on(losses, variables)
    print_flow(
        flow,
        args.format,
        explicit,
        lambda: flow.modified_loss.on(losses, variables),
        f"\non the batch losses {', '.join(losses)} (variables "
        f"{', '.join(variables)}); full loss f = {explicit.loss}:",
        standalone=args.standalone,
    )
    return 0
