"""One source for every figure the README and the docs quote.

A benchmark run with `--write` stores its table in `benchmarks/results/NAME.md`
(Markdown: the table, then one line saying how and where it was measured). The docs
include that file (`--8<-- "benchmarks/results/NAME.md"`, pymdownx.snippets) and the
README carries a copy between the markers

    <!-- results: NAME -->
    ...
    <!-- /results -->

which `write` refreshes in the same run; `tests/test_figures.py` fails when a copy
differs from its file, so a figure cannot be updated in one place only.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"


def block_pattern(name: str) -> re.Pattern[str]:
    """The README block of result `name` (markers included)."""
    return re.compile(
        rf"(<!-- results: {re.escape(name)} -->\n)(.*?)(<!-- /results -->)", re.S
    )


def machine() -> str:
    """A short description of the machine, for the line under a table."""
    try:
        load = f", load {os.getloadavg()[0]:.1f}"
    except OSError:  # pragma: no cover - not on every platform
        load = ""
    return (
        f"{os.cpu_count()}-core {platform.machine()}, Python "
        f"{platform.python_version()}{load}"
    )


def write(name: str, table: str, command: str) -> Path:
    """Store `table` as result `name` and refresh its README copy (if it has one)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    day = datetime.date.today().isoformat()
    text = f"{table.rstrip()}\n\n`{command}`; {machine()}; {day}.\n"
    path = RESULTS / f"{name}.md"
    path.write_text(text)
    readme = README.read_text()
    pattern = block_pattern(name)
    if pattern.search(readme):
        README.write_text(pattern.sub(lambda m: m[1] + text + m[3], readme))
    return path
