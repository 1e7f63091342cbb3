"""mkdocs hook: the MathJax renderer, copied from an installed package into the site.

The maths of these pages is typeset in the reader's browser by MathJax 3. The renderer
is not fetched from a CDN: the docs extra installs it (the `django-static-mathjax`
distribution is MathJax 3.2.2's own files, nothing else, and needs no Django), and this
hook copies the parts that `tex-mml-chtml.js` loads into `site/javascripts/mathjax/`,
so the built site renders formulas offline.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

PARTS = ("tex-mml-chtml.js", "input", "output", "a11y", "ui")
"""What the combined TeX component loads: itself, the TeX extensions it autoloads, the
CommonHTML fonts, the accessibility modules and the menu (not the speech engine)."""


def mathjax_source() -> Path:
    """The folder of MathJax's ES5 bundles in the installed package."""
    try:
        root = resources.files("mathjax")
    except (
        ModuleNotFoundError
    ) as e:  # pragma: no cover - a docs build without the extra
        raise RuntimeError(
            "MathJax is not installed: install the docs extra, pip install -e '.[docs]'"
        ) from e
    return Path(str(root)) / "static" / "mathjax" / "es5"


def on_post_build(config, **kwargs) -> None:
    source = mathjax_source()
    target = Path(config["site_dir"]) / "javascripts" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, target / part, dirs_exist_ok=True)
        else:
            shutil.copy2(src, target / part)
