"""The types of the numerical side: arrays, pytrees and the functions built on them.

Type-only: nothing here imports JAX at run time, so the command line's plug-in
modules can use these names and stay cheap to import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import jax

__all__ = [
    "Array",
    "ArrayLike",
    "PyTree",
    "LossFunction",
    "GradientFunction",
    "Parameters",
    "VectorField",
]

Array: TypeAlias = "jax.Array"
"""A JAX array."""

ArrayLike: TypeAlias = "jax.typing.ArrayLike"
"""What JAX takes as an array: JAX and NumPy arrays, Python and NumPy scalars."""

PyTree: TypeAlias = Any
"""A JAX pytree of arrays (a network's parameters, or one array). Any nesting of
lists, tuples, dicts and registered nodes is a pytree, so to a type checker it is
`Any`, as in jaxtyping."""

LossFunction: TypeAlias = Callable[[PyTree], "jax.Array"]
"""A loss: a function from parameters (a pytree) to a scalar array."""

GradientFunction: TypeAlias = Callable[[PyTree], PyTree]
"""$\\nabla f$: a function from parameters to a pytree of the same structure."""

Parameters: TypeAlias = Mapping[str, "float | Fraction"]
"""Numbers for hyper-parameters, by name."""

VectorField: TypeAlias = Callable[[Any, PyTree, Mapping[str, Any]], PyTree]
"""`(t, y, args) -> dy/dt`, diffrax's convention (`args` holds `"h"` and the
symbolic hyper-parameters)."""
