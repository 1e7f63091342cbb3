"""Figures of the central-flows reproduction: one PNG per run, three panels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._side_by_side import TRACKING

__all__ = ["write_figures", "file_name"]

COLOURS = {
    "gradient-flow": "tab:red",
    "modified-1": "tab:orange",
    "modified-2": "tab:purple",
    "principal-flow": "tab:green",
    "central-flow": "black",
}


def file_name(run) -> str:
    return f"run-{run.optimizer}-h{run.h:g}.png".replace("e-0", "e-")


def write_figures(report, out: Path) -> list[Path]:
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


def _loss_panel(ax, run) -> None:
    t = run.times
    ax.semilogy(
        t,
        run.run.losses,
        color="tab:blue",
        alpha=0.25,
        lw=0.8,
        label="run: loss f(x_n)",
    )
    ax.semilogy(
        t,
        run.averaged_losses,
        color="tab:blue",
        lw=1.6,
        label="run: Gaussian-smoothed loss",
    )
    if run.central is not None:
        ax.semilogy(
            t,
            run.central.losses,
            color="black",
            lw=1.0,
            ls=":",
            label="central flow: f(x(t))",
        )
        ax.semilogy(
            t,
            run.central.predicted_losses,
            color="black",
            lw=1.4,
            ls="--",
            label="central flow: predicted time average",
        )
    ax.set_xlabel("time t = n h")
    ax.set_ylabel("training loss")
    ax.set_title("loss: observed and predicted", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _sharpness_panel(ax, run) -> None:
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


def _distance_panel(ax, run) -> None:
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
