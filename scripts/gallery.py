"""Regenerate the documentation's gallery from the toolkit itself.

Every entry of the gallery (``docs/gallery/``) is the output of ``derive`` commands,
run here and pasted verbatim with the command that produced it: the modified flow
(text and LaTeX, with its modified loss), the slow manifold of momentum methods, the
high-resolution equation, and a numerical verification (its table, an excerpt of its
certificate and a plot of the global errors). Nothing in the gallery is written by
hand, so it cannot drift from what the toolkit prints.

    python scripts/gallery.py            # rewrite docs/gallery
    python scripts/gallery.py --check    # exit 1 when docs/gallery is not current
    python scripts/gallery.py --only gd  # one entry (with --check: compare that entry)

The verification figures are drawn from the certificate's numbers rounded to three
significant digits, and the certificate excerpt keeps what does not depend on the
machine (no timings, versions or host), so the check is byte-exact and still catches
any change in what the toolkit derives or measures.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "docs" / "gallery"
SPECS = Path("examples") / "specs"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One optimizer of the gallery and the commands shown for it."""

    slug: str
    title: str
    about: str
    optimizer: tuple[str, ...]
    flow_order: int
    symbolic: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    manifold: bool = False
    ode: bool = False
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    verify: tuple[str, ...] | None = ("--order", "2", "--quick")

    def spec(self) -> Path | None:
        if self.optimizer[0] == "--spec":
            return Path(self.optimizer[1])
        return None


def _spec(name: str) -> tuple[str, ...]:
    return ("--spec", str(SPECS / f"{name}.txt"))


ENTRIES: tuple[Entry, ...] = (
    Entry(
        "gd",
        "Gradient descent",
        "x+ = x - h grad f(x): the modified flow of Barrett & Dherin's implicit "
        "gradient regularisation at order 1, continued.",
        ("gd",),
        flow_order=3,
        ode=True,
        verify=("--order", "3", "--quick"),
    ),
    Entry(
        "heavy-ball",
        "Heavy ball",
        "Polyak's heavy ball, x+ = x + beta (x - x-) - h grad f(x), with beta a symbol; "
        "verified at beta = 9/10.",
        ("heavy-ball",),
        flow_order=3,
        numeric=("--param", "beta=0.9"),
        manifold=True,
        ode=True,
    ),
    Entry(
        "nesterov",
        "Nesterov's accelerated gradient",
        "Nesterov's method with fixed momentum, y = x + beta (x - x-), x+ = y - h grad "
        "f(y); verified at beta = 9/10.",
        ("nesterov",),
        flow_order=3,
        numeric=("--param", "beta=0.9"),
        manifold=True,
        ode=True,
    ),
    Entry(
        "qhm",
        "Quasi-hyperbolic momentum",
        "Ma & Yarats' QHM from a text spec, with beta and nu symbols; verified at beta "
        "= 9/10, nu = 7/10.",
        _spec("qhm"),
        flow_order=2,
        numeric=("--param", "beta=0.9", "--param", "nu=0.7"),
        manifold=True,
    ),
    Entry(
        "extragradient",
        "Extragradient",
        "Korpelevich's extragradient from a text spec.",
        _spec("extragradient"),
        flow_order=3,
        verify=("--order", "3", "--quick"),
    ),
    Entry(
        "rk2",
        "Runge-Kutta 2 (Heun) as an optimizer",
        "Heun's method on gradient flow: the modified flow starts at h^2, as for every "
        "method of order 2.",
        _spec("rk2"),
        flow_order=3,
        ode=True,
        verify=("--order", "3", "--quick"),
    ),
    Entry(
        "rk4",
        "Runge-Kutta 4 as an optimizer",
        "The classical fourth-order Runge-Kutta method on gradient flow: the first "
        "correction is at h^4 (its g'g'g'g'g coefficient is -1/120, the h^4 term of "
        "log(1 + z + z^2/2 + z^3/6 + z^4/24) = z - z^5/120 + ...).",
        _spec("rk4"),
        flow_order=5,
        verify=None,
    ),
    Entry(
        "rmsprop",
        "RMSProp",
        "RMSProp in PyTorch's convention (eps outside the square root), beta2 and eps "
        "symbols; the moment starts on its slow manifold. Verified at beta2 = 0.99, "
        "eps = 1e-8 on the Rosenbrock function (the sign-like regime).",
        ("rmsprop",),
        flow_order=2,
        numeric=("--param", "beta2=0.99", "--param", "eps=1e-8"),
        verify=("--order", "2", "--quick", "--loss", "rosenbrock"),
    ),
    Entry(
        "adam",
        "Adam",
        "Adam in PyTorch's and optax's convention, beta1, beta2 and eps symbols "
        "(bias correction is a transient: constant hyper-parameters, moments on their "
        "slow manifold). Verified at the defaults 0.9, 0.999, 1e-8 on the Rosenbrock "
        "function.",
        ("adam",),
        flow_order=2,
        numeric=(
            "--param",
            "beta1=0.9",
            "--param",
            "beta2=0.999",
            "--param",
            "eps=1e-8",
        ),
        verify=("--order", "2", "--quick", "--loss", "rosenbrock"),
    ),
    Entry(
        "sgd",
        "Mini-batch SGD",
        "SGD with m batches per epoch under random reshuffling: the flow of the expected "
        "epoch map, with f the mean of the batch losses and d_k = g_k - g the batch "
        "deviations.",
        ("sgd",),
        flow_order=2,
        symbolic=("--batches", "4", "--sampling", "shuffle"),
        verify=None,
    ),
)


