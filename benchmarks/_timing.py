"""Timing jitted JAX functions against each other on this shared machine.

Each function is compiled and run once first; then the functions run round-robin
(one call each per round), so that a change in the machine's load affects all of them
alike, and each figure is the best over the rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax


def interleaved(
    fns: dict[str, Callable[[Any], Any]], x: Any, rounds: int
) -> dict[str, float]:
    """`{name: best seconds}` of `jax.jit(fn)(x)` for each function, interleaved."""
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
