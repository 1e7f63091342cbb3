"""Shared test set-up: JAX in float64 (as diffrax's tests do), where JAX is installed.

The toolkit's own entry points compute in float64 scoped to each call; turning the
mode on for the whole test session also covers the arrays that tests build
themselves.
"""

import importlib.util

if importlib.util.find_spec("jax") is not None:
    import jax

    jax.config.update("jax_enable_x64", True)
