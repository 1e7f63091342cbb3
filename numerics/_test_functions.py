"""The built-in test functions: definitions, documented critical points, starts.

Each is one Python function of a *math namespace* and the coordinates,
`def rosenbrock(m, x, y): return (1 - x)**2 + 100*(y - x**2)**2`, evaluated with the
SymPy namespace for the exact expression and with `jax.numpy` for the JAX form (see
`numerics._losses`). The documented minima are from the catalogue of Surjanovic &
Bingham, *Virtual Library of Simulation Experiments* (sfu.ca/~ssurjano), recomputed
here to 15 digits; references for each function are in `numerics._losses`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ._loss import CriticalPoint

__all__ = ["DEFINITIONS", "Definition", "MathNamespace", "SympyMath", "JaxMath"]


# ---------------------------------------------------------------------- namespaces


class MathNamespace(Protocol):
    """What a test function's definition uses: elementary functions, $\\pi$, and
    `frac(p, q)` for exact non-integer constants."""

    pi: Any

    def cos(self, x: Any, /) -> Any: ...
    def sin(self, x: Any, /) -> Any: ...
    def exp(self, x: Any, /) -> Any: ...
    def tanh(self, x: Any, /) -> Any: ...
    def sqrt(self, x: Any, /) -> Any: ...
    def log(self, x: Any, /) -> Any: ...
    def frac(self, p: int, q: int, /) -> Any: ...


class SympyMath:
    """The math namespace that builds exact SymPy expressions."""

    def __init__(self) -> None:
        import sympy

        self.cos, self.sin, self.exp = sympy.cos, sympy.sin, sympy.exp
        self.tanh, self.sqrt, self.log = sympy.tanh, sympy.sqrt, sympy.log
        self.pi = sympy.pi
        self.frac = sympy.Rational


class JaxMath:
    """The math namespace of `jax.numpy`."""

    def __init__(self) -> None:
        import jax.numpy as jnp

        self.cos, self.sin, self.exp = jnp.cos, jnp.sin, jnp.exp
        self.tanh, self.sqrt, self.log = jnp.tanh, jnp.sqrt, jnp.log
        self.pi = math.pi

    @staticmethod
    def frac(p: int, q: int, /) -> float:
        return p / q


# ---------------------------------------------------------------------- definitions


def _rosenbrock(m: MathNamespace, x: Any, y: Any) -> Any:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _himmelblau(m: MathNamespace, x: Any, y: Any) -> Any:
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _beale(m: MathNamespace, x: Any, y: Any) -> Any:
    return (
        (m.frac(3, 2) - x + x * y) ** 2
        + (m.frac(9, 4) - x + x * y**2) ** 2
        + (m.frac(21, 8) - x + x * y**3) ** 2
    )


def _six_hump_camel(m: MathNamespace, x: Any, y: Any) -> Any:
    return (
        (4 - m.frac(21, 10) * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2
    )


def _styblinski_tang(m: MathNamespace, x: Any, y: Any) -> Any:
    return (x**4 - 16 * x**2 + 5 * x + y**4 - 16 * y**2 + 5 * y) / 2


def _rastrigin(m: MathNamespace, x: Any, y: Any) -> Any:
    return 20 + x**2 - 10 * m.cos(2 * m.pi * x) + y**2 - 10 * m.cos(2 * m.pi * y)


def _double_well(m: MathNamespace, x: Any, y: Any) -> Any:
    return (x**2 - 1) ** 2 + (y - x**2 / 2) ** 2


def _quartic_saddle(m: MathNamespace, x: Any, y: Any) -> Any:
    return x**4 / 4 - x**2 / 2 + y**2 / 2 + x * y


_ST = -2.90353402777117709511891759551  # root of 4 x^3 - 32 x + 5 (global)
_ST_LOCAL = 2.74680277099083699245305330947
_ST_MAX = 0.156731256780340102665864286037


def _st_value(a: float, b: float) -> float:
    return (a**4 - 16 * a**2 + 5 * a + b**4 - 16 * b**2 + 5 * b) / 2


_CAMEL_MIN = (0.0898420131003180624224905606221, -0.712656403020739633397265814228)
_CAMEL_LOCAL = (-1.7036067149699808487709039621, 0.796083568672625119025700434982)
_CAMEL_HIGH = (1.60710475292019722976200443758, 0.5686514548841313713934047272)

_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class Definition:
    function: Callable[[MathNamespace, Any, Any], Any]
    critical_points: tuple[CriticalPoint, ...]
    start: tuple[float, float]
    horizon: float
    scale: str
    description: str


def _cp(x: float, y: float, value: float, kind: str) -> CriticalPoint:
    return CriticalPoint((float(x), float(y)), float(value), kind)


DEFINITIONS: dict[str, Definition] = {
    "rosenbrock": Definition(
        _rosenbrock,
        (_cp(1, 1, 0, "global minimum"),),
        (-1.2, 1.0),
        0.005,
        "stiff: Hessian eigenvalues 24 and 1506 at the start, 0.40 and 1001.6 at the "
        "minimum (condition number ~2500); the short horizon covers the fast descent "
        "into the curved valley, where the small eigenvalue turns slightly negative "
        "(-0.09)",
        "(1 - x)^2 + 100 (y - x^2)^2 (Rosenbrock 1960): a curved narrow valley.",
    ),
    "himmelblau": Definition(
        _himmelblau,
        (
            _cp(3, 2, 0, "global minimum"),
            _cp(
                -2.80511808695274485305357239809,
                3.13131251825057296580430072341,
                0,
                "global minimum",
            ),
            _cp(
                -3.77931025337774689189076584129,
                -3.28318599128616941226600051437,
                0,
                "global minimum",
            ),
            _cp(
                3.58442834033049174494433823938,
                -1.84812652696440355353830020904,
                0,
                "global minimum",
            ),
            _cp(
                -0.27084459066734761303933618293,
                -0.923038556479981463132824158627,
                181.616521522582704044166388251,
                "local maximum",
            ),
        ),
        (0.0, 0.0),
        0.06,
        "Hessian -diag(42, 26) at the start, in the concave cap around the local "
        "maximum; eigenvalues from -42 to 40 along the verification path, 26 and 82 at "
        "the minimum (3, 2)",
        "(x^2 + y - 11)^2 + (x + y^2 - 7)^2 (Himmelblau 1972): four global minima.",
    ),
    "beale": Definition(
        _beale,
        (_cp(3, 0.5, 0, "global minimum"),),
        (1.0, 1.0),
        0.02,
        "Hessian eigenvalues -9.8 and 78 at the start, 0.30 and 49 at the minimum "
        "(3, 1/2) (condition number ~160); flat plateaus and steep walls",
        "(3/2 - x + xy)^2 + (9/4 - x + xy^2)^2 + (21/8 - x + xy^3)^2 (Beale 1958).",
    ),
    "six-hump-camel": Definition(
        _six_hump_camel,
        (
            _cp(*_CAMEL_MIN, -1.03162845348987735041636543715, "global minimum"),
            _cp(
                -_CAMEL_MIN[0],
                -_CAMEL_MIN[1],
                -1.03162845348987735041636543715,
                "global minimum",
            ),
            _cp(*_CAMEL_LOCAL, -0.215463824383717637577787366229, "local minimum"),
            _cp(
                -_CAMEL_LOCAL[0],
                -_CAMEL_LOCAL[1],
                -0.215463824383717637577787366229,
                "local minimum",
            ),
            _cp(*_CAMEL_HIGH, 2.10425031031125827460920711812, "local minimum"),
            _cp(
                -_CAMEL_HIGH[0],
                -_CAMEL_HIGH[1],
                2.10425031031125827460920711812,
                "local minimum",
            ),
            _cp(0, 0, 0, "saddle"),
        ),
        (0.3, 0.05),
        0.5,
        "Hessian eigenvalues -8.0 and 5.9 at the start, next to the saddle at the "
        "origin (+-8.06); from -8.0 to 12.9 along the verification path, 7.7 and 16.5 "
        "at the global minima",
        "(4 - 2.1 x^2 + x^4/3) x^2 + x y + (4 y^2 - 4) y^2 (Dixon & Szego 1978): six "
        "local minima, two of them global, a saddle at the origin.",
    ),
    "styblinski-tang": Definition(
        _styblinski_tang,
        (
            _cp(_ST, _ST, _st_value(_ST, _ST), "global minimum"),
            _cp(_ST, _ST_LOCAL, _st_value(_ST, _ST_LOCAL), "local minimum"),
            _cp(_ST_LOCAL, _ST, _st_value(_ST_LOCAL, _ST), "local minimum"),
            _cp(_ST_LOCAL, _ST_LOCAL, _st_value(_ST_LOCAL, _ST_LOCAL), "local minimum"),
            _cp(_ST_MAX, _ST_MAX, _st_value(_ST_MAX, _ST_MAX), "local maximum"),
        ),
        (0.0, -0.5),
        0.3,
        "separable; Hessian diag(-16, -14.5) at the start, near the local maximum at "
        "(0.157, 0.157); eigenvalues up to 34.6 on the way to the global minimum",
        "(x^4 - 16 x^2 + 5 x + y^4 - 16 y^2 + 5 y)/2 (Styblinski & Tang 1990), 2-D.",
    ),
    "rastrigin": Definition(
        _rastrigin,
        ((_cp(0, 0, 0, "global minimum")),),
        (0.45, 0.3),
        0.012,
        "oscillatory: Hessian eigenvalues 2 + 40 pi^2 cos(2 pi x_i), between -393 and "
        "397 (-373 and -120 at the start, 397 at the minimum)",
        "20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y) (Rastrigin 1974): a local "
        "minimum near every integer point, the global one at the origin.",
    ),
    "double-well": Definition(
        _double_well,
        (
            _cp(1, 0.5, 0, "global minimum"),
            _cp(-1, 0.5, 0, "global minimum"),
            _cp(0, 0, 1, "saddle"),
        ),
        (0.1, -0.4),
        1.0,
        "Hessian eigenvalues -3.1 and 2.0 at the start, diag(-4, 2) at the saddle "
        "(0, 0), 1.5 and 10.5 at the minima; up to 8.2 along the verification path",
        "(x^2 - 1)^2 + (y - x^2/2)^2 (defined here): two wells at (+-1, 1/2) joined "
        "over a saddle at the origin along a parabolic valley.",
    ),
    "quartic-saddle": Definition(
        _quartic_saddle,
        (
            _cp(_SQRT2, -_SQRT2, -1, "global minimum"),
            _cp(-_SQRT2, _SQRT2, -1, "global minimum"),
            _cp(0, 0, 0, "saddle"),
        ),
        (0.3, 0.4),
        1.0,
        "Hessian [[3x^2 - 1, 1], [1, 1]]: indefinite for |x| < sqrt(2/3), eigenvalues "
        "+-sqrt 2 at the saddle, ~5.2 and ~0.8 at the minima",
        "x^4/4 - x^2/2 + y^2/2 + x y (defined here): a non-degenerate saddle at the "
        "origin and two minima at +-(sqrt 2, -sqrt 2).",
    ),
}
