"""LaTeX that pastes: `--format latex` compiles with pdflatex, without overfull boxes.

Each output is compiled twice: as printed (display blocks pasted into a minimal amsmath
document) and with `--standalone` (a complete document). pdflatex comes from the
system's TeX Live (`texlive-latex-base`, `texlive-latex-recommended`), which CI
installs; the log must hold no `Overfull` box (the issue the line breaking fixes: heavy
ball's order-3 flow ran 258 pt off the page on one line).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from derive.cli import main

CASES = [
    ["flow", "heavy-ball", "--order", "3"],
    ["flow", "nesterov", "--order", "3"],
    ["flow", "gd", "--order", "3"],
    ["flow", "heavy-ball", "--order", "2", "--loss", "x**4/4 - x**2/2 + y**2 + x*y",
     "--vars", "x,y"],
    ["manifold", "heavy-ball", "--order", "2"],
    ["ode", "nesterov", "--order", "2"],
    ["ode", "heavy-ball", "--order", "2", "--time-order", "1"],
    ["flow", "adam", "--order", "2"],
    ["flow", "rmsprop", "--order", "2", "--param", "eps=0"],
]  # fmt: skip

PREAMBLE = (
    "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n"
)


def pdflatex() -> str:
    path = shutil.which("pdflatex")
    if path is None:
        raise AssertionError(
            "pdflatex is not installed: install TeX Live (apt-get install "
            "texlive-latex-base texlive-latex-recommended), as .ci/run does"
        )
    return path


def compile_tex(source: str, folder: Path) -> str:
    tex = folder / "out.tex"
    tex.write_text(source, encoding="utf-8")
    done = subprocess.run(
        [pdflatex(), "-interaction=nonstopmode", "-halt-on-error", tex.name],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (folder / "out.log").read_text(encoding="utf-8", errors="replace")
    assert done.returncode == 0, log[-3000:]
    return log


def output(capsys, argv):
    assert main(argv) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a[:3]))
def test_latex_compiles_without_overfull_boxes(argv, capsys, tmp_path):
    pasted = output(capsys, [*argv, "--format", "latex"])
    assert "\\documentclass" not in pasted
    log = compile_tex(PREAMBLE + pasted + "\n\\end{document}\n", tmp_path)
    assert "Overfull" not in log
    standalone = output(capsys, [*argv, "--format", "latex", "--standalone"])
    assert standalone.startswith("\\documentclass")
    log = compile_tex(standalone, tmp_path)
    assert "Overfull" not in log


def test_modified_loss_has_its_own_math_environment(capsys):
    out = output(capsys, ["flow", "heavy-ball", "--order", "1", "--format", "latex"])
    before = out[: out.index("\\tilde f")].rstrip("\n").splitlines()[-1]
    assert before in ("\\begin{equation*}", "\\begin{multline*}")
    out = output(capsys, ["flow", "gd", "--order", "1", "--format", "latex"])
    before = out[: out.index("\\tilde f")].rstrip("\n").splitlines()[-1]
    assert before == "\\begin{equation*}"


def test_the_check_sees_an_overfull_line(tmp_path):
    """The unbroken order-3 row of heavy ball (as printed before line breaking) is
    overfull: the check above can fail."""
    row = " + ".join(["\\frac{(\\beta + 1)(\\beta^{2} + 16 \\beta + 1)}{12 (1 - \\beta)^{7}}"
                      "\\, g'g''(g, g)"] * 4)  # fmt: skip
    log = compile_tex(PREAMBLE + f"\\[ {row} \\]\n\\end{{document}}\n", tmp_path)
    assert "Overfull" in log
