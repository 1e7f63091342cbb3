"""How far the expected epoch flows track the mean iterate of reshuffled runs.

For SGD the flow of the expected epoch map (`derive.minibatch_flow(..., sampling=
"shuffle")`) must follow the mean iterate of random reshuffling with global error
O(h^(p+1)) for orders p = 0, 1 (and 2, down to the Monte Carlo floor). For SGDM the
expectation is over each order's epoch map on its own slow manifold, which leaves out
the momentum carried across epoch boundaries: the measured error of the order-1 flow
falls like h only. Three 2-D batch losses, x0 = (0.3, -0.2), T = 1, h = T/(3E); every
run is burnt in for a short time first so that the momentum carries a reshuffled
history, and the flow starts from the mean of the burnt-in points.

Run: `python benchmarks/minibatch_expectations.py [--mu 0.5] [--paths 32768]`
(`--mu 0` for SGD). The numbers in docs/minibatch.md come from this script.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import derive  # noqa: E402
import numerics  # noqa: E402
from numerics._minibatch import minibatch_step  # noqa: E402

LOSSES = [
    "exp(x/2) + x**2/2 + y**2 - x*y/3",
    "(x-1)**2 + cos(y) + y**2/2",
    "x**2/3 + (y+1)**2/2 + sin(x)*y/2",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mu", type=float, default=0.5)
    parser.add_argument("--paths", type=int, default=2**15)
    parser.add_argument("--epochs", default="8,16,32,64")
    args = parser.parse_args()
    m, T, x0 = len(LOSSES), 1.0, jnp.array([0.3, -0.2])
    opt = derive.sgdm(args.mu) if args.mu > 0 else derive.sgd()
    losses = [numerics.loss_from_expression(f, "x,y") for f in LOSSES]
    flow = derive.minibatch_flow(opt, 2, batches=m, sampling="shuffle")
    module = derive.codegen(flow, loss=LOSSES, variables="x,y").load()
    grads = [jax.grad(f) for f in losses]

    def run(state, seq, h):
        step = minibatch_step(opt, grads, h, {})
        return jax.lax.scan(lambda s, c: (step(s, c), None), state, seq)[0]

    started = time.perf_counter()
    for E in (int(e) for e in args.epochs.split(",")):
        h = T / (m * E)
        burn = max(4, int(0.15 / (m * h)))

        def path(key, h=h, E=E, burn=burn):
            k1, k2 = jax.random.split(key)
            g = jax.grad(lambda z: sum(f(z) for f in losses) / m)(x0)
            s0 = (x0, g / (1 - args.mu)) if args.mu > 0 else (x0,)
            sb = run(s0, numerics.batch_sequence(k1, burn * m, m, "shuffle"), h)
            st = run(sb, numerics.batch_sequence(k2, E * m, m, "shuffle"), h)
            return sb[0], st[0]

        keys = jax.random.split(jax.random.PRNGKey(1), args.paths)
        xb, xt = jax.jit(jax.vmap(path))(keys)
        mean = xt.mean(0)
        se = float(jnp.linalg.norm(xt.std(0))) / np.sqrt(args.paths)
        errors = []
        for p in (0, 1, 2):
            ys, _, _ = numerics.integrate(
                module.make_vector_field(p), xb.mean(0), jnp.array([0.0, T]), {"h": h}
            )
            errors.append(float(jnp.linalg.norm(ys[-1] - mean)))
        print(
            f"E = {E:3d}, h = {h:.5f}: error of the order 0, 1, 2 flows "
            + ", ".join(f"{e:.2e}" for e in errors)
            + f" (Monte Carlo s.e. {se:.1e})",
            flush=True,
        )
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
