"""Speed of the symbolic engine, each task cold in a fresh process.

Every measurement starts a new Python process, imports `derive`, then times the first
call (so no result cache carries over between processes); `derive --help` is timed as
a whole command. Prints a Markdown table with the best and median of `--repeat` runs.

    python benchmarks/derive_speed.py [--repeat 5]

Targets (2-core machine): GD through order 9 (486 trees) <= 0.1 s, heavy ball with
symbolic beta through order 6 <= 2 s, heavy ball with beta = 1/2 through order 9
<= 0.5 s, `derive --help` <= 0.5 s. "Order 9" in the target counts trees with up to 9
nodes, the B-series convention (BSeries.jl); in this toolkit's convention, where
`order` is the highest power of h, that is `order=8`. The table gives both.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

TASKS = [
    ("GD, trees <= 9 nodes (486 trees; order=8)", "derive.gd()", 8, 0.1),
    ("GD, trees <= 10 nodes (1205 trees; order=9)", "derive.gd()", 9, None),
    ("heavy ball, symbolic beta, order=6", "derive.heavy_ball()", 6, 2.0),
    (
        "heavy ball, beta=1/2, trees <= 9 nodes (order=8)",
        "derive.heavy_ball(0.5)",
        8,
        0.5,
    ),
    (
        "heavy ball, beta=1/2, trees <= 10 nodes (order=9)",
        "derive.heavy_ball(0.5)",
        9,
        0.5,
    ),
    ("Nesterov, symbolic beta, order=6", "derive.nesterov()", 6, None),
]

SNIPPET = """
import time, derive
opt = {opt}
t0 = time.perf_counter()
flow = derive.modified_flow(opt, {order})
coefficients = [t.coefficient for t in flow.terms]
print(time.perf_counter() - t0, len(flow.terms))
"""


def run_task(opt: str, order: int) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET.format(opt=opt, order=order)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), int(out[1])


def run_help() -> float:
    exe = os.path.join(os.path.dirname(sys.executable), "derive")
    cmd = (
        [exe, "--help"]
        if os.path.exists(exe)
        else [sys.executable, "-m", "derive", "--help"]
    )
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import flint
    import sympy

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"python-flint {flint.__version__}, sympy {sympy.__version__}"
    )
    print()
    print("| task | terms | best (s) | median (s) | target (s) |")
    print("|---|---|---|---|---|")
    for label, opt, order, target in TASKS:
        times, n = [], 0
        for _ in range(args.repeat):
            t, n = run_task(opt, order)
            times.append(t)
        print(
            f"| {label} | {n} | {min(times):.3f} | {statistics.median(times):.3f} | "
            f"{target if target is not None else '-'} |"
        )
    helps = [run_help() for _ in range(args.repeat)]
    print(
        f"| `derive --help` (whole command) | - | {min(helps):.3f} | "
        f"{statistics.median(helps):.3f} | 0.5 |"
    )


if __name__ == "__main__":
    main()
