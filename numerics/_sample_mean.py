"""A loss that is a mean over samples, evaluated a chunk of samples at a time.

Every elementary differential of $g = -\\nabla f$ is linear in the per-sample terms
once its directions are known: for $f = \\frac1n \\sum_i \\ell_i$,
$g^{(k)}(x)[v_1, \\dots, v_k] = -\\frac1n \\sum_i \\nabla^{k+1}\\ell_i(x)[v_1, \\dots,
v_k]$. [`SampleMean`][numerics.networks.SampleMean] computes $g$ as a `jax.lax.scan`
over chunks of samples whose body is the chunk's own gradient, so every `jax.jvp` of
$g$ (the nested derivative chains of [`fast_field`][numerics.networks.fast_field])
becomes one scan whose body does the whole nested computation on one chunk: the
working set is a chunk's activations and their tangent streams, not the whole data
set's. (`fast_field` linearises $g$ on the whole batch: a linearised scan keeps its
residuals per chunk and applies them as scans again, which measured slower.)

That matters where the full-batch arrays outgrow the processor's caches while the
gradient's do not: on the digits MLP with 160 hidden units (12,010 parameters, 1797
samples) the third-order chain carries eight tangent streams of $1797 \\times 160$
doubles, about 18 MB (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._typing import Array, GradientFunction, LossFunction, PyTree

__all__ = ["SampleMean", "negative_gradient_of"]

BatchLoss = Callable[[PyTree, PyTree], Array]
"""`batch_loss(params, batch) -> scalar`: the mean loss over the samples of `batch`."""


class SampleMean:
    """$f(x) = \\frac1n \\sum_{i=1}^n \\ell(x, d_i)$, evaluated `chunk` samples at a
    time.

    **Arguments:**

    - `batch_loss`: `batch_loss(params, batch) -> scalar`, the *mean* loss over the
      samples of `batch` (a pytree whose leaves share a leading sample axis).
    - `data`: the samples, a pytree of arrays with a common leading axis of length
      $n$.
    - `chunk`: samples per chunk, $1 \\le$ `chunk` $\\le n$. The first
      $\\lfloor n / \\text{chunk} \\rfloor$ chunks run as one `jax.lax.scan`; the
      remaining samples, if any, as one more call, each weighted by its share of $n$.

    Called as `f(params)` it is a loss like any other (its value is the mean over all
    $n$ samples); [`fast_field`][numerics.networks.fast_field] recognises it and takes
    its gradient chunk by chunk (`negative_gradient()`), so every derivative of the
    gradient runs chunk by chunk too. [`Model.sample_mean`][numerics.networks.Model]
    builds one for a built-in model.

    !!! example
        ```python
        >>> import jax.numpy as jnp
        >>> from numerics.networks import SampleMean
        >>> X = jnp.arange(5.0)
        >>> f = SampleMean(lambda w, x: jnp.mean((w * x - 1.0) ** 2), X, chunk=2)
        >>> float(f(1.0)), float(jnp.mean((X - 1.0) ** 2))   # two chunks + remainder
        (3.0, 3.0)
        >>> float(f.negative_gradient()(1.0))                # -2 mean(x (x - 1))
        -8.0

        ```
    """

    def __init__(self, batch_loss: BatchLoss, data: PyTree, chunk: int):
        from derive import DeriveError

        leaves = jax.tree_util.tree_leaves(data)
        sizes = {int(jnp.shape(v)[0]) if jnp.ndim(v) else -1 for v in leaves}
        if not leaves or len(sizes) != 1 or -1 in sizes:
            raise DeriveError(
                "the data of a sample mean must be arrays with one common leading "
                f"(sample) axis; got leading sizes {sorted(sizes)}.",
                "Pass e.g. (X, Y) with X.shape[0] == Y.shape[0].",
            )
        (n,) = sizes
        if isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= n:
            raise DeriveError(
                f"chunk must be a whole number of samples from 1 to {n}, got {chunk!r}.",
                f"Use e.g. chunk={min(n, 256)}.",
            )
        self.batch_loss = batch_loss
        self.data = data
        self.n = n
        self.chunk = chunk
        full = n // chunk * chunk
        self._chunks = jax.tree_util.tree_map(
            lambda v: v[:full].reshape(n // chunk, chunk, *v.shape[1:]), data
        )
        self._rest = (
            jax.tree_util.tree_map(lambda v: v[full:], data) if full < n else None
        )
        self.__name__ = getattr(batch_loss, "__name__", "sample_mean")

    def _sum(self, fn: Callable[[PyTree], Any]) -> Any:
        """$\\sum_c (|c|/n)\\, \\text{fn}(c)$ over the chunks `c` (a pytree result)."""
        weight = self.chunk / self.n

        def body(acc: Any, batch: PyTree) -> tuple[Any, None]:
            value = fn(batch)
            return jax.tree_util.tree_map(lambda a, v: a + weight * v, acc, value), None

        first = jax.tree_util.tree_map(lambda v: v[0], self._chunks)
        zero = jax.tree_util.tree_map(
            lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, first)
        )
        total, _ = jax.lax.scan(body, zero, self._chunks)
        if self._rest is not None:
            share = (self.n - self.n // self.chunk * self.chunk) / self.n
            rest = fn(self._rest)
            total = jax.tree_util.tree_map(lambda a, v: a + share * v, total, rest)
        return total

    def __call__(self, params: PyTree) -> Array:
        return self._sum(lambda batch: self.batch_loss(params, batch))

    def negative_gradient(self, chunked: bool = True) -> GradientFunction:
        """$g = -\\nabla f$ as a scan over chunks of each chunk's own gradient (its
        derivatives then run chunk by chunk as well); with `chunked=False`, of the
        whole batch at once."""
        grad = jax.grad(self.batch_loss)

        def g(params: PyTree) -> PyTree:
            if chunked:
                total = self._sum(lambda batch: grad(params, batch))
            else:
                total = grad(params, self.data)
            return jax.tree_util.tree_map(jnp.negative, total)

        return g

    def __repr__(self) -> str:
        return f"SampleMean({self.__name__}, n={self.n}, chunk={self.chunk})"


def negative_gradient_of(loss: LossFunction, chunked: bool = True) -> GradientFunction:
    """$-\\nabla f$: a [`SampleMean`][numerics.networks.SampleMean]'s own gradient
    (chunk by chunk unless `chunked=False`), otherwise `jax.grad` of the loss."""
    if isinstance(loss, SampleMean):
        return loss.negative_gradient(chunked)
    from derive.matrix_free import negative_gradient

    return negative_gradient(loss)
