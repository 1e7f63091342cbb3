"""Sweeps: an optimizer's iterates on a grid of step sizes, hyper-parameters, seeds and
initial points, as one compiled `jit(vmap(...))` sharded over every visible device.

The grid is the Cartesian product of the axes; its points are laid out on one flat
axis, padded to a multiple of the device count (the padding repeats the last point and
is dropped from the results), and sharded with `NamedSharding` over a one-axis mesh
made by `jax.make_mesh(..., axis_types=(AxisType.Auto,))` (diffrax and `vmap` of
`scan` work under Auto axes; the default Explicit axes reject them). Every point runs
the same optimizer program as [`iterates`][numerics.iterates] (the traced recurrence,
started on its slow manifold), with $h$ and the hyper-parameters traced, so one
compilation serves the whole grid. Large grids run in chunks (each a multiple of the
device count, same compiled function) so that a progress bar can advance.

The same code runs on one CPU, on 8 simulated CPU devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=8`), on GPUs, and on several hosts
after `jax.distributed.initialize()` (docs/networks.md has a recipe).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

import derive

from ._models import Model, get_model
from ._precision import uses_float64
from ._typing import Array, LossFunction, PyTree

__all__ = ["sweep", "SweepResult", "grid_mesh"]

_COMPILED: dict[tuple[Any, ...], tuple[Callable[..., Any], Any, tuple[Any, ...]]] = {}
"""Compiled sweeps, keyed by what they were built from (a repeated sweep with other
grid values reuses the compilation)."""


@dataclass(frozen=True)
class SweepResult:
    """Result of [`sweep`][numerics.networks.sweep].

    **Attributes:**

    - `axes`: `{name: values}` for each grid axis (`"h"`, hyper-parameters,
      `"seed"` or `"point"`), in grid order.
    - `grid`: `{name: array}`, the coordinates of every point (flat, length `size`).
    - `losses`: `(size, len(steps))` losses at the recorded `steps`.
    - `final`: `(size,)` final losses (NaN where the iterates diverged).
    - `diverged_at`: `(size,)` first divergent step or -1.
    - `steps`: the recorded step indices.
    - `devices`, `seconds`: the devices used and the wall time of the run
      (compilation included).
    """

    axes: dict[str, list[float] | list[int]]
    grid: dict[str, NDArray[Any]]
    losses: NDArray[np.float64]
    final: NDArray[np.float64]
    diverged_at: NDArray[np.int_]
    steps: NDArray[np.int_]
    devices: list[str]
    seconds: float

    @property
    def size(self) -> int:
        return int(self.final.shape[0])

    def reshape(self, values: npt.ArrayLike) -> NDArray[Any]:
        """`values` (leading axis `size`) with the grid's axes restored."""
        shape = tuple(len(v) for v in self.axes.values())
        array = np.asarray(values)
        return array.reshape(shape + array.shape[1:])

    def table(self) -> str:
        """A Markdown table of the grid points and their final losses."""
        names = list(self.grid)
        lines = [
            "| " + " | ".join(names) + " | final loss | diverged at |",
            "|" + "---|" * (len(names) + 2),
        ]
        for i in range(self.size):
            cells = [f"{self.grid[n][i]:.6g}" for n in names]
            d = int(self.diverged_at[i])
            cells += [f"{self.final[i]:.6g}", str(d) if d >= 0 else "-"]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def grid_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
    """A one-axis mesh `("grid",)` over `devices` (default: all), with Auto axes."""
    used = list(jax.devices() if devices is None else devices)
    return jax.make_mesh(
        (len(used),),
        ("grid",),
        axis_types=(jax.sharding.AxisType.Auto,),
        devices=used,
    )


def _point_runner(
    rec: derive.Recurrence,
    loss: LossFunction,
    init_fn: Callable[[Array], PyTree] | None,
    x0s: PyTree | None,
    n_steps: int,
    every: int,
    init: str,
    nodes: int,
    names: list[str],
) -> Callable[[Array, Array, Array, Array], tuple[Array, Array, Array]]:
    from ._iterates import _program_step
    from ._manifold_start import ManifoldStart
    from ._pytree import norm

    grad = jax.grad(loss)
    n_rec = n_steps // every

    def run(
        h: Array, hyper: Array, seed: Array, point: Array
    ) -> tuple[Array, Array, Array]:
        params = dict(zip(names, hyper, strict=True))
        if x0s is not None:
            x0 = jax.tree_util.tree_map(lambda v: v[point], x0s)
        elif init_fn is not None:
            x0 = init_fn(jax.random.PRNGKey(seed))
        else:  # pragma: no cover - sweep refuses a loss without initial points
            raise ValueError("no initial point")
        start = ManifoldStart(rec, nodes if init == "manifold" else 0, params)
        state = tuple(start(loss, x0, h))
        step = _program_step(rec, grad, h, params)
        bound = 1e8 * (1.0 + norm(x0))

        def inner(
            carry: tuple[tuple[PyTree, ...], Array, Array], _: None
        ) -> tuple[tuple[tuple[PyTree, ...], Array, Array], Array]:
            state, first, n = carry
            for _k in range(every):
                state = step(state)
            n = n + every
            r = norm(state[0])
            bad = ~jnp.isfinite(r) | (r > bound)
            first = jnp.where((first < 0) & bad, n, first)
            # freeze a diverged run, so that nothing overflows
            state = jax.tree_util.tree_map(
                lambda new, old: jnp.where(first >= 0, old, new), state, carry[0]
            )
            return (state, first, n), loss(state[0])

        (state, first, _), losses = jax.lax.scan(
            inner, (state, jnp.array(-1), jnp.array(0)), None, length=n_rec
        )
        losses = jnp.concatenate([loss(x0)[None], losses])
        final = jnp.where(first >= 0, jnp.nan, losses[-1])
        return losses, final, first

    return run


