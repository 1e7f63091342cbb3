"""The tutorials run as written: every command's output and every doctest is checked.

Each page of `docs/tutorials/` is a session in a fresh folder: a fenced block with a
`title="FILE"` attribute is written to FILE (the reader saves it), a `console` block's
`$ derive ...` lines are run (as `python -m derive`, output piped, standard error
after standard output as a terminal shows them) and their output compared with what the page shows, and the
`>>>` examples of `python` blocks are run by doctest in one namespace per page, in the
page's order. `...` stands for any text, as in doctest (ELLIPSIS, NORMALIZE_WHITESPACE).
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
FENCE = re.compile(
    r"^```(?P<lang>[\w-]*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```\s*$", re.M | re.S
)
TITLE = re.compile(r'title="(?P<name>[^"]+)"')
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass(frozen=True)
class Block:
    lang: str
    attrs: str
    body: str
    line: int


def blocks(text: str) -> list[Block]:
    return [
        Block(m["lang"], m["attrs"], m["body"], text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]


def commands(body: str) -> list[tuple[str, str]]:
    """`(command, expected output)` pairs of a console block."""
    pairs: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        elif pairs:
            pairs[-1][1].append(line)
    return [(command, "\n".join(out).rstrip() + "\n") for command, out in pairs]


def run_command(command: str, cwd: Path) -> str:
    argv = shlex.split(command)
    assert argv[0] == "derive", f"tutorial commands start with derive: {command}"
    env = dict(os.environ, NO_COLOR="1")
    done = subprocess.run(
        [sys.executable, "-m", "derive", *argv[1:]],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (
        f"`{command}` exited with {done.returncode}:\n{done.stdout}"
    )
    return done.stdout


def matches(want: str, got: str) -> bool:
    return doctest.OutputChecker().check_output(want, got, FLAGS)


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_as_written(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    text = page.read_text()
    namespace: dict[str, object] = {"__name__": f"tutorial_{page.stem}"}
    checked = 0
    for block in blocks(text):
        title = TITLE.search(block.attrs)
        if title:
            (tmp_path / title["name"]).write_text(block.body)
        if block.lang == "console":
            for command, want in commands(block.body):
                got = run_command(command, tmp_path)
                assert matches(want, got), (
                    f"{page.name}:{block.line}: `{command}` printed\n{got}\n"
                    f"but the page shows\n{want}"
                )
                checked += 1
        elif block.lang in ("python", "pycon") and ">>>" in block.body:
            test = doctest.DocTestParser().get_doctest(
                block.body,
                namespace,
                f"{page.name}:{block.line}",
                str(page),
                block.line,
            )
            runner = doctest.DocTestRunner(optionflags=FLAGS)
            runner.run(test, out=lambda s: print(s, end=""), clear_globs=False)
            namespace.update(test.globs)
            assert runner.failures == 0, (
                f"{page.name}:{block.line}: a doctest failed (above)"
            )
            checked += len(test.examples)
    assert checked >= 3, (
        f"{page.name} has {checked} checked examples; a tutorial runs code"
    )


def test_harness_catches_a_wrong_output() -> None:
    """The comparison fails on a changed number (the harness can fail)."""
    assert matches("order 2 ... PASSED\n", "order 2 on himmelblau: PASSED\n")
    assert not matches("dx/dt = 1/(1 - mu) g\n", "dx/dt = 1/(2 - mu) g\n")
    assert commands("$ derive flow gd\nline 1\nline 2\n$ derive cite\nx\n") == [
        ("derive flow gd", "line 1\nline 2\n"),
        ("derive cite", "x\n"),
    ]


def test_there_are_tutorials() -> None:
    assert len(TUTORIALS) >= 4, TUTORIALS
