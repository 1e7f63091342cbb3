"""Figures of the Elkabetz-Cohen reproduction: one PNG per network, three panels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .._gd_versus_flow import GDVersusFlow
    from ._elkabetz_cohen import ElkabetzCohenReport

__all__ = ["write_figures", "file_name"]


def file_name(label: str) -> str:
    return "gd-vs-flow-" + label.replace(" ", "-") + ".png"


def write_figures(report: ElkabetzCohenReport, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files = []
    for label, res in report.results.items():
        fig, axes = plt.subplots(1, 3, figsize=(15.5, 4.6), dpi=110)
        _distance_panel(axes[0], res)
        _curvature_panel(axes[1], res)
        _order_panel(axes[2], res)
        fig.suptitle(
            f"{label}: {report.networks[label]['description']}, "
            f"{report.networks[label]['n_params']} parameters",
            fontsize=10,
        )
        fig.tight_layout()
        path = out / file_name(label)
        fig.savefig(path)
        plt.close(fig)
        files.append(path)
    return files


def _distance_panel(ax: Any, res: GDVersusFlow) -> None:
    colours = [
        "tab:blue",
        "tab:orange",
        "tab:green",
        "tab:red",
        "tab:purple",
        "tab:brown",
    ]
    for r, c in zip(res.runs, colours * 3, strict=False):
        if r.diverged_at is not None:
            continue
        t = r.times[1:]
        ax.semilogy(t, r.distance[1:], color=c, lw=1.6, label=f"h = {r.h:g}: to GF")
        ax.semilogy(t, r.bound[1:], color=c, lw=1.0, ls="--")
        for p, style in ((1, ":"), (2, "-.")):
            d = r.modified.get(p)
            if d is not None:
                ax.semilogy(
                    t, np.where(d[1:] > 0, d[1:], np.nan), color=c, lw=1.0, ls=style
                )
    ax.plot([], [], "k--", lw=1.0, label="bound (λ₋)")
    ax.plot([], [], "k:", lw=1.0, label="to modified flow 1")
    ax.plot([], [], "k-.", lw=1.0, label="to modified flow 2")
    ax.set_xlabel("t = k h")
    ax.set_ylabel("|θ_k − θ(t_k)|")
    ax.set_title("GD against gradient flow", fontsize=10)
    ax.legend(fontsize=7, ncol=2)


def _curvature_panel(ax: Any, res: GDVersusFlow) -> None:
    t = res.eig_times
    ax.plot(t, res.lambda_max, color="tab:red", label="λ_max(H) on the flow")
    ax.plot(t, res.lambda_min, color="tab:blue", label="λ_min(H) on the flow")
    ax.axhline(0.0, color="grey", lw=0.6)
    for r in res.runs:
        ax.axhline(2.0 / r.h, color="tab:red", lw=0.6, ls=":")
    top = max(
        float(np.max(res.lambda_max)) * 1.3, 1.05 * 2.0 / max(r.h for r in res.runs)
    )
    ax.set_ylim(min(float(np.min(res.lambda_min)) * 1.3, -0.1), top)
    ax.set_xlabel("t")
    ax.set_ylabel("eigenvalue")
    ax.set_title("extreme Hessian eigenvalues along the flow (2/h dotted)", fontsize=10)
    ax.legend(fontsize=7)


def _order_panel(ax: Any, res: GDVersusFlow) -> None:
    ok = [r for r in res.runs if r.diverged_at is None]
    hs = np.array([r.h for r in ok])
    slopes = res.slopes()
    series = [("gradient-flow", [r.distance[-1] for r in ok], "tab:red")]
    for p, c in ((1, "tab:orange"), (2, "tab:purple")):
        if all(p in r.modified for r in ok):
            series.append((f"modified-{p}", [r.modified[p][-1] for r in ok], c))
    for name, values, c in series:
        ax.loglog(hs, values, "o-", color=c, label=f"{name} (slope {slopes[name]:.2f})")
    ax.loglog(hs, [r.bound[-1] for r in ok], "k--", lw=1.0, label="bound at T")
    ax.set_xlabel("h")
    ax.set_ylabel("distance at T")
    ax.set_title("distance at T against h", fontsize=10)
    ax.legend(fontsize=7)
