"""Speed-up of a vectorised, sharded sweep over a Python loop on the same grid.

The grid: heavy ball on the `teacher-student` regression (8 -> 16 -> 1 tanh MLP, 128
samples) and on a reduced digits MLP (64 -> 16 -> 10, 500 samples), over step sizes x
beta x seeds, `n_steps` iterations each, started on the slow manifold. The loop calls
one jitted single-point function (compiled once, since h, beta and the seed are traced)
point by point; the sweep runs `jit(vmap(...))` over the whole grid, sharded over all
visible devices. Both are timed after compilation (best of 3) and with compilation.

Run: `python benchmarks/sweep_speedup.py` (add
`XLA_FLAGS=--xla_force_host_platform_device_count=8` to shard over 8 CPU devices).
"""

from __future__ import annotations

import os
import platform
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import derive  # noqa: E402
from numerics._sweep import _point_runner, sweep  # noqa: E402
from numerics.networks import get_model  # noqa: E402


def best(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def case(name, model, hs, betas, seeds, n_steps):
    rec = derive.heavy_ball()
    kw = dict(h=hs, params={"beta": betas}, seeds=seeds, n_steps=n_steps)
    t0 = time.perf_counter()
    res = sweep(rec, model, progress=False, **kw)
    cold_sweep = time.perf_counter() - t0
    warm_sweep = best(lambda: sweep(rec, model, progress=False, **kw))

    run = jax.jit(
        _point_runner(
            rec, model.loss, model.init, None, n_steps, 1, "manifold", 3, ["beta"]
        )
    )
    points = [(h, b, s) for h in hs for b in betas for s in seeds]
    # the loop variants below must see the same initial parameters as the sweep

    def loop():
        return [
            jax.block_until_ready(run(h, np.array([b]), s, 0)) for h, b, s in points
        ]

    t0 = time.perf_counter()
    out = loop()
    cold_loop = time.perf_counter() - t0
    warm_loop = best(loop)
    import numerics

    t0 = time.perf_counter()
    for h, b, s in points[:8]:
        it = numerics.iterates(
            rec,
            model.loss,
            model.init(jax.random.PRNGKey(s)),
            h,
            n_steps,
            params={"beta": b},
            manifold_nodes=3,
        )
        jax.block_until_ready(it.positions)
    naive = (time.perf_counter() - t0) / 8 * len(points)
    finals = np.array([o[1] for o in out])
    agree = np.allclose(finals, res.final, rtol=1e-9, equal_nan=True)
    print(
        f"{name}: {len(points)} points x {n_steps} steps, {model.n_params} parameters\n"
        f"  python loop : {warm_loop:7.3f} s (with compilation {cold_loop:7.3f} s)\n"
        f"  sweep       : {warm_sweep:7.3f} s (with compilation {cold_sweep:7.3f} s)"
        f" on {len(res.devices)} device(s)\n"
        f"  speed-up    : {warm_loop / warm_sweep:6.1f}x (with compilation "
        f"{cold_loop / cold_sweep:.1f}x); same final losses: {agree}\n"
        f"  loop of numerics.iterates (one compilation per point; 8 timed, scaled): "
        f"{naive:.1f} s, speed-up of the sweep with compilation {naive / cold_sweep:.0f}x"
    )


def main():
    load = os.getloadavg()[0]
    print(
        f"{platform.platform()}, {os.cpu_count()} CPUs, load {load:.2f}; python "
        f"{sys.version.split()[0]}, jax {jax.__version__}; devices {jax.devices()}"
    )
    case(
        "teacher-student",
        get_model("teacher-student"),
        [0.02, 0.05, 0.1, 0.2],
        [0.0, 0.3, 0.6, 0.9],
        [0, 1, 2, 3],
        200,
    )
    case(
        "digits-mlp (reduced)",
        get_model("digits-mlp", hidden=(16,), n=500),
        [0.05, 0.1, 0.2, 0.5],
        [0.0, 0.5, 0.9],
        [0, 1],
        100,
    )


if __name__ == "__main__":
    main()