def run(argv: Sequence[str]) -> str:
    """The standard output of ``derive ARGV`` run from the repository root."""
    env = dict(os.environ, COLUMNS="100", NO_COLOR="1", PYTHONHASHSEED="0")
    command = [sys.executable, "-m", "derive", *argv]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(
            f"gallery: `derive {shlex.join(argv)}` exited with {done.returncode}:\n"
            f"{done.stderr}"
        )
    return done.stdout


def console(argv: Sequence[str], output: str) -> str:
    return f"```console\n$ derive {shlex.join(argv)}\n{output.rstrip()}\n```\n"


def _round(value: Any) -> Any:
    """Numbers to three significant digits, recursively (machine-independent)."""
    if isinstance(value, float):
        if not math.isfinite(value) or value == 0.0:
            return value
        return float(f"{value:.3g}")
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


MACHINE_KEYS = ("environment", "timing_s", "files")
MEMORY_SETTINGS = ("memory_budget_bytes", "chunk")  # from the memory free at the time


def certificate_excerpt(certificate: dict[str, Any]) -> dict[str, Any]:
    """The certificate without what depends on the machine, numbers to 3 digits."""
    kept = {k: v for k, v in certificate.items() if k not in MACHINE_KEYS}
    kept["settings"] = {
        k: v for k, v in kept["settings"].items() if k not in MEMORY_SETTINGS
    }
    return dict(_round(kept))


def plot_errors(excerpt: dict[str, Any], path: Path) -> None:
    """Global error against h for each order, with slope p + 1 reference lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "optimizer-flows-gallery"
    hs = excerpt["settings"]["h"]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for result in excerpt["results"]:
        p = result["order"]
        pairs = [
            (h, e)
            for h, e, used in zip(hs, result["errors"], result["used"], strict=True)
            if used and e is not None and e > 0
        ]
        if not pairs:
            continue
        (line,) = ax.loglog(*zip(*pairs, strict=True), "o-", label=f"order {p}")
        h0, e0 = pairs[0]
        ref = [e0 * (h / h0) ** (p + 1) for h, _ in pairs]
        ax.loglog([h for h, _ in pairs], ref, ":", color=line.get_color())
    ax.set_xlabel("step size h")
    ax.set_ylabel("global error")
    verdict = "passed" if excerpt.get("passed") else "failed"
    ax.set_title(f"errors against h (dotted: slope p + 1); {verdict}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def verification(entry: Entry, folder: Path) -> str:
    """Run ``derive verify`` for the entry; write its excerpt and plot; return text."""
    assert entry.verify is not None
    with tempfile.TemporaryDirectory() as tmp:
        argv = [*entry.optimizer, *entry.numeric, *entry.verify]
        output = run(["verify", *argv, "--out", tmp])
        certificate = json.loads((Path(tmp) / "certificate.json").read_text())
    excerpt = certificate_excerpt(certificate)
    (folder / f"{entry.slug}-certificate.json").write_text(
        json.dumps(excerpt, indent=2, sort_keys=True) + "\n"
    )
    plot_errors(excerpt, folder / f"{entry.slug}-errors.svg")
    shown = [line for line in output.splitlines() if not _machine_line(line)]
    shown_argv = ["verify", *argv]
    return (
        "## Verification\n\n"
        "The iterates against the integrated modified flows of orders 0..P: the slope "
        "of the global error against h must be p + 1.\n\n"
        + console(shown_argv, "\n".join(shown))
        + f"\n![global errors against h]({entry.slug}-errors.svg)\n\n"
        f"[Certificate excerpt]({entry.slug}-certificate.json) (without machine, "
        "versions and timings; numbers to three significant digits).\n"
    )


def _machine_line(line: str) -> bool:
    """Lines of verify's output that depend on the machine (timings, paths)."""
    stripped = line.strip()
    return (
        stripped.startswith("done ")
        or stripped.startswith("wrote ")
        or (stripped.endswith(" s") and stripped[:-2].replace(".", "").isdigit())
    )


