"""The certificate's plot: global error against $h$ on log-log axes, one line per
order, with reference slopes, the verdict, and a title that summarises the run."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_record", "VERDICT_COLOURS"]

VERDICT_COLOURS = {
    "passed": "tab:green",
    "failed": "tab:red",
    "inconclusive": "tab:orange",
}


def _fmt(v: float | None, spec: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


def _subtitle(record: dict[str, Any]) -> str:
    s = record["settings"]
    x0 = list(record["loss"].get("x0") or [])
    if len(x0) > 6:
        start = f"{len(x0):,} parameters"
    else:
        start = "x0 = (" + ", ".join(format(v, ".3g") for v in x0) + ")"
    return f"T = {s['T']:.4g}, {start}, {s['solver']} at rtol = atol = {s['rtol']:g}"


def _verdict(record: dict[str, Any]) -> str:
    if "verdict" in record:
        return str(record["verdict"])
    verdicts = [r["verdict"] for r in record["results"]]
    if "fail" in verdicts:
        return "failed"
    return "inconclusive" if "inconclusive" in verdicts else "passed"


def plot_record(
    record: dict[str, Any], title: str, path: str | os.PathLike[str] | None = None
) -> Figure:
    """Draw a verification record (see [`Certificate.plot`][numerics.Certificate.plot]);
    saved to `path` if given."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    r = record
    hs = r["settings"]["h"]
    floor = r["settings"].get("floor")
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ok = [i["status"] == "ok" for i in r["step_sizes"]]
    any_hollow = False
    for res in r["results"]:
        p = res["order"]
        c = colours[p % len(colours)]
        expected = res.get("expected_slope", p + 1)
        pts = [
            (h, e, u)
            for h, e, u, g in zip(hs, res["errors"], res["used"], ok, strict=True)
            if g and e
        ]
        if not pts:
            continue
        used = [(h, e) for h, e, u in pts if u]
        unused = [(h, e) for h, e, u in pts if not u]
        verdict = res["verdict"]
        label = (
            f"order {p}: slope {_fmt(res['slope'], '.2f')} (expected {expected})"
            + ("" if verdict.startswith("pass") else f", {verdict.upper()}")
        )
        if used:
            ax.loglog(*zip(*used, strict=True), "o-", color=c, label=label)
        if unused:
            any_hollow = True
            ax.loglog(
                *zip(*unused, strict=True),
                "o",
                mfc="none",
                color=c,
                label=None if used else label,
            )
        if used:
            h_ref = [min(h for h, _ in used), max(h for h, _ in used)]
            h_top, e_top = max(used)
            e_ref = [e_top * 3 * (h / h_top) ** expected for h in h_ref]
            ax.loglog(h_ref, e_ref, "--", color=c, alpha=0.5, lw=1)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], ls="--", color="grey", alpha=0.6))
    labels.append("reference slope (expected)")
    if any_hollow:
        handles.append(Line2D([], [], ls="none", marker="o", mfc="none", color="grey"))
        labels.append(
            "hollow: at or below the floor"
            + (f" {floor:g}" if floor else "")
            + ", not fitted"
        )
    ax.set_xlabel("step size $h$")
    ax.set_ylabel(
        r"global error $\max_{nh \leq T} \|x_n - x(nh)\|_2$" + "\n(Euclidean norm)"
    )
    # names come from users (spec file names, --name): a `$` would start mathtext
    plain = " ".join(title.split()).replace("$", r"\$")
    ax.set_title(f"{plain}\n{_subtitle(r)}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.tick_params(axis="x", which="minor", labelsize=6)
    ax.legend(handles, labels, fontsize=7, loc="lower right")
    verdict = _verdict(r)
    ax.text(
        0.02,
        0.97,
        verdict.upper(),
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=12 if verdict == "passed" else 14,
        fontweight="bold",
        color=VERDICT_COLOURS.get(verdict, "black"),
    )
    skipped = [i for i in r["step_sizes"] if i["status"] != "ok"]
    if skipped:
        text = "; ".join(f"h = {i['h']:.3g}: {i['status']}" for i in skipped)
        limit = r["settings"].get("stability_limit")
        if limit:
            text += f" (stability limit h < {limit:.3g})"
        fig.text(0.01, 0.005, "not plotted: " + text, fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.03 if skipped else 0, 1, 1))
    if path is not None:
        fig.savefig(path)
        plt.close(fig)
    return fig
