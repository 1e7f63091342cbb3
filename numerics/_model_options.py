"""The options of the built-in networks: their types and ranges, and what a model of
given options costs (parameters, the memory of a forward pass) before it is built.

[`get_model`][numerics.networks.get_model] checks every option here, so that a wrong
one is answered with a sentence that names it (exit status 2 on the command line),
never a `TypeError` from deep inside JAX; [`check_model_memory`] refuses a model
whose verification would not fit in the memory the machine has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from derive import DeriveError

__all__ = ["check_options", "model_size", "check_model_memory", "DIGITS_SAMPLES"]

DIGITS_SAMPLES = 1797
"""Samples in scikit-learn's digits."""

_Check = Callable[[str, Any], None]


def _positive_int(name: str, value: Any, upper: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DeriveError(
            f"the model option {name} must be a positive integer, got {value!r}.",
            f"Give e.g. {name}=16.",
        )
    if upper is not None and value > upper:
        raise DeriveError(
            f"the model option {name} must be between 1 and {upper}, got {value}.",
            f"Give e.g. {name}={min(200, upper)}.",
        )


def _samples(name: str, value: Any) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (1 <= value <= DIGITS_SAMPLES)
    ):
        raise DeriveError(
            f"the model option {name} (the number of digits used) must be an integer "
            f"between 1 and {DIGITS_SAMPLES}, got {value!r}.",
            f"Give e.g. {name}=200, or leave it out for all {DIGITS_SAMPLES}.",
        )


def _widths(name: str, value: Any, max_layers: int | None = None) -> None:
    items = value if isinstance(value, tuple | list) else (value,)
    ok = len(items) > 0 and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in items
    )
    if not ok:
        raise DeriveError(
            f"the model option {name} must be a positive integer or a tuple of "
            f"positive integers (one per layer), got {value!r}.",
            f'Give e.g. {name}=16 or "{name}=(32,16)".',
        )
    if max_layers is not None and len(items) > max_layers:
        raise DeriveError(
            f"the model option {name} has {len(items)} layers; at most {max_layers} "
            "fit the 8x8 digits (each halves the image).",
            f'Give e.g. "{name}=(4,8)".',
        )


def _choice(*allowed: str) -> _Check:
    def check(name: str, value: Any) -> None:
        if value not in allowed:
            raise DeriveError(
                f"the model option {name} must be one of {', '.join(allowed)}, got "
                f"{value!r}.",
                f"Give e.g. {name}={allowed[0]}.",
            )

    return check


def _seed(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DeriveError(
            f"the model option {name} must be a non-negative integer, got {value!r}.",
            f"Give e.g. {name}=0.",
        )


def _optional_positive(name: str, value: Any) -> None:
    if value is not None:
        _positive_int(name, value)


_ACTIVATION = _choice("tanh", "gelu", "relu", "linear")  # numerics._models._ACTIVATIONS
_DATA_LOSS = _choice("cross-entropy", "ce", "mse")

OPTIONS: dict[str, dict[str, _Check]] = {
    "digits-mlp": {
        "hidden": _widths,
        "activation": _ACTIVATION,
        "data_loss": _DATA_LOSS,
        "n": _samples,
    },
    "deep-linear": {
        "width": _positive_int,
        "depth": _positive_int,
        "n": _positive_int,
        "seed": _seed,
    },
    "digits-cnn": {
        "channels": lambda name, value: _widths(name, value, max_layers=3),
        "activation": _ACTIVATION,
        "data_loss": _DATA_LOSS,
        "n": _samples,
    },
    "teacher-student": {
        "d": _positive_int,
        "hidden": _positive_int,
        "n": _positive_int,
        "teacher_hidden": _optional_positive,
        "seed": _seed,
    },
}


def check_options(model: str, options: Mapping[str, Any]) -> None:
    """Check a built-in model's options: known names, types and ranges."""
    known = OPTIONS.get(model)
    if known is None:
        return
    for name, value in options.items():
        if name not in known:
            raise DeriveError(
                f"unknown option {name!r} for the model {model}.",
                f"Its options are {', '.join(known)}.",
            )
        known[name](name, value)


def _tuple(value: Any, default: tuple[int, ...]) -> tuple[int, ...]:
    if value is None:
        return default
    return tuple(value) if isinstance(value, tuple | list) else (int(value),)


def model_size(model: str, options: Mapping[str, Any]) -> tuple[int, int]:
    """`(parameters, values held by one forward pass)` of a built-in model with these
    (checked) options, from the shapes alone: nothing is allocated."""
    o = dict(options)
    if model == "digits-mlp":
        widths = _tuple(o.get("hidden"), (48,))
        n = o.get("n") or DIGITS_SAMPLES
        sizes = (64, *widths, 10)
        params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        return params, n * sum(sizes)
    if model == "deep-linear":
        width, depth, n = o.get("width", 8), o.get("depth", 3), o.get("n", 64)
        return depth * width * width, n * width * (depth + 1)
    if model == "digits-cnn":
        channels = _tuple(o.get("channels"), (4, 8))
        n = o.get("n") or DIGITS_SAMPLES
        params, c_in, side, held = 0, 1, 8, n * 64
        for c in channels:
            params += 9 * c_in * c + c
            held += n * side * side * c
            c_in, side = c, side // 2
        params += side * side * c_in * 10 + 10
        return params, held + n * 10
    if model == "teacher-student":
        d, hidden, n = o.get("d", 8), o.get("hidden", 16), o.get("n", 128)
        return d * hidden + 2 * hidden + 1, n * (d + hidden + 1)
    return 0, 0


def check_model_memory(
    model: str, options: Mapping[str, Any], order: int, available: int | None
) -> int:
    """Estimate the bytes verifying `model` at `order` needs, and refuse it when more
    than `available`: per field evaluation about $2(P + 2)$ copies of a forward
    pass's values (nested forward-mode passes over a backward pass), and the
    parameters for the $P + 1$ flows in the 13 stages of the solver.

    **Returns:** the estimate in bytes.
    """
    from ._verify.budget import format_bytes

    params, held = model_size(model, options)
    need = 8 * (2 * (order + 2) * 2 * held + 14 * (order + 1) * params)
    if available is not None and need > 0.8 * available:
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "defaults"
        raise DeriveError(
            f"the model {model} ({shown}) has {params:,} parameters and one forward "
            f"pass holds {held:,} values ({format_bytes(8 * held)}); verifying it at "
            f"order {order} needs about {format_bytes(need)} of memory, more than the "
            f"{format_bytes(available)} this machine has available.",
            "Use a smaller model (fewer or narrower layers, fewer samples with n=...), "
            "or a lower --order.",
        )
    return need
