"""The trial run of `derive codegen`: a generated module evaluated once on a sample
point before it is written.

Registered under the entry-point group `derive.codegen_trials` (pyproject.toml), so
that `derive codegen` can run it when the `jax` extra is installed while `derive`
itself never imports JAX. The module's text is executed in a fresh namespace and its
vector field evaluated once, in float64, at a sample point (a matrix-free module on a
smooth non-polynomial loss of three variables, an explicit module at its own
variables), with `h = 0.01` and every symbolic parameter at 1/2. A module that raises
(a name that shadows a function, a construct the printer cannot write) is reported as
a [`DeriveError`][derive.DeriveError] naming the exception, so it is never written.
Importing this module is cheap (no JAX).
"""

from __future__ import annotations

from typing import Any

from derive import DeriveError

__all__ = ["run_once"]


def run_once(source: str, name: str) -> bool | None:
    """Run the module `source` once (see the module docs).

    **Returns:** whether the field came out finite at the sample point (a pole there
    is not an error), or `None` when JAX is not installed (a base install: nothing
    was run). **Raises:** [`DeriveError`][derive.DeriveError] if the module raises.
    """
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    from .._precision import float64

    namespace: dict[str, Any] = {"__name__": name}
    args: dict[str, Any] = {"h": 0.01}
    try:
        with float64():
            exec(compile(source, f"<generated module {name}>", "exec"), namespace)
            args.update({p: 0.5 for p in namespace.get("SYMBOLIC_PARAMETERS", ())})
            if "VARIABLES" in namespace:
                y = jnp.linspace(0.3, 0.7, len(namespace["VARIABLES"]))
                out = namespace["vector_field"](0.0, y, args)
            else:

                def loss(w: Any) -> Any:
                    return jnp.sum(jnp.cos(w)) + jnp.sum(w**2) / 2 + jnp.sum(w) ** 3 / 6

                field = namespace["make_vector_field"](loss)
                out = field(0.0, jnp.linspace(0.3, 0.7, 3), args)
            leaves = jax.tree_util.tree_leaves(out)
            return all(bool(jnp.all(jnp.isfinite(v))) for v in leaves)
    except Exception as error:
        raise DeriveError(
            f"the generated module {name} fails when it is run on a sample point "
            f"({type(error).__name__}: {error}), so it was not written.",
            "This is a limitation of the code generator for this input: please report "
            "it with the command. --no-trial writes the module anyway.",
        ) from error