def page(entry: Entry, folder: Path, *, with_verification: bool = True) -> str:
    optimizer = list(entry.optimizer)
    parts = [f"# {entry.title}\n\n{entry.about}\n"]
    spec = entry.spec()
    if spec is not None:
        text = (ROOT / spec).read_text()
        parts.append(
            f"The spec, `{spec.as_posix()}`:\n\n```text\n{text.rstrip()}\n```\n"
        )
    flow = ["flow", *optimizer, *entry.symbolic, "--order", str(entry.flow_order)]
    parts.append("## Modified flow\n\n" + console(flow, run(flow)))
    latex = [*flow, "--format", "latex"]
    parts.append(
        "As LaTeX (`--format latex`, display blocks that paste into a paper; "
        "`--standalone` gives a whole document):\n\n" + run(latex).strip() + "\n"
    )
    if entry.manifold:
        manifold = ["manifold", *optimizer, "--order", "2"]
        parts.append("## Slow manifold\n\n" + console(manifold, run(manifold)))
    if entry.ode:
        ode = ["ode", *optimizer, "--order", "2"]
        parts.append("## High-resolution equation\n\n" + console(ode, run(ode)))
    for heading, argv in entry.extra:
        parts.append(f"## {heading}\n\n" + console(argv, run(argv)))
    if entry.verify is not None and with_verification:
        parts.append(verification(entry, folder))
    return "\n".join(parts)


def index(entries: Sequence[Entry]) -> str:
    lines = [
        "# Gallery",
        "",
        "Every page here is generated by `python scripts/gallery.py` from the toolkit's",
        "own output, with the command that produced each block; CI checks that the",
        "gallery is current (`python scripts/gallery.py --check`). Notation: loss f,",
        "g = -grad f, step h, time t = n h, and F(tree) the elementary differentials",
        "(see [Conventions](../conventions.md)).",
        "",
        "| optimizer | flow order shown | manifold | high-resolution | verified |",
        "|---|---|---|---|---|",
    ]
    for e in entries:
        mark = {True: "yes", False: "-"}
        lines.append(
            f"| [{e.title}]({e.slug}.md) | {e.flow_order} | {mark[e.manifold]} "
            f"| {mark[e.ode]} | {mark[e.verify is not None]} |"
        )
    return "\n".join(lines) + "\n"


def generate(folder: Path, entries: Sequence[Entry]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.md").write_text(index(ENTRIES))
    for entry in entries:
        (folder / f"{entry.slug}.md").write_text(page(entry, folder))


def owned(folder: Path, entries: Sequence[Entry], *, everything: bool) -> set[str]:
    """The files of ``folder`` that belong to ``entries`` (and the index)."""
    names = {"index.md"} if everything else set()
    for path in folder.iterdir() if folder.is_dir() else ():
        if any(
            path.name.startswith(f"{e.slug}.") or path.name.startswith(f"{e.slug}-")
            for e in entries
        ):
            names.add(path.name)
    return names


def check(entries: Sequence[Entry], *, everything: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh, entries)
        want = owned(fresh, entries, everything=everything)
        have = owned(GALLERY, entries, everything=everything)
        stale = []
        for name in sorted(want | have):
            new, old = fresh / name, GALLERY / name
            if (
                not old.exists()
                or not new.exists()
                or new.read_bytes() != old.read_bytes()
            ):
                stale.append(name)
                if old.exists() and new.exists() and name.endswith((".md", ".json")):
                    diff = difflib.unified_diff(
                        old.read_text().splitlines(),
                        new.read_text().splitlines(),
                        f"docs/gallery/{name}",
                        "regenerated",
                        lineterm="",
                        n=1,
                    )
                    print("\n".join(list(diff)[:40]))
    if stale:
        print(
            "docs/gallery is not current: "
            + ", ".join(stale)
            + " differ from what the toolkit prints now. Run `python scripts/gallery.py` "
            "and commit the result.",
            file=sys.stderr,
        )
        return 1
    print(f"docs/gallery is current ({len(want)} files checked)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--only", nargs="+", metavar="SLUG", help="these entries only")
    args = parser.parse_args(argv)
    slugs = {e.slug for e in ENTRIES}
    if args.only and not set(args.only) <= slugs:
        unknown = ", ".join(sorted(set(args.only) - slugs))
        parser.exit(
            2,
            f"gallery: no entry {unknown}; the entries are {', '.join(sorted(slugs))}\n",
        )
    entries = [e for e in ENTRIES if not args.only or e.slug in args.only]
    if args.check:
        return check(entries, everything=not args.only)
    generate(GALLERY, entries)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
