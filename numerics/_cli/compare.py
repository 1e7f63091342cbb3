"""The `derive compare` sub-command: which model tracks the optimizer at your h?

A plug-in of the `derive` command line (entry point `compare` in the group
`derive.commands`); JAX is imported by the handler only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from derive import DeriveError
from derive.cli import (
    HelpFormatter,
    Subparsers,
    add_optimizer_arguments,
    optimizer_from_args,
)

from . import require_jax
from .verify import _numbers, _positive

if TYPE_CHECKING:
    from .._losses import Loss
    from .._typing import LossFunction

__all__ = ["register", "run"]

_DESCRIPTION = """\
Run an optimizer at practical step sizes and measure, against its iterates, every
continuous-time model the toolkit has for it: the modified flows of orders 0..P
(order 0 is the time-rescaled gradient flow), the second-order-in-time
(high-resolution) equations of orders 1..P, the principal flow (all orders in hH,
where it is real) and, for gradient descent, the central flow. Errors are
|model(t) - x_n| divided by the distance the iterates travelled, over 0 <= t <= T
(t = n h). The report gives, per step size, a table, the best model, the best
truncation order of the modified flows (the series is asymptotic: it says from which
order adding one stops helping) and a warning when h times the curvature scale lies
outside the radius of convergence of the series.

The iterates start at rest (momentum zero, x_prev = x0, as training does); the
second-order equations start with the velocity that passes through that start, and
the modified flows at x0. --start manifold uses the slow-manifold start of
`derive verify` instead (for step sizes inside the series' radius).

Output: the table on standard output (--format json: the record), and in --out
(default runs/compare/<optimizer>-<loss>) compare.json and compare-h<H>.png (error
against time, one curve per model). Exit status 0, or 2 for bad input.
"""

_EPILOG = """\
examples:
  derive compare heavy-ball --param beta=0.9 --loss "(x**2 + y**2)/2" --vars x,y \\
      --x0 1,0.5 --h 0.01 --T 20         # only the second-order equation tracks it
  derive compare gd --loss rosenbrock --h 0.001,0.0005 --order 3
  derive compare gd --model teacher-student --model-option hidden=4 --h 0.05 --T 5
"""


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the `compare` sub-command to an `argparse` sub-parser collection."""
    parser = subparsers.add_parser(
        "compare",
        help="at your step size: which continuous-time model tracks the optimizer",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    add_optimizer_arguments(parser)
    parser.add_argument(
        "--loss", metavar="NAME|EXPR", help="a built-in loss or an expression (--vars)"
    )
    parser.add_argument("--vars", metavar="X,Y", help="the variables of an expression")
    parser.add_argument(
        "--model",
        metavar="NAME",
        help="a network instead of --loss: digits-mlp, deep-linear, digits-cnn, "
        "teacher-student (initial parameters from --seed)",
    )
    parser.add_argument(
        "--model-option",
        dest="model_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of --model, e.g. hidden=(16,) (repeatable)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of --model's start")
    parser.add_argument(
        "--x0",
        type=_numbers,
        metavar="A,B",
        help="initial point (default: the loss's start, or all ones for an expression)",
    )
    parser.add_argument(
        "--h",
        dest="hs",
        type=_numbers,
        required=True,
        metavar="H1,H2,...",
        help="the step size(s): one table per step size",
    )
    parser.add_argument(
        "--T",
        dest="T",
        type=_positive,
        metavar="T",
        help="horizon in time t = n h (default: the loss's gradient-flow horizon "
        "over the leading coefficient, else 200 steps)",
    )
    parser.add_argument(
        "--order",
        type=int,
        default=2,
        metavar="P",
        help="highest order of the modified flows and second-order equations "
        "(default 2)",
    )
    parser.add_argument(
        "--start",
        choices=("rest", "manifold"),
        default="rest",
        help="how the iterates start (default rest)",
    )
    parser.add_argument("--out", metavar="DIR", help="folder for compare.json and PNGs")
    parser.add_argument("--no-save", action="store_true", help="write no files")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format"
    )
    parser.set_defaults(handler=run)
    return parser


def _label(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)
    return "-".join(p for p in keep.split("-") if p)[:40] or "loss"


def run(args: argparse.Namespace) -> int:
    """Run `derive compare` for parsed arguments; returns the exit status."""
    if args.vars is not None and args.loss is None:
        raise DeriveError("--vars was given without --loss.", 'Add e.g. --loss "x**2".')
    if args.model is not None and (args.loss or args.vars or args.x0):
        raise DeriveError(
            "--model was given with --loss, --vars or --x0.",
            "Use --model NAME alone (its parameters come from --seed).",
        )
    if args.model is None and args.loss is None:
        raise DeriveError(
            "no loss: give --loss NAME|EXPR (with --vars for an expression) or "
            "--model NAME.",
            'E.g. --loss "(x**2 + y**2)/2" --vars x,y.',
        )
    if not 0 <= args.order <= 6:
        raise DeriveError(f"--order {args.order}: use 0..6.", "")
    if args.optimizer is None and args.spec is None:
        raise DeriveError("no optimizer was given.", "E.g. derive compare heavy-ball.")
    rec = optimizer_from_args(args)
    if rec.parameters:
        raise DeriveError(
            f"the hyper-parameter(s) {list(rec.parameters)} of {rec.name} have no "
            "value.",
            "Give them with --param, e.g. --param beta=0.9.",
        )
    require_jax("compare")
    import jax

    import numerics
    from numerics._losses import resolve_loss

    loss: Loss | LossFunction
    if args.model is None:
        loss = resolve_loss(args.loss, args.vars)
        x0, label = args.x0, loss.name
    else:
        from numerics._verify_model import model_options
        from numerics.networks import get_model

        model = get_model(args.model, **model_options(args.model_options))
        loss, x0, label = (
            model.loss,
            model.init(jax.random.PRNGKey(args.seed)),
            model.name,
        )
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"  ... {message}", file=sys.stderr, flush=True)

    result = numerics.compare(
        rec,
        loss,
        args.hs,
        args.T,
        x0=x0,
        order=args.order,
        start=args.start,
        progress=progress,
    )
    files: list[Path] = []
    if not args.no_save:
        out = Path(args.out or f"runs/compare/{_label(rec.name)}-{_label(label)}")
        files = result.figures(out)
        record = out / "compare.json"
        record.write_text(json.dumps(result.to_json(), indent=2) + "\n", "utf-8")
        files.append(record)
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        print(
            f"Which model tracks {rec.name} on {label}? (conventions: loss f, "
            "step h, time t = n h; errors relative to the distance travelled)\n"
        )
        print(result.table())
        if files:
            print(f"\nwrote {', '.join(str(p) for p in files)}")
    print(f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0
