"""The `derive reproduce NAME` sub-command: published results, one shape for all.

A plug-in of the `derive` command line (entry point `reproduce` in the group
`derive.commands`). Every reproduction takes `--quick` (a reduced size, at most 3
minutes on 2 CPU cores, that still shows the phenomenon) and `--out DIR` (figures,
`summary.json` and `report.md`), and exits with 0 when its own checks pass, 1 when
one fails and 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
import time

from derive.cli import HelpFormatter, Subparsers

from ..reproductions import REPRODUCTIONS, get_reproduction, write_report
from . import require_jax

__all__ = ["register", "run"]


def register(subparsers: Subparsers) -> None:
    """Add `reproduce` (one sub-command per reproduction) to the `derive` sub-parsers."""
    listing = "\n".join(
        f"  {r.name:18s} {r.title} ({r.reference})" for r in REPRODUCTIONS.values()
    )
    parser = subparsers.add_parser(
        "reproduce",
        help=f"reproduce a paper's results ({', '.join(REPRODUCTIONS)})",
        description="Reproduce published results: derive the equations exactly, "
        "measure them with JAX in\nfloat64, and write figures, summary.json (the "
        "table, machine-readable) and\nreport.md. Every reproduction takes --quick "
        "(a reduced size, at most 3 minutes\non 2 CPU cores, that still shows the "
        "phenomenon) and --out DIR (default\nruns/NAME). Exit status: 0 when the "
        "reproduction's own checks pass, 1 when one\nfails, 2 on bad input.\n\n"
        f"Reproductions:\n{listing}",
        epilog="Run 'derive reproduce NAME --help' for one reproduction's options.",
        formatter_class=HelpFormatter,
    )
    names = parser.add_subparsers(
        dest="reproduction", metavar="NAME", title="reproductions", required=True
    )
    for r in REPRODUCTIONS.values():
        sub = names.add_parser(
            r.name,
            help=r.title,
            description=f"{r.reference}: {r.title}.\n\n{r.description}",
            formatter_class=HelpFormatter,
        )
        sub.add_argument(
            "--quick",
            action="store_true",
            help="a reduced size (at most 3 minutes on 2 CPU cores) that still shows "
            "the phenomenon",
        )
        sub.add_argument(
            "--out",
            metavar="DIR",
            default=f"runs/{r.name}",
            help=f"output folder (default runs/{r.name})",
        )
        for option in r.options:
            sub.add_argument(*option.flags, dest=option.dest, **option.kwargs)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run one reproduction; returns 0 when its checks pass, 1 when one fails."""
    reproduction = get_reproduction(args.reproduction)
    require_jax("reproduce")
    options = {o.dest: getattr(args, o.dest) for o in reproduction.options}
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"  ... {message}", file=sys.stderr, flush=True)

    report = reproduction.load()(quick=args.quick, progress=progress, **options)
    files = write_report(report, args.out)
    print(report.table())
    print(f"\n{'PASSED' if report.passed else 'FAILED'}: {reproduction.reference}")
    print(f"wrote {', '.join(str(p) for p in files)}")
    print(f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0 if report.passed else 1
