"""The list of reproductions and the one way their reports are written."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from derive import DeriveError

__all__ = [
    "REPRODUCTIONS",
    "Report",
    "Reproduction",
    "get_reproduction",
    "write_report",
]


@runtime_checkable
class Report(Protocol):
    """What every reproduction returns (see the package docs)."""

    @property
    def passed(self) -> bool: ...

    def table(self) -> str: ...

    def figures(self, out: Path) -> list[Path]: ...

    def to_json(self) -> dict: ...

    def markdown(self, images: str = ".") -> str: ...


@dataclass(frozen=True)
class Option:
    """A reproduction-specific command-line option: `flags` and `argparse` keywords;
    `dest` is the keyword argument of the reproduction's function."""

    flags: tuple[str, ...]
    dest: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reproduction:
    """One reproduction: its command-line name, what it reproduces, where its function
    lives (imported only when it runs) and its own options."""

    name: str
    title: str
    reference: str
    description: str
    module: str
    function: str
    options: Sequence[Option] = ()

    def load(self) -> Callable[..., Report]:
        """The reproduction's function (imports JAX and the rest)."""
        return getattr(importlib.import_module(self.module), self.function)


REPRODUCTIONS: dict[str, Reproduction] = {
    r.name: r
    for r in (
        Reproduction(
            name="kovachki-stuart",
            title="momentum methods in continuous time",
            reference="Kovachki & Stuart, Continuous time analysis of momentum "
            "methods, JMLR 22 (2021)",
            description="""\
Heavy ball and Nesterov with fixed momentum on a non-convex 2-D loss (double-well)
and on a 13-parameter network:
  (i)   the time-rescaled gradient flow x' = -grad f/(1-beta): error O(h), slope 1;
  (ii)  the first-order modified equation (slope 2) and the second-order-in-time
        equation h(1+beta)/2 x'' + (1-beta) x' [+ h beta H x'] + grad f = 0 (slope 2;
        and its order-2 version, slope 3);
  (iii) the exponentially attractive invariant manifold: the distance of the momentum
        state to the manifold decays like rho^n with rho = beta.""",
            module="numerics.reproductions._kovachki_stuart",
            function="reproduce_kovachki_stuart",
            options=(
                Option(
                    ("--beta",),
                    "beta",
                    {
                        "type": float,
                        "default": 0.5,
                        "help": "the momentum of both methods (default 0.5)",
                    },
                ),
            ),
        ),
        Reproduction(
            name="central-flows",
            title="the edge of stability: central flows and every other model",
            reference="Cohen, Damian, Talwalkar, Kolter & Lee, Understanding "
            "optimization in deep learning with central flows, ICLR 2025",
            description="""\
The digits MLP under MSE (tanh, 2,410 parameters) trained by GD at h = 0.3 and
0.35, scalar RMSProp and RMSProp, all reaching the edge of stability (effective
sharpness at 2), and from the same start: the gradient (stable) flow, GD's modified
flows of order 1 and 2, the principal flow and the central flow. Each model's
distance to the time-averaged run (second-order midpoints), relative to the
distance travelled; the central flow's predicted time-averaged loss against the
smoothed loss. Checks (GD): central flow within 10%, gradient flow beyond 50%,
predicted loss within 10%. --quick: one GD run of 300 steps at h = 0.35.""",
            module="numerics.reproductions._central_flows",
            function="reproduce_central_flows",
        ),
    )
}
"""Every reproduction, by its command-line name."""


def get_reproduction(name: str) -> Reproduction:
    """The reproduction called `name` ([`DeriveError`][derive.DeriveError] if none).

    !!! example
        ```python
        >>> from numerics.reproductions import get_reproduction
        >>> get_reproduction("kovachki-stuart").reference[:18]
        'Kovachki & Stuart,'

        ```
    """
    try:
        return REPRODUCTIONS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(REPRODUCTIONS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DeriveError(
            f"unknown reproduction {name!r}; the reproductions are "
            f"{', '.join(REPRODUCTIONS)}.{hint}",
            "Run 'derive reproduce --help' for the list.",
        ) from None


def write_report(report: Report, out: str | os.PathLike) -> list[Path]:
    """Write a report into the folder `out`: its figures, `summary.json` (the table
    in machine-readable form) and `report.md` (the whole report, figures linked).

    **Returns:** the paths written, figures first.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    files = list(report.figures(folder))
    summary = folder / "summary.json"
    summary.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    markdown = folder / "report.md"
    markdown.write_text(report.markdown(), encoding="utf-8")
    return [*files, summary, markdown]
