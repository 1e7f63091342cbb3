"""A loss known both symbolically (SymPy) and numerically (JAX), with its landmarks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._typing import Array, LossFunction, PyTree

if TYPE_CHECKING:
    import sympy

__all__ = ["CriticalPoint", "Loss"]


@dataclass(frozen=True)
class CriticalPoint:
    """A documented critical point: `kind` is "global minimum", "local minimum",
    "saddle" or "local maximum"; `value` is the loss there."""

    point: tuple[float, ...]
    value: float
    kind: str


@dataclass(frozen=True, eq=False)
class Loss:
    """A loss with a SymPy form and a JAX form made from the same definition.

    **Attributes:**

    - `name`: the registry name (`"rosenbrock"`).
    - `expression`: the exact SymPy expression in `variables`.
    - `variables`: the coordinates, SymPy symbols, in order.
    - `fn`: the JAX function of a 1-D array of the coordinates (same order).
    - `critical_points`: documented [`CriticalPoint`][numerics.CriticalPoint]s.
    - `start`: the recommended start, or `None`.
    - `horizon`: the gradient-flow time $T_{gf}$ for order tests: the flow
      $\\dot x = c_0 g$ of an optimizer with leading coefficient $c_0$ is compared on
      $[0, T_{gf}/c_0]$. `None` means "choose from the curvature at the start".
    - `scale`: a note on curvature and conditioning.
    - `description`: the definition in words, with its reference.

    Calling the loss, `loss(x)`, evaluates the JAX form.
    """

    name: str
    expression: sympy.Expr
    variables: tuple[sympy.Symbol, ...]
    fn: LossFunction
    critical_points: tuple[CriticalPoint, ...] = ()
    start: tuple[float, ...] | None = None
    horizon: float | None = None
    scale: str = ""
    description: str = ""

    def __call__(self, x: PyTree) -> Array:
        return self.fn(x)

    @property
    def dimension(self) -> int:
        return len(self.variables)

    @property
    def minima(self) -> tuple[CriticalPoint, ...]:
        """The documented minima (global first)."""
        return tuple(c for c in self.critical_points if c.kind.endswith("minimum"))

    def __repr__(self) -> str:
        return f"Loss({self.name!r}: {self.expression})"

    def record(self) -> dict[str, Any]:
        """A JSON-ready description (for certificates)."""
        return {
            "name": self.name,
            "expression": str(self.expression),
            "variables": [str(v) for v in self.variables],
            "start": None if self.start is None else list(self.start),
            "horizon": self.horizon,
            "scale": self.scale,
            "minima": [
                {"point": list(c.point), "value": c.value, "kind": c.kind}
                for c in self.minima
            ],
        }
