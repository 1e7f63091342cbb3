"""A generated module run once on a sample point before `derive codegen` writes it.

`derive` never imports JAX, so the trial runs in a child Python process (when JAX is
installed there): it executes the module's text, evaluates its vector field once at a
sample point (a matrix-free module on a smooth non-polynomial loss of three variables,
an explicit module at its own variables), with `h = 0.01` and every symbolic parameter
at 1/2, and reports an exception as a [`DeriveError`][derive.DeriveError] that names it.
A module that would fail when run (a name that shadows a function, a construct the
printer cannot write) is therefore never written.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from .._errors import DeriveError

__all__ = ["TRIAL_TIMEOUT", "jax_available", "run_once"]

TRIAL_TIMEOUT = 300.0
"""Seconds the child process may take (imports and compilation included)."""

_TRIAL = r"""
import sys
import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp

namespace = {"__name__": "generated"}
exec(compile(sys.stdin.read(), "<generated module>", "exec"), namespace)
args = {"h": 0.01, **{p: 0.5 for p in namespace.get("SYMBOLIC_PARAMETERS", ())}}
if "VARIABLES" in namespace:
    y = jnp.linspace(0.3, 0.7, len(namespace["VARIABLES"]))
    out = namespace["vector_field"](0.0, y, args)
else:
    def loss(w):
        return jnp.sum(jnp.cos(w)) + jnp.sum(w**2) / 2 + jnp.sum(w) ** 3 / 6
    out = namespace["make_vector_field"](loss)(0.0, jnp.linspace(0.3, 0.7, 3), args)
finite = all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree_util.tree_leaves(out))
print("finite" if finite else "not finite")
"""


def jax_available() -> bool:
    """Whether JAX can be imported (without importing it here)."""
    return importlib.util.find_spec("jax") is not None


def run_once(source: str, name: str) -> bool:
    """Run the module `source` once in a child process (see the module docs).

    **Returns:** whether the field came out finite at the sample point (a pole there
    is not an error). **Raises:** [`DeriveError`][derive.DeriveError] if the module
    raises, or the child process does not finish within `TRIAL_TIMEOUT` seconds.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-c", _TRIAL],
            input=source,
            capture_output=True,
            text=True,
            timeout=TRIAL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise DeriveError(
            f"the generated module {name} did not finish one evaluation at a sample "
            f"point within {TRIAL_TIMEOUT:g} s.",
            "Use a lower --order, or write it without the trial run (--no-trial).",
        ) from error
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {done.returncode}"
        raise DeriveError(
            f"the generated module {name} fails when it is run on a sample point "
            f"({last}), so it was not written.",
            "This is a limitation of the code generator for this input: please report "
            "it with the command. --no-trial writes the module anyway.",
        )
    return done.stdout.strip().endswith("finite") and "not finite" not in done.stdout
