"""Float64 for verification: every entry point of `numerics` turns it on and checks it.

In float32 the round-off floor of an order test sits near $10^{-6}$, which hides the
$h^3$ and $h^4$ error terms of a second- or third-order flow (DESIGN, Numerics).
"""

from __future__ import annotations

__all__ = ["enable_x64"]


def enable_x64() -> None:
    """Turn on JAX's 64-bit mode and assert that it is on.

    Call it before creating arrays: arrays made earlier keep their 32-bit dtype.

    !!! example
        ```python
        >>> import numerics
        >>> numerics.enable_x64()
        >>> numerics.jnp.zeros(1).dtype
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
