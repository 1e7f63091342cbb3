"""The `derive verify` sub-command: show numerically that a modified flow has its order.

A plug-in of the `derive` command line (entry point `verify` in the group
`derive.commands`). This module imports neither JAX nor SymPy: JAX and diffrax are
imported inside the handler, so `derive --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import derive
from derive import DeriveError
from derive.cli import (
    HelpFormatter,
    Subparsers,
    add_optimizer_arguments,
    add_order_argument,
    optimizer_from_args,
)

from . import require_jax

if TYPE_CHECKING:
    from .._certificate import Certificate

__all__ = ["register", "run"]

DEFAULT_OPTIMIZER = "heavy-ball"
DEFAULT_BETA = Fraction(9, 10)
DEFAULT_ORDER = 3

_DESCRIPTION = """\
Verify numerically that the modified flow of an optimizer tracks its iterates at the
predicted order: for every truncation order p = 0..P, the global error
  e_p(h) = max_{n h <= T} |x_n - x_p(n h)|   (Euclidean norm)
between the iterates x_n (started on the slow manifold) and the order-p flow x_p
(the generated JAX module, integrated with diffrax Dopri8 at rtol = atol = 1e-14, in
float64) is measured for a geometric set of step sizes h; its log-log slope must be
the expected one (pass: slope >= expected - 0.2, using errors above 1e-10). The
expected slope is p + 1, or higher where the derived flow has no terms in the next
powers of h: a method of order q (RK4: q = 4) has error O(h^q) for every truncation
below q - 1.

T and the step sizes are chosen from the curvature along the trajectory so that the
test is in the asymptotic regime and far from the stability limit: the largest step
size has eps = h L kappa = 0.16 and the others span a factor 8 below it (4 with
--quick), narrowed where the highest order's errors would fall below the floor. Step
sizes beyond the limit (or with divergent iterates) are reported as such and left
out. The comparison is streamed in chunks that fit in memory; a horizon that would
need more than --max-iterations steps is shortened, and the report says by how much.

With no arguments: heavy ball with beta = 9/10 through order 3 on the Himmelblau
function from (0, 0), which starts in a region of negative curvature.

Output: a table of observed against expected orders, and in --out (default
runs/verify/<optimizer>-<loss>-order<P>, numbered -2, -3, ... when it exists)
certificate.json (inputs, settings, errors, slopes, the generated module's sha256,
package versions, machine), errors.png (log-log plot with reference slopes) and the
generated module, written together at the end (a temporary folder renamed into
place). Results are never overwritten: an --out folder that already holds files is
refused unless --force replaces it.

Exit status: 0 if every order passes (PASSED); 1 if an order fails (FAILED: its
slope is below the expected one); 3 if no order fails but one is inconclusive
(INCONCLUSIVE: fewer than 3 step sizes gave usable errors; the report says why and
what to change); 2 for bad input or a setting that makes the test meaningless
(momentum outside the stable range, a start where the loss is not finite, a step
size or horizon that is not a finite positive number, an output path that cannot be
used), reported before any long computation.
"""

_EPILOG = """\
examples:
  derive verify                                    # heavy ball, beta = 0.9, order 3
  derive verify gd --order 2 --loss rosenbrock
  derive verify nesterov --param beta=0.5 --loss six-hump-camel --quick
  derive verify heavy-ball --loss "x**4/4 - x**2/2 + y**2 + x*y" --vars x,y --x0 .3,.4
  derive verify --spec qhm.txt --param beta=0.9 --param nu=0.7 --order 2
  derive verify "state x; y = x - h*grad(x); x = x - h*grad(y)" --order 2
  derive verify adam --order 2 --param beta2=0.99 --loss rosenbrock --quick
  derive verify rmsprop --param eps=100 --param beta2=0.9 --loss himmelblau --order 2

