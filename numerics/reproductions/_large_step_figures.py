"""Figures of the large-step reproduction: GD's basin map with the loss, every
model's map, agreement against h, and the warm-start network."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._basins import DIVERGED, UNSETTLED

if TYPE_CHECKING:
    from ._large_step import LargeStepReport

__all__ = ["write_figures"]

UNDEFINED = -4


def _colours(n_wells: int) -> tuple[Any, list[str], list[int]]:
    from matplotlib.colors import ListedColormap

    codes = [DIVERGED, UNDEFINED, 0, *range(1, n_wells + 1)]
    names = [
        "diverged",
        "model not real / undefined",
        "global minimum",
        *[f"well {i}" for i in range(1, n_wells + 1)],
    ]
    palette = [
        "black",
        "lightgrey",
        "tab:green",
        "tab:orange",
        "tab:blue",
        "tab:purple",
        "tab:brown",
    ]
    return ListedColormap(palette[: len(codes)]), names, codes


def _map(
    ax: Any,
    h: np.ndarray,
    x0: np.ndarray,
    regions: np.ndarray,
    n_wells: int,
    title: str,
) -> None:
    cmap, _, codes = _colours(n_wells)
    index = np.zeros(regions.shape, int)
    for k, c in enumerate(codes):
        index[regions == c] = k
    edges_h = np.sqrt(h[1:] * h[:-1])
    edges_h = np.concatenate(
        [[h[0] ** 2 / edges_h[0]], edges_h, [h[-1] ** 2 / edges_h[-1]]]
    )
    dx = x0[1] - x0[0]
    edges_x = np.concatenate([x0 - dx / 2, [x0[-1] + dx / 2]])
    ax.pcolormesh(
        edges_h,
        edges_x,
        index.T,
        cmap=cmap,
        vmin=-0.5,
        vmax=len(codes) - 0.5,
        shading="flat",
    )
    ax.set_xscale("log")
    ax.set_xlabel("step size h")
    ax.set_ylabel("start x0")
    ax.set_title(title, fontsize=9)


def _thresholds(ax: Any, report: LargeStepReport) -> None:
    for m in report.minima:
        ax.axvline(m.threshold, color="red", lw=0.8, ls="--")
    for t in report.thresholds:
        if t.kind == "stays" and np.isfinite(t.measured):
            ax.axvline(t.measured, color="red", lw=0.8, ls=":")


def write_figures(report: LargeStepReport, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    out.mkdir(parents=True, exist_ok=True)
    files = []
    n_wells = len(report.minima) - 1
    gd = report.gd
    h, x0 = gd.h, gd.x0[:, 0]
    cmap, names, codes = _colours(n_wells)
    handles = [Patch(color=cmap(k), label=n) for k, n in enumerate(names)]

    # 1. the loss and GD's basin map
    fig, axes = plt.subplots(
        1, 2, figsize=(13.5, 4.8), dpi=110, gridspec_kw={"width_ratios": [1, 2.2]}
    )
    xs = np.linspace(x0[0], x0[-1], 4001)
    fs = np.array([float(report.wells.loss(np.array([v]))) for v in xs])
    axes[0].plot(fs, xs, color="black", lw=1.0)
    for i, m in enumerate(report.minima):
        axes[0].plot(
            m.value,
            m.position[0],
            "o",
            ms=4,
            color=cmap(codes.index(i)),  # the colour of its basin in the map
            label=f"{m.label}: λ = {m.curvature:.3g}, 2/λ = {m.threshold:.3g}",
        )
    axes[0].set_xlabel("f(x)")
    axes[0].set_ylabel("x")
    axes[0].set_title("the loss (bowl with narrow wells)", fontsize=9)
    axes[0].legend(fontsize=7)
    regions = np.where(gd.category == UNSETTLED, report.gd_region, report.gd_region)
    _map(
        axes[1],
        h,
        x0,
        regions,
        n_wells,
        "where GD ends (cycling runs by the centre of their cycle); dashed: 2/λ, "
        "dotted: measured escape",
    )
    _thresholds(axes[1], report)
    axes[1].legend(handles=handles, fontsize=7, loc="lower left")
    fig.tight_layout()
    path = out / "basin-map-gd.png"
    fig.savefig(path)
    plt.close(fig)
    files.append(path)

    # 2. every model's map
    names_m = list(report.predictions)
    cols = 3
    rows = int(np.ceil(len(names_m) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(15.0, 4.0 * rows), dpi=100, squeeze=False
    )
    for ax, name in zip(axes.ravel(), names_m, strict=False):
        p = report.predictions[name]
        upto = p.predicts_up_to
        _map(
            ax,
            h,
            x0,
            p.regions,
            n_wells,
            f"{name}: how GD ends up to h = {p.predicts_outcome_up_to:.3g}, "
            f"the well up to {upto:.3g}",
        )
        _thresholds(ax, report)
    for ax in axes.ravel()[len(names_m) :]:
        ax.axis("off")
    axes[0, 0].legend(handles=handles, fontsize=6, loc="lower left")
    fig.tight_layout()
    path = out / "basin-map-models.png"
    fig.savefig(path)
    plt.close(fig)
    files.append(path)

    # 3. agreement with GD against h, and the network
    fig, axes = plt.subplots(1, 2, figsize=(13.5, 4.6), dpi=110)
    for k, (name, p) in enumerate(report.predictions.items()):
        c = f"C{k}"
        axes[0].semilogx(h, p.outcome_agreement, label=f"{name}: how", lw=1.4, color=c)
        axes[0].semilogx(h, p.agreement, lw=0.9, ls=":", color=c)
    for m in report.minima:
        axes[0].axvline(m.threshold, color="red", lw=0.8, ls="--")
    axes[0].set_xlabel("step size h")
    axes[0].set_ylabel("fraction of starts where the model agrees with GD")
    axes[0].set_title(
        "how GD ends (solid) and in which well (dotted); dashed: 2/λ", fontsize=9
    )
    axes[0].legend(fontsize=7)
    _network_panel(axes[1], report)
    fig.tight_layout()
    path = out / "models-and-network.png"
    fig.savefig(path)
    plt.close(fig)
    files.append(path)
    return files


def _network_panel(ax: Any, report: LargeStepReport) -> None:
    runs = [r for r in report.network if not r.diverged]
    labels = sorted({r.label for r in runs}, key=lambda s: (s != "small throughout", s))
    for k, label in enumerate(labels):
        sel = [r for r in runs if r.label == label]
        ax.plot(
            [k] * len(sel),
            [r.final_sharpness for r in sel],
            "o",
            color="tab:red",
            label="final sharpness" if k == 0 else None,
        )
        after = [
            r.sharpness_after_large for r in sel if r.sharpness_after_large is not None
        ]
        if after:
            ax.plot(
                [k + 0.1] * len(after),
                after,
                "s",
                color="tab:blue",
                label="after the large phase" if k == 1 else None,
            )
            large = sel[0].large or 1.0
            ax.plot(
                [k - 0.2, k + 0.2], [2 / large] * 2, color="tab:blue", lw=0.8, ls="--"
            )
        for r in sel:
            ax.annotate(
                f"test {r.test_accuracy:.3f}",
                (k, r.final_sharpness),
                fontsize=6,
                xytext=(4, 0),
                textcoords="offset points",
            )
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("sharpness λ_max")
    ax.set_title(
        "digits MLP: warm start against small throughout (dashed: 2/h_large)",
        fontsize=9,
    )
    ax.legend(fontsize=7)
