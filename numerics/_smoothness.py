"""Is a loss smooth? Piecewise primitives on parameter-dependent values, found in its jaxpr.

The central flow moves along $\\nabla S$, a third derivative of the loss. A loss that
applies `max`, `abs`, `sign`, ... (relu and its kin) to a value that depends on the
parameters has a Hessian that jumps and a third derivative that vanishes or does not
exist, so the central flow is not defined for it. `check_smooth` traces the loss
once (`jax.make_jaxpr`) and names the primitives it found, including those inside
nested jaxprs (`jit`, `scan`, `cond`, custom derivatives).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

import jax

from ._typing import LossFunction, PyTree

if TYPE_CHECKING:
    from jax.extend.core import Jaxpr, JaxprEqn

__all__ = ["check_smooth", "NONSMOOTH"]

NONSMOOTH = frozenset({"max", "min", "abs", "sign", "floor", "ceil", "round", "clamp"})
"""The piecewise primitives (by their names in a jaxpr)."""


def _subjaxprs(eqn: JaxprEqn) -> Iterator[Jaxpr]:
    """The jaxprs nested in an equation's parameters (a closed jaxpr's inner one)."""
    for v in eqn.params.values():
        for item in v if isinstance(v, list | tuple) else (v,):
            inner = getattr(item, "jaxpr", item)
            if hasattr(inner, "eqns"):  # a Jaxpr (the parameters are untyped)
                yield cast("Jaxpr", inner)


def _nonsmooth_primitives(jaxpr: Jaxpr) -> set[str]:
    """The piecewise primitives applied to a non-constant value, nested jaxprs too."""
    found: set[str] = set()
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in NONSMOOTH and any(
            not hasattr(v, "val") for v in eqn.invars
        ):
            found.add(eqn.primitive.name)
        for sub in _subjaxprs(eqn):
            found |= _nonsmooth_primitives(sub)
    return found


def check_smooth(loss: LossFunction, w: PyTree) -> None:
    """Raise `DeriveError` when the loss uses a piecewise primitive (`max`, `abs`, ...,
    e.g. relu) on a value that depends on the parameters: its Hessian jumps and its
    third derivative, which the central flow needs for $\\nabla S$, is zero or
    undefined.

    **Arguments:**

    - `loss`: $f$, a scalar JAX function of a pytree.
    - `w`: parameters at which to trace it.
    """
    from derive import DeriveError

    found = _nonsmooth_primitives(jax.make_jaxpr(loss)(w).jaxpr)
    if found:
        raise DeriveError(
            f"the loss is not smooth: it applies {', '.join(sorted(found))} to values "
            "that depend on the parameters (relu and its kin). There the Hessian "
            "jumps and the third derivative vanishes or does not exist, but the "
            "central flow moves along grad S, a third derivative.",
            "Use a smooth activation (tanh, gelu, softplus), e.g. "
            "get_model('digits-mlp', activation='tanh').",
        )
