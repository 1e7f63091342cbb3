"""LaTeX that pastes: display environments of amsmath, long rows broken term by term,
and a complete document for `--standalone`.

A row of a series (the terms of one power of $h$) that would run off the page is
broken after each term, inside `\\biggl( ... \\biggr)` (which, unlike `\\left(` and
`\\right)`, may open and close on different lines of an `aligned` block). The test suite
compiles the output with pdflatex and checks that no box is overfull.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ROW_LIMIT",
    "aligned_series",
    "display",
    "document",
]

ROW_LIMIT = 90
"""Rows of LaTeX source longer than this are broken term by term."""


def _continued(part: str) -> str:
    """A term as it continues a broken row: `+ a` or `- a`."""
    return f"- {part[1:].lstrip()}" if part.startswith("-") else f"+ {part}"


def _joined(parts: Sequence[str]) -> str:
    return " ".join([parts[0], *(_continued(p) for p in parts[1:])]) if parts else "0"


def aligned_series(lhs: str, rows: Sequence[tuple[str, Sequence[str]]]) -> str:
    """An `aligned` block `lhs &= ... \\\\ &\\quad + h(...) ...`.

    **Arguments:**

    - `lhs`: the left-hand side (`\\dot x`).
    - `rows`: `(power prefix, terms)` per power of $h$, the prefix empty for $h^0$
      (`""`, `"h"`, `"h^{2}"`, ...), each term already in LaTeX with its sign.

    !!! example
        ```python
        >>> from derive._render.latex import aligned_series
        >>> print(aligned_series("\\\\dot x", [("", ["g"]), ("h", ["-\\\\tfrac12\\\\, g'g"])]))
        \\begin{aligned}
        \\dot x &= g \\\\
        &\\quad + h\\left(-\\tfrac12\\, g'g\\right)
        \\end{aligned}

        ```
    """
    lines: list[str] = []
    for prefix, row in rows:
        parts = list(row)
        if not parts:
            continue
        first = not lines
        head = f"{lhs} &= " if first else "&\\quad + "
        one_line = _joined(parts)
        if not prefix:
            if len(one_line) <= ROW_LIMIT or len(parts) == 1:
                lines.append(head + one_line)
            else:
                lines.append(head + parts[0])
                lines += [f"&\\quad {_continued(p)}" for p in parts[1:]]
            continue
        if len(one_line) <= ROW_LIMIT or len(parts) == 1:
            lines.append(f"{head}{prefix}\\left({one_line}\\right)")
            continue
        lines.append(f"{head}{prefix}\\biggl({parts[0]}")
        lines += [f"&\\qquad {_continued(p)}" for p in parts[1:-1]]
        lines.append(f"&\\qquad {_continued(parts[-1])}\\biggr)")
    body = " \\\\\n".join(lines) if lines else f"{lhs} &= 0"
    return "\\begin{aligned}\n" + body + "\n\\end{aligned}"


def display(lines: Sequence[str]) -> str:
    """Display maths: `\\[ ... \\]` around an `aligned` block, `equation*` around one
    line, `multline*` around several (each continuation line starts with its sign)."""
    if len(lines) == 1 and lines[0].startswith("\\begin{aligned}"):
        return "\\[\n" + lines[0] + "\n\\]"
    if len(lines) == 1:
        return "\\begin{equation*}\n" + lines[0] + "\n\\end{equation*}"
    return "\\begin{multline*}\n" + " \\\\\n".join(lines) + "\n\\end{multline*}"


def document(blocks: Sequence[str], title: str) -> str:
    """A complete LaTeX document (article class, amsmath and amssymb) holding the
    display blocks, for `--standalone`."""
    body = "\n\n".join(blocks)
    return (
        "\\documentclass{article}\n"
        "\\usepackage[T1]{fontenc}\n"
        "\\usepackage{amsmath,amssymb}\n"
        "\\begin{document}\n"
        f"\\section*{{{title}}}\n\n"
        f"{body}\n\n"
        "\\end{document}"
    )