built-in losses: rosenbrock, himmelblau, beale, six-hump-camel, styblinski-tang,
rastrigin, double-well, quartic-saddle, quadratic (diag(1, 10))
"""


def _numbers(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, such as 0.5,-1, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected at least one number, got {text!r}")
    return values


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number, got {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive whole number, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive whole number, got {text!r}"
        )
    return value


EXIT_PASSED, EXIT_FAILED, EXIT_INCONCLUSIVE = 0, 1, 3
"""Exit statuses of `derive verify` (2 is bad input, as for every sub-command)."""


def register(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the `verify` sub-command to an `argparse` sub-parser collection."""
    parser = subparsers.add_parser(
        "verify",
        help="show numerically that the modified flow tracks the iterates at its order",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    add_optimizer_arguments(parser)
    add_order_argument(parser, default=DEFAULT_ORDER)
    parser.add_argument(
        "--loss",
        metavar="NAME|EXPR",
        default=None,
        help="a built-in loss (default himmelblau) or an expression with --vars",
    )
    parser.add_argument(
        "--vars", metavar="X,Y", help="the variables of an expression loss"
    )
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
        help="an option of --model, e.g. hidden=(16,) or n=200 (repeatable)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the --model's initial parameters"
    )
    parser.add_argument(
        "--x0",
        type=_numbers,
        metavar="A,B",
        help="initial point (default: the loss's start)",
    )
    parser.add_argument(
        "--T",
        dest="T",
        type=_positive,
        metavar="T",
        help="time horizon (default: the loss's gradient-flow horizon over c0)",
    )
    parser.add_argument(
        "--h",
        dest="hs",
        type=_numbers,
        metavar="H1,H2,...",
        help="step sizes (default: chosen from the curvature)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="4 step sizes over a narrower range (faster)",
    )
    parser.add_argument(
        "--tolerance",
        type=_positive,
        default=0.2,
        help="slope tolerance (default 0.2)",
    )
    parser.add_argument(
        "--solver",
        choices=("dopri8", "tsit5"),
        default="dopri8",
        help="diffrax solver (default dopri8)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="folder for certificate.json, errors.png and the generated module "
        "(default runs/verify/<optimizer>-<loss>-order<P>, numbered when it exists); "
        "an existing folder with files is refused unless --force",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --out folder as a whole (default: refuse)",
    )
    parser.add_argument(
        "--max-iterations",
        type=_count,
        default=None,
        metavar="N",
        help="the most steps one step size may take (default 1000000); the default "
        "T is shortened to fit",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="write no files, only print the report"
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: a table (default); json: the certificate on standard output",
    )
    parser.set_defaults(handler=run)
    return parser


def _recurrence(args: argparse.Namespace) -> tuple[derive.Recurrence, list[str]]:
    """The optimizer; by default heavy ball, and beta = 9/10 when not given."""
    notes = []
    if args.optimizer is None and args.spec is None:
        args.optimizer = DEFAULT_OPTIMIZER
    if args.optimizer in ("heavy-ball", "nesterov"):  # the built-ins with a beta
        if not any(name == "beta" for name, _ in args.param):
            args.param = [*args.param, ("beta", DEFAULT_BETA)]
            notes.append(
                f"beta = {DEFAULT_BETA} (default; set it with --param beta=...)"
            )
    if args.optimizer in ("rmsprop", "adam", "adamw", "nadam"):  # PyTorch defaults
        given = {name for name, _ in args.param}
        for name, value in derive.optimizer_defaults(args.optimizer).items():
            if name not in given:
                args.param = [*args.param, (name, value)]
                notes.append(
                    f"{name} = {value} (PyTorch's default; set it with --param "
                    f"{name}=...)"
                )
    return optimizer_from_args(args), notes


def _label(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)
    return "-".join(p for p in keep.split("-") if p)[:40] or "loss"


@dataclass
class _Stage:
    """The stage `derive verify` is in, and when it started."""

    name: str | None
    t: float


