"""The verification certificate: a JSON record, a readable table and a log-log plot.

The JSON record (schema `optimizer-flows.verification/1`) holds everything needed to judge and
reproduce a verification:

- `schema`, `passed`, `verdict`: the format tag; whether every order passed; the
  outcome, `"passed"`, `"failed"` (an order's slope is below the expected one) or
  `"inconclusive"` (no order failed, but one could not be decided).
- `optimizer`: name, states, exact parameters, numeric values of the symbolic ones,
  the traced program, the spec text.
- `order`, `conventions`: the highest order tested; the toolkit's conventions.
- `loss`: name, expression, variables, start `x0`, horizon, scale note, minima.
- `flow`: the generated module: name, mode, `sha256` (of the whole file),
  `content_sha256` (the hash stated in its header), the terms.
- `settings`: `T`, `h`, `h_range`, `epsilon`, `kappa`, `leading_coefficient`,
  `curvature`, `stability_limit`, `method_order`, `expected_slopes`, `band_ratio`,
  `T_shortened_from`, `max_iterations`, `chunk`, `memory_budget_bytes`, `notes`,
  `initialisation`, `solver`, `rtol`, `atol`, `max_steps`, `tolerance`, `floor`, the
  error measure.
- `step_sizes`: per $h$: `steps`, `status` (`ok`, `unstable`, `diverged`,
  `flow failed`), `flow_steps`, details and the divergence step.
- `results`: per order $p$: `expected_slope`, `slope`, `passed`, `verdict` (`pass`,
  `pass (above expected)`, `fail`, `inconclusive`), `reason` and `advice` (for a
  failed or inconclusive order), `errors` (per $h$, `null` where not measured),
  `used`, `local_slopes`.
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

from ._output import atomic_folder, check_output

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Certificate", "environment", "CERTIFICATE_KEYS", "check_output"]

CERTIFICATE_KEYS = (
    "schema",
    "passed",
    "verdict",
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
    - `verdict`: `"passed"`, `"failed"` (an order's slope is below the expected one)
      or `"inconclusive"` (no order failed, one could not be decided); `derive
      verify` exits with 0, 1 or 3 accordingly.

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
    def verdict(self) -> str:
        """`"passed"`, `"failed"` or `"inconclusive"` (records written before the
        verdict was recorded: derived from the orders' verdicts)."""
        if "verdict" in self.record:
            return str(self.record["verdict"])
        verdicts = [r["verdict"] for r in self.record["results"]]
        if "fail" in verdicts:
            return "failed"
        if "inconclusive" in verdicts:
            return "inconclusive"
        return "passed" if self.passed else "failed"

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
            f"{self.verdict.upper()}, slopes "
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
            f"Verification of {self.title()}: {self.verdict.upper()}",
            f"flow: generated JAX module {flow['module']} ({flow['mode']}), sha256 "
            f"{flow['sha256'][:16]}...",
            f"iterates from: {s['initialisation']}; x0 = {_start_text(r['loss'])}",
            f"T = {s['T']:.6g}; h from {s['h_range'][0]:.4g} to {s['h_range'][1]:.4g} "
            f"({len(s['h'])} values; eps = h L kappa from {min(s['epsilon']):.3g} to "
            f"{max(s['epsilon']):.3g}, L = {s['curvature']['max_abs']:.4g}, "
            f"kappa = {s['kappa']:.4g})",
            f"{s['curvature'].get('kind', 'curvature')} along the flow: "
            f"{s['curvature']['bottom']:.4g} to "
            f"{s['curvature']['top']:.4g}; stability limit "
            + (f"h < {s['stability_limit']:.4g}" if s["stability_limit"] else "none"),
            f"{s['solver']}, rtol = {s['rtol']:g}, atol = {s['atol']:g}; pass: "
            f"slope >= expected - {s['tolerance']:g} over >= 3 errors above "
            f"{s['floor']:g}",
        ]
        lines += [f"note: {n}" for n in s.get("notes", [])]
        return lines

    def explanations(self) -> list[str]:
        """Why each failed or inconclusive order is so, and what to change."""
        out = []
        for res in self.record["results"]:
            if res.get("reason"):
                text = f"order {res['order']} {res['verdict']}: {res['reason']}."
                if res.get("advice"):
                    text += f" {res['advice']}"
                out.append(text)
        return out

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
        lines += self.explanations()
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

    def write(
        self, out: str | os.PathLike[str], *, overwrite: bool = False
    ) -> dict[str, str]:
        """Write `certificate.json`, `errors.png` and the generated module to the
        folder `out`, atomically: everything is written into a temporary folder beside
        it, which then takes its place, so a failure half-way leaves any earlier
        results whole. An existing folder with files in it is refused unless
        `overwrite` (then it is replaced as a whole).

        **Returns:** `{"json": ..., "plot": ..., "module": ...}` (paths as strings),
        also recorded under `files`.
        """
        folder = Path(out)
        files = {
            "json": str(folder / "certificate.json"),
            "plot": str(folder / "errors.png"),
        }
        if self.source is not None:
            files["module"] = str(folder / f"{self.record['flow']['module']}.py")
        try:
            with atomic_folder(folder, overwrite=overwrite) as scratch:
                if self.source is not None:
                    name = Path(files["module"]).name
                    (scratch / name).write_text(self.source, encoding="utf-8")
                self.record["files"] = files
                self.plot(scratch / "errors.png")
                (scratch / "certificate.json").write_text(
                    self.to_json() + "\n", encoding="utf-8"
                )
        except BaseException:
            self.record.pop("files", None)
            raise
        return files

    # ------------------------------------------------------------ plot
    def plot(self, path: str | os.PathLike[str] | None = None) -> Figure:
        """Log-log plot of the global error against $h$, with reference slopes.

        Only step sizes with status `ok` are drawn; the others are listed under the
        axes. Errors left out of a fit (at or below the floor) are drawn hollow, and
        the legend says so; the verdict is written on the axes (FAILED and
        INCONCLUSIVE in colour) and the title summarises the run (a network's start
        is its parameter count, not its values).

        **Returns:** the matplotlib figure (saved to `path` if given).
        """
        from ._certificate_plot import plot_record

        return plot_record(self.record, self.title(), path)


def _grid(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return [fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [
        fmt.format(*row) for row in rows
    ]


def _start_text(loss: dict[str, Any]) -> str:
    """The start point in a line: its coordinates when few, else the count."""
    values = list(loss.get("x0") or [])
    if len(values) > 6:
        return f"{len(values):,} parameters"
    return _short(values)


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
