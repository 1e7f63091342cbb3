"""Full-size verification on the digits MLP: heavy ball, orders 0..2, timed.

The model: 64 -> 48 -> 10 tanh MLP, cross-entropy, all 1797 digits, 3,610 parameters,
float64, initial parameters from `PRNGKey(0)`. `numerics.networks.verify_model` runs
`numerics.verify` with the curvature measured matrix-free. The target: under 120 s on
the 2-core CPU, everything included (derivation, code generation, compilation).

Run: `python benchmarks/verify_network.py [--beta 0.5] [--quick]`.
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
    parser.add_argument("--beta", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args()
    print(
        f"{platform.platform()}, {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}, "
        f"jax {jax.__version__}"
    )
    t0 = time.perf_counter()

    def progress(message):
        print(f"  {time.perf_counter() - t0:6.1f} s  {message}", flush=True)

    cert = verify_model(
        "digits-mlp",
        derive.heavy_ball(opts.beta),
        2,
        quick=opts.quick,
        progress=progress,
    )
    took = time.perf_counter() - t0
    # (cert.table() would print x0 in full: 3,610 numbers)
    settings = cert.record["settings"]
    print(
        f"T = {settings['T']:.4g}, h from {min(settings['h']):.4g} to "
        f"{max(settings['h']):.4g} ({len(settings['h'])} values)"
    )
    for r in cert.record["results"]:
        errors = [e for e in r["errors"] if e is not None]
        print(
            f"  order {r['order']}: slope {r['slope']:.3f} (expected "
            f"{r['expected_slope']}), {r['verdict']}; errors "
            f"{min(errors):.2e} .. {max(errors):.2e}"
        )
    print(f"slopes: {[round(s, 3) for s in cert.slopes]}, passed: {cert.passed}")
    print(f"timing: {cert.record['timing_s']}")
    print(
        f"verify_model: {took:.1f} s; with imports and data: "
        f"{time.perf_counter() - t_start:.1f} s (target < 120 s)"
    )


if __name__ == "__main__":
    main()
