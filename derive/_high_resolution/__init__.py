"""High-resolution modified equations: second order in time, with $h$ a parameter."""

from .equation import ODE_CONVENTIONS as ODE_CONVENTIONS
from .equation import EquationTerm as EquationTerm
from .equation import ExplicitODE as ExplicitODE
from .equation import HighResolutionODE as HighResolutionODE
from .equation import high_resolution_ode as high_resolution_ode

__all__ = [
    "ODE_CONVENTIONS",
    "EquationTerm",
    "ExplicitODE",
    "HighResolutionODE",
    "high_resolution_ode",
]