@uses_float64
def sweep(
    optimizer: derive.OptimizerDefinition,
    model: str | Model | LossFunction,
    *,
    h: Sequence[float],
    n_steps: int,
    params: Mapping[str, Sequence[float]] | None = None,
    seeds: Sequence[int] = (0,),
    x0: PyTree | None = None,
    every: int = 1,
    init: str = "manifold",
    manifold_nodes: int = 3,
    devices: Sequence[jax.Device] | None = None,
    shard: bool = True,
    chunk: int | None = None,
    progress: bool = True,
) -> SweepResult:
    """Run an optimizer on a grid of (step size, hyper-parameters, seed or initial
    point), as one compiled `jit(vmap(...))` sharded over the devices.

    **Arguments:**

    - `optimizer`: a `derive.Recurrence` (symbolic hyper-parameters may be swept:
      `derive.heavy_ball()` has a symbolic `beta`), or a built-in name.
    - `model`: a name in `numerics.networks.MODELS`, a
      [`Model`][numerics.networks.Model], or a loss on pytrees (then give `x0`).
    - `h`: the step sizes.
    - `n_steps`: iterations per point.
    - `params`: `{name: values}` for each symbolic hyper-parameter (swept).
    - `seeds`: initial parameters `model.init(PRNGKey(seed))`, one grid axis.
    - `x0`: initial points instead of seeds: a pytree whose leaves have a leading
      axis, one entry per point (for one point `p`:
      `jax.tree_util.tree_map(lambda v: v[None], p)`).
    - `every`: record the loss every `every` steps (`n_steps` is rounded down to a
      multiple).
    - `init`: `"manifold"` (start on the slow manifold, `manifold_nodes` trees) or
      `"rest"` (all states equal to $x_0$).
    - `devices`: the devices (default: all visible); `shard=False` runs on one
      device, without sharding (the reference the sharded run must equal).
    - `chunk`: points per compiled call (rounded up to a multiple of the device
      count; default: the whole grid at once).
    - `progress`: print device information and a progress bar (rich).

    **Returns:** a [`SweepResult`][numerics.networks.SweepResult].

    !!! example
        ```python
        >>> import derive
        >>> from numerics.networks import sweep
        >>> res = sweep(derive.heavy_ball(), "teacher-student", h=[0.05, 0.1],
        ...             params={"beta": [0.0, 0.5]}, seeds=[0, 1], n_steps=20,
        ...             progress=False)
        >>> res.size, res.reshape(res.final).shape
        (8, (2, 2, 2))

        ```
    """
    from derive import DeriveError

    rec = _recurrence(optimizer)
    values = {k: [float(v) for v in vs] for k, vs in (params or {}).items()}
    missing = [p for p in rec.parameters if p not in values]
    unknown = [p for p in values if p not in rec.parameters]
    if unknown:
        raise DeriveError(
            f"{unknown} are not symbolic hyper-parameters of {rec.name} "
            f"(those are {list(rec.parameters) or 'none'}).",
            "Build the optimizer with symbolic parameters, e.g. derive.heavy_ball().",
        )
    if missing:
        raise DeriveError(
            f"no values for the symbolic hyper-parameter(s) {missing} of {rec.name}.",
            "Give them as params={'beta': [0.5, 0.9]}.",
        )
    names = list(rec.parameters)
    init_fn: Callable[[Array], PyTree] | None
    if isinstance(model, str):
        model = get_model(model)
    if isinstance(model, Model):
        loss, init_fn = model.loss, model.init
    elif callable(model):
        loss, init_fn = model, None
    else:
        raise DeriveError(f"{model!r} is not a model.", "Pass a name or a loss.")
    x0s = None
    last_axis: tuple[str, list[int]]
    if x0 is not None:
        x0s = jax.tree_util.tree_map(lambda v: jnp.asarray(v, jnp.float64), x0)
        n_points = int(jax.tree_util.tree_leaves(x0s)[0].shape[0])
        last_axis = ("point", list(range(n_points)))
    elif init_fn is None:
        raise DeriveError("a loss was given without initial points.", "Pass x0=...")
    else:
        last_axis = ("seed", [int(s) for s in seeds])
    every = max(1, int(every))
    n_steps = (int(n_steps) // every) * every
    if n_steps < every:
        raise DeriveError("n_steps must be at least `every`.", "")

    axes: dict[str, list[float] | list[int]] = {
        "h": [float(v) for v in h],
        **values,
        last_axis[0]: last_axis[1],
    }
    points = list(itertools.product(*axes.values()))
    size = len(points)
    cols = list(zip(*points, strict=True))
    grid = {k: np.asarray(c) for k, c in zip(axes, cols, strict=True)}

    used = list(jax.devices() if devices is None else devices)
    if not shard:
        used = used[:1]
    n_dev = len(used)
    per_call = size if chunk is None else max(1, int(chunk))
    per_call = math.ceil(per_call / n_dev) * n_dev
    n_calls = math.ceil(size / per_call)
    padded = n_calls * per_call

    def column(name: str, dtype: npt.DTypeLike) -> NDArray[Any]:
        c = np.asarray(grid[name], dtype=dtype)
        return np.concatenate([c, np.repeat(c[-1:], padded - size)])

    hs = column("h", np.float64)
    hyper = (
        np.stack([column(n, np.float64) for n in names], axis=-1)
        if names
        else (np.zeros((padded, 0)))
    )
    last = column(last_axis[0], np.int64)
    seed_col = last if last_axis[0] == "seed" else np.zeros(padded, np.int64)
    point_col = last if last_axis[0] == "point" else np.zeros(padded, np.int64)

    key = (
        id(rec),
        id(loss),
        id(init_fn),
        id(x0s),
        n_steps,
        every,
        init,
        manifold_nodes,
        tuple(names),
        tuple(used),
        shard,
    )
    cached = _COMPILED.get(key)
    if cached is None:
        run = _point_runner(
            rec, loss, init_fn, x0s, n_steps, every, init, manifold_nodes, names
        )
        batched = jax.vmap(run)
        sharding: Any
        compiled: Callable[..., Any]
        if shard:
            from jax.sharding import NamedSharding
            from jax.sharding import PartitionSpec as P

            sharding = NamedSharding(grid_mesh(used), P("grid"))
            compiled = jax.jit(batched, in_shardings=sharding, out_shardings=sharding)
        else:
            sharding = used[0]
            compiled = jax.jit(batched)
        # the objects in the key stay alive with the entry, so their ids stay unique
        cached = (compiled, sharding, (rec, loss, init_fn, x0s))
        if len(_COMPILED) >= 32:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = cached
    compiled, sharding = cached[0], cached[1]

    def put(a: NDArray[Any]) -> Array:
        return jax.device_put(a, sharding)

    say = _reporter(progress)
    say.info(
        f"sweep of {rec.name} on {getattr(model, 'name', 'loss')}: {size} points "
        f"({' x '.join(f'{len(v)} {k}' for k, v in axes.items())}), {n_steps} steps, "
        f"padded to {padded} on {n_dev} device(s): "
        f"{', '.join(str(d) for d in used[:4])}{' ...' if n_dev > 4 else ''}"
        f" [{jax.process_count()} process(es)]"
    )
    start = time.perf_counter()
    outs = []
    with say.bar(n_calls) as advance:
        for k in range(n_calls):
            sl = slice(k * per_call, (k + 1) * per_call)
            out = compiled(
                put(hs[sl]), put(hyper[sl]), put(seed_col[sl]), put(point_col[sl])
            )
            outs.append(_fetch(out))
            advance()
    seconds = time.perf_counter() - start
    losses = np.concatenate([o[0] for o in outs])[:size]
    final = np.concatenate([o[1] for o in outs])[:size]
    first = np.concatenate([o[2] for o in outs])[:size]
    say.info(f"done in {seconds:.2f} s")
    return SweepResult(
        axes=axes,
        grid=grid,
        losses=losses,
        final=final,
        diverged_at=first,
        steps=np.arange(0, n_steps + 1, every),
        devices=[str(d) for d in used],
        seconds=seconds,
    )


def _fetch(out: PyTree) -> Any:
    """The full results on this process (gathered from every host when several)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(out, tiled=True)
    return jax.device_get(out)


def _recurrence(optimizer: derive.OptimizerDefinition) -> derive.Recurrence:
    """The recurrence, with every hyper-parameter left symbolic (the sweep's grid
    gives them numbers)."""
    return derive.optimizer(optimizer)


class _reporter:
    """Progress output with rich (quiet when `enabled` is false)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def info(self, message: str) -> None:
        if self.enabled:
            from rich.console import Console

            Console(stderr=True).print(message, highlight=False)

    def bar(self, total: int) -> AbstractContextManager[Callable[[], None]]:
        if not self.enabled:
            return contextlib.nullcontext(lambda: None)

        @contextlib.contextmanager
        def ctx() -> Iterator[Callable[[], None]]:
            from rich.console import Console
            from rich.progress import Progress

            with Progress(console=Console(stderr=True), transient=False) as bar:
                task = bar.add_task("sweep (chunks)", total=total)
                yield lambda: bar.advance(task)

        return ctx()