def run(args: argparse.Namespace) -> int:
    """Run `derive verify` for parsed arguments; returns the exit status."""
    if args.vars is not None and args.loss is None:
        raise DeriveError(
            "--vars was given without --loss.", 'Add e.g. --loss "x**4 + y**2".'
        )
    model = getattr(args, "model", None)
    if model is not None and (args.loss or args.vars or args.x0):
        raise DeriveError(
            "--model was given with --loss, --vars or --x0.",
            "Use --model NAME alone (its parameters come from --seed).",
        )
    rec, notes = _recurrence(args)
    from numerics._output import check_output, free_folder  # no JAX

    if args.out is not None and not args.no_save:
        check_output(args.out, overwrite=args.force)
    require_jax("verify")
    import numerics  # JAX, diffrax: only now
    from numerics._losses import resolve_loss

    model_options: dict[str, object] = {}
    if model is None:
        loss = resolve_loss(args.loss or numerics.DEFAULT_LOSS, args.vars)
        label = loss.name
    else:
        from numerics._verify_model import check_model
        from numerics._verify_model import model_options as parse

        model_options = parse(args.model_options)
        check_model(model, model_options, args.order)
        label = model
    out = None
    if not args.no_save:
        out = args.out or str(
            free_folder(
                f"runs/verify/{_label(rec.name)}-{_label(label)}-order{args.order}"
            )
        )
        check_output(out, overwrite=args.force)
    limits = {}
    if args.max_iterations is not None:
        limits["max_iterations"] = args.max_iterations
    from rich.console import Console
    from rich.markup import escape

    err = Console(stderr=True)
    if not err.is_terminal:  # a log file: whole lines, never wrapped at 80 columns
        err = Console(stderr=True, width=1000, soft_wrap=True)
    started = time.perf_counter()
    for note in notes:
        err.print(f"[dim]note: {escape(note)}[/dim]")
    stage = _Stage(None, started)

    def progress(message: str) -> None:
        now = time.perf_counter()
        if stage.name is not None:
            took = f"[dim]({now - stage.t:.1f} s)[/dim]"
            err.print(f"[green]done[/green] {escape(stage.name)} {took}")
        stage.name, stage.t = message, now
        status.update(f"{escape(message)} ...")

    with err.status("starting ...") as status:
        if model is None:
            certificate = numerics.verify(
                rec,
                args.order,
                loss=loss,
                x0=args.x0,
                T=args.T,
                hs=args.hs,
                quick=args.quick,
                tolerance=args.tolerance,
                solver=args.solver,
                out=out,
                overwrite=args.force,
                progress=progress,
                **limits,
            )
        else:
            from numerics._verify_model import verify_model

            certificate = verify_model(
                model,
                rec,
                args.order,
                seed=args.seed,
                model_options=model_options,
                T=args.T,
                hs=args.hs,
                quick=args.quick,
                tolerance=args.tolerance,
                solver=args.solver,
                out=out,
                overwrite=args.force,
                progress=progress,
                **limits,
            )
        progress("done")
    elapsed = time.perf_counter() - started
    if args.format == "json":
        sys.stdout.write(certificate.to_json() + "\n")
    else:
        _print_report(certificate, elapsed)
    return _exit_status(certificate)


def _exit_status(certificate: Certificate) -> int:
    verdict = getattr(certificate, "verdict", None)
    if verdict is None:  # an object with `passed` only
        return EXIT_PASSED if certificate.passed else EXIT_FAILED
    return {
        "passed": EXIT_PASSED,
        "failed": EXIT_FAILED,
        "inconclusive": EXIT_INCONCLUSIVE,
    }.get(verdict, EXIT_FAILED)


def _print_report(certificate: Certificate, elapsed: float) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # piped into a file or another program: no terminal width to fit, so tables are
    # never cut (rich assumes 80 columns otherwise)
    probe = Console()
    console = Console(
        soft_wrap=True,
        highlight=False,
        width=None if probe.is_terminal else 1000,
    )
    r = certificate.record
    lines = certificate.summary_lines()
    colour = {"passed": "green", "failed": "red"}.get(certificate.verdict, "yellow")
    verdict = f"[bold {colour}]{certificate.verdict.upper()}[/]"
    title = escape(certificate.title())  # names and losses are user text, not markup
    console.print(f"[bold]Verification of {title}[/bold]: {verdict}")
    for line in lines[1:]:
        console.print(f"  {escape(line)}")
    table = Table(
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        title_justify="left",
        title="observed against expected order",
    )
    for name in ("order p", "expected", "observed", "verdict", "errors used"):
        table.add_column(name, justify="left" if name == "verdict" else "right")
    for row in certificate.rows():
        colour = {"fail": "red", "inconclusive": "yellow"}.get(row[3], "green")
        table.add_row(row[0], row[1], row[2], f"[{colour}]{row[3]}[/]", row[4])
    console.print(table)
    steps = Table(
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        title_justify="left",
        title="global error per step size",
    )
    for name in ["h", "eps", "steps", "status"]:
        steps.add_column(name, justify="right")
    for p in range(len(r["results"])):
        steps.add_column(f"order {p}", justify="right")
    for row in certificate.step_rows():
        if row[3] != "ok":
            row[3] = f"[red]{row[3]}[/]"
        steps.add_row(*row)
    console.print(steps)
    for item in r["step_sizes"]:
        if item.get("detail"):
            console.print(f"  [yellow]note[/]: {escape(item['detail'])}")
    for text in certificate.explanations():
        console.print(f"  [yellow]{escape(text)}[/]")
    files = r.get("files")
    if files:
        folder = os.path.dirname(files["json"])
        names = [
            os.path.basename(files[k]) for k in ("json", "plot", "module") if k in files
        ]
        console.print(escape(f"  wrote {', '.join(names)} to {folder}/"))
    console.print(f"  [dim]{elapsed:.1f} s[/dim]")
