"""Stochastic modified equations of SGD and SGD with momentum, and their weak order.

Li, Tai & E, *Stochastic modified equations and dynamics of stochastic gradient
algorithms I: mathematical foundations*, JMLR 20 (2019), model SGD with step $h$ on
$f = \\frac1n \\sum_i f_i$ by the Itô SDE

$$dX = b(X)\\, dt + \\sqrt{h}\\, c_0\\, \\Sigma(X)^{1/2} dW, \\qquad t = n h,$$

with $\\Sigma(x)$ the covariance of the mini-batch gradient: for batches of $B$ samples
drawn with replacement $\\Sigma = \\frac1B \\mathrm{Cov}_i \\nabla f_i$, without
replacement $\\frac{n - B}{B (n - 1)} \\mathrm{Cov}_i \\nabla f_i$. The drift $b$ is the
modified flow of the full-batch optimizer (`derive.modified_flow`): order 0 gives weak
order 1, $b = -\\nabla f$; order 1 adds the correction $-\\frac h2 \\nabla^2 f \\nabla f
= -\\frac h4 \\nabla |\\nabla f|^2$ and gives weak order 2 (LTE, Theorem 3). For SGD
with momentum (PyTorch convention) the same construction uses heavy ball's flow,
$b = -\\nabla f/(1 - \\mu) - h\\frac{1 + \\mu}{2 (1-\\mu)^3} \\nabla^2 f \\nabla f$,
and $c_0 = 1/(1-\\mu)$: the momentum sums the fresh noise of each step with weights
$\\mu^j$, so the position receives it amplified by the effective learning rate; the
iterates start on the slow manifold. The diffusion uses the samples themselves: $\\Sigma
= \\sigma \\sigma^\\top$ with $\\sigma = [\\nabla f_i - \\nabla f]_i / \\sqrt{n B'}$, so no
matrix square root is taken ($W$ has one component per sample).

[`sme_weak_error`][numerics.sme_weak_error] measures $|\\mathbb{E} \\varphi(x_N) -
\\mathbb{E} \\varphi(X(T))|$ against $h$ with Monte Carlo ensembles, each one
`jit(vmap(...))` over seeds, reports the statistical error of every estimate, and
fits a slope only over the step sizes where the bias exceeds its error bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

import derive

from ._iterates import State, run_program
from ._precision import uses_float64
from ._typing import Array, ArrayLike, LossFunction, Parameters, PyTree, VectorField

if TYPE_CHECKING:
    import diffrax

__all__ = [
    "StochasticModifiedEquation",
    "stochastic_modified_equation",
    "sme_weak_error",
    "WeakError",
]

SOLVERS = ("sra1", "shark", "euler", "milstein")


@dataclass(frozen=True)
class StochasticModifiedEquation:
    """An SME made by [`stochastic_modified_equation`][numerics.stochastic_modified_equation].

    - `drift(t, x, args)`, `diffusion(t, x, args)` (a `(d, n)` matrix): diffrax
      vector fields, `args = {"h": h}`.
    - `recurrence`, `order` (of the drift's flow), `batch_size`, `replacement`,
      `n_samples`, `scale` ($c_0$), `loss` (the full loss), `params`.
    """

    recurrence: derive.Recurrence
    order: int
    drift: VectorField
    diffusion: VectorField
    loss: LossFunction
    sample_losses: Sequence[LossFunction]
    batch_size: int
    replacement: bool
    n_samples: int
    scale: float
    params: dict[str, float] = field(default_factory=dict)

    @property
    def weak_order(self) -> int:
        return self.order + 1


def stochastic_modified_equation(
    optimizer: derive.Recurrence,
    sample_losses: Sequence[LossFunction],
    *,
    order: int = 1,
    batch_size: int = 1,
    replacement: bool = True,
    params: Parameters | None = None,
) -> StochasticModifiedEquation:
    """The SME of SGD or SGDM on a data set of per-sample losses.

    **Arguments:**

    - `optimizer`: `derive.sgd()` or `derive.sgdm(mu)` (any recurrence of one state
      and one gradient call per step, or heavy-ball-like two-state ones, works).
    - `sample_losses`: $f_1, \\dots, f_n$, JAX functions of the parameters.
    - `order`: 0 (drift $-c_0 \\nabla f$, weak order 1) or 1 (with the $O(h)$ drift
      correction, weak order 2); higher orders of the drift are allowed but the
      diffusion is kept at leading order, so they do not raise the weak order.
    - `batch_size`: $B$ samples per step; `replacement`: how a batch is drawn.
    - `params`: numbers for symbolic hyper-parameters.

    **Returns:** a [`StochasticModifiedEquation`][numerics.StochasticModifiedEquation].

    !!! example
        ```python
        >>> import derive, numerics, jax.numpy as jnp
        >>> losses = [lambda x, c=c: jnp.sum((x - c) ** 2) / 2 for c in (-1.0, 1.0)]
        >>> sme = numerics.stochastic_modified_equation(derive.sgd(), losses, order=1)
        >>> sme.drift(0.0, jnp.ones(1), {"h": 0.1})       # -(1 + h/2) x
        Array([-1.05], dtype=float64)
        >>> sme.diffusion(0.0, jnp.ones(1), {"h": 0.1})   # sqrt(h/n) (grad f_i - grad f)
        Array([[ 0.2236068, -0.2236068]], dtype=float64)

        ```
    """
    from ._high_resolution import flow_field
    from ._iterates import numeric_parameters

    rec = optimizer
    values = numeric_parameters(rec, params)
    losses = list(sample_losses)
    n = len(losses)
    if n < 2:
        raise derive.DeriveError(
            "the gradient noise needs at least two samples.", "Give two or more losses."
        )
    if not 1 <= batch_size <= n:
        raise derive.DeriveError(
            f"batch size {batch_size} is not between 1 and the {n} samples.",
            "Choose 1 <= batch_size <= number of samples.",
        )
    if order < 0:
        raise derive.DeriveError(f"order must be 0 or more, got {order}.", "")

    def loss(x: PyTree) -> Array:
        total = losses[0](x)
        for f in losses[1:]:
            total = total + f(x)
        return total / n

    flow = derive.bseries_flow(rec, order)
    drift = flow_field(flow, loss, values)
    lead = [t for t in flow.terms if t.power == 0 and t.tree == "[]"]
    scale = float(derive.evaluate(lead[0].coefficient, values)) if lead else 1.0
    effective = batch_size if replacement else batch_size * (n - 1) / (n - batch_size)
    grads = [jax.grad(f) for f in losses]

    def diffusion(t: Any, x: Array, args: Mapping[str, Any]) -> Array:
        G = jnp.stack([g(x) for g in grads])  # (n, d)
        G = G - G.mean(axis=0)
        if not replacement and batch_size == n:
            return jnp.zeros_like(G.T)
        return scale * jnp.sqrt(args["h"] / (n * effective)) * G.T

    return StochasticModifiedEquation(
        recurrence=rec,
        order=order,
        drift=drift,
        diffusion=diffusion,
        loss=loss,
        sample_losses=losses,
        batch_size=batch_size,
        replacement=replacement,
        n_samples=n,
        scale=scale,
        params=values,
    )


def _solver(name: str) -> diffrax.AbstractSolver[Any]:
    import diffrax

    from derive import DeriveError

    table = {
        "sra1": diffrax.SRA1,
        "shark": diffrax.ShARK,
        "euler": diffrax.Euler,
        "milstein": diffrax.ItoMilstein,
    }
    if name not in table:
        raise DeriveError(
            f"unknown SDE solver {name!r}.", f"Use one of {', '.join(SOLVERS)}."
        )
    return table[name]()


def sme_endpoint(
    sme: StochasticModifiedEquation,
    x0: Array,
    h: ArrayLike,
    T: float,
    key: Array,
    *,
    solver: str = "sra1",
    substeps: int = 4,
    max_steps: int = 100_000,
) -> Array:
    """$X(T)$ for one Brownian path (`key`); vmap it over keys. Fixed steps
    $h/$`substeps` ($h$ may be traced: one compilation serves every step size).
    `"sra1"`/`"shark"` (Rößler 2010; strong order 1.5) are for additive noise and hold
    the diffusion at its value at `x0` (exact when the per-sample gradients differ by
    constants); `"euler"`/`"milstein"` take any noise (weak order 1: use many
    substeps)."""
    import diffrax

    n = sme.n_samples
    levy = (
        diffrax.SpaceTimeLevyArea
        if solver in ("sra1", "shark")
        else diffrax.BrownianIncrement
    )
    brownian = diffrax.UnsafeBrownianPath(shape=(n,), key=key, levy_area=levy)
    diffusion = sme.diffusion
    if solver in ("sra1", "shark"):  # additive noise: the diffusion is held at x0

        def held(t: Any, y: Array, args: Mapping[str, Any]) -> Array:
            return sme.diffusion(t, x0, args)

        diffusion = held

    terms: diffrax.MultiTerm[tuple[diffrax.AbstractTerm[Any, Any], ...]] = (
        diffrax.MultiTerm(
            diffrax.ODETerm(sme.drift), diffrax.ControlTerm(diffusion, brownian)
        )
    )
    sol = diffrax.diffeqsolve(
        terms,
        _solver(solver),
        t0=0.0,
        t1=T,
        dt0=h / substeps,
        y0=x0,
        args={"h": h},
        saveat=diffrax.SaveAt(t1=True),
        max_steps=max_steps,
        adjoint=diffrax.DirectAdjoint(),
        throw=False,
    )
    return sol.ys[-1]


def sgd_endpoint(
    sme: StochasticModifiedEquation,
    x0: PyTree,
    h: ArrayLike,
    n_steps: ArrayLike,
    key: Array,
) -> PyTree:
    """The optimizer's iterate after `n_steps` mini-batch steps (batches drawn with
    `key`), started on the slow manifold; vmap it over keys (`h` and `n_steps` may be
    traced)."""
    from ._manifold_start import ManifoldStart

    rec = sme.recurrence
    grads = [jax.grad(f) for f in sme.sample_losses]
    n, B = sme.n_samples, sme.batch_size
    program = rec.coefficient_values(h, **sme.params)

    def batch_grad(x: PyTree, k: Array) -> PyTree:
        G = jnp.stack([g(x) for g in grads])
        if sme.replacement:
            idx = jax.random.randint(k, (B,), 0, n)
        else:
            idx = jax.random.permutation(k, n)[:B]
        return G[idx].mean(axis=0)

    def step(i: Array, state: State) -> State:
        k = jax.random.fold_in(key, i)
        return run_program(rec, program, lambda x: batch_grad(x, k), state)

    start = ManifoldStart(rec, 3, sme.params)
    state = tuple(start(sme.loss, x0, h))
    state = jax.lax.fori_loop(0, n_steps, step, state)
    return state[0]


@dataclass
class WeakError:
    """Result of [`sme_weak_error`][numerics.sme_weak_error].

    - `hs`; `mean_iterates[i]`, `se_iterates[i]`: $\\mathbb{E}\\varphi(x_N)$ and its
      standard error at `hs[i]`; `mean_sme[order][i]`, `se_sme[order][i]` likewise for
      the SME whose drift has that order.
    - `bias[order][i]` $= |\\mathbb{E}\\varphi(x_N) - \\mathbb{E}\\varphi(X(T))|$ and
      `error_bar[order][i]` its standard error; `resolved[order][i]`: bias above
      `z` error bars, so the point may be used.
    - `slopes[order]`: the fitted slope over the resolved points (NaN with fewer than
      two: no slope is claimed); `expected[order]` = order + 1.
    """

    hs: list[float]
    n_paths: int
    mean_iterates: list[float]
    se_iterates: list[float]
    mean_sme: dict[int, list[float]]
    se_sme: dict[int, list[float]]
    bias: dict[int, list[float]]
    error_bar: dict[int, list[float]]
    resolved: dict[int, list[bool]]
    slopes: dict[int, float]
    expected: dict[int, int]
    z: float
    tolerance: float
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(
            math.isfinite(self.slopes[k])
            and abs(self.slopes[k] - self.expected[k]) <= self.tolerance
            for k in self.slopes
        )

    def table(self) -> str:
        """A Markdown table: bias and error bar per step size and SME order."""
        orders = list(self.bias)
        head = "| h | " + " | ".join(
            f"bias, weak order {k + 1} SME (± 1 s.e.)" for k in orders
        )
        lines = [head + " |", "|---|" + "---|" * len(orders)]
        for i, h in enumerate(self.hs):
            cells = []
            for k in orders:
                mark = "" if self.resolved[k][i] else " (unresolved)"
                cells.append(
                    f"{self.bias[k][i]:.3e} ± {self.error_bar[k][i]:.1e}{mark}"
                )
            lines.append(f"| {h:.4g} | " + " | ".join(cells) + " |")
        lines.append(
            "| slope | "
            + " | ".join(
                f"{self.slopes[k]:.3f} (theory {self.expected[k]})" for k in orders
            )
            + " |"
        )
        return "\n".join(lines)


@uses_float64
def sme_weak_error(
    sme_factory: Callable[[int], StochasticModifiedEquation],
    x0: ArrayLike,
    T: float,
    hs: Sequence[float],
    phi: Callable[[PyTree], Array],
    *,
    orders: Sequence[int] = (0, 1),
    n_paths: int = 2**16,
    seed: int = 0,
    solver: str = "sra1",
    substeps: int = 4,
    z: float = 3.0,
    tolerance: float = 0.25,
) -> WeakError:
    """Weak error of SMEs against the mini-batch iterates, by Monte Carlo.

    For each $h$ in `hs` (with $T/h$ whole), `n_paths` runs of the optimizer and
    `n_paths` paths of each SME (one `jit(vmap(...))` over seeds each) give
    $\\mathbb{E}\\varphi$ with its standard error $s/\\sqrt{N}$. The bias of an SME is
    the difference, its error bar the two standard errors combined. A step size is
    *resolved* when the bias exceeds `z` error bars; the slope of log bias against log
    $h$ is fitted over the resolved points only (NaN, and no claim, with fewer than
    two).

    **Arguments:**

    - `sme_factory`: `order -> StochasticModifiedEquation` (the same optimizer and
      data for every order).
    - `x0`, `T`, `hs`: start, horizon, step sizes.
    - `phi`: the test function $\\varphi(x)$ (smooth, scalar).
    - `orders`: drift orders (0: weak order 1, 1: weak order 2).
    - `n_paths`, `seed`: ensemble size and seed.
    - `solver`, `substeps`: the diffrax SDE solver and its steps per $h$.

    **Returns:** a [`WeakError`][numerics.WeakError].
    """
    import time

    from ._order import observed_order

    started = time.perf_counter()
    start = jnp.asarray(x0, jnp.float64)
    smes = {k: sme_factory(k) for k in orders}
    base = smes[orders[0]]
    means_it: list[float] = []
    se_it: list[float] = []
    means: dict[int, list[float]] = {k: [] for k in orders}
    ses: dict[int, list[float]] = {k: [] for k in orders}
    root = jax.random.PRNGKey(seed)
    max_steps = int(round(T / min(hs))) * substeps + 16
    run = jax.jit(
        jax.vmap(
            lambda k, h, n: phi(sgd_endpoint(base, start, h, n, k)), (0, None, None)
        )
    )
    solves = {
        k: jax.jit(
            jax.vmap(
                lambda key, h, sme=sme: phi(
                    sme_endpoint(
                        sme,
                        start,
                        h,
                        T,
                        key,
                        solver=solver,
                        substeps=substeps,
                        max_steps=max_steps,
                    )
                ),
                (0, None),
            )
        )
        for k, sme in smes.items()
    }
    for i, h in enumerate(hs):
        n_steps = int(round(T / h))
        k_it, k_sde = jax.random.split(jax.random.fold_in(root, i))
        keys = jax.random.split(k_it, n_paths)
        vals = np.asarray(run(keys, jnp.float64(h), n_steps))
        means_it.append(float(vals.mean()))
        se_it.append(float(vals.std(ddof=1) / math.sqrt(n_paths)))
        keys = jax.random.split(k_sde, n_paths)
        for k in orders:
            vals = np.asarray(solves[k](keys, jnp.float64(h)))
            means[k].append(float(vals.mean()))
            ses[k].append(float(vals.std(ddof=1) / math.sqrt(n_paths)))
    bias: dict[int, list[float]] = {}
    bar: dict[int, list[float]] = {}
    resolved: dict[int, list[bool]] = {}
    slopes: dict[int, float] = {}
    for k in orders:
        bias[k] = [abs(a - b) for a, b in zip(means_it, means[k], strict=True)]
        bar[k] = [math.hypot(a, b) for a, b in zip(se_it, ses[k], strict=True)]
        resolved[k] = [b > z * e for b, e in zip(bias[k], bar[k], strict=True)]
        use = [b if r else math.nan for b, r in zip(bias[k], resolved[k], strict=True)]
        slopes[k] = observed_order(hs, use)[0]
    return WeakError(
        hs=[float(h) for h in hs],
        n_paths=n_paths,
        mean_iterates=means_it,
        se_iterates=se_it,
        mean_sme=means,
        se_sme=ses,
        bias=bias,
        error_bar=bar,
        resolved=resolved,
        slopes=slopes,
        expected={k: k + 1 for k in orders},
        z=z,
        tolerance=tolerance,
        seconds=time.perf_counter() - started,
    )
