"""What every JSON record of a derivation starts with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .._version import DISTRIBUTION, __version__

__all__ = ["toolkit", "describe_loss"]


def toolkit() -> dict[str, str]:
    """`{"name": distribution, "version": ...}`, the producer of a record."""
    return {"name": DISTRIBUTION, "version": __version__}


def describe_loss(loss: object, variables: Iterable[object]) -> dict[str, Any]:
    """The `loss` entry of a record on a concrete loss."""
    return {"expression": str(loss), "variables": [str(v) for v in variables]}
