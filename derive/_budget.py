"""Work estimates: refuse, with a figure, what would run for hours or exhaust memory.

Three things grow without bound in a derivation:

- **trees**: a flow of order $p$ has one coefficient per rooted tree with up to
  $p + 1$ nodes (20,299 trees at order 12);
- **symbolic parameters**: each coefficient is a rational function in the symbolic
  hyper-parameters and $h$, whose size grows exponentially with their number (FLINT
  aborts the whole process, without an exception, when memory runs out: 120
  parameters did so at 3.7 GB);
- **expressions on a concrete loss**: the explicit field differentiates the loss
  $p + 1$ times, and expressions such as `sin(x*y)*exp(x+y)/(1+x**2)` swell.

The first two are estimated before any work starts (`check_flow_work`); the third is
measured as it grows (`check_expression_size`), so that a derivation stops with a
[`DeriveError`][derive.DeriveError] and exit status 2 instead of a hang or an abort.
The limits are module constants, overridden for one call with `work_limits`
(`derive flow --max-work N --max-size N`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._errors import DeriveError

if TYPE_CHECKING:
    import sympy

    from ._recurrence import Recurrence

__all__ = [
    "MAX_SYMBOLIC_PARAMETERS",
    "MAX_WORK",
    "MAX_EXPRESSION_SIZE",
    "Limits",
    "work_limits",
    "flow_work",
    "check_flow_work",
    "check_parameter_count",
    "check_expression_size",
]

MAX_SYMBOLIC_PARAMETERS = 12
"""Most symbolic hyper-parameters in one derivation (10 take 4 s at order 2 for a
momentum method, 20 take minutes and gigabytes)."""

MAX_WORK = 40_000
"""Largest accepted work estimate `flow_work` (trees x (1 + symbolic parameters)^3):
heavy ball with symbolic beta passes at order 10 (24,376; about a minute, most of it
printing) and is refused at order 11 (62,504) and 12 (162,392, past 10 minutes)."""

MAX_EXPRESSION_SIZE = 200_000
"""Largest accepted size (SymPy tree nodes) of the explicit field on a concrete loss,
summed over the components of one elementary differential."""

_TREES = [1, 1, 1, 2, 4, 9, 20, 48, 115, 286, 719, 1842, 4766, 12486, 32973]
"""Rooted trees with n nodes (OEIS A000081), n = 0, 1, ..."""


@dataclass(frozen=True)
class Limits:
    """The limits in force (see `work_limits`)."""

    work: int = MAX_WORK
    size: int = MAX_EXPRESSION_SIZE
    parameters: int = MAX_SYMBOLIC_PARAMETERS


_LIMITS: ContextVar[Limits | None] = ContextVar("derive_limits", default=None)


def _limits() -> Limits:
    return _LIMITS.get() or Limits()


@contextlib.contextmanager
def work_limits(work: int | None = None, size: int | None = None) -> Iterator[Limits]:
    """Raise (or lower) the work and size limits inside a `with` block.

    !!! example
        ```python
        >>> import derive
        >>> from derive._budget import work_limits
        >>> with work_limits(work=10):
        ...     derive.modified_flow(derive.heavy_ball(), order=3)
        Traceback (most recent call last):
        ...
        derive._errors.DeriveError: the derivation of heavy-ball to order 3 is estimated at 64 work units (8 trees with up to 4 nodes x (1 + 1 symbolic parameters)^3), above the limit of 10. Give the symbolic parameters values (--param beta=0.9), use a lower --order, or raise the limit with --max-work 64 if you can wait (the estimate grows about 2.6-fold per order).

        ```
    """
    current = _limits()
    token = _LIMITS.set(
        Limits(
            work=current.work if work is None else work,
            size=current.size if size is None else size,
            parameters=current.parameters,
        )
    )
    try:
        yield _limits()
    finally:
        _LIMITS.reset(token)


def flow_work(order: int, n_symbolic: int) -> tuple[int, int]:
    """(work estimate, number of trees) of a flow of order `order` with `n_symbolic`
    symbolic parameters."""
    trees = sum(_TREES[1 : order + 2]) if order + 2 <= len(_TREES) else 10**9
    return trees * (1 + n_symbolic) ** 3, trees


def check_parameter_count(name: str, symbolic: tuple[str, ...]) -> None:
    """Refuse more symbolic parameters than the limit, before tracing (the field of
    rational functions in many variables is what exhausts memory)."""
    limit = _limits().parameters
    n = len(symbolic)
    if n > limit:
        raise DeriveError(
            f"{name!r} has {n} symbolic hyper-parameters, more than {limit}: its exact "
            f"coefficients are rational functions in {n + 1} variables, whose size "
            "grows exponentially with their number (20 parameters already take "
            "minutes and gigabytes at order 2).",
            "Give all but a few of them values (--param NAME=VALUE, or defaults in "
            "the spec's 'param' line).",
        )


def check_flow_work(rec: Recurrence, order: int) -> None:
    """Refuse a derivation whose estimate exceeds the limits (before any work)."""
    check_parameter_count(rec.name, rec.parameters)
    limits = _limits()
    n = len(rec.parameters)
    work, trees = flow_work(order, n)
    if work > limits.work:
        hint = (
            f"Give the symbolic parameters values (--param {rec.parameters[0]}=0.9), "
            "use a lower --order,"
            if n
            else "Use a lower --order"
        )
        raise DeriveError(
            f"the derivation of {rec.name} to order {order} is estimated at {work} "
            f"work units ({trees} trees with up to {order + 1} nodes x (1 + {n} "
            f"symbolic parameters)^3), above the limit of {limits.work}.",
            f"{hint} or raise the limit with --max-work {work} if you can wait (the "
            "estimate grows about 2.6-fold per order).",
        )


def _size(exprs: Iterable[sympy.Basic], limit: int) -> int:
    """Nodes in the expression trees, counting at most to `limit + 1`."""
    import sympy

    count = 0
    for e in exprs:
        for _ in sympy.preorder_traversal(e):
            count += 1
            if count > limit:
                return count
    return count


def check_expression_size(exprs: Iterable[sympy.Basic], what: str) -> None:
    """Refuse expressions (of an explicit field on a concrete loss) past the size
    limit, naming `what` was being computed."""
    limit = _limits().size
    if _size(exprs, limit) > limit:
        raise DeriveError(
            f"the explicit field on this loss swells: {what} has more than {limit} "
            "nodes as a SymPy expression, and the higher-order terms grow faster "
            "still.",
            "Use a lower --order or a simpler loss, generate the matrix-free module "
            "(derive codegen without --loss), or raise the limit with --max-size "
            f"{10 * limit} if you can wait.",
        )
