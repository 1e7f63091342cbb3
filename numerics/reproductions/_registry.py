"""The list of reproductions and the one way their reports are written."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from derive import DeriveError

__all__ = [
    "REPRODUCTIONS",
    "Report",
    "ReproduceFunction",
    "Reproduction",
    "get_reproduction",
    "runtime_and_figures",
    "write_report",
]


@runtime_checkable
class Report(Protocol):
    """What every reproduction returns (see the package docs)."""

    @property
    def passed(self) -> bool: ...

    def table(self) -> str: ...

    def figures(self, out: Path) -> list[Path]: ...

    def to_json(self) -> dict[str, Any]: ...

    def markdown(self, images: str = ".") -> str: ...


class ReproduceFunction(Protocol):
    """The shape of every reproduction's function, `reproduce_NAME(*, quick=False,
    progress=None, **options) -> report`."""

    def __call__(
        self,
        *,
        quick: bool = False,
        progress: Callable[[str], None] | None = None,
        **options: Any,
    ) -> Report: ...


def _numbers(text: str) -> tuple[float, ...]:
    """A comma-separated list of numbers, for reproduction options."""
    import argparse

    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def _integers(text: str) -> tuple[int, ...]:
    """A comma-separated list of whole numbers."""
    import argparse

    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected whole numbers separated by commas, got {text!r}"
        ) from None


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

    def load(self) -> ReproduceFunction:
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
            name="fu-momentum",
            title="when and why momentum accelerates SGD",
            reference="Fu et al., When and why momentum accelerates SGD: an empirical "
            "study, arXiv 2306.09000 (2023)",
            description="""\
SGD against SGD with momentum (PyTorch convention, mu = 0.5 and 0.9) at equal
effective learning rates eta/(1-mu) on the digits MLP, batch sizes from 32 to full
batch: the final training loss over a grid of effective learning rates (one sharded
sweep per batch size), the threshold above which SGDM wins and how the gap grows with
the batch size, the directional sharpness u'Hu/|u|^2 along the update with an
abrupt-sharpening detector, and the linear-stability explanation (at equal effective
rate momentum tolerates (1+mu)/(1-mu) times the sharpness), checked against the
measured stability edges.""",
            module="numerics.reproductions._fu_momentum",
            function="reproduce_fu_momentum",
            options=(
                Option(
                    ("--batch-sizes",),
                    "batch_sizes",
                    {
                        "type": _integers,
                        "default": None,
                        "metavar": "B,B,...",
                        "help": "batch sizes (default 32,64,128,256,512,1797; 1797 is "
                        "full batch)",
                    },
                ),
                Option(
                    ("--etas",),
                    "etas",
                    {
                        "type": _numbers,
                        "default": None,
                        "metavar": "E,E,...",
                        "help": "effective learning rates eta/(1-mu) (default: 16 "
                        "from 0.1 to 30, geometric)",
                    },
                ),
                Option(
                    ("--mus",),
                    "mus",
                    {
                        "type": _numbers,
                        "default": None,
                        "metavar": "M,M,...",
                        "help": "momenta, 0 (SGD) included (default 0,0.5,0.9)",
                    },
                ),
                Option(
                    ("--steps",),
                    "steps",
                    {
                        "type": int,
                        "default": None,
                        "help": "steps per run (default 400; --quick 200)",
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
        Reproduction(
            name="elkabetz-cohen",
            title="gradient descent against gradient flow, and the curvature bound",
            reference="Elkabetz & Cohen, Continuous vs. discrete optimization of "
            "deep neural networks, NeurIPS 2021",
            description="""\
A deep linear network, a relu MLP and a tanh MLP (64 -> 16 -> 16 -> 10) on 128
digits, squared loss, full batch: GD at h = 0.025, 0.05, 0.1, 0.2 against the
gradient flow (diffrax, state tolerances, checked at a hundredth of them) to T = 10;
the distance |theta_k - theta(k h)| over time; the smallest and largest Hessian
eigenvalues along the flow (warm-started LOBPCG); the Elkabetz-Cohen bound
sum_j exp(-int lambda_-) delta_j evaluated on the run; the distance from GD to
GD's modified flows of order 1 and 2. --quick: relu and tanh, three step sizes,
T = 5.""",
            module="numerics.reproductions._elkabetz_cohen",
            function="reproduce_elkabetz_cohen",
            options=(
                Option(
                    ("--step-sizes",),
                    "step_sizes",
                    {
                        "type": _numbers,
                        "default": None,
                        "metavar": "H,H,...",
                        "help": "step sizes (default 0.025,0.05,0.1,0.2; --quick "
                        "0.05,0.1,0.2)",
                    },
                ),
                Option(
                    ("--horizon",),
                    "horizon",
                    {
                        "type": float,
                        "default": None,
                        "metavar": "T",
                        "help": "the horizon, a multiple of every step size "
                        "(default 10; --quick 5)",
                    },
                ),
            ),
        ),
        Reproduction(
            name="large-step",
            title="large steps escape narrow minima; which continuous model sees it",
            reference="Mohtashami, Jaggi & Stich, Special properties of gradient "
            "descent with large learning rates, ICML 2023",
            description="""\
On a convex bowl carrying narrow wells (the toolkit's NarrowWells: the paper's
mechanism, not its function class, whose exact definition was not available): GD's
basin map over 60 step sizes x 400 starts as one sharded jit(vmap) sweep, diverged
runs a category of their own; the largest step converging to each minimum and the
largest staying in each well (refined grids) against linear stability 2/lambda;
the same question asked of the gradient flow, GD's modified flows of order 1-3, the
principal flow and the central flow (exact 1-D basins); a 64-unit tanh MLP on
digits with a learning-rate warm start (large, then small) against small
throughout, at equal training time. --quick: 36 x 160, one network seed.""",
            module="numerics.reproductions._large_step",
            function="reproduce_large_step",
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


def runtime_and_figures(
    total_s: float,
    environment: Mapping[str, Any],
    files: Sequence[Path],
    images: str,
) -> list[str]:
    """The end of a report's Markdown: the wall-clock time and where it ran, then
    every figure (`images` is the folder the Markdown refers to them by)."""
    lines = [
        f"Runtime: {total_s:.1f} s wall clock on "
        f"{environment.get('jax_backend', '?')} "
        f"({environment.get('cpu_count', '?')} cores).",
        "",
        "## Figures",
        "",
    ]
    for p in files:
        lines += [f"![{p.stem}]({images}/{p.name})", ""]
    return lines


def write_report(report: Report, out: str | os.PathLike[str]) -> list[Path]:
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
