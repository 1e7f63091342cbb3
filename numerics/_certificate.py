"""The verification certificate: a JSON record, a readable table and a log-log plot.

The JSON record (schema `optimizer-flows.verification/1`) holds everything needed to judge and
reproduce a verification:

- `schema`, `passed`: the format tag; whether every order passed.
- `optimizer`: name, states, exact parameters, numeric values of the symbolic ones,
  the traced program, the spec text.
- `order`, `conventions`: the highest order tested; the toolkit's conventions.
- `loss`: name, expression, variables, start `x0`, horizon, scale note, minima.
- `flow`: the generated module: name, mode, `sha256` (of the whole file),
  `content_sha256` (the hash stated in its header), the terms.
- `settings`: `T`, `h`, `h_range`, `epsilon`, `kappa`, `leading_coefficient`,
  `curvature`, `stability_limit`, `initialisation`, `solver`, `rtol`, `atol`,
  `max_steps`, `tolerance`, `floor`, the error measure.
- `step_sizes`: per $h$: `steps`, `status` (`ok`, `unstable`, `diverged`,
  `flow failed`), `flow_steps`, details and the divergence step.
- `results`: per order $p$: `expected_slope`, `slope`, `passed`, `verdict`, `errors`
  (per $h$, `null` where not measured), `used`, `local_slopes`.
- `environment`: Python, platform, machine, CPU count, JAX backend and devices,
  package versions (jax, diffrax, sympy, derive, ...), x64, creation time.
- `timing_s`: wall-clock seconds per stage.
- `files`: what [`Certificate.write`][numerics.Certificate.write] wrote.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Certificate", "environment", "CERTIFICATE_KEYS"]

CERTIFICATE_KEYS = (
    "schema",
    "passed",
    "optimizer",
    "order",
    "conventions",
    "loss",
    "flow",
    "settings",
    "step_sizes",
    "results",
    "environment",
    "timing_s",
)


def environment() -> dict[str, Any]:
    """Machine and package versions, for the record."""
    import datetime
    import platform
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for dist in (
        "optimizer-flows",
        "jax",
        "jaxlib",
        "diffrax",
        "equinox",
        "sympy",
        "python-flint",
        "numpy",
        "scipy",
        "matplotlib",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    import derive

    versions["derive"] = derive.__version__
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "packages": versions,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    try:
        import jax

        info["jax_backend"] = jax.default_backend()
        info["devices"] = [str(d) for d in jax.devices()]
        info["x64"] = bool(jax.config.read("jax_enable_x64"))
    except Exception:  # pragma: no cover - JAX is a dependency of numerics
        pass
    return info


def _fmt(v: float | None, spec: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, spec)


class Certificate:
    """The outcome of [`verify`][numerics.verify].

    **Attributes:**

    - `record`: the JSON-ready dict (see the module docs for its keys).
    - `source`: the generated module's text (when made by `verify`).
    - `passed`: whether every order passed.

    !!! example
        ```python
        >>> from numerics import Certificate
        >>> cert = Certificate.from_json(
        ...     '{"passed": true, "order": 0, "results": [{"order": 0, "slope": 1.01, '
        ...     '"expected_slope": 1, "passed": true, "verdict": "pass", '
        ...     '"errors": [0.1, 0.05], "used": [true, true]}], '
        ...     '"settings": {"h": [0.2, 0.1]}}')
        >>> cert.passed, cert.slopes
        (True, [1.01])

        ```
    """

    def __init__(self, record: dict[str, Any], source: str | None = None):
        self.record = record
        self.source = source

    # ------------------------------------------------------------ views
    @property
    def passed(self) -> bool:
        return bool(self.record["passed"])

    @property
    def slopes(self) -> list[float | None]:
        """The fitted slope per order."""
        return [r["slope"] for r in self.record["results"]]

    @property
    def hs(self) -> list[float]:
        return list(self.record["settings"]["h"])

    @property
    def errors(self) -> list[list[float | None]]:
        """`errors[p][k]`: the global error of order `p` at step size `hs[k]`."""
        return [r["errors"] for r in self.record["results"]]

    def __repr__(self) -> str:
        opt = self.record.get("optimizer", {}).get("name", "?")
        return (
            f"Certificate({opt}, order {self.record.get('order')}: "
            f"{'PASSED' if self.passed else 'FAILED'}, slopes "
            f"{[None if s is None else round(s, 3) for s in self.slopes]})"
        )

    def title(self) -> str:
        r = self.record
        opt = r["optimizer"]
        values = {**opt["parameters"], **opt["numeric_parameters"]}
        params = ", ".join(f"{k} = {v}" for k, v in values.items())
        params = f" ({params})" if params else ""
        name = f"{opt['name']}{params}"
        return f"{name} through order {r['order']} on {r['loss']['name']}"

    def summary_lines(self) -> list[str]:
        """The header lines of the table: what was compared, where, how."""
        r = self.record
        s = r["settings"]
        flow = r["flow"]
        lines = [
            f"Verification of {self.title()}: {'PASSED' if self.passed else 'FAILED'}",
            f"flow: generated JAX module {flow['module']} ({flow['mode']}), sha256 "
            f"{flow['sha256'][:16]}...",
            f"iterates from: {s['initialisation']}; x0 = {_short(r['loss'].get('x0'))}",
            f"T = {s['T']:.6g}; h from {s['h_range'][0]:.4g} to {s['h_range'][1]:.4g} "
            f"({len(s['h'])} values; eps = h L kappa from {min(s['epsilon']):.3g} to "
            f"{max(s['epsilon']):.3g}, L = {s['curvature']['max_abs']:.4g}, "
            f"kappa = {s['kappa']:.4g})",
            f"{s['curvature'].get('kind', 'curvature')} along the flow: "
            f"{s['curvature']['bottom']:.4g} to "
            f"{s['curvature']['top']:.4g}; stability limit "
            + (f"h < {s['stability_limit']:.4g}" if s["stability_limit"] else "none"),
            f"{s['solver']}, rtol = {s['rtol']:g}, atol = {s['atol']:g}; pass: "
            f"slope >= p + 1 - {s['tolerance']:g} over >= 3 errors above "
            f"{s['floor']:g}",
        ]
        return lines

    def rows(self) -> list[list[str]]:
        """Table rows: order, expected, observed slope, verdict, error range."""
        out = []
        for res in self.record["results"]:
            errs = [
                e for e, u in zip(res["errors"], res["used"], strict=True) if u and e
            ]
            span = f"{min(errs):.2e} .. {max(errs):.2e}" if errs else "-"
            out.append(
                [
                    str(res["order"]),
                    str(res["expected_slope"]),
                    _fmt(res["slope"], ".3f"),
                    res["verdict"],
                    span,
                ]
            )
        return out

    def step_rows(self) -> list[list[str]]:
        """Per step size: h, epsilon, steps, status, the error of every order."""
        out = []
        errs = self.errors
        for k, item in enumerate(self.record["step_sizes"]):
            row = [
                f"{item['h']:.3g}",
                f"{item['epsilon']:.3g}",
                str(item["steps"]),
                item["status"],
            ]
            row += [_fmt(errs[p][k], ".2e") for p in range(len(errs))]
            out.append(row)
        return out

    def table(self) -> str:
        """A readable plain-text report."""
        lines = self.summary_lines() + [""]
        head = ["order", "expected", "observed", "verdict", "errors used"]
        rows = self.rows()
        lines += _grid(head, rows)
        lines.append("")
        head2 = ["h", "eps", "steps", "status"] + [
            f"e{p}" for p in range(len(self.record["results"]))
        ]
        lines += _grid(head2, self.step_rows())
        notes = [i["detail"] for i in self.record["step_sizes"] if i.get("detail")]
        lines += [f"note: {n}" for n in notes]
        return "\n".join(lines)

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return self.record

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.record, indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Certificate:
        """Read a certificate back from its JSON text."""
        return cls(json.loads(text))

    def write(self, out: str | os.PathLike[str]) -> dict[str, str]:
        """Write `certificate.json`, `errors.png` and the generated module to `out`.

        **Returns:** `{"json": ..., "plot": ..., "module": ...}` (paths as strings),
        also recorded under `files`.
        """
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        files = {
            "json": str(folder / "certificate.json"),
            "plot": str(folder / "errors.png"),
        }
        if self.source is not None:
            module = folder / f"{self.record['flow']['module']}.py"
            module.write_text(self.source, encoding="utf-8")
            files["module"] = str(module)
        self.record["files"] = files
        self.plot(files["plot"])
        Path(files["json"]).write_text(self.to_json() + "\n", encoding="utf-8")
        return files

    # ------------------------------------------------------------ plot
    def plot(self, path: str | os.PathLike[str] | None = None) -> Figure:
        """Log-log plot of the global error against $h$, with reference slopes.

        Only step sizes with status `ok` are drawn; the others are listed under the
        axes. Errors left out of a fit (below the floor) are drawn hollow.

        **Returns:** the matplotlib figure (saved to `path` if given).
        """
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        r = self.record
        hs = r["settings"]["h"]
        fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        ok = [i["status"] == "ok" for i in r["step_sizes"]]
        for res in r["results"]:
            p = res["order"]
            c = colours[p % len(colours)]
            pts = [
                (h, e, u)
                for h, e, u, g in zip(hs, res["errors"], res["used"], ok, strict=True)
                if g and e
            ]
            if not pts:
                continue
            used = [(h, e) for h, e, u in pts if u]
            unused = [(h, e) for h, e, u in pts if not u]
            label = f"order {p}: slope {_fmt(res['slope'], '.2f')} (expected {p + 1})"
            if used:
                ax.loglog(*zip(*used, strict=True), "o-", color=c, label=label)
            if unused:
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
                e_ref = [e_top * 3 * (h / h_top) ** (p + 1) for h in h_ref]
                ax.loglog(h_ref, e_ref, "--", color=c, alpha=0.5, lw=1)
        ax.plot([], [], "--", color="grey", alpha=0.6, label="reference slope p + 1")
        ax.set_xlabel("step size $h$")
        ax.set_ylabel(r"global error $\max_{nh \leq T} |x_n - x(nh)|$")
        s = r["settings"]
        x0 = _short(r["loss"].get("x0"), fmt=".3g", brackets=False)
        ax.set_title(
            f"{self.title()}\nT = {s['T']:.4g}, x0 = ({x0}), {s['solver']} at "
            f"rtol = atol = {s['rtol']:g}",
            fontsize=9,
        )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
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


def _grid(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return [fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [
        fmt.format(*row) for row in rows
    ]


def _short(
    values: Iterable[float] | None,
    fmt: str = "",
    brackets: bool = True,
    limit: int = 6,
) -> str:
    """A readable start point: all coordinates when few, else the first ones and the
    count (a network's parameters are kept whole in the JSON record, not in text)."""
    values = list(values or [])
    shown = [format(v, fmt) if fmt else repr(v) for v in values[:limit]]
    if len(values) > limit:
        shown.append(f"... ({len(values)} values)")
    body = ", ".join(shown)
    return f"[{body}]" if brackets else body
