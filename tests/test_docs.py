"""The documentation shows real output, builds cleanly and renders its maths offline.

- The derived block of docs/index.md is regenerated from `derive flow heavy-ball
  --order 2` (text and LaTeX) and must match, so the docs cannot drift from the engine.
- `mkdocs build --strict` succeeds (every cross-reference resolves, every snippet
  exists), as in the project's documentation build.
- Every page of the built site, served on localhost with no other network, is rendered
  in headless Chromium (Debian's `chromium`, which CI installs): every formula is
  typeset by the MathJax that the build copied from the docs extra, and no raw TeX
  (`\\frac`, `\\begin`, ...) is left in the visible text. The same check run on a copy of
  the site without the renderer finds untypeset formulas, so this test can fail.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from derive.cli import main

ROOT = Path(__file__).resolve().parents[1]
RAW_TEX = ("\\frac", "\\begin", "\\nabla", "\\left", "\\dot", "\\beta")


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


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.mark.slow
def test_docs_build_strict(site):
    assert (site / "index.html").exists()
    assert (site / "javascripts" / "mathjax" / "tex-mml-chtml.js").exists()
    built = "\n".join(p.read_text("utf-8") for p in site.rglob("*.html"))
    assert "unpkg.com" not in built and "cdn.jsdelivr" not in built  # nothing remote


class _Page(html.parser.HTMLParser):
    """Counts formulas (arithmatex spans) and typeset ones (those holding an
    `mjx-container`), and collects the text a reader sees as prose (code blocks show
    LaTeX source on purpose, e.g. the output of `--format latex`)."""

    SKIP = (
        "script",
        "style",
        "mjx-assistive-mml",
        "noscript",
        "template",
        "code",
        "pre",
    )

    def __init__(self):
        super().__init__()
        self.formulas = 0
        self.typeset = 0
        self.text: list[str] = []
        self._stack: list[tuple[str, bool]] = []
        self._skip = 0
        self._open_math: list[bool] = []

    def handle_starttag(self, tag, attrs):
        classes = dict(attrs).get("class") or ""
        is_math = "arithmatex" in classes.split()
        if is_math:
            self.formulas += 1
            self._open_math.append(False)
        if tag == "mjx-container" and self._open_math and not self._open_math[-1]:
            self._open_math[-1] = True
            self.typeset += 1
        if tag in self.SKIP:
            self._skip += 1
        self._stack.append((tag, is_math))

    def handle_endtag(self, tag):
        while self._stack:
            open_tag, is_math = self._stack.pop()
            if open_tag in self.SKIP:
                self._skip -= 1
            if is_math:
                self._open_math.pop()
            if open_tag == tag:
                break

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError(
        "no Chromium to render the docs with: install Debian's chromium "
        "(apt-get install chromium), as .ci/run does"
    )


def _render(url: str, profile: Path) -> _Page:
    done = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    page = _Page()
    page.feed(done.stdout)
    return page


@pytest.fixture(scope="module")
def served(site, tmp_path_factory):
    """The site (and a copy without the renderer) served on localhost."""
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(site, root / "site")
    shutil.copytree(site, root / "without-renderer")
    (
        root / "without-renderer" / "javascripts" / "mathjax" / "tex-mml-chtml.js"
    ).unlink()
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(root)
    )

    class Quiet(handler.func):  # type: ignore[name-defined,misc]
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", site
    server.shutdown()


@pytest.mark.slow
def test_every_page_typesets_its_maths_offline(served, tmp_path):
    base, site = served
    pages = sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if p.name != "404.html"
    )
    with_math = 0
    for page in pages:
        rendered = _render(f"{base}/site/{page}", tmp_path / "profile")
        visible = "".join(rendered.text)
        raw = [t for t in RAW_TEX if t in visible]
        assert not raw, f"{page}: raw TeX left visible: {raw}"
        assert rendered.typeset == rendered.formulas, (
            f"{page}: {rendered.formulas - rendered.typeset} of "
            f"{rendered.formulas} formulas were not typeset"
        )
        with_math += rendered.formulas > 0
    assert with_math >= 3, "expected formulas on several pages"


@pytest.mark.slow
def test_the_check_fails_without_the_renderer(served, tmp_path):
    base, _ = served
    rendered = _render(
        f"{base}/without-renderer/conventions/index.html", tmp_path / "p"
    )
    assert rendered.formulas > 0
    assert rendered.typeset == 0
    assert any(t in "".join(rendered.text) for t in RAW_TEX)
