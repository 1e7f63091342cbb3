"""The README and the docs quote benchmark figures from one source.

Each benchmark writes `benchmarks/results/NAME.md` (`--write`); the docs include the
file and the README holds a copy between `<!-- results: NAME -->` markers. A copy that
differs from its file, a README block without a file, or a result that no docs page
includes fails here.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import README, RESULTS, block_pattern  # noqa: E402

BLOCK = re.compile(r"<!-- results: ([\w-]+) -->")
NAMES = sorted(BLOCK.findall(README.read_text()))
FILES = sorted(p.stem for p in RESULTS.glob("*.md"))


def test_the_readme_quotes_results() -> None:
    assert NAMES, "the README quotes no benchmark result between results markers"


@pytest.mark.parametrize("name", NAMES)
def test_readme_copy_is_the_result(name: str) -> None:
    path = RESULTS / f"{name}.md"
    assert path.exists(), f"README quotes {name}, but {path} does not exist"
    match = block_pattern(name).search(README.read_text())
    assert match is not None
    assert match[2] == path.read_text(), (
        f"README's copy of {name} differs from {path}; rerun the benchmark with "
        "--write (it refreshes both)"
    )


@pytest.mark.parametrize("name", FILES)
def test_docs_include_the_result(name: str) -> None:
    include = f'--8<-- "benchmarks/results/{name}.md"'
    pages = [p for p in (ROOT / "docs").rglob("*.md") if include in p.read_text()]
    assert pages, f"no docs page includes benchmarks/results/{name}.md ({include})"


def test_a_changed_copy_is_caught(tmp_path: Path) -> None:
    """The comparison is exact: one changed digit is a difference."""
    text = "<!-- results: x -->\n| a | 0.12 s |\n<!-- /results -->\n"
    match = block_pattern("x").search(text)
    assert match is not None and match[2] == "| a | 0.12 s |\n"
    assert match[2] != "| a | 0.13 s |\n"
