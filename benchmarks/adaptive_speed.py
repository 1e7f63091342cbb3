"""Speed of the componentwise engine and of the adaptive optimizers' fields.

1. The symbolic engine, each task cold in a fresh process (imports `derive`, then
   times the first call, so no result cache carries over): Adam with symbolic
   beta1, beta2 and eps through order 2 (target <= 5 s) and RMSProp with numbers
   (beta2 = 0.99, eps = 1e-8) through order 3 (target <= 5 s). The whole process
   (interpreter start and imports included) is reported too.
2. On the digits MLP (64-48-10, tanh, cross-entropy, 1797 samples, 3,610 parameters,
   float64): one evaluation of Adam's modified field (the generated JAX module,
   matrix-free) of order 1 and 2 over one gradient evaluation, jitted, timed
   round-robin (minimum over rounds). Target: order 2 <= 6x one gradient.

Run: `python benchmarks/adaptive_speed.py [--repeat 3] [--rounds 20]`.
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
    ("Adam, symbolic beta1, beta2, eps, order 2", "derive.adam()", 2, 5.0),
    (
        "RMSProp, beta2 = 0.99, eps = 1e-8, order 3",
        "derive.rmsprop(0.99, 1e-8)",
        3,
        5.0,
    ),
]

SNIPPET = """
import time
t_import = time.perf_counter()
import derive
opt = {opt}
t0 = time.perf_counter()
flow = derive.modified_flow(opt, {order})
text = flow.text()
print(time.perf_counter() - t0, len(flow.terms), time.perf_counter() - t_import)
"""


def run_task(opt: str, order: int) -> tuple[float, int, float]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET.format(opt=opt, order=order)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    whole = time.perf_counter() - t0
    return float(out[0]), int(out[1]), whole


def symbolic(repeat: int) -> None:
    print(
        "| task | terms | best (s) | median (s) | whole process, best (s) | target (s) |"
    )
    print("|---|---|---|---|---|---|")
    for label, opt, order, target in TASKS:
        runs = [run_task(opt, order) for _ in range(repeat)]
        times = [r[0] for r in runs]
        print(
            f"| {label} | {runs[0][1]} | {min(times):.2f} | "
            f"{statistics.median(times):.2f} | {min(r[2] for r in runs):.2f} | "
            f"{target} |"
        )


def network(rounds: int) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    from _timing import interleaved

    import derive
    import numerics.networks

    model = numerics.networks.get_model("digits-mlp")
    params = model.init(jax.random.PRNGKey(0))
    loss = model.loss
    args = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "h": 1e-3}
    fns = {"gradient": jax.grad(loss)}
    for p in (1, 2):
        module = derive.codegen(derive.modified_flow(derive.adam(), p)).load()
        fns[f"Adam field, order {p}"] = lambda y, module=module, p=p: (
            module.terms_by_order(loss, y, args, p)
        )
    best = interleaved(fns, params, rounds)
    n = sum(v.size for v in jax.tree_util.tree_leaves(params))
    print()
    print(f"digits MLP, {n} parameters, float64, jitted, min over {rounds} rounds")
    print()
    print("| evaluation | time (ms) | / gradient | target |")
    print("|---|---|---|---|")
    for k, t in best.items():
        target = "<= 6" if k.endswith("order 2") else "-"
        print(f"| {k} | {1e3 * t:.3f} | {t / best['gradient']:.2f} | {target} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load {load:.2f}, "
        f"Python {platform.python_version()}"
    )
    print()
    symbolic(args.repeat)
    network(args.rounds)


if __name__ == "__main__":
    main()
