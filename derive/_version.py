"""The toolkit's version and distribution name, read once from the installed metadata."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

__all__ = ["DISTRIBUTION", "__version__", "installed_at"]

DISTRIBUTION = "optimizer-flows"
"""The name of the distribution on the package index (`pip install optimizer-flows`);
the import packages are `derive` and `numerics`."""


def _read_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


__version__ = _read_version()


def installed_at() -> str:
    """The folder that holds the `derive` package in use (to tell installs apart).

    !!! example
        ```python
        >>> from derive._version import installed_at
        >>> installed_at().endswith("derive")
        True

        ```
    """
    return str(Path(__file__).resolve().parent)
