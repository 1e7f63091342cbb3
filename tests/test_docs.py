"""The documentation shows real output and builds cleanly.

- The derived block of docs/index.md is regenerated from `derive flow heavy-ball
  --order 2` (text and LaTeX) and must match, so the docs cannot drift from the engine.
- `mkdocs build --strict` succeeds (every cross-reference resolves, every snippet
  exists), as in the project's documentation build.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from derive.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(argv, capsys):
    assert main(argv) == 0
    return capsys.readouterr().out.rstrip()


def test_index_shows_current_derivation(capsys):
    text = _run(["flow", "heavy-ball", "--order", "2"], capsys)
    latex = _run(["flow", "heavy-ball", "--order", "2", "--format", "latex"], capsys)
    index = (ROOT / "docs" / "index.md").read_text()
    assert text in index, "docs/index.md: the text derivation is stale"
    for line in latex.splitlines():
        assert line in index, f"docs/index.md: stale LaTeX line {line!r}"


@pytest.mark.slow
def test_docs_build_strict(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-d",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
