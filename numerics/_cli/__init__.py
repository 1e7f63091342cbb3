"""The sub-commands that `numerics` adds to the `derive` command line.

Each module is a plug-in registered in `pyproject.toml` under the entry-point group
`derive.commands`; importing it is cheap (no JAX): JAX, diffrax and matplotlib are
imported by the handlers, after [`require_jax`][numerics._cli.require_jax] has checked
that they are installed.
"""

from __future__ import annotations

import importlib

from derive import DISTRIBUTION, DeriveError

__all__ = ["require_jax"]

_NEEDED = ("jax", "diffrax", "equinox", "matplotlib", "rich", "sklearn", "clarabel")


def require_jax(command: str) -> None:
    """Raise a [`DeriveError`][derive.DeriveError] with the install hint when the
    `jax` extra (JAX, diffrax, equinox, matplotlib, rich, scikit-learn, Clarabel) is
    missing."""
    missing = []
    for name in _NEEDED:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise DeriveError(
            f"'derive {command}' runs in JAX and needs the 'jax' extra, which is not "
            f"installed (missing: {', '.join(missing)}).",
            f"Install it with: pip install '{DISTRIBUTION}[jax]' (from a checkout: "
            "pip install -e '.[jax]').",
        )
