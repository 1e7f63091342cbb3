"""The `derive codegen` sub-command: write the JAX module of a modified flow.

Nothing heavy is imported until the command runs (no JAX ever, SymPy only inside
the handler).
"""

from __future__ import annotations

import argparse
import sys

from ._arguments import (
    HelpFormatter,
    Subparsers,
    add_loss_arguments,
    add_optimizer_arguments,
    add_order_argument,
    loss_from_args,
    optimizer_from_args,
)

__all__ = ["register", "run", "TRIAL_GROUP"]

TRIAL_GROUP = "derive.codegen_trials"
"""Entry points `run_once(source, name) -> bool` that run a generated module once
(numerics registers one in pyproject.toml)."""

_DESCRIPTION = """\
Generate a standalone JAX module for the modified flow of an optimizer, with a header
that records what it was generated from (optimizer, order, parameters, conventions,
toolkit version) and a SHA-256 of the code.

Matrix-free mode (default): the module works for any loss written in JAX on pytrees.
It defines make_vector_field(loss, order=ORDER) -> field(t, y, args) for
diffrax.ODETerm, where args = {"h": ..., <symbolic parameter>: ...};
vector_field(t, y, args) with the loss in args["loss"]; terms_by_order(loss, y, args);
coefficients(args); one function F_<tree> per elementary differential (g'g is F_gpg,
g''(g,g) is F_gpp_g_g), computed with jax.jvp / jax.linearize, never a Hessian.

Explicit mode (--loss and --vars): closed-form jax.numpy expressions of the field on
that loss; the state y is a 1-D array of the variables in order.
"""

_EPILOG = """\
examples:
  derive codegen gd --order 2 -o gd2.py
  derive codegen heavy-ball --order 3 -o hb3.py          # beta symbolic: args["beta"]
  derive codegen heavy-ball --order 3 --param beta=0.9 -o hb3_09.py
  derive codegen nesterov --order 2 --loss "x**4/4 + y**2/2" --vars x,y
  derive codegen --spec qhm.txt --order 2 --param beta=0.9 --param nu=0.7 -o qhm2.py

then, in Python:
  import diffrax, hb3
  field = hb3.make_vector_field(loss)        # loss: pytree -> scalar, in JAX
  sol = diffrax.diffeqsolve(diffrax.ODETerm(field), diffrax.Tsit5(), 0.0, 1.0, 0.01,
                            y0, args={"h": 0.01, "beta": 0.9})
"""


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the `codegen` sub-command to the `derive` sub-parsers.

    OPTIMIZER, `--spec`, `--param` and `--order` are read exactly as by `derive flow`
    (the helpers of `derive._cli`).
    """
    parser = subparsers.add_parser(
        "codegen",
        help="a JAX module (diffrax-ready vector field) for a modified flow",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    add_optimizer_arguments(parser)
    add_order_argument(parser)
    add_loss_arguments(parser, what="explicit mode: ")
    parser.add_argument(
        "--module",
        metavar="MODULE",
        help="the module name that load() gives it (default: NAME_orderP)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE.py",
        help="write the module to FILE.py (default: print it to standard output)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with -o: replace an existing file (otherwise refused)",
    )
    parser.add_argument(
        "--no-trial",
        action="store_true",
        help="do not run the module once on a sample point before writing it (the "
        "trial runs when the jax extra is installed)",
    )
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run `derive codegen` on parsed arguments; returns the exit status (0)."""
    from .._codegen import codegen
    from .._codegen.output import check_output_path

    if args.output:  # before any work: a bad path is refused at once
        check_output_path(args.output, args.force)
    loss, variables = loss_from_args(args)
    recurrence = optimizer_from_args(args)
    code = codegen(
        recurrence, args.order, loss=loss, variables=variables, name=args.module
    )
    trial(code.source, code.name, skip=args.no_trial)
    if args.output:
        path = code.write(args.output, force=args.force)
        print(
            f"derive: wrote {path} ({code.flow.recurrence.name}, order "
            f"{code.flow.order}, {code.mode}; "
            f"content sha256 {code.content_hash[:16]}...)",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(code.source)
    return 0


def trial(source: str, name: str, *, skip: bool) -> None:
    """Run the module once on a sample point through the plug-ins of the entry-point
    group `TRIAL_GROUP` (numerics registers one; `derive` never imports JAX), saying
    on standard error what was checked; a failure raises before anything is written."""
    from importlib import metadata

    if skip:
        return
    runners = sorted(metadata.entry_points(group=TRIAL_GROUP), key=lambda ep: ep.name)
    results = [runner.load()(source, name) for runner in runners]
    if not any(r is not None for r in results):
        print(
            "derive: the module was compiled but not run (the jax extra is not "
            "installed)",
            file=sys.stderr,
        )
    elif False in results:
        print(
            f"derive: note: {name} gives a non-finite field at the sample point of "
            "the trial run (a pole there, or overflow); it runs.",
            file=sys.stderr,
        )
