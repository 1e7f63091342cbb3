"""Time a cold `derive verify heavy-ball --order 3` in a fresh process.

Cold means a new Python process: imports (JAX, diffrax, SymPy), the exact derivation,
code generation, tracing and XLA compilation of the iterates and of the flows, the runs,
the certificate and the plot, all included. Target: well within 60 s on a 2-core
machine. Prints the wall-clock and CPU seconds and the stages from the certificate.

    python benchmarks/verify_cold.py [--repeat N] [--compare DIR]

`--compare DIR` times another checkout of the toolkit in the same run, alternating
with this one (DIR holds `derive/` and `numerics/`, or `src/derive` and `src/numerics`
in the layout of earlier versions), and prints the medians and their ratio: a
before/after figure measured under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMAND = ["verify", "heavy-ball", "--order", "3"]
TARGET_S = 60.0


def _pythonpath(checkout: str | None) -> dict:
    env = dict(os.environ)
    if checkout is not None:
        root = Path(checkout)
        env["PYTHONPATH"] = str(root / "src" if (root / "src").is_dir() else root)
    return env


def run_once(checkout: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as out:
        argv = [sys.executable, "-m", "derive", *COMMAND, "--out", out]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=_pythonpath(checkout),
            cwd=out,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        record_path = Path(out) / "certificate.json"
        record = json.loads(record_path.read_text()) if record_path.exists() else None
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "status": done.returncode,
        "record": record,
        "stderr": done.stderr,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs (the best is reported)"
    )
    parser.add_argument(
        "--compare", metavar="DIR", help="another checkout to time in the same run"
    )
    args = parser.parse_args()
    if args.compare:
        return compare(args.compare, max(1, args.repeat))
    runs = [run_once() for _ in range(max(1, args.repeat))]
    best = min(runs, key=lambda r: r["wall_s"])
    if best["status"] != 0 or best["record"] is None:
        print(best["stderr"], file=sys.stderr)
        print(f"derive {' '.join(COMMAND)} failed (exit status {best['status']})")
        return 1
    record = best["record"]
    slopes = ", ".join(f"{r['slope']:.3f}" for r in record["results"])
    print(f"cold `derive {' '.join(COMMAND)}` on {record['loss']['name']}: "
          f"{best['wall_s']:.1f} s wall, {best['cpu_s']:.1f} s CPU "
          f"({os.cpu_count()} cores; target {TARGET_S:.0f} s) -> "
          f"{'within' if best['wall_s'] < TARGET_S else 'OVER'} target")  # fmt: skip
    print(f"  passed: {record['passed']}; slopes {slopes} (expected 1, 2, 3, 4)")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in record["timing_s"].items())
    print(f"  inside verify: {stages}")
    if len(runs) > 1:
        print("  all runs (wall s): " + ", ".join(f"{r['wall_s']:.1f}" for r in runs))
    return 0


def compare(other: str, repeat: int) -> int:
    """Alternate this checkout and `other`; print medians and their ratio."""
    import statistics

    mine, theirs = [], []
    for _ in range(repeat):
        for checkout, bucket in ((None, mine), (other, theirs)):
            run = run_once(checkout)
            if run["status"] != 0:
                print(run["stderr"], file=sys.stderr)
                return 1
            bucket.append(run)
    m = statistics.median(r["wall_s"] for r in mine)
    t = statistics.median(r["wall_s"] for r in theirs)
    print(f"cold `derive {' '.join(COMMAND)}`, median of {repeat} runs each, "
          f"alternating ({os.cpu_count()} cores):")  # fmt: skip
    print(f"  this checkout: {m:.1f} s   {other}: {t:.1f} s   ratio {m / t:.2f}")
    for name, runs in (("this checkout", mine), (other, theirs)):
        stages = {k: statistics.median(r["record"]["timing_s"][k] for r in runs)
                  for k in runs[0]["record"]["timing_s"]}  # fmt: skip
        print(f"  {name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
