"""What a verification can afford: the memory it may use and the steps it may run.

The comparison of iterates and flows is streamed in chunks of saved times (see
[`compare`][numerics._verify.run.compare]); the chunk length comes from the memory
this module finds: on a GPU the device's free memory, on a CPU the host's available
memory (`MemAvailable` on Linux), of which a fraction is used, so that other programs
on a shared machine keep theirs.
"""

from __future__ import annotations

import math
import os

__all__ = [
    "available_memory",
    "memory_budget",
    "chunk_length",
    "bytes_per_saved_time",
    "format_bytes",
    "DEFAULT_MAX_ITERATIONS",
    "MEMORY_FRACTION",
]

MEMORY_FRACTION = 0.25
"""The share of the available memory a verification holds at once."""

MEMORY_CAP = 4 * 2**30
"""At most 4 GiB by default, whatever the machine: a chunk of that size already keeps
the step-size loop busy for many seconds."""

DEFAULT_MAX_ITERATIONS = 1_000_000
"""The most iterate steps one step size may take (the horizon is shortened to fit)."""


def available_memory() -> int | None:
    """Bytes the computation can still allocate: the default JAX device's free memory
    where it reports one (GPUs), else the host's available memory; `None` if unknown."""
    try:
        import jax

        stats = jax.devices()[0].memory_stats()
    except Exception:  # a backend without memory statistics (CPU)
        stats = None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget(memory: float | None = None) -> int:
    """The bytes a verification may hold at once: `memory` if given, else
    `MEMORY_FRACTION` of the available memory, at most `MEMORY_CAP` (1 GiB when the
    available memory is unknown)."""
    if memory is not None:
        return max(int(memory), 1)
    found = available_memory()
    if found is None:
        return 2**30
    return int(min(MEMORY_FRACTION * found, MEMORY_CAP))


def bytes_per_saved_time(dim: int, orders: int) -> int:
    """Memory held per saved time $t_n$: the iterate, the `orders` flow states, their
    differences, in float64, with a factor 2 for the solver's and XLA's temporaries."""
    return 2 * 8 * dim * (2 * orders + 1)


def chunk_length(n_max: int, dim: int, orders: int, budget: int) -> int:
    """How many steps one chunk of the comparison covers (between 1 and `n_max`), or 0
    when not even one step fits in `budget`."""
    per = bytes_per_saved_time(dim, orders)
    fits = budget // per
    return int(min(max(n_max, 1), fits))


def format_bytes(n: float) -> str:
    """`1.5 GB`, `300 MB`, ... (powers of 1000, as people read them)."""
    if not math.isfinite(n):
        return str(n)
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"
