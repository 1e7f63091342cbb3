"""SGD against SGD with momentum at equal effective learning rates, on the digits MLP.

One training run is mini-batch SGDM in PyTorch's convention, $v \\leftarrow \\mu v +
\\nabla f_{\\mathcal B}(\\theta)$, $\\theta \\leftarrow \\theta - \\eta v$ ($\\mu = 0$:
SGD), with $\\eta = \\eta_{\\text{ef}} (1 - \\mu)$ for the effective learning rate
$\\eta_{\\text{ef}} = \\eta/(1-\\mu)$ (Fu et al., arXiv 2306.09000). Batches are drawn
by random reshuffling; when the batch size $B$ does not divide the $n$ samples, the
last $n \\bmod B$ samples of every reshuffled epoch are dropped (PyTorch's
`drop_last=True`), so every step sees exactly $B$ samples. Every `record_every` steps
the run records the full-batch training loss and the directional sharpness
$u^\\top H u/|u|^2$ of the full-batch loss (on a fixed subset of the data) along the
last update $u = -\\eta v$ (`numerics.directional_sharpness`). A run whose loss leaves
the finite numbers or exceeds `blowup` times its initial value is declared divergent
and frozen, so nothing overflows and nothing is reported as data after that.

[`momentum_sweep`][numerics.momentum_sweep] runs the grid (effective learning rate x
momentum x seed) for every batch size as a `jit(vmap(...))` sharded over the devices
with `NamedSharding` (as `numerics.networks.sweep`); the batch size sets the array
shapes, so each batch size is one compiled program of the same code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from ._precision import uses_float64
from ._typing import Array, LossFunction, PyTree

Run = Callable[[Array, Array, Array, Array], tuple[Array, Array, Array, Array]]
"""One training run `(eta_ef, mu, seed index, seed) -> (losses, sharpness, first
divergent step or -1, final parameters flattened)`, to vmap over the grid."""

__all__ = ["momentum_sweep", "MomentumSweep"]


@dataclass
class MomentumSweep:
    """Result of [`momentum_sweep`][numerics.momentum_sweep]; arrays are indexed
    `[batch size, momentum, effective learning rate, seed, ...]`.

    - `final`: the final full-batch loss (NaN where the run diverged).
    - `diverged_at`: the first divergent step, or -1.
    - `losses`: the full-batch loss at `record_steps` (the start included).
    - `sharpness`: the directional sharpness along the update at `record_steps` (at
      step 0 along the full-batch gradient, the first update's direction; NaN after
      divergence).
    - `params`: the final parameters, flattened (frozen where a run diverged), and
      `unravel` to rebuild the pytree; `full_loss` is the full-batch loss on it;
      `initial` the first seed's initial parameters, flattened.
    - `dropped`: per batch size, the samples dropped from every epoch.
    """

    batch_sizes: list[int]
    mus: list[float]
    etas: list[float]
    seeds: list[int]
    steps: int
    record_every: int
    n_data: int
    final: NDArray[np.float64]
    diverged_at: NDArray[np.int64]
    losses: NDArray[np.float64]
    sharpness: NDArray[np.float64]
    dropped: dict[int, int]
    seconds: dict[int, float]
    devices: list[str]
    model: str
    params: NDArray[np.float64]
    unravel: Callable[[Array], PyTree]
    full_loss: LossFunction
    initial: NDArray[np.float64]

    @property
    def record_steps(self) -> NDArray[np.int64]:
        return np.arange(0, self.steps + 1, self.record_every)


def _index_table(n: int, batch: int, steps: int, seed: int) -> NDArray[np.int64]:
    """The samples of every step: random reshuffling, drop-last; `(steps, batch)`."""
    per_epoch = n // batch
    rng = np.random.default_rng(10_000 + seed)
    epochs = -(-steps // per_epoch)
    rows = []
    for _ in range(epochs):
        perm = rng.permutation(n)[: per_epoch * batch]
        rows.append(perm.reshape(per_epoch, batch))
    return np.concatenate(rows)[:steps]


def _runner(
    apply: Callable[[PyTree, Array], Array],
    data_loss: Callable[[Array, Array], Array],
    X: Array,
    Y: Array,
    Xs: Array,
    Ys: Array,
    init: Callable[[Array], PyTree],
    table: Array | None,
    records: int,
    every: int,
    blowup: float,
) -> Run:
    """One training run; `table` holds the samples of every step for every seed
    (`None`: full batch)."""
    from jax.flatten_util import ravel_pytree

    from ._hessian import directional_sharpness

    def loss_on(p: PyTree, Xb: Array, Yb: Array) -> Array:
        return data_loss(apply(p, Xb), Yb)

    def full(p: PyTree) -> Array:
        return loss_on(p, X, Y)

    def subset(p: PyTree) -> Array:
        return loss_on(p, Xs, Ys)

    grad = jax.grad(loss_on)

    def run(
        eta_ef: Array, mu: Array, seed_index: Array, seed: Array
    ) -> tuple[Array, Array, Array, Array]:
        eta = eta_ef * (1.0 - mu)
        p0 = init(jax.random.PRNGKey(seed))
        v0 = jax.tree_util.tree_map(jnp.zeros_like, p0)
        l0 = full(p0)
        idx = None if table is None else table[seed_index]

        def step(state: tuple[PyTree, PyTree], i: Array) -> tuple[Any, None]:
            p, v = state
            if idx is None:
                g = grad(p, X, Y)
            else:
                rows = idx[i]
                g = grad(p, X[rows], Y[rows])
            v = jax.tree_util.tree_map(lambda a, b: mu * a + b, v, g)
            p = jax.tree_util.tree_map(lambda a, b: a - eta * b, p, v)
            return (p, v), None

        def record(
            carry: tuple[PyTree, PyTree, Array], r: Array
        ) -> tuple[tuple[PyTree, PyTree, Array], tuple[Array, Array]]:
            p, v, first = carry
            (p2, v2), _ = jax.lax.scan(step, (p, v), r * every + jnp.arange(every))
            loss = full(p2)
            u = jax.tree_util.tree_map(lambda a: -eta * a, v2)
            s = directional_sharpness(subset, p2, u)
            bad = ~jnp.isfinite(loss) | (loss > blowup * l0) | ~jnp.isfinite(s)
            first = jnp.where((first < 0) & bad, (r + 1) * every, first)
            dead = first >= 0
            p2 = jax.tree_util.tree_map(lambda a, b: jnp.where(dead, a, b), p, p2)
            v2 = jax.tree_util.tree_map(lambda a, b: jnp.where(dead, a, b), v, v2)
            return (p2, v2, first), (
                jnp.where(dead, jnp.nan, loss),
                jnp.where(dead, jnp.nan, s),
            )

        (p, _, first), (losses, sharp) = jax.lax.scan(
            record, (p0, v0, jnp.array(-1)), jnp.arange(records)
        )
        losses = jnp.concatenate([l0[None], losses])
        # at the start, the first update of every run points along the gradient
        s0 = directional_sharpness(subset, p0, jax.grad(full)(p0))
        sharp = jnp.concatenate([s0[None], sharp])
        return losses, sharp, first, ravel_pytree(p)[0]

    return run


@uses_float64
def momentum_sweep(
    *,
    batch_sizes: Sequence[int],
    etas: Sequence[float],
    mus: Sequence[float],
    seeds: Sequence[int] = (0,),
    steps: int = 400,
    record_every: int = 8,
    hidden: Sequence[int] = (48,),
    n_data: int | None = None,
    sharpness_samples: int = 256,
    blowup: float = 10.0,
    devices: Sequence[jax.Device] | None = None,
    progress: Callable[[str], None] | None = None,
) -> MomentumSweep:
    """Train the digits MLP with SGD and SGDM over a grid, one sharded sweep per batch
    size (see the module docs).

    **Arguments:**

    - `batch_sizes`: batch sizes $B$ ($1 \\le B \\le n$; $B = n$ is full batch).
    - `etas`: effective learning rates $\\eta_{\\text{ef}} = \\eta/(1-\\mu)$.
    - `mus`: momenta ($0$: SGD).
    - `seeds`: initialisations (and batch orders: SGD and SGDM share both).
    - `steps`, `record_every`: the step budget and the recording interval (`steps`
      is rounded down to a multiple of it).
    - `hidden`, `n_data`: the MLP's hidden layers, the number of digits used.
    - `sharpness_samples`: the data subset for the directional sharpness.
    - `blowup`: divergence when the loss exceeds this factor times its initial value.

    **Returns:** a [`MomentumSweep`][numerics.MomentumSweep].

    !!! example
        ```python
        >>> import numerics
        >>> res = numerics.momentum_sweep(batch_sizes=[100], etas=[0.5], mus=[0.0, 0.9],
        ...                               steps=8, record_every=4, n_data=200)
        >>> res.final.shape, bool(res.final[0, 0, 0, 0] < res.losses[0, 0, 0, 0, 0])
        ((1, 2, 1, 1), True)

        ```
    """
    from derive import DeriveError

    from ._models import _activation, _data_loss, _dense_init, _mlp_apply, digits
    from ._sweep import _fetch, grid_mesh

    say = progress or (lambda message: None)
    X, Y = digits(n_data)
    n = int(X.shape[0])
    batch_sizes = [int(b) for b in batch_sizes]
    for b in batch_sizes:
        if b < 1:
            raise DeriveError(f"batch size {b} is not positive.", "Use 1 <= B <= n.")
        if b > n:
            raise DeriveError(
                f"batch size {b} is larger than the data ({n} samples).",
                f"Use a batch size of at most {n} (full batch).",
            )
    etas = [float(e) for e in etas]
    mus = [float(m) for m in mus]
    if any(not e > 0 for e in etas):
        raise DeriveError("every effective learning rate must be positive.", "")
    if any(not 0 <= m < 1 for m in mus):
        raise DeriveError("every momentum must satisfy 0 <= mu < 1.", "")
    record_every = max(1, int(record_every))
    records = int(steps) // record_every
    if records < 1:
        raise DeriveError(
            f"steps = {steps} is below the recording interval {record_every}.", ""
        )
    steps = records * record_every
    sizes = (64, *(int(h) for h in hidden), 10)
    act = _activation("tanh")
    n_layers = len(sizes) - 1

    def apply(p: PyTree, Xb: Array) -> Array:
        return _mlp_apply(p, Xb, act, n_layers)

    def init(key: Array) -> PyTree:
        return _dense_init(key, sizes)

    data_loss = _data_loss("cross-entropy")
    Xs, Ys = X[:sharpness_samples], Y[:sharpness_samples]
    seeds = [int(s) for s in seeds]
    devices = list(jax.devices() if devices is None else devices)
    n_dev = len(devices)
    mesh = grid_mesh(devices)
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    sharding = NamedSharding(mesh, P("grid"))
    grid = [(e, m, si, s) for m in mus for e in etas for si, s in enumerate(seeds)]
    size = len(grid)
    padded = math.ceil(size / n_dev) * n_dev
    cols = list(zip(*(grid + [grid[-1]] * (padded - size)), strict=True))
    shape = (len(mus), len(etas), len(seeds))
    final = np.full((len(batch_sizes), *shape), np.nan)
    first = np.full((len(batch_sizes), *shape), -1, dtype=np.int64)
    losses = np.full((len(batch_sizes), *shape, records + 1), np.nan)
    sharp = np.full((len(batch_sizes), *shape, records + 1), np.nan)
    from jax.flatten_util import ravel_pytree

    flat0, unravel = ravel_pytree(init(jax.random.PRNGKey(0)))
    params = np.zeros((len(batch_sizes), *shape, flat0.shape[0]))
    seconds: dict[int, float] = {}
    dropped: dict[int, int] = {}
    for bi, b in enumerate(batch_sizes):
        full_batch = b == n
        table = (
            None
            if full_batch
            else jnp.asarray(np.stack([_index_table(n, b, steps, s) for s in seeds]))
        )
        dropped[b] = 0 if full_batch else n % b
        run = _runner(
            apply,
            data_loss,
            X,
            Y,
            Xs,
            Ys,
            init,
            table,
            records,
            record_every,
            blowup,
        )
        compiled = jax.jit(jax.vmap(run), in_shardings=sharding, out_shardings=sharding)
        drop = (
            f"; {dropped[b]} of {n} samples dropped from every reshuffled epoch "
            "(drop-last)"
            if dropped[b]
            else ""
        )
        say(
            f"batch size {b}: {size} runs ({len(mus)} momenta x {len(etas)} effective "
            f"learning rates x {len(seeds)} seeds), {steps} steps, on {n_dev} "
            f"device(s){drop}"
        )
        started = time.perf_counter()
        args = [
            jax.device_put(np.asarray(c, dtype=dt), sharding)
            for c, dt in zip(
                cols, (np.float64, np.float64, np.int64, np.int64), strict=True
            )
        ]
        out = _fetch(compiled(*args))
        seconds[b] = time.perf_counter() - started
        ls, ss, fs, ps = (np.asarray(o)[:size] for o in out)
        ls = ls.reshape(*shape, records + 1)
        losses[bi] = ls
        sharp[bi] = ss.reshape(*shape, records + 1)
        params[bi] = ps.reshape(*shape, -1)
        first[bi] = fs.reshape(shape)
        final[bi] = np.where(first[bi] >= 0, np.nan, ls[..., -1])
    return MomentumSweep(
        batch_sizes=batch_sizes,
        mus=mus,
        etas=etas,
        seeds=seeds,
        steps=steps,
        record_every=record_every,
        n_data=n,
        final=final,
        diverged_at=first,
        losses=losses,
        sharpness=sharp,
        dropped=dropped,
        seconds=seconds,
        devices=[str(d) for d in devices],
        model=f"MLP {sizes} (tanh, cross-entropy) on {n} digits",
        params=params,
        unravel=unravel,
        initial=np.asarray(ravel_pytree(init(jax.random.PRNGKey(seeds[0])))[0]),
        full_loss=lambda p: data_loss(apply(p, X), Y),
    )
