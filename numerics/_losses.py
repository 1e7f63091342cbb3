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

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict, Unpack

from ._loss import CriticalPoint, Loss
from ._test_functions import DEFINITIONS, Definition, JaxMath, SympyMath
from ._typing import Array

if TYPE_CHECKING:
    import sympy

__all__ = [
    "Loss",
    "CriticalPoint",
    "LOSSES",
    "get_loss",
    "loss_from_expression",
    "quadratic",
]


LOSSES: tuple[str, ...] = (*DEFINITIONS, "quadratic")
"""The names [`get_loss`][numerics.get_loss] accepts."""


# ---------------------------------------------------------------------- construction


def _build(name: str, d: Definition) -> Loss:
    import sympy

    x, y = sympy.symbols("x y")
    expression = sympy.expand(d.function(SympyMath(), x, y))
    jmath = JaxMath()
    function = d.function

    def fn(z: Array) -> Array:
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


class QuadraticOptions(TypedDict, total=False):
    """The options of `get_loss("quadratic", ...)`: those of
    [`quadratic`][numerics.quadratic]."""

    matrix: Sequence[Sequence[object]]
    start: Sequence[float] | None


def get_loss(name: str, **options: Unpack[QuadraticOptions]) -> Loss:
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
    d = DEFINITIONS.get(key)
    if d is None:
        import difflib

        close = difflib.get_close_matches(key, LOSSES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DeriveError(
            f"unknown loss {name!r}; the built-in losses are "
            f"{', '.join(LOSSES)}.{hint}",
            "Or give the loss as an expression with its variables: on the command "
            'line --loss "x**4 - x**2 + y**2" --vars x,y, in Python '
            "loss_from_expression('x**4 - x**2 + y**2', 'x,y').",
        )
    return _build(key, d)


def quadratic(
    matrix: Sequence[Sequence[object]] = ((1, 0), (0, 10)),
    *,
    start: Sequence[float] | None = None,
) -> Loss:
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

    def fn(z: Array) -> Array:
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
    expression: str | sympy.Expr,
    variables: str | Sequence[str | sympy.Symbol],
    *,
    name: str | None = None,
    start: Sequence[float] | None = None,
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

    from derive import DeriveError, ParseError, parse_expression, variable_names

    names = variable_names(variables)
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
    # the generated function sees jax.numpy's names (e, pi, sqrt, ...): a coordinate
    # named `e` would shadow Euler's number there, so the arguments get private names
    # (user names never start with "_")
    args = [sympy.Symbol(f"_x{i}") for i in range(len(syms))]
    compiled = sympy.lambdify(
        args, expr.xreplace(dict(zip(syms, args, strict=True))), modules="jax"
    )
    d = len(syms)

    def fn(z: Array) -> Array:
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


def resolve_loss(
    loss: Loss | str | sympy.Expr,
    variables: str | Sequence[str | sympy.Symbol] | None = None,
) -> Loss:
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
        symbols = sorted(loss.free_symbols, key=lambda s: s.name)
        return loss_from_expression(loss, symbols if variables is None else variables)
    raise DeriveError(
        f"{loss!r} is not a loss.",
        "Pass a name (numerics.LOSSES), an expression with its variables, or a "
        "numerics.Loss; a plain JAX function works with numerics.iterates.",
    )
