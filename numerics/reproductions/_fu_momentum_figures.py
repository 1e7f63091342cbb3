"""Figures of the Fu et al. reproduction (matplotlib, Agg): final losses against the
effective learning rate, directional sharpness at the threshold, and the batch-size
trend. Diverged runs are drawn as crosses on the top edge, never as data."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from .._sharpening import stability_threshold

if TYPE_CHECKING:
    from ._fu_momentum import FuMomentumReport

__all__ = ["write_figures"]


def _colours(plt: ModuleType) -> list[str]:
    return plt.rcParams["axes.prop_cycle"].by_key()["color"]


def write_figures(report: FuMomentumReport, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    return [
        _final_loss(report, out, plt),
        _sharpness(report, out, plt),
        _batch_size(report, out, plt),
    ]


def _final_loss(report: FuMomentumReport, out: Path, plt: ModuleType) -> Path:
    sw = report.sweep
    nb = len(sw.batch_sizes)
    cols = min(3, nb)
    rows = -(-nb // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 3.4 * rows), dpi=120, squeeze=False
    )
    colours = _colours(plt)
    etas = np.asarray(sw.etas)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = np.exp(np.log(sw.final).mean(axis=-1))
    diverged = np.asarray((sw.diverged_at >= 0).any(axis=-1))
    top = np.nanmax(np.where(diverged, np.nan, loss)) * 2
    for bi, b in enumerate(sw.batch_sizes):
        ax = axes[bi // cols][bi % cols]
        for mi, m in enumerate(sw.mus):
            c = colours[mi % len(colours)]
            ok = ~diverged[bi, mi]
            label = "SGD" if m == 0 else f"SGDM mu={m:g}"
            ax.loglog(etas[ok], loss[bi, mi][ok], "o-", color=c, ms=3, label=label)
            # diverged: a cross on the top edge, one row per momentum
            ax.plot(etas[~ok], np.full((~ok).sum(), top * 1.6**mi), "x", color=c, ms=6)
        row = report.rows[bi]
        if row["threshold"] is not None:
            ax.axvline(row["threshold"], color="grey", ls="--", lw=1)
        ax.set_title(
            f"batch size {b}" + (" (full batch)" if b == sw.n_data else ""), fontsize=9
        )
        ax.set_xlabel(r"effective learning rate $\eta/(1-\mu)$")
        ax.set_ylabel(f"training loss after {sw.steps} steps")
        ax.grid(True, which="both", alpha=0.3)
        if bi == 0:
            ax.legend(fontsize=7)
    for k in range(nb, rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle(
        "SGD vs SGDM at equal effective learning rate (digits MLP); x on the top edge: "
        "diverged; dashed: threshold where SGDM wins",
        fontsize=9,
    )
    fig.tight_layout()
    path = out / "final-loss.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _sharpness(report: FuMomentumReport, out: Path, plt: ModuleType) -> Path:
    sw = report.sweep
    picks = [i for i, r in enumerate(report.rows) if r["threshold"] is not None]
    if len(picks) > 3:
        picks = [picks[0], picks[len(picks) // 2], picks[-1]]
    picks = picks or [0]
    fig, axes = plt.subplots(
        2, len(picks), figsize=(4.4 * len(picks), 6.4), dpi=120, squeeze=False
    )
    colours = _colours(plt)
    steps = sw.record_steps
    for col, bi in enumerate(picks):
        row = report.rows[bi]
        eta = row["threshold"] if row["threshold"] is not None else sw.etas[-1]
        ei = sw.etas.index(eta)
        ax, ax2 = axes[0][col], axes[1][col]
        for mi, m in enumerate(sw.mus):
            c = colours[mi % len(colours)]
            theta = stability_threshold(eta * (1 - m), m)
            s = sw.sharpness[bi, mi, ei, 0] / theta
            label = "SGD" if m == 0 else f"SGDM mu={m:g}"
            good = np.isfinite(s) & (s > 0)
            ax.semilogy(steps[good], s[good], ".-", color=c, lw=1, ms=3, label=label)
            det = report.detections[(sw.batch_sizes[bi], m, eta, sw.seeds[0])]
            if det is not None:
                ax.axvline(steps[det], color=c, ls="--", lw=1)
            loss = sw.losses[bi, mi, ei, 0]
            ok = np.isfinite(loss)
            ax2.semilogy(steps[ok], loss[ok], "-", color=c, lw=1, label=label)
            first = sw.diverged_at[bi, mi, ei, 0]
            if first >= 0:
                ax2.axvline(first, color=c, ls=":", lw=1)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_title(
            f"batch {sw.batch_sizes[bi]}, eta_ef = {eta:.3g} (threshold)\n"
            "directional sharpness / stability limit 2(1+mu)/eta",
            fontsize=8,
        )
        ax.set_xlabel("step")
        ax.set_ylabel(r"$u^\top H u/|u|^2 \,/\, (2(1+\mu)/\eta)$")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        ax2.set_xlabel("step")
        ax2.set_ylabel("training loss (full batch)")
        ax2.grid(True, which="both", alpha=0.3)
        ax2.set_title(
            "dashed: abrupt sharpening detected; dotted: divergence", fontsize=8
        )
    fig.tight_layout()
    path = out / "sharpness.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _batch_size(report: FuMomentumReport, out: Path, plt: ModuleType) -> Path:
    sw = report.sweep
    bs = np.asarray(sw.batch_sizes)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9.0, 3.6), dpi=120)
    th = [r["threshold"] for r in report.rows]
    lo = [r["threshold_below"] for r in report.rows]
    ok = [t is not None for t in th]
    x = bs[ok]
    t = np.asarray([v for v in th if v is not None])
    below = np.asarray(
        [v if v is not None else np.nan for v, o in zip(lo, ok, strict=True) if o]
    )
    ax.semilogx(x, t, "o-", label="first rate where SGDM wins")
    ax.semilogx(x, below, "v:", label="last rate before it")
    ax.set_title("threshold effective rate (grid bracket)", fontsize=8)
    ax.set_xlabel("batch size")
    ax.set_ylabel(r"threshold $\eta_{ef}$")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    gaps = [r["gap"] for r in report.rows]
    ax2.loglog(bs, gaps, "s-", color="C3")
    ax2.set_xlabel("batch size")
    ax2.set_ylabel("best loss SGD / best loss SGDM")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.set_title(f"advantage of SGDM mu={max(sw.mus):g} (tuned rates)", fontsize=8)
    fig.tight_layout()
    path = out / "batch-size.png"
    fig.savefig(path)
    plt.close(fig)
    return path
