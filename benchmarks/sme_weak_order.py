"""Weak orders of the stochastic modified equations of SGD and SGDM, at full size.

The problem of `tests/test_minibatch_numerics.py`: f = x^4/4 + y^2/2 + xy/2 + x^2/2
with four samples f + c.(x, y), c = (+-0.2, +-0.2), batch size 1 with replacement,
phi = x + y^2/2, x0 = (1.2, -1), T = 1. Prints the bias of the weak-order-1 and
weak-order-2 SMEs with its Monte Carlo error bar for each step size, and the slopes
fitted over the resolved points (bias above three error bars). The SGDM numbers in
docs/minibatch.md come from `--mu 0.5 --paths 262144 --hs 0.025,0.0125,0.00625`.

Run: `python benchmarks/sme_weak_order.py [--mu 0.5] [--paths N] [--hs H,H,...]`.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

import derive  # noqa: E402
import numerics  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mu", type=float, default=0.0)
    parser.add_argument("--paths", type=int, default=2**17)
    parser.add_argument("--hs", default="0.1,0.05,0.025")
    args = parser.parse_args()

    def f(z):
        x, y = z
        return x**4 / 4 + y**2 / 2 + x * y / 2 + x**2 / 2

    cs = [jnp.array([a, b]) * 0.2 for a in (-1.0, 1.0) for b in (-1.0, 1.0)]
    losses = [lambda z, c=c: f(z) + c @ z for c in cs]
    opt = derive.sgdm(args.mu) if args.mu > 0 else derive.sgd()
    result = numerics.sme_weak_error(
        lambda k: numerics.stochastic_modified_equation(opt, losses, order=k),
        jnp.array([1.2, -1.0]),
        1.0,
        [float(h) for h in args.hs.split(",")],
        lambda z: z[0] + z[1] ** 2 / 2,
        n_paths=args.paths,
        substeps=2,
    )
    print(result.table())
    print(f"{result.seconds:.1f} s, {result.n_paths} paths per estimate")


if __name__ == "__main__":
    main()
