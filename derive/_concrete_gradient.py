"""Is each term of a modified flow a gradient *on this loss*? The concrete verdict.

`ModifiedFlow.gradient_tests` decides for a generic loss: is $F_k$, as a combination
of elementary differentials, the gradient of a combination of scalar invariants for
every $f$. On one concrete loss the answer can differ: in one variable every field is
a gradient, and on $f = x^2/2 + 3y^2/2 + xy/2$ gradient descent's $h^2$ term, which is
not a gradient in general, is one. Here the explicit field is tested exactly: $F$ is a
gradient on a simply connected domain iff its Jacobian is symmetric (the curl test),
$\\partial_j F_i = \\partial_i F_j$. SymPy decides that where it can:

- an asymmetry that simplifies to 0 is zero (gradient);
- one that is nonzero at a rational point, evaluated to 30 digits, is nonzero (not a
  gradient);
- anything else is reported as undecided, never guessed.

Where every term through order $p$ is a gradient on the loss, the potential is
integrated term by term (`sympy.integrate`), giving the concrete modified loss
$\\tilde f$ with $\\dot x = -\\nabla \\tilde f$.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ._budget import _size

if TYPE_CHECKING:
    import sympy

    from ._flow import ExplicitField, ModifiedFlow

__all__ = ["ConcreteGradient", "concrete_gradient"]

GRADIENT = "gradient"
NOT_GRADIENT = "not a gradient"
UNDECIDED = "undecided"

_MAX_NODES = 3000
"""Above this size (SymPy tree nodes) an asymmetry is not simplified (the verdict is
then decided numerically or left undecided), and above a fifth of it a term is not
integrated into a potential."""

_POINTS = [
    (Fraction(3, 7), Fraction(5, 11), Fraction(-2, 13), Fraction(7, 17)),
    (Fraction(-5, 9), Fraction(4, 19), Fraction(11, 23), Fraction(-3, 29)),
]


@dataclass
class ConcreteGradient:
    """The gradient verdicts of a flow's terms on one loss.

    **Attributes:**

    - `verdicts`: per power $k$ of $h$, `"gradient"`, `"not a gradient"` or
      `"undecided"` (on this loss).
    - `generic`: per power, whether the term is a gradient for every loss.
    - `through_order`: the highest $p$ such that every term through $h^p$ is a
      gradient on this loss (-1: none).
    - `modified_loss`: $\\tilde f$ through `through_order` (a SymPy expression in
      the variables, `h` and symbolic parameters), or `None` where no closed form
      was found.
    """

    verdicts: list[str]
    generic: list[bool]
    through_order: int
    modified_loss: sympy.Expr | None

    def lines(self) -> list[str]:
        """The verdicts as text lines (for `derive flow --loss`)."""
        out = ["  gradient test of each h^k term on this loss (exact curl test):"]
        for k, (v, g) in enumerate(zip(self.verdicts, self.generic, strict=True)):
            generic = "gradient" if g else "not a gradient"
            out.append(f"    h^{k}: {v} on this loss (generic: {generic})")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The `gradient_on_loss` entry of `derive flow --format json --loss`."""
        import sympy

        return {
            "terms": [
                {"power": k, "on_loss": v, "generic": g}
                for k, (v, g) in enumerate(
                    zip(self.verdicts, self.generic, strict=True)
                )
            ],
            "through_order": self.through_order,
            "modified_loss": None
            if self.modified_loss is None
            else sympy.sstr(self.modified_loss),
        }


