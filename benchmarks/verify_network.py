"""Full-size verification on the digits MLP: heavy ball, orders 0..2, timed.

The model: 64 -> 48 -> 10 tanh MLP, cross-entropy, all 1797 digits, 3,610 parameters,
float64, initial parameters from `PRNGKey(0)`. `numerics.networks.verify_model` runs
`numerics.verify` with the curvature measured matrix-free. The target: under 120 s on
the 2-core CPU, everything included (derivation, code generation, compilation).

Run: `python benchmarks/verify_network.py [--beta 0.5,0.9] [--quick] [--write]`;
`--write` stores the table in `benchmarks/results/verify_network.md`, which the docs
include and the README quotes (`benchmarks/_results.py`).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

t_start = time.perf_counter()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import derive  # noqa: E402
from numerics.networks import verify_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beta", default="0.5", help="momenta, comma-separated")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true", help="store the table")
    opts = parser.parse_args()
    print(
        f"{platform.platform()}, {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}, "
        f"jax {jax.__version__}"
    )
    rows = [
        "| momentum | slopes (expected 1, 2, 3) | verdict | step sizes | time (s) |",
        "|---|---|---|---|---|",
    ]
    for beta in (float(b) for b in opts.beta.split(",")):
        t0 = time.perf_counter()

        def progress(message: str, t0: float = t0) -> None:
            print(f"  {time.perf_counter() - t0:6.1f} s  {message}", flush=True)

        cert = verify_model(
            "digits-mlp",
            derive.heavy_ball(beta),
            2,
            quick=opts.quick,
            progress=progress,
        )
        took = time.perf_counter() - t0
        # (cert.table() would print x0 in full: 3,610 numbers)
        settings = cert.record["settings"]
        for r in cert.record["results"]:
            errors = [e for e in r["errors"] if e is not None]
            print(
                f"  order {r['order']}: slope {r['slope']:.3f} (expected "
                f"{r['expected_slope']}), {r['verdict']}; errors "
                f"{min(errors):.2e} .. {max(errors):.2e}"
            )
        print(f"timing: {cert.record['timing_s']}")
        slopes = ", ".join(f"{s:.3f}" for s in cert.slopes)
        rows.append(
            f"| beta = {beta:g} | {slopes} | {cert.verdict} | "
            f"{min(settings['h']):.3g} to {max(settings['h']):.3g} "
            f"({len(settings['h'])} values) | {took:.1f} |"
        )
    table = "\n".join(rows)
    print(table)
    print(
        f"with imports and data: {time.perf_counter() - t_start:.1f} s "
        "(target < 120 s per run)"
    )
    if opts.write:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _results import write

        command = "python benchmarks/verify_network.py --beta " + opts.beta
        table = (
            "Heavy ball through order 2 on the digits MLP (3,610 parameters, "
            "`derive verify heavy-ball --order 2 --param beta=B --model digits-mlp`), "
            "default settings" + (", --quick" if opts.quick else "") + "; time "
            "includes derivation, code generation and compilation.\n\n" + table
        )
        print(f"wrote {write('verify_network', table, command)}")


if __name__ == "__main__":
    main()
