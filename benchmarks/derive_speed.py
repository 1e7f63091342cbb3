"""Speed of the symbolic engine, each task cold in a fresh process.

Every measurement starts a new Python process, imports `derive`, then times the first
call (so no result cache carries over between processes); `derive --help` is timed as
a whole command. Prints a Markdown table with the best and median of `--repeat` runs,
of the wall-clock time and of the process's CPU time (the figure that a loaded machine
disturbs least), the growth per extra node of GD from 9 to 12 nodes, and the load
average before and after.

    python benchmarks/derive_speed.py [--repeat 5] [--against DIR] [--write]

`--write` stores the table in `benchmarks/results/derive_speed.md`, which the docs
include and the README quotes (`benchmarks/_results.py`).

`--against DIR` runs every task also with another copy of the toolkit first on the
path (e.g. `git archive main | tar -x -C DIR`), alternating the two process by process,
and adds the ratio of the medians, measured in the same run.

Targets (2-core machine): GD through order 9 (486 trees) <= 0.1 s, heavy ball with
symbolic beta through order 6 <= 2 s, heavy ball with beta = 1/2 through order 9
<= 0.5 s, `derive --help` <= 0.5 s; heavy ball with symbolic beta through order 8
<= 0.25 s, Nesterov with symbolic beta through order 8 <= 0.3 s, GD through trees of
12 nodes <= 0.15 s, GD's time growing at most 2.6x per extra node from 9 to 12 nodes.
"Order 9" in the first target counts trees with up to 9 nodes, the B-series convention
(BSeries.jl); in this toolkit's convention, where `order` is the highest power of h,
that is `order=8`. The table gives both.
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
    ("GD, trees <= 11 nodes (3047 trees; order=10)", "derive.gd()", 10, None),
    ("GD, trees <= 12 nodes (7813 trees; order=11)", "derive.gd()", 11, 0.15),
    ("heavy ball, symbolic beta, order=6", "derive.heavy_ball()", 6, 2.0),
    ("heavy ball, symbolic beta, order=8", "derive.heavy_ball()", 8, 0.25),
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
    (
        "heavy ball, beta=1/2, trees <= 12 nodes (order=11)",
        "derive.heavy_ball(0.5)",
        11,
        None,
    ),
    ("Nesterov, symbolic beta, order=6", "derive.nesterov()", 6, None),
    ("Nesterov, symbolic beta, order=8", "derive.nesterov()", 8, 0.3),
]

SNIPPET = """
import time, derive
opt = {opt}
t0, c0 = time.perf_counter(), time.process_time()
flow = derive.modified_flow(opt, {order})
coefficients = [t.coefficient for t in flow.terms]
print(time.perf_counter() - t0, time.process_time() - c0, len(flow.terms))
"""


def run_task(opt: str, order: int, path: str | None) -> tuple[float, float, int]:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([path, env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET.format(opt=opt, order=order)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=path or None,
    ).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


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
    parser.add_argument(
        "--against", metavar="DIR", help="another copy of the toolkit to compare with"
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="store the table in benchmarks/results/derive_speed.md and the README",
    )
    args = parser.parse_args()
    import flint
    import sympy

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, python-flint {flint.__version__}, sympy "
        f"{sympy.__version__}; load average {os.getloadavg()[0]:.2f} at the start"
    )
    print()
    against = os.path.abspath(args.against) if args.against else None
    header = "| task | terms | best (s) | median (s) | CPU median (s) | target (s) |"
    rule = "|---|---|---|---|---|---|"
    if against:
        header += " other: median (s) | other: CPU median (s) | CPU ratio |"
        rule += "---|---|---|"
    table = [header, rule]
    print(header)
    print(rule)
    gd_cpu: dict[int, float] = {}
    for label, opt, order, target in TASKS:
        wall, cpu, other_wall, other_cpu, n = [], [], [], [], 0
        for _ in range(args.repeat):
            w, c, n = run_task(opt, order, None)
            wall.append(w)
            cpu.append(c)
            if against:
                w, c, _ = run_task(opt, order, against)
                other_wall.append(w)
                other_cpu.append(c)
        row = (
            f"| {label} | {n} | {min(wall):.3f} | {statistics.median(wall):.3f} | "
            f"{statistics.median(cpu):.3f} | "
            f"{target if target is not None else '-'} |"
        )
        if against:
            row += (
                f" {statistics.median(other_wall):.3f} | "
                f"{statistics.median(other_cpu):.3f} | "
                f"{statistics.median(cpu) / statistics.median(other_cpu):.2f} |"
            )
        table.append(row)
        print(row, flush=True)
        if opt == "derive.gd()":
            gd_cpu[order + 1] = statistics.median(cpu)
    helps = [run_help() for _ in range(args.repeat)]
    row = (
        f"| `derive --help` (whole command) | - | {min(helps):.3f} | "
        f"{statistics.median(helps):.3f} | - | 0.5 |"
    )
    table.append(row)
    print(row)
    if 9 in gd_cpu and 12 in gd_cpu:
        growth = (gd_cpu[12] / gd_cpu[9]) ** (1 / 3)
        steps = ", ".join(f"{gd_cpu[k + 1] / gd_cpu[k]:.2f}" for k in (9, 10, 11))
        line = (
            f"GD, growth per extra node from 9 to 12 nodes (CPU medians): "
            f"{growth:.2f}x (steps {steps}; target <= 2.6x; trees grow "
            f"{(7813 / 486) ** (1 / 3):.2f}x per node)"
        )
        table += ["", line]
        print("\n" + line)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if args.write:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _results import write

        command = f"python benchmarks/derive_speed.py --repeat {args.repeat}"
        print(f"wrote {write('derive_speed', chr(10).join(table), command)}")


if __name__ == "__main__":
    main()