def _is_zero(expr: sympy.Expr, symbols: list[sympy.Symbol]) -> bool | None:
    """True if `expr` is identically 0, False if it is not, None if undecided."""
    import sympy

    if expr == 0:
        return True
    for point in _POINTS:  # cheap, and decides every asymmetry that is not zero
        values = {
            s: sympy.Rational(point[i % 4] + i // 4) for i, s in enumerate(symbols)
        }
        try:
            value = sympy.N(expr.xreplace(values), 30)
        except (TypeError, ValueError, ZeroDivisionError, RecursionError):
            continue
        if (
            value.is_number
            and value.is_finite
            and abs(value) > sympy.Float(1, 30) / 10**12
        ):
            return False
    if _size([expr], _MAX_NODES) > _MAX_NODES:
        return None
    try:
        if sympy.cancel(sympy.expand(expr)) == 0:
            return True
    except (sympy.PolynomialError, RecursionError):
        pass
    if _size([expr], _MAX_NODES // 10) <= _MAX_NODES // 10:
        if sympy.simplify(expr) == 0:
            return True
    return None


def _verdict(
    component: list[sympy.Expr],
    variables: list[sympy.Symbol],
    symbols: list[sympy.Symbol],
) -> str:
    import sympy

    d = len(variables)
    undecided = False
    for i in range(d):
        for j in range(i + 1, d):
            zero = _is_zero(
                sympy.diff(component[i], variables[j])
                - sympy.diff(component[j], variables[i]),
                symbols,
            )
            if zero is False:
                return NOT_GRADIENT
            if zero is None:
                undecided = True
    return UNDECIDED if undecided else GRADIENT


def _potential(
    field: list[sympy.Expr], variables: list[sympy.Symbol]
) -> sympy.Expr | None:
    """$\\phi$ with $-\\nabla \\phi$ = `field` (a curl-free field), or None."""
    import sympy

    phi = sympy.Integer(0)
    for i, v in enumerate(variables):
        rest = sympy.expand(-field[i] - sympy.diff(phi, v))
        if _size([rest], _MAX_NODES // 5) > _MAX_NODES // 5:
            return None  # too large to integrate in bounded time
        part = sympy.integrate(rest, v)
        if part.has(sympy.Integral):
            return None
        phi += part
    return phi


def concrete_gradient(
    flow: ModifiedFlow, explicit: ExplicitField[Any]
) -> ConcreteGradient:
    """Decide, for each power of $h$, whether the flow's term is a gradient on the
    loss of `explicit` (see the module docstring), and integrate the concrete
    modified loss where every term through some order is.

    **Arguments:**

    - `flow`: the modified flow.
    - `explicit`: `flow.on(loss, variables)`.

    **Returns:** a `ConcreteGradient`.

    !!! example
        ```python
        >>> import derive
        >>> from derive._concrete_gradient import concrete_gradient
        >>> flow = derive.modified_flow(derive.gd(), order=2)
        >>> result = concrete_gradient(flow, flow.on("x**2/2 + 3*y**2/2 + x*y/2", "x,y"))
        >>> result.verdicts, result.generic
        (['gradient', 'gradient', 'gradient'], [True, True, False])
        >>> result.modified_loss.coeff("h", 2)
        3*x**2/8 + 53*x*y/24 + 115*y**2/24

        ```
    """
    import sympy

    variables = list(explicit.variables)
    symbols = [*variables, *(sympy.Symbol(p) for p in flow.recurrence.parameters)]
    generic = [t.is_gradient for t in flow.gradient_tests]
    # a gradient for every loss is one for this loss: only the others are tested
    verdicts = [
        GRADIENT if g else _verdict(comp, variables, symbols)
        for g, comp in zip(generic, explicit.by_power, strict=True)
    ]
    through = -1
    for v in verdicts:
        if v != GRADIENT:
            break
        through += 1
    loss = None
    if through >= 0:
        h = sympy.Symbol("h")
        ml = flow.modified_loss  # the generic part, exact and without integration
        total = (
            ml.on(explicit.loss, variables)
            if ml.through_order >= 0
            else sympy.Integer(0)
        )
        for k in range(ml.through_order + 1, through + 1):
            phi = _potential(explicit.by_power[k], variables)
            if phi is None:
                through = k - 1
                break
            total += h**k * phi
        if through >= 0:
            loss = total
    return ConcreteGradient(verdicts, generic, through, loss)
