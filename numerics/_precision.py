"""Float64 for verification, scoped to each call: importing `numerics` changes nothing.

In float32 the round-off floor of an order test sits near $10^{-6}$, which hides the
$h^3$ and $h^4$ error terms of a second- or third-order flow (DESIGN, Numerics). Every
entry point of `numerics` therefore computes inside JAX's 64-bit mode
([`float64`][numerics.float64]), and leaves the mode as it found it: a program that
imports `numerics` keeps JAX's default precision for its own arrays. Arrays returned
by an entry point are float64; to keep computing on them in float64 outside it,
turn the mode on for the whole program with [`enable_x64`][numerics.enable_x64] (or
`jax.config.update("jax_enable_x64", True)`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, TypeVar

__all__ = ["enable_x64", "float64", "uses_float64"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _x64_context() -> AbstractContextManager[Any]:
    import jax

    scoped: Callable[[bool], AbstractContextManager[Any]] | None = getattr(
        jax, "enable_x64", None
    )  # jax >= 0.6
    if scoped is None:  # pragma: no cover - older JAX
        # only older JAX has it, so the installed JAX's stubs may not declare it
        from jax.experimental import enable_x64  # type: ignore[attr-defined]

        return enable_x64()
    return scoped(True)


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Run a block in JAX's 64-bit mode, restoring the previous mode after it.

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> with numerics.float64():
        ...     print(jnp.zeros(1).dtype)
        float64

        ```
    """
    import jax

    if jax.config.read("jax_enable_x64"):
        yield
        return
    with _x64_context():
        import jax.numpy as jnp

        if jnp.zeros(()).dtype != jnp.float64:  # pragma: no cover - broken install
            raise RuntimeError(
                "JAX's 64-bit mode could not be enabled; numerics needs float64."
            )
        yield


def uses_float64(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate an entry point so that its body runs inside [`float64`][numerics.float64]."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with float64():
            return fn(*args, **kwargs)

    return wrapper


def enable_x64() -> None:
    """Turn on JAX's 64-bit mode for the whole program (an explicit opt-in).

    The entry points of `numerics` do not need it (each computes in float64 on its
    own); call it when your own code should compute in float64 too, before creating
    arrays: arrays made earlier keep their 32-bit dtype.

    !!! example
        ```python
        >>> import jax.numpy as jnp, numerics
        >>> numerics.enable_x64()
        >>> jnp.zeros(1).dtype
        dtype('float64')

        ```
    """
    import jax

    if not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    if jnp.zeros(()).dtype != jnp.float64:  # pragma: no cover - a broken JAX install
        raise RuntimeError(
            "JAX's 64-bit mode could not be enabled; numerics needs float64."
        )
