"""Cost of one modified-flow field evaluation relative to one gradient, on networks.

Prints the machine and versions, then:

1. on the digits MLP (64-48-10, tanh, cross-entropy, 1797 samples, 3,610 parameters,
   float64), the ratio (one field evaluation) / (one gradient evaluation), jitted, for
   orders 1..3 of heavy ball, with the fast field (`numerics.fast_field`, nested jvp and
   Taylor mode) and the generated module's own field (`derive.codegen`);
2. how the ratio grows with the parameter count, on wide one-hidden-layer MLPs from
   about 1e3 to 1e6 parameters (fewer samples for the large ones, to keep each quick).

All timings of one table come from one run, interleaved (round-robin) so that a change
in machine load affects all of them alike; each figure is the minimum over rounds.

Run: `python benchmarks/network_fields.py [--quick]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import derive  # noqa: E402
import numerics.networks  # noqa: E402


def machine() -> str:
    import diffrax

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs, load {load[0]:.2f}; "
        f"python {sys.version.split()[0]}, jax {jax.__version__}, "
        f"diffrax {diffrax.__version__}; devices {jax.devices()}"
    )


def interleaved(fns: dict, x, rounds: int) -> dict:
    compiled = {k: jax.jit(f) for k, f in fns.items()}
    for f in compiled.values():
        jax.block_until_ready(f(x))
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for k, f in compiled.items():
            t = time.perf_counter()
            jax.block_until_ready(f(x))
            best[k] = min(best[k], time.perf_counter() - t)
    return best


def fields_for(loss, orders, modules, args, methods=("jvp", "jet"), naive=True):
    fns = {"grad": jax.grad(loss)}
    for p in orders:
        for method in methods:
            ff = numerics.networks.fast_field(modules[p], loss, p, method=method)
            fns[f"fast-{method} {p}"] = lambda y, ff=ff: ff(0.0, y, args)
        if naive:
            f = modules[p].make_vector_field(loss, p)
            fns[f"generated {p}"] = lambda y, f=f: f(0.0, y, args)
    return fns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes")
    opts = parser.parse_args()
    rounds = 10 if opts.quick else 40
    print(machine())
    args = {"h": 0.01, "beta": 0.9}
    modules = {p: derive.codegen(derive.heavy_ball(), p).load() for p in (1, 2, 3)}

    model = numerics.networks.get_model("digits-mlp")
    x = model.init(jax.random.PRNGKey(0))
    print(f"\n{model.description}: {model.n_params} parameters, heavy ball")
    t = interleaved(fields_for(model.loss, (1, 2, 3), modules, args), x, rounds)
    print(f"  one gradient: {1e3 * t['grad']:.3f} ms")
    print("  order | fast (jvp) | fast (jet) | generated module | target")
    for p, target in zip((1, 2, 3), (2.5, 5, 12), strict=True):
        print(
            f"  {p:5d} | {t[f'fast-jvp {p}'] / t['grad']:9.2f}x "
            f"| {t[f'fast-jet {p}'] / t['grad']:9.2f}x "
            f"| {t[f'generated {p}'] / t['grad']:15.2f}x | <= {target}x"
        )

    print("\nRatio against parameter count (wide 64-H-10 MLPs, fast field, jvp):")
    print("  params  | samples | grad ms | order 1 | order 2 | order 3")
    widths = [16, 160, 1600, 15000] if not opts.quick else [16, 160, 1600]
    for H in widths:
        n = 1797 if H <= 1600 else 256
        m = numerics.networks.get_model("digits-mlp", hidden=(H,), n=n)
        y = m.init(jax.random.PRNGKey(0))
        r = max(3, rounds // (4 if H > 1600 else 1))
        tt = interleaved(
            fields_for(m.loss, (1, 2, 3), modules, args, ("jvp",), naive=False), y, r
        )
        ratios = [tt[f"fast-jvp {p}"] / tt["grad"] for p in (1, 2, 3)]
        print(
            f"  {m.n_params:7d} | {n:7d} | {1e3 * tt['grad']:7.2f} | "
            + " | ".join(f"{q:6.2f}x" for q in ratios)
        )


if __name__ == "__main__":
    main()
