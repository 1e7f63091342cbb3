"""Runtime of the Fu et al. reproduction at its default size and with `--quick`.

The targets: the default size (6 batch sizes from 32 to the full 1797 digits, SGD and
SGDM with mu = 0.5 and 0.9, 16 effective learning rates, 2 seeds, 400 steps each:
576 training runs, plus the top Hessian eigenvalue of every full-batch run) within 15
minutes on 2 CPU cores, and `--quick` within 3 minutes. Each run is timed end to end
(compilation included) as `derive reproduce fu-momentum` runs it, and the report is
written to `runs/benchmark-fu-momentum[-quick]`.

Run: `python benchmarks/fu_momentum.py [--quick] [--out DIR]`. Pin the cores with
`taskset -c 0,1` to measure on exactly two.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = args.out or ("runs/benchmark-fu-momentum" + ("-quick" if args.quick else ""))
    from numerics.reproductions import get_reproduction, write_report

    reproduce = get_reproduction("fu-momentum").load()
    started = time.perf_counter()
    report = reproduce(quick=args.quick, progress=lambda m: print(f"  ... {m}"))
    seconds = time.perf_counter() - started
    write_report(report, out)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    target = 180 if args.quick else 900
    print(report.table())
    print()
    print(
        f"fu-momentum {'--quick' if args.quick else '(default size)'}: {seconds:.1f} s "
        f"on {cores} core(s), {platform.processor() or platform.machine()}, "
        f"jax {jax.__version__} {jax.default_backend()}; target {target} s: "
        f"{'met' if seconds <= target else 'MISSED'}; checks "
        f"{'passed' if report.passed else 'FAILED'}; report in {out}"
    )


if __name__ == "__main__":
    main()
