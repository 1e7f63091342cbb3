"""Time a cold `derive verify heavy-ball --order 3` in a fresh process.

Cold means a new Python process: imports (JAX, diffrax, SymPy), the exact derivation,
code generation, tracing and XLA compilation of the iterates and of the flows, the runs,
the certificate and the plot, all included. Target: well within 60 s on a 2-core
machine. Prints the wall-clock and CPU seconds and the stages from the certificate.

    python benchmarks/verify_cold.py [--repeat N]
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


def run_once() -> dict:
    with tempfile.TemporaryDirectory() as out:
        argv = [sys.executable, "-m", "derive", *COMMAND, "--out", out]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            argv, capture_output=True, text=True, env=dict(os.environ)
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    raise SystemExit(main())
