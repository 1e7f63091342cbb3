"""`verify_model`: [`numerics.verify`][numerics.verify] on a network.

Builds the model's full-batch loss and initial parameters (a pytree) and runs the
order test on them; `verify` measures curvature matrix-free for models with more than
`numerics._curvature.DENSE_LIMIT` parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax

import derive

from ._certificate import Certificate
from ._models import Model, get_model
from ._typing import LossFunction, PyTree

__all__ = ["verify_model", "model_options", "check_model"]


def model_options(items: Iterable[str] | None) -> dict[str, Any]:
    """`["hidden=(16,)", "n=200"]` -> `{"hidden": (16,), "n": 200}` (values are Python
    literals; anything else is kept as a string)."""
    import ast

    from derive import DeriveError

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DeriveError(
                f"--model-option {item!r} is not KEY=VALUE.", "E.g. hidden=(16,)."
            )
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


def check_model(name: str, options: dict[str, Any], order: int) -> None:
    """Check a built-in model's options and that verifying it at `order` fits in the
    memory this machine has, before anything is built (a
    [`DeriveError`][derive.DeriveError] otherwise)."""
    from ._model_options import check_model_memory, check_options
    from ._models import MODELS
    from ._verify.budget import available_memory

    key = name.strip().lower().replace("_", "-")
    if key not in MODELS:
        return  # get_model names the built-in ones
    check_options(key, options)
    check_model_memory(key, options, order, available_memory())


def verify_model(
    model: str | Model | LossFunction,
    optimizer: derive.OptimizerDefinition,
    order: int = 2,
    *,
    seed: int = 0,
    x0: PyTree | None = None,
    **options: Any,
) -> Certificate:
    """Verify an optimizer's modified flow on a network: the order test of
    [`numerics.verify`][numerics.verify] with the model's loss and parameters.

    **Arguments:**

    - `model`: a name in `numerics.networks.MODELS` (`"digits-mlp"`, ...), a
      [`Model`][numerics.networks.Model], or any function `loss(params)` on a pytree
      (then `x0` is required).
    - `optimizer`, `order`: as for `verify` (`derive.heavy_ball(0.9)`, 2).
    - `seed`: the initial parameters are `model.init(PRNGKey(seed))`.
    - `x0`: the initial parameters instead (a pytree).
    - `options`: passed to `verify` (`quick`, `hs`, `T`, `params`, `out`,
      `progress`, ...); `model_options={...}` goes to `get_model` for a name.

    **Returns:** a [`Certificate`][numerics.Certificate].

    !!! example
        ```python
        >>> import derive
        >>> from numerics.networks import verify_model
        >>> cert = verify_model("teacher-student", derive.gd(), 0, quick=True,
        ...                     model_options={"d": 2, "hidden": 2, "n": 8})
        >>> cert.passed, cert.record["loss"]["name"]
        (True, 'teacher-student')

        ```
    """
    from ._verify import verify

    model_options = options.pop("model_options", None) or {}
    if isinstance(model, str):
        check_model(model, model_options, order)
        model = get_model(model, **model_options)
    loss: LossFunction
    if isinstance(model, Model):
        loss = model.loss
        if x0 is None:
            x0 = model.init(jax.random.PRNGKey(seed))
    elif callable(model):
        loss = model
        if x0 is None:
            from derive import DeriveError

            raise DeriveError(
                "a loss function was given without initial parameters.",
                "Pass x0=params (a pytree), or a model name.",
            )
    else:
        from derive import DeriveError

        raise DeriveError(f"{model!r} is not a model.", "Pass a name or a loss.")
    return verify(optimizer, order, loss=loss, x0=x0, **options)
