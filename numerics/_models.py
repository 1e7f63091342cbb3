"""Small real networks and their full-batch losses, with parameters as pytrees.

Four built-in models, each a [`Model`][numerics.networks.Model] with a deterministic
full-batch `loss(params)` and an `init(key)` that draws parameters (float64):

| name | model | data |
|------|-------|------|
| `digits-mlp` | MLP with tanh or GELU (or relu, linear) | scikit-learn digits (1797 images 8x8, 10 classes) |
| `deep-linear` | product of square matrices | Gaussian inputs, targets from a random linear map |
| `digits-cnn` | two 3x3 convolutions (tanh), dense head | scikit-learn digits as 8x8 images |
| `teacher-student` | tanh MLP student | targets from a random tanh teacher of the same shape |

Activations are smooth (tanh, GELU), so every derivative that a modified flow needs
exists (DESIGN, Data and models); `relu` (piecewise linear: the Hessian exists almost
everywhere, higher derivatives of the activation vanish) and `linear` (a deep linear
network with biases) are there for the comparison of GD with gradient flow. The digits ship with scikit-learn: no download. Any
user function `loss(params)` on a pytree (plain JAX, equinox, flax) is accepted
wherever a built-in one is; the models here are plain dictionaries of arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._precision import uses_float64
from ._sample_mean import SampleMean
from ._typing import Array, LossFunction, PyTree

_Activation = Callable[[Array], Array]
_DataLoss = Callable[[Array, Array], Array]

__all__ = ["Model", "MODELS", "get_model", "digits"]


@dataclass(frozen=True)
class Model:
    """A network with its data: a full-batch loss on a pytree of parameters.

    **Attributes:**

    - `name`: the model's name (`"digits-mlp"`, ...).
    - `loss`: `loss(params) -> scalar`, deterministic and full-batch.
    - `init`: `init(key) -> params`, a pytree of float64 arrays.
    - `options`: the options it was built with.
    - `description`: one line.
    - `batch_loss`, `data`: where the loss is a mean over samples,
      `batch_loss(params, batch)` (the mean over `batch`) and the samples, so that
      `loss(params) == batch_loss(params, data)`; `None` otherwise.
    """

    name: str
    loss: LossFunction
    init: Callable[[Array], PyTree]
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    batch_loss: Callable[[PyTree, PyTree], Array] | None = None
    data: PyTree | None = None

    def __post_init__(self) -> None:
        # certificates and reports name a loss by its function's name
        try:
            self.loss.__name__ = self.name
        except (AttributeError, TypeError):
            pass

    @property
    def n_params(self) -> int:
        """The number of parameters (from `init(PRNGKey(0))`'s shapes, no compute)."""
        shapes = jax.eval_shape(self.init, jax.random.PRNGKey(0))
        return sum(int(np.prod(s.shape)) for s in jax.tree_util.tree_leaves(shapes))

    def __call__(self, params: PyTree) -> Array:
        return self.loss(params)

    def sample_mean(self, chunk: int) -> SampleMean:
        """The same loss as a [`SampleMean`][numerics.networks.SampleMean] evaluated
        `chunk` samples at a time (for [`fast_field`][numerics.networks.fast_field] on
        data whose full-batch arrays outgrow the caches).

        !!! example
            ```python
            >>> import jax
            >>> from numerics.networks import get_model
            >>> model = get_model("digits-mlp", n=300)
            >>> params = model.init(jax.random.PRNGKey(0))
            >>> f = model.sample_mean(chunk=128)   # 2 chunks of 128, then 44 samples
            >>> bool(abs(f(params) - model.loss(params)) < 1e-14)
            True

            ```
        """
        if self.batch_loss is None or self.data is None:
            from derive import DeriveError

            raise DeriveError(
                f"the model {self.name!r} does not expose its loss as a mean over "
                "samples.",
                "Build a numerics.networks.SampleMean(batch_loss, data, chunk) "
                "from the per-batch loss yourself.",
            )
        out = SampleMean(self.batch_loss, self.data, chunk)
        out.__name__ = self.name
        return out


@uses_float64
def digits(n: int | None = None, *, flat: bool = True) -> tuple[Array, Array]:
    """scikit-learn's digits, scaled to $[0, 1]$: `(X, y)` with one-hot `y` (float64).

    **Arguments:**

    - `n`: keep the first `n` samples (default all 1797).
    - `flat`: `X` of shape `(n, 64)`; otherwise `(n, 8, 8, 1)` images.

    !!! example
        ```python
        >>> import numerics
        >>> X, Y = numerics.networks.digits(100)
        >>> X.shape, Y.shape
        ((100, 64), (100, 10))

        ```
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    X = np.asarray(data.data, dtype=np.float64) / 16.0
    y = np.asarray(data.target)
    if n is not None:
        X, y = X[:n], y[:n]
    Y = np.eye(10)[y]
    if not flat:
        X = X.reshape(-1, 8, 8, 1)
    return jnp.asarray(X), jnp.asarray(Y)


_ACTIVATIONS: dict[str, _Activation] = {
    "tanh": jnp.tanh,
    "gelu": lambda z: jax.nn.gelu(z, approximate=True),
    "relu": jax.nn.relu,
    "linear": lambda z: z,
}


def _activation(name: str) -> _Activation:
    from derive import DeriveError

    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise DeriveError(
            f"unknown activation {name!r}.",
            f"Use one of {', '.join(_ACTIVATIONS)} (tanh and gelu are smooth, so "
            "that the higher derivatives a modified flow needs exist).",
        ) from None


def _dense_init(key: Array, sizes: Sequence[int], scale: float = 1.0) -> PyTree:
    params = {}
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, a, b) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        params[f"W{i}"] = scale * jax.random.normal(k, (a, b)) / np.sqrt(a)
        params[f"b{i}"] = jnp.zeros(b)
    return params


def _mlp_apply(params: PyTree, X: Array, act: _Activation, n_layers: int) -> Array:
    z = X
    for i in range(n_layers):
        z = z @ params[f"W{i}"] + params[f"b{i}"]
        if i < n_layers - 1:
            z = act(z)
    return z


def _data_loss(kind: str) -> _DataLoss:
    from derive import DeriveError

    if kind == "mse":
        return lambda out, Y: 0.5 * jnp.mean(jnp.sum((out - Y) ** 2, axis=-1))
    if kind in ("cross-entropy", "ce"):
        return lambda out, Y: (
            -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(out, axis=-1), axis=-1))
        )
    raise DeriveError(f"unknown data loss {kind!r}.", "Use 'mse' or 'cross-entropy'.")


@uses_float64
def digits_mlp(
    hidden: int | Sequence[int] = (48,),
    activation: str = "tanh",
    data_loss: str = "cross-entropy",
    n: int | None = None,
) -> Model:
    """MLP on the digits: 64 inputs, `hidden` layers, 10 outputs (3,610 parameters
    with the default `hidden=(48,)`)."""
    widths = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    X, Y = digits(n)
    sizes = (64, *widths, 10)
    act, dl = _activation(activation), _data_loss(data_loss)
    n_layers = len(sizes) - 1

    def batch_loss(params: PyTree, batch: tuple[Array, Array]) -> Array:
        return dl(_mlp_apply(params, batch[0], act, n_layers), batch[1])

    def loss(params: PyTree) -> Array:
        return batch_loss(params, (X, Y))

    return Model(
        "digits-mlp",
        loss,
        lambda key: _dense_init(key, sizes),
        {"hidden": widths, "activation": activation, "data_loss": data_loss, "n": n},
        f"MLP {sizes} ({activation}, {data_loss}) on {X.shape[0]} digits",
        batch_loss,
        (X, Y),
    )


@uses_float64
def deep_linear(width: int = 8, depth: int = 3, n: int = 64, seed: int = 0) -> Model:
    """Deep linear network $W_{L} \\cdots W_1 x$ on Gaussian inputs with targets
    $A x$ ($A$ random), squared loss."""
    kx, ka = jax.random.split(jax.random.PRNGKey(seed + 1000))
    X = jax.random.normal(kx, (n, width))
    Y = X @ jax.random.normal(ka, (width, width)).T / np.sqrt(width)

    def batch_loss(params: PyTree, batch: tuple[Array, Array]) -> Array:
        z = batch[0]
        for i in range(depth):
            z = z @ params[f"W{i}"]
        return 0.5 * jnp.mean(jnp.sum((z - batch[1]) ** 2, axis=-1))

    def loss(params: PyTree) -> Array:
        return batch_loss(params, (X, Y))

    def init(key: Array) -> PyTree:
        keys = jax.random.split(key, depth)
        return {
            f"W{i}": jnp.eye(width) + 0.1 * jax.random.normal(k, (width, width))
            for i, k in enumerate(keys)
        }

    return Model(
        "deep-linear",
        loss,
        init,
        {"width": width, "depth": depth, "n": n, "seed": seed},
        f"deep linear network, {depth} layers of width {width}, {n} samples",
        batch_loss,
        (X, Y),
    )


@uses_float64
def digits_cnn(
    channels: Sequence[int] = (4, 8),
    activation: str = "tanh",
    data_loss: str = "cross-entropy",
    n: int | None = None,
) -> Model:
    """A small CNN on the 8x8 digits: 3x3 'SAME' convolutions with `channels`, each
    followed by the activation and 2x2 average pooling, then a dense layer."""
    X, Y = digits(n, flat=False)
    act, dl = _activation(activation), _data_loss(data_loss)
    channels = tuple(channels)
    side = 8 // 2 ** len(channels)

    def apply(params: PyTree, X: Array) -> Array:
        z = X
        for i in range(len(channels)):
            z = jax.lax.conv_general_dilated(
                z,
                params[f"K{i}"],
                (1, 1),
                "SAME",
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )
            z = act(z + params[f"c{i}"])
            n_, h_, w_, c_ = z.shape
            z = z.reshape(n_, h_ // 2, 2, w_ // 2, 2, c_).mean(axis=(2, 4))
        z = z.reshape(z.shape[0], -1)
        return z @ params["W"] + params["b"]

    def batch_loss(params: PyTree, batch: tuple[Array, Array]) -> Array:
        return dl(apply(params, batch[0]), batch[1])

    def loss(params: PyTree) -> Array:
        return batch_loss(params, (X, Y))

    def init(key: Array) -> PyTree:
        keys = jax.random.split(key, len(channels) + 1)
        params, c_in = {}, 1
        for i, c in enumerate(channels):
            params[f"K{i}"] = jax.random.normal(keys[i], (3, 3, c_in, c)) / np.sqrt(
                9 * c_in
            )
            params[f"c{i}"] = jnp.zeros(c)
            c_in = c
        d = side * side * c_in
        params["W"] = jax.random.normal(keys[-1], (d, 10)) / np.sqrt(d)
        params["b"] = jnp.zeros(10)
        return params

    return Model(
        "digits-cnn",
        loss,
        init,
        {
            "channels": channels,
            "activation": activation,
            "data_loss": data_loss,
            "n": n,
        },
        f"CNN {channels} ({activation}, {data_loss}) on {X.shape[0]} digits",
        batch_loss,
        (X, Y),
    )


@uses_float64
def teacher_student(
    d: int = 8,
    hidden: int = 16,
    n: int = 128,
    teacher_hidden: int | None = None,
    seed: int = 0,
) -> Model:
    """Regression of a random tanh teacher MLP by a tanh student MLP, squared loss."""
    teacher_width = hidden if teacher_hidden is None else teacher_hidden
    kx, kt = jax.random.split(jax.random.PRNGKey(seed + 2000))
    X = jax.random.normal(kx, (n, d))
    teacher = _dense_init(kt, (d, teacher_width, 1), scale=2.0)
    Y = _mlp_apply(teacher, X, jnp.tanh, 2)

    def batch_loss(params: PyTree, batch: tuple[Array, Array]) -> Array:
        out = _mlp_apply(params, batch[0], jnp.tanh, 2)
        return 0.5 * jnp.mean((out - batch[1]) ** 2)

    def loss(params: PyTree) -> Array:
        return batch_loss(params, (X, Y))

    return Model(
        "teacher-student",
        loss,
        lambda key: _dense_init(key, (d, hidden, 1)),
        {
            "d": d,
            "hidden": hidden,
            "n": n,
            "teacher_hidden": teacher_width,
            "seed": seed,
        },
        f"tanh student ({d}, {hidden}, 1) of a tanh teacher, {n} samples",
        batch_loss,
        (X, Y),
    )


MODELS: dict[str, Callable[..., Model]] = {
    "digits-mlp": digits_mlp,
    "deep-linear": deep_linear,
    "digits-cnn": digits_cnn,
    "teacher-student": teacher_student,
}


def get_model(name: str, **options: Any) -> Model:
    """A built-in network with its data by name, e.g. `get_model("digits-mlp",
    hidden=(32,), n=200)`.

    **Arguments:**

    - `name`: one of `numerics.networks.MODELS`: `digits-mlp` (options `hidden`,
      `activation` = `tanh`|`gelu`|`relu`|`linear`, `data_loss` = `cross-entropy`|`mse`, `n` samples),
      `deep-linear` (`width`, `depth`, `n`, `seed`), `digits-cnn` (`channels`,
      `activation`, `data_loss`, `n`), `teacher-student` (`d`, `hidden`, `n`,
      `teacher_hidden`, `seed`).
    - `options`: passed to the model's factory; each is checked first (names, types,
      ranges), with a [`DeriveError`][derive.DeriveError] that names a wrong one.

    **Returns:** a [`Model`][numerics.networks.Model] (`.loss(params)`, `.init(key)`).

    !!! example
        ```python
        >>> import jax, numerics
        >>> model = numerics.networks.get_model("digits-mlp", n=100)
        >>> params = model.init(jax.random.PRNGKey(0))
        >>> model.n_params, bool(model.loss(params) > 0)
        (3610, True)

        ```
    """
    from derive import DeriveError

    from ._model_options import check_options

    key = name.strip().lower().replace("_", "-")
    if key not in MODELS:
        raise DeriveError(
            f"unknown model {name!r}.", f"The built-in models are {', '.join(MODELS)}."
        )
    check_options(key, options)
    try:
        return MODELS[key](**options)
    except TypeError as e:
        raise DeriveError(f"bad options for model {key!r}: {e}.", "") from None
