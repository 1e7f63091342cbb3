"""Cost of one modified-flow field evaluation relative to one gradient, on networks.

Prints the machine and versions, then:

1. on the digits MLP (64-48-10, tanh, cross-entropy, 1797 samples, 3,610 parameters,
   float64), the ratio (one field evaluation) / (one gradient evaluation), jitted, for
   orders 1..3 of heavy ball: the naive field (every elementary differential on its
   own, nested `jax.jvp` of the gradient along its children's values, summed), the
   fast field (`numerics.networks.fast_field`, nested jvp and Taylor mode), the
   generated module's own field (`derive.codegen`), and fast / naive;
2. the profile of what XLA shares: floating-point operations of the compiled programs
   (XLA's cost analysis) relative to a gradient, and the number of matrix products
   (`dot_general`) before and after XLA's optimisation, whose common-subexpression
   elimination merges the repeated forward and reverse passes of the naive field;
3. how the ratios grow with the parameter count, on wide one-hidden-layer MLPs from
   about 1e3 to 1e6 parameters (fewer samples for the large ones, to keep each quick),
   with the order-3 field also on the loss as a `numerics.networks.SampleMean` in
   three chunks of samples (599 of the 1797 digits each; the chunked column, for the
   runs with at least 1000 samples; the full-batch gradient stays the unit), and the
   better of the two.

All timings of one table come from one run, interleaved (round-robin) so that a change
in machine load affects all of them alike; each figure is the minimum over rounds.

Run: `python benchmarks/network_fields.py [--quick]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

from _timing import interleaved  # noqa: E402

import derive  # noqa: E402
import numerics.networks  # noqa: E402
from derive.matrix_free import (  # noqa: E402
    directional_derivative,
    negative_gradient,
    tree_add,
    tree_scale,
)

CHUNKS = 3  # the chunked field splits the samples into this many chunks


def machine() -> str:
    import diffrax

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs, load {load[0]:.2f}; "
        f"python {sys.version.split()[0]}, jax {jax.__version__}, "
        f"diffrax {diffrax.__version__}; devices {jax.devices()}"
    )


def naive_field(
    flow: derive.ModifiedFlow, loss: Callable[[Any], Any], order: int
) -> Callable[..., Any]:
    """The baseline: $\\sum_t c_t h^p F(t)$ with every $F(t)$ computed on its own, as
    $g^{(k)}$ by $k$ nested `jax.jvp`s of $g = -\\nabla f$ along the values of its
    children (each value computed once), no linearisation, no chains, no batching."""
    table = flow.table
    names = tuple(flow.recurrence.parameters)
    terms = [(t.power, t.index, t.coefficient) for t in flow.terms if t.power <= order]
    g = negative_gradient(loss)

    def field(t: Any, y: Any, args: dict[str, Any]) -> Any:
        memo: dict[int, Any] = {}

        def F(i: int) -> Any:
            if i not in memo:
                kids = table.children[i]
                memo[i] = (
                    directional_derivative(g, y, [F(c) for c in kids]) if kids else g(y)
                )
            return memo[i]

        env = {n: args[n] for n in names}
        parts = [
            tree_scale(derive.evaluate(c, env) * args["h"] ** p, F(i))
            for p, i, c in terms
        ]
        return tree_add(*parts)

    return field


def at_zero(field: Callable[..., Any], args: dict[str, Any]) -> Callable[[Any], Any]:
    """`y -> field(0, y, args)`."""
    return lambda y: field(0.0, y, args)


def profile(fn: Callable[[Any], Any], x: Any) -> tuple[float, int, int]:
    """(flops of the compiled program, dot_general before and after XLA's passes)."""
    lowered = jax.jit(fn).lower(x)
    before = lowered.as_text().count("dot_general")
    compiled = lowered.compile()
    text = compiled.as_text() or ""
    after = len([line for line in text.splitlines() if " dot(" in line])
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    if cost is None:
        return 0.0, before, after
    return float(cost.get("flops", 0.0)), before, after


def fields_for(
    loss: Callable[[Any], Any],
    orders: tuple[int, ...],
    flow: derive.ModifiedFlow,
    modules: dict[int, Any],
    args: dict[str, Any],
    methods: tuple[str, ...] = ("jvp", "jet"),
    generated: bool = True,
) -> dict[str, Callable[[Any], Any]]:
    fns: dict[str, Callable[[Any], Any]] = {"grad": jax.grad(loss)}

    for p in orders:
        fns[f"naive {p}"] = at_zero(naive_field(flow, loss, p), args)
        for method in methods:
            ff = numerics.networks.fast_field(modules[p], loss, p, method=method)
            fns[f"fast-{method} {p}"] = at_zero(ff, args)
        if generated:
            fns[f"generated {p}"] = at_zero(modules[p].make_vector_field(loss, p), args)
    return fns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes")
    opts = parser.parse_args()
    rounds = 10 if opts.quick else 40
    print(machine())
    args = {"h": 0.01, "beta": 0.9}
    flow = derive.bseries_flow(derive.heavy_ball(), 3)
    modules = {p: derive.codegen(derive.heavy_ball(), p).load() for p in (1, 2, 3)}

    model = numerics.networks.get_model("digits-mlp")
    x = model.init(jax.random.PRNGKey(0))
    print(f"\n{model.description}: {model.n_params} parameters, heavy ball")
    fns = fields_for(model.loss, (1, 2, 3), flow, modules, args)
    t = interleaved(fns, x, rounds)
    print(f"  one gradient: {1e3 * t['grad']:.3f} ms")
    print(
        "  order | naive | fast (jvp) | fast (jet) | generated module "
        "| fast (jvp) / naive | target"
    )
    for p, target in zip((1, 2, 3), ("-", 0.85, 0.75), strict=True):
        print(
            f"  {p:5d} | {t[f'naive {p}'] / t['grad']:5.2f}x "
            f"| {t[f'fast-jvp {p}'] / t['grad']:9.2f}x "
            f"| {t[f'fast-jet {p}'] / t['grad']:9.2f}x "
            f"| {t[f'generated {p}'] / t['grad']:15.2f}x "
            f"| {t[f'fast-jvp {p}'] / t[f'naive {p}']:18.2f} | <= {target}"
        )

    print("\nProfile (XLA's compiled programs, digits MLP): flops relative to a")
    print("gradient; matrix products before -> after XLA's optimisation")
    grad_flops = profile(fns["grad"], x)[0]
    print("  order | naive flops | fast flops | fast / naive | naive dots | fast dots")
    for p in (1, 2, 3):
        nf, nb, na = profile(fns[f"naive {p}"], x)
        ff, fb, fa = profile(fns[f"fast-jvp {p}"], x)
        print(
            f"  {p:5d} | {nf / grad_flops:10.2f}x | {ff / grad_flops:9.2f}x "
            f"| {ff / nf:12.2f} | {nb:4d} -> {na:3d} | {fb:4d} -> {fa:3d}"
        )

    print("\nRatio against parameter count (wide 64-H-10 MLPs, jvp): field / gradient")
    print(f"(chunked: the same loss as a SampleMean, in {CHUNKS} chunks of samples)")
    print(
        "  params  | samples | grad ms | fast 1 | fast 2 | fast 3 | naive 3 | f/n 3 "
        "| chunked 3 | best 3"
    )
    widths = [16, 160, 1600, 15000] if not opts.quick else [16, 160, 1600]
    for H in widths:
        n = 1797 if H <= 1600 else 256
        m = numerics.networks.get_model("digits-mlp", hidden=(H,), n=n)
        y = m.init(jax.random.PRNGKey(0))
        r = max(3, rounds // (4 if H > 1600 else 1))
        fns = fields_for(m.loss, (1, 2, 3), flow, modules, args, ("jvp",), False)
        del fns["naive 1"], fns["naive 2"]
        chunk = -(-n // CHUNKS)
        if n >= 1000:
            chunked = numerics.networks.fast_field(
                modules[3], m.sample_mean(chunk), 3, method="jvp"
            )
            fns["chunked 3"] = at_zero(chunked, args)
        tt = interleaved(fns, y, r)
        ratios = [tt[f"fast-jvp {p}"] / tt["grad"] for p in (1, 2, 3)]
        chunk3 = tt.get("chunked 3", float("nan")) / tt["grad"]
        best = min(ratios[2], chunk3) if n >= 1000 else ratios[2]
        print(
            f"  {m.n_params:7d} | {n:7d} | {1e3 * tt['grad']:7.2f} | "
            + " | ".join(f"{q:5.2f}x" for q in ratios)
            + f" | {tt['naive 3'] / tt['grad']:6.2f}x"
            + f" | {tt['fast-jvp 3'] / tt['naive 3']:5.2f}"
            + (f" | {chunk3:8.2f}x" if n >= 1000 else " |        - ")
            + f" | {best:5.2f}x"
        )


if __name__ == "__main__":
    main()
