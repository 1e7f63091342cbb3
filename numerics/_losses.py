"""Test losses, defined once and usable symbolically (SymPy) and numerically (JAX).

Each built-in loss is one Python function of a *math namespace* and the coordinates,
`def rosenbrock(m, x, y): return (1 - x)**2 + 100*(y - x**2)**2`. Evaluating it once
with the SymPy namespace gives the exact expression that `derive` differentiates; the JAX
form calls the same function with `jax.numpy`. Constants that are not integers are
written `m.frac(p, q)` so that the SymPy form is exact. The two forms therefore cannot
drift apart; the tests check that they agree at random points and that every documented
critical point is stationary.

Every loss records its critical points (with their kind), a recommended start, a
gradient-flow horizon for order tests (the start and the horizon are chosen so that the
trajectory crosses regions of negative curvature, where the problem is genuinely
non-convex) and a note on its scale.

References: Rosenbrock, *Comput. J.* 3 (1960); Himmelblau, *Applied Nonlinear
Programming* (1972); Beale (1958); Dixon & Szego (1978, six-hump camel); Styblinski &
Tang, *Neural Networks* 3 (1990); Rastrigin (1974); the catalogue of Surjanovic &
Bingham, *Virtual Library of Simulation Experiments* (sfu.ca/~ssurjano), for the
documented minima, which are recomputed here to 15 digits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "Loss",
    "CriticalPoint",
    "LOSSES",
    "get_loss",
    "loss_from_expression",
    "quadratic",
]


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
    expression: object
    variables: tuple
    fn: Callable
    critical_points: tuple[CriticalPoint, ...] = ()
    start: tuple[float, ...] | None = None
    horizon: float | None = None
    scale: str = ""
    description: str = ""

    def __call__(self, x):
        return self.fn(x)

    @property
    def dimension(self) -> int:
        return len(self.variables)

    @property
    def minima(self) -> tuple[CriticalPoint, ...]:
        """The documented minima (global first)."""
        return tuple(c for c in self.critical_points if c.kind.endswith("minimum"))

    def __repr__(self):
        return f"Loss({self.name!r}: {self.expression})"

    def record(self) -> dict:
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


# ---------------------------------------------------------------------- namespaces


class _SympyMath:
    """The math namespace that builds exact SymPy expressions."""

    def __init__(self):
        import sympy

        self.cos, self.sin, self.exp = sympy.cos, sympy.sin, sympy.exp
        self.tanh, self.sqrt, self.log = sympy.tanh, sympy.sqrt, sympy.log
        self.pi = sympy.pi
        self.frac = sympy.Rational


class _JaxMath:
    """The math namespace of `jax.numpy`."""

    def __init__(self):
        import jax.numpy as jnp

        self.cos, self.sin, self.exp = jnp.cos, jnp.sin, jnp.exp
        self.tanh, self.sqrt, self.log = jnp.tanh, jnp.sqrt, jnp.log
        self.pi = math.pi

    @staticmethod
    def frac(p, q):
        return p / q


# ---------------------------------------------------------------------- definitions


def _rosenbrock(m, x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _himmelblau(m, x, y):
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _beale(m, x, y):
    return (
        (m.frac(3, 2) - x + x * y) ** 2
        + (m.frac(9, 4) - x + x * y**2) ** 2
        + (m.frac(21, 8) - x + x * y**3) ** 2
    )


def _six_hump_camel(m, x, y):
    return (
        (4 - m.frac(21, 10) * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2
    )


def _styblinski_tang(m, x, y):
    return (x**4 - 16 * x**2 + 5 * x + y**4 - 16 * y**2 + 5 * y) / 2


def _rastrigin(m, x, y):
    return 20 + x**2 - 10 * m.cos(2 * m.pi * x) + y**2 - 10 * m.cos(2 * m.pi * y)


def _double_well(m, x, y):
    return (x**2 - 1) ** 2 + (y - x**2 / 2) ** 2


def _quartic_saddle(m, x, y):
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
class _Definition:
    function: Callable
    critical_points: tuple[CriticalPoint, ...]
    start: tuple[float, float]
    horizon: float
    scale: str
    description: str


def _cp(x, y, value, kind):
    return CriticalPoint((float(x), float(y)), float(value), kind)


_DEFINITIONS: dict[str, _Definition] = {
    "rosenbrock": _Definition(
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
    "himmelblau": _Definition(
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
    "beale": _Definition(
        _beale,
        (_cp(3, 0.5, 0, "global minimum"),),
        (1.0, 1.0),
        0.02,
        "Hessian eigenvalues -9.8 and 78 at the start, 0.30 and 49 at the minimum "
        "(3, 1/2) (condition number ~160); flat plateaus and steep walls",
        "(3/2 - x + xy)^2 + (9/4 - x + xy^2)^2 + (21/8 - x + xy^3)^2 (Beale 1958).",
    ),
    "six-hump-camel": _Definition(
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
    "styblinski-tang": _Definition(
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
    "rastrigin": _Definition(
        _rastrigin,
        ((_cp(0, 0, 0, "global minimum")),),
        (0.45, 0.3),
        0.012,
        "oscillatory: Hessian eigenvalues 2 + 40 pi^2 cos(2 pi x_i), between -393 and "
        "397 (-373 and -120 at the start, 397 at the minimum)",
        "20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y) (Rastrigin 1974): a local "
        "minimum near every integer point, the global one at the origin.",
    ),
    "double-well": _Definition(
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
    "quartic-saddle": _Definition(
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

LOSSES: tuple[str, ...] = (*_DEFINITIONS, "quadratic")
"""The names [`get_loss`][numerics.get_loss] accepts."""


# ---------------------------------------------------------------------- construction


def _build(name: str, d: _Definition) -> Loss:
    import sympy

    x, y = sympy.symbols("x y")
    expression = sympy.expand(d.function(_SympyMath(), x, y))
    jmath = _JaxMath()
    function = d.function

    def fn(z):
        return function(jmath, z[0], z[1])

    fn.__name__ = name.replace("-", "_")
    fn.__doc__ = f"The {name} loss (JAX form) of a length-2 array."
    return Loss(
        name=name,
        expression=expression,
        variables=(x, y),
        fn=fn,
        critical_points=d.critical_points,
        start=d.start,
        horizon=d.horizon,
        scale=d.scale,
        description=d.description,
    )


def get_loss(name: str, **options) -> Loss:
    """A built-in loss by name.

    **Arguments:**

    - `name`: one of `LOSSES`: `rosenbrock`, `himmelblau`, `beale`, `six-hump-camel`,
      `styblinski-tang`, `rastrigin`, `double-well`, `quartic-saddle`, `quadratic`.
    - `**options`: for `quadratic`, the keyword arguments of
      [`quadratic`][numerics.quadratic] (default: `matrix=[[1, 0], [0, 10]]`).

    **Returns:** a [`Loss`][numerics.Loss].

    !!! example
        ```python
        >>> import numerics
        >>> loss = numerics.get_loss("double-well")
        >>> loss.expression
        5*x**4/4 - x**2*y - 2*x**2 + y**2 + 1
        >>> [c.point for c in loss.minima]
        [(1.0, 0.5), (-1.0, 0.5)]

        ```
    """
    from derive import DeriveError

    key = name.strip().lower().replace("_", "-")
    if key == "quadratic":
        return quadratic(**options)
    if options:
        raise DeriveError(f"the loss {name!r} takes no options.", "Remove them.")
    d = _DEFINITIONS.get(key)
    if d is None:
        import difflib

        close = difflib.get_close_matches(key, LOSSES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DeriveError(
            f"unknown loss {name!r}; the built-in losses are "
            f"{', '.join(LOSSES)}.{hint}",
            "Or give the loss as an expression with its variables, e.g. "
            "loss_from_expression('x**4 - x**2 + y**2', 'x,y').",
        )
    return _build(key, d)


def quadratic(matrix: Sequence[Sequence] = ((1, 0), (0, 10)), *, start=None) -> Loss:
    """The quadratic $f(x) = \\tfrac12 x^\\top A x$ for a symmetric matrix $A$.

    $A$ may be indefinite (a saddle at the origin). Entries are taken exactly (`0.5` is
    $1/2$). The coordinates are `x, y` in two dimensions, `x1, ..., xd` otherwise.

    **Arguments:**

    - `matrix`: the symmetric matrix $A$ (a nested sequence of numbers).
    - `start`: the recommended start (default: all ones).

    **Returns:** a [`Loss`][numerics.Loss]; its scale note gives the eigenvalues of
    $A$; gradient descent is stable exactly for $h < 2/\\lambda_{\\max}(A)$.

    !!! example
        ```python
        >>> import numerics
        >>> numerics.quadratic([[2, 0], [0, -1]]).expression
        x**2 - y**2/2

        ```
    """
    import numpy as np
    import sympy

    from derive import DeriveError, exact_number

    rows = [list(r) for r in matrix]
    d = len(rows)
    if d == 0 or any(len(r) != d for r in rows):
        raise DeriveError(
            "the matrix of a quadratic must be square.", "Pass d rows of d numbers."
        )
    A = sympy.Matrix(d, d, lambda i, j: sympy.Rational(exact_number(rows[i][j])))
    if A != A.T:
        raise DeriveError(
            "the matrix of a quadratic must be symmetric.", "Pass A = A^T."
        )
    xs = sympy.symbols("x y") if d == 2 else sympy.symbols(f"x1:{d + 1}")
    xs = tuple(xs) if isinstance(xs, tuple | list) else (xs,)
    v = sympy.Matrix(xs)
    expression = sympy.expand((v.T * A * v)[0, 0] / 2)
    Af = np.array(A.tolist(), dtype=float)
    eig = np.linalg.eigvalsh(Af)

    def fn(z):
        import jax.numpy as jnp

        M = jnp.asarray(Af)
        return 0.5 * z @ (M @ z)

    kind = (
        "global minimum"
        if eig.min() > 0
        else ("saddle" if eig.max() > 0 and eig.min() < 0 else "critical point")
    )
    lmax = float(np.abs(eig).max()) if d else 1.0
    return Loss(
        name="quadratic",
        expression=expression,
        variables=xs,
        fn=fn,
        critical_points=(CriticalPoint(tuple(0.0 for _ in range(d)), 0.0, kind),),
        start=tuple(float(s) for s in start)
        if start is not None
        else tuple(1.0 for _ in range(d)),
        horizon=3.0 / lmax if lmax > 0 else 1.0,
        scale="eigenvalues " + ", ".join(f"{e:.6g}" for e in eig),
        description=f"x^T A x / 2 with A = {A.tolist()}",
    )


def loss_from_expression(
    expression, variables, *, name: str | None = None, start=None
) -> Loss:
    """A loss from mathematical text or a SymPy expression.

    Text is parsed safely by [`derive.parse_expression`][derive.parse_expression] (a whitelist of numbers,
    names, `+ - * / **`, `sin cos tan exp log sqrt tanh ...`; nothing is evaluated by
    Python); the JAX form is `sympy.lambdify` of the same expression with `jax.numpy`.

    **Arguments:**

    - `expression`: the loss, e.g. `"x**4/4 - x**2/2 + y**2"`.
    - `variables`: its coordinates, `"x,y"` or a sequence of names or symbols.
    - `name`: a name for records (default: the expression).
    - `start`: a recommended start (default: none; [`verify`][numerics.verify] then
      needs `x0`).

    **Returns:** a [`Loss`][numerics.Loss].

    !!! example
        ```python
        >>> import numerics
        >>> import jax.numpy as jnp
        >>> loss = numerics.loss_from_expression("x**4/4 - x**2/2 + y**2", "x,y")
        >>> float(loss(jnp.array([1.0, 1.0])))
        0.75

        ```
    """
    import sympy

    from derive import DeriveError, ParseError, parse_expression

    if isinstance(variables, str):
        names = [v.strip() for v in variables.split(",") if v.strip()]
    else:
        names = [v if isinstance(v, str) else v.name for v in variables]
    bad = [n for n in names if not n.isidentifier() or n.startswith("_")]
    if not names or bad or len(set(names)) != len(names):
        raise DeriveError(
            f"the variables {variables!r} are not distinct names.",
            "Give the coordinates as names separated by commas, e.g. 'x,y'.",
        )
    syms = [sympy.Symbol(n) for n in names]
    if isinstance(expression, str):
        try:
            expr = parse_expression(expression, dict(zip(names, syms, strict=True)))
        except ParseError as e:
            raise DeriveError(f"cannot read the loss: {e}", "") from None
        text = expression
    else:
        expr = sympy.sympify(expression)
        expr = expr.subs({s: sympy.Symbol(s.name) for s in expr.free_symbols})
        text = str(expr)
    extra = sorted({s.name for s in expr.free_symbols} - set(names))
    if extra:
        raise DeriveError(
            f"the loss uses {extra}, which are not among the variables {names}.",
            "List every coordinate in the variables (e.g. --vars x,y), or replace the "
            "symbol by a number.",
        )
    compiled = sympy.lambdify(syms, expr, modules="jax")
    d = len(syms)

    def fn(z):
        import jax.numpy as jnp

        value = compiled(*[z[i] for i in range(d)])
        return jnp.asarray(value, dtype=z.dtype) + 0 * z[0]

    return Loss(
        name=name or text,
        expression=expr,
        variables=tuple(syms),
        fn=fn,
        start=None if start is None else tuple(float(s) for s in start),
        horizon=None,
        description=f"user-defined: {text}",
    )


def resolve_loss(loss, variables=None) -> Loss:
    """A [`Loss`][numerics.Loss] from a `Loss`, a registry name, or an expression."""
    from derive import DeriveError

    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        key = loss.strip().lower().replace("_", "-")
        if variables is None and (key in LOSSES):
            return get_loss(key)
        if variables is None:
            if key.isidentifier() or all(c.isalnum() or c == "-" for c in key):
                return get_loss(key)  # raises with the list of names
            raise DeriveError(
                f"the loss {loss!r} is an expression but no variables were given.",
                "Pass its variables, e.g. variables='x,y' (on the command line "
                "--vars x,y).",
            )
        return loss_from_expression(loss, variables)
    mod = type(loss).__module__
    if mod.startswith("sympy"):
        if variables is None:
            variables = sorted(loss.free_symbols, key=lambda s: s.name)
        return loss_from_expression(loss, variables)
    raise DeriveError(
        f"{loss!r} is not a loss.",
        "Pass a name (numerics.LOSSES), an expression with its variables, or a "
        "numerics.Loss; a plain JAX function works with numerics.iterates.",
    )
