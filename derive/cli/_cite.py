"""The `derive cite` sub-command: how to cite the toolkit and a derivation."""

from __future__ import annotations

import argparse
import json

from .._errors import DeriveError
from ._arguments import HelpFormatter, Subparsers

__all__ = ["register"]

_DESCRIPTION = """\
Print how to cite the toolkit: a BibTeX entry (default) or one line of text, with the
installed version. With --record FILE, check a derivation record (written by
'derive flow|manifold|ode ... --format json') against its content hash and print a
sentence that references it, for a paper's appendix."""

_EPILOG = """\
examples:
  derive cite >> references.bib
  derive flow heavy-ball --order 3 --format json > hb3.json
  derive cite --record hb3.json
"""


def register(subparsers: Subparsers) -> None:
    """Add `cite` to the `derive` sub-parsers."""
    parser = subparsers.add_parser(
        "cite",
        help="how to cite the toolkit (BibTeX) and a derivation record",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--format",
        choices=("bibtex", "text"),
        default="bibtex",
        help="bibtex (default) or one line of text",
    )
    parser.add_argument(
        "--record",
        metavar="FILE",
        help="a derivation record (JSON) to check and reference",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run `derive cite`; returns 0 (bad input raises `DeriveError`)."""
    from .._citation import bibtex, citation_text, cite_record

    if args.record is not None:
        try:
            with open(args.record, encoding="utf-8") as file:
                record = json.load(file)
        except OSError as e:
            raise DeriveError(
                f"cannot read the record {args.record!r} ({e.strerror or e}).",
                "Give the path of a JSON file written by --format json.",
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DeriveError(
                f"{args.record!r} is not a JSON record ({e}).",
                "Give a file written by derive flow|manifold|ode ... --format json.",
            ) from None
        if not isinstance(record, dict):
            raise DeriveError(
                f"{args.record!r} holds JSON but not a derivation record.",
                "Give a file written by derive flow|manifold|ode ... --format json.",
            )
        print(cite_record(record))
        print()
    print(bibtex() if args.format == "bibtex" else citation_text())
    return 0
