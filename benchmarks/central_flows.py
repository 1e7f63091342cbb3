"""Central flows on the digits MLP: the cost of a step, and the default reproduction.

1. The cost of one central-flow step in gradient evaluations: the wall time per
   optimizer step of `numerics.central_flow` (GD, h = 0.3, the reproduction's
   network: 64 -> 32 -> 10 tanh MLP under MSE, 500 digits, 2,410 parameters,
   initial weights times 0.3), measured after compilation over steps where the
   edge of stability is active, divided by the wall time of one `jax.grad` of the
   loss (jitted, same machine, same moment). Printed with the number of critical
   eigenvalues (the rank of Sigma), the LOBPCG iterations per step and the split:
   one warm-started LOBPCG, one set of third derivatives (k(k+1)/2 nested jvps),
   one complementarity problem (Clarabel), four gradients (RK4).
2. The wall time of `derive reproduce central-flows` (default sizes; `--quick` for
   the reduced one). Target: at most 10 minutes on 2 CPU cores (3 for --quick).

Run: `python benchmarks/central_flows.py [--quick] [--no-reproduction]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import numerics  # noqa: E402
from numerics.reproductions._central_flows import CENTRAL, _network  # noqa: E402


def _timed(fn, *args, repeat: int = 50) -> float:
    out = fn(*args)
    jax.block_until_ready(out)
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / repeat


def step_cost(h: float, warm: int, steps: int) -> dict:
    loss, params, info = _network(False)
    flat, unravel = ravel_pytree(params)

    def f(z):
        return loss(unravel(z))

    grad_s = _timed(jax.jit(jax.grad(f)), flat)
    # start inside the edge of stability: `warm` steps of the central flow first
    first = numerics.central_flow(loss, params, h, warm * h, **CENTRAL)
    x = first.position(-1)
    t0 = time.perf_counter()
    sol = numerics.central_flow(loss, x, h, steps * h, **CENTRAL)
    total = time.perf_counter() - t0
    # subtract the compilation: time a second run of the same length
    t0 = time.perf_counter()
    sol = numerics.central_flow(loss, x, h, steps * h, **CENTRAL)
    run = time.perf_counter() - t0
    per_step = run / steps
    return {
        "network": info["description"],
        "n_params": info["n_params"],
        "h": h,
        "gradient_ms": 1e3 * grad_s,
        "step_ms": 1e3 * per_step,
        "step_in_gradients": per_step / grad_s,
        "first_run_s_with_compilation": total,
        "sigma_rank_mean": float(np.mean(sol.active)),
        "sigma_rank_max": int(np.max(sol.active)),
        "tracked": sol.tracked,
        "lobpcg_iterations_per_step": float(np.mean(sol.iterations)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-reproduction", action="store_true")
    parser.add_argument("--out", default="runs/benchmarks/central-flows")
    opts = parser.parse_args()
    print(
        f"{platform.platform()}, {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}, "
        f"jax {jax.__version__}"
    )
    record = {"step": step_cost(0.3, 100, 100)}
    s = record["step"]
    print(
        f"one central-flow step: {s['step_ms']:.1f} ms = {s['step_in_gradients']:.0f} "
        f"gradient evaluations ({s['gradient_ms']:.3f} ms each); Sigma rank "
        f"{s['sigma_rank_mean']:.1f} on average (max {s['sigma_rank_max']}), "
        f"{s['tracked']} eigenpairs tracked, {s['lobpcg_iterations_per_step']:.1f} "
        "LOBPCG iterations per step"
    )
    if not opts.no_reproduction:
        t0 = time.perf_counter()
        report = numerics.reproduce_central_flows(
            quick=opts.quick, progress=lambda m: print(f"  {m}", flush=True)
        )
        from numerics.reproductions import write_report

        write_report(report, opts.out)
        took = time.perf_counter() - t0
        record["reproduction"] = {
            "quick": opts.quick,
            "wall_s": took,
            "passed": report.passed,
            "per_run_s": {r.label: r.timing for r in report.runs},
        }
        print(report.table())
        print(
            f"reproduction ({'quick' if opts.quick else 'default'}): {took:.1f} s "
            f"wall clock, {'PASSED' if report.passed else 'FAILED'}"
        )
    os.makedirs(opts.out, exist_ok=True)
    path = os.path.join(opts.out, "benchmark.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    jnp.zeros(())  # x64 on
    main()
