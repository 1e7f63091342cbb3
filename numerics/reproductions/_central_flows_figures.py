"""Figures of the central-flows reproduction: one PNG per run, three panels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._side_by_side import TRACKING, SideBySide

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ._central_flows import CentralFlowsReport

__all__ = ["write_figures", "file_name"]

COLOURS = {
    "gradient-flow": "tab:red",
    "modified-1": "tab:orange",
    "modified-2": "tab:purple",
    "principal-flow": "tab:green",
    "central-flow": "black",
}


def file_name(run: SideBySide) -> str:
    """The PNG of a run: `run-<optimizer>-h<h>.png`."""
    return f"run-{run.optimizer}-h{run.h:g}.png".replace("e-0", "e-")


def write_figures(report: CentralFlowsReport, out: Path) -> list[Path]:
    """One PNG per run in `out`: loss, effective sharpness and distances over time."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files = []
    for run in report.runs:
        fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.6), dpi=110)
        _loss_panel(axes[0], run)
        _sharpness_panel(axes[1], run)
        _distance_panel(axes[2], run)
        fig.suptitle(
            f"{run.label} on {report.settings['network']['description']}"
            + (
                ""
                if run.onset is None
                else f"; edge of stability from t = {run.onset:.4g}"
            ),
            fontsize=10,
        )
        fig.tight_layout()
        path = out / file_name(run)
        fig.savefig(path)
        plt.close(fig)
        files.append(path)
    return files


def _loss_panel(ax: Axes, run: SideBySide) -> None:
    curves: list[tuple[NDArray[np.float64], str, dict[str, Any]]] = [
        (
            run.run.losses,
            "run: loss f(x_n)",
            dict(color="tab:blue", alpha=0.25, lw=0.8),
        ),
        (
            run.averaged_losses,
            "run: Gaussian-smoothed loss",
            dict(color="tab:blue", lw=1.6),
        ),
    ]
    if run.central is not None:
        curves += [
            (
                run.central.losses,
                "central flow: f(x(t))",
                dict(color="black", lw=1.0, ls=":"),
            ),
            (
                run.central.predicted_losses,
                "central flow: predicted time average",
                dict(color="black", lw=1.4, ls="--"),
            ),
        ]
    for values, label, style in curves:
        ax.semilogy(run.times, values, label=label, **style)
    ax.set_xlabel("time t = n h")
    ax.set_ylabel("training loss")
    ax.set_title("loss: observed and predicted", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _sharpness_panel(ax: Axes, run: SideBySide) -> None:
    ax.plot(
        run.sharpness_times,
        run.sharpness[:, 0],
        ".",
        color="tab:blue",
        ms=3,
        label="run: h lambda_1",
    )
    if run.central is not None:
        eig = run.central.eigenvalues
        for i in range(min(eig.shape[1], 4)):
            ax.plot(
                run.times,
                eig[:, i],
                color="black",
                lw=1.0 if i == 0 else 0.6,
                alpha=1.0 if i == 0 else 0.5,
                label="central flow: h lambda_i, i <= 4" if i == 0 else None,
            )
    ax.axhline(2.0, color="grey", ls="--", lw=1, label="2 (the edge of stability)")
    what = "H u = lambda u" if run.optimizer == "gd" else "H u = lambda D u"
    ax.set_xlabel("time t = n h")
    ax.set_ylabel(f"effective sharpness h lambda ({what})")
    ax.set_title("sharpness against the stability threshold", fontsize=9)
    top = np.nanmax(run.sharpness[:, 0])
    ax.set_ylim(0, max(2.6, min(top * 1.05, 6.0)))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def _distance_panel(ax: Axes, run: SideBySide) -> None:
    for name, m in run.models.items():
        if m.distance is None:
            continue
        d = np.asarray(m.distance)
        ok = np.isfinite(d) & (d > 0)
        if not ok.any():
            continue
        label = f"{name}: max {m.max_relative_distance:.3f}"
        if m.note:
            label += " (stops)" if "complex" in m.note or "stopped" in m.note else ""
        ax.semilogy(
            run.times[ok], d[ok], color=COLOURS.get(name, None), lw=1.3, label=label
        )
    ax.axhline(TRACKING, color="grey", ls="--", lw=1, label=f"{TRACKING:.0%}")
    ax.set_xlabel("time t = n h")
    ax.set_ylabel("|model - time-averaged run| / distance travelled")
    ax.set_title("which model tracks the run", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
