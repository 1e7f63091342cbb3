"""`derive verify` at the settings people use: momentum 0.9 on the digits MLP and on
2-D losses, and RK4 as an optimizer at order 5, timed as a user runs them.

Each case is one `derive verify ... --format json --no-save` in a fresh process
(imports, derivation, compilation included), timed from outside; the table gives the
exit status, the verdict, the step sizes chosen and the slopes (`qhm`: quasi-hyperbolic
momentum as a spec file, beta = 0.9, nu = 0.7, on the digits MLP). Targets: heavy ball
with beta = 0.9 through order 2 on the digits MLP passes with default settings within
120 s on 2 CPU cores; RK4 at order 5 passes or is inconclusive (exit status 3, with
its reason) within 60 s.

    python benchmarks/verify_settings.py [--only mlp,qhm,rk4,2d] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RK4_SPEC = """state x
k1 = grad(x)
k2 = grad(x - h/2*k1)
k3 = grad(x - h/2*k2)
k4 = grad(x - h*k3)
x = x - h/6*(k1 + 2*k2 + 2*k3 + k4)
"""
QHM_SPEC = """# quasi-hyperbolic momentum (Ma & Yarats 2019)
state x, d
param beta, nu
d = beta*d + (1 - beta)*grad(x)
x = x - h*((1 - nu)*grad(x) + nu*d)
"""
QHM = ("--param", "beta=0.9", "--param", "nu=0.7", "--order", "2", "--model",
       "digits-mlp")  # fmt: skip

MLP = [
    ("heavy-ball", "--param", "beta=0.9", "--order", "2", "--model", "digits-mlp"),
    ("nesterov", "--param", "beta=0.9", "--order", "2", "--model", "digits-mlp"),
]
RK4_LOSSES = ("himmelblau", "rosenbrock", "six-hump-camel", "double-well")
TWO_D = [
    (name, "--param", "beta=0.9", "--order", "3", "--loss", loss)
    for name in ("heavy-ball", "nesterov")
    for loss in ("himmelblau", "six-hump-camel", "double-well")
]


def run(
    argv: list[str], spec: str | None = None, spec_name: str = "rk4"
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if spec is not None:
            path = Path(tmp) / f"{spec_name}.txt"
            path.write_text(spec)
            argv = ["--spec", str(path), *argv]
        command = [sys.executable, "-m", "derive", "verify", *argv, "--no-save",
                   "--format", "json"]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - started
    out = {"argv": argv, "status": done.returncode, "wall_s": round(wall, 1)}
    try:
        record = json.loads(done.stdout)
    except json.JSONDecodeError:
        out["error"] = done.stderr.strip().splitlines()[-1:] or ["?"]
        return out
    s = record["settings"]
    out.update(
        verdict=record.get("verdict"),
        slopes=[
            None if r["slope"] is None else round(r["slope"], 3)
            for r in record["results"]
        ],  # fmt: skip
        expected=[r["expected_slope"] for r in record["results"]],
        h=[float(f"{h:.4g}") for h in s["h"]],
        T=s["T"],
        steps=max(i["steps"] for i in record["step_sizes"]),
        notes=s.get("notes", []),
        reasons=[r["reason"] for r in record["results"] if r.get("reason")],
        stages={k: round(v, 1) for k, v in record["timing_s"].items()},
    )
    return out


def show(result: dict[str, Any]) -> None:
    args = " ".join(result["argv"])
    if "error" in result:
        print(f"{args}\n  exit {result['status']}: {result['error']}")
        return
    print(
        f"{args}\n  exit {result['status']} ({result['verdict']}), "
        f"{result['wall_s']:.1f} s; slopes {result['slopes']} (expected "
        f"{result['expected']}); h {result['h'][-1]:.3g} .. {result['h'][0]:.3g}, "
        f"T = {result['T']:.4g}, up to {result['steps']} steps; stages "
        f"{result['stages']}"
    )
    for note in result["notes"] + result["reasons"]:
        print(f"  note: {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="mlp,qhm,rk4,2d")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    print(
        f"{platform.platform()}, {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}"
    )
    results = []
    wanted = set(args.only.split(","))
    cases: list[tuple[list[str], str | None, str]] = []
    if "mlp" in wanted:
        cases += [(list(c), None, "") for c in MLP]
    if "qhm" in wanted:
        cases += [(list(QHM), QHM_SPEC, "qhm")]
    if "rk4" in wanted:
        cases += [
            (["--order", "5", "--loss", loss], RK4_SPEC, "rk4") for loss in RK4_LOSSES
        ]
    if "2d" in wanted:
        cases += [(list(c), None, "") for c in TWO_D]
    for argv, spec, name in cases:
        result = run(argv, spec, name or "rk4")
        if spec is not None:
            result["argv"] = [f"{name} (spec)", *result["argv"][2:]]
        show(result)
        results.append(result)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
