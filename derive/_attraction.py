"""How fast the slow manifold attracts: the parasitic characteristic roots.

The linear part of the state update at $h = 0$, with gradient results treated as
independent inputs, has the principal root 1 and the parasitic roots; a deviation from
the manifold shrinks like $\\rho^n$, $\\rho$ the largest parasitic modulus
(Kovachki & Stuart, JMLR 22 (2021), third result; Hairer, Lubich & Wanner, ch. XV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._coefficients import field_for
from ._errors import DeriveError
from ._render import manifold as _render_manifold

if TYPE_CHECKING:
    import sympy

    from ._recurrence import Recurrence
    from ._slow_manifold import SlowManifold

__all__ = ["Attraction", "attraction_of"]


@dataclass
class Attraction:
    """How fast the manifold attracts: the parasitic characteristic roots.

    **Attributes:**

    - `matrix`: $M_0$, the linear part of the state update at $h = 0$ (SymPy matrix).
    - `polynomial`: its characteristic polynomial in $\\zeta$ (SymPy, factored).
    - `parasitic_roots`: the roots other than the principal root 1, with
      multiplicity (exact SymPy expressions; `CRootOf` where no radicals exist).
    - `per_step`: $\\rho = \\max |\\zeta|$ over the parasitic roots (SymPy; `None`
      without auxiliary states): a deviation from the manifold shrinks by about
      $\\rho$ per step.
    - `per_unit_time`: $\\log \\rho / h$: deviations decay like
      $e^{t \\log \\rho / h}$ in time $t = n h$ (SymPy, in `h`).
    - `attracting`: `True`/`False` at numerical parameters, `None` when symbolic.
    - `condition`: where symbolic, the condition for attraction (text).
    - `statement`: one sentence saying all this.
    """

    matrix: sympy.Matrix
    polynomial: sympy.Expr
    parasitic_roots: list[sympy.Expr]
    per_step: sympy.Expr | None
    per_unit_time: sympy.Expr | None
    attracting: bool | None
    condition: str | None
    statement: str

    def polynomial_text(self) -> str:
        """The characteristic polynomial as a product over its roots, as text."""
        return _render_manifold.polynomial_text(self)

    def per_step_value(self, **params: float) -> float:
        """$\\rho$ as a float at numerical values of symbolic parameters."""
        return float(_substitute(self.per_step, params))

    def per_unit_time_value(self, h: float, **params: float) -> float:
        """$\\log \\rho / h$ as a float at a step size and parameter values."""
        import math

        rho = self.per_step_value(**params)
        return -math.inf if rho == 0 else math.log(rho) / h

    def to_dict(self) -> dict[str, Any]:
        """The `attraction` entry of a manifold's JSON record."""
        return _render_manifold.attraction_record(self)


def attraction_of(rec: Recurrence, manifold: SlowManifold) -> Attraction:
    """The parasitic roots of the update's linear part at $h = 0$ and the rates they
    give, for a recurrence and its `SlowManifold`."""
    import sympy

    M0 = manifold.linear_part
    if M0 is None:
        raise DeriveError(
            f"the update of {rec.name!r} has a coefficient with a pole at h = 0, so its "
            "linear part at h = 0 (and the attraction rate) is undefined.",
            "Write the update with coefficients that are polynomial in h.",
        )
    K = manifold.field if manifold.homogeneous else None

    K = K or field_for(rec.parameters)
    m = len(rec.states)
    M = sympy.Matrix(m, m, lambda i, j: K.to_sympy(M0[i][j]) if M0[i][j] else 0)
    zeta = sympy.Symbol("zeta")
    poly = sympy.factor(M.charpoly(zeta).as_expr())
    quotient, remainder = sympy.div(sympy.expand(poly), zeta - 1, zeta)
    if sympy.simplify(remainder) != 0:  # pragma: no cover - excluded by _analyse
        raise DeriveError(
            f"the linear part of {rec.name!r} at h = 0 has no eigenvalue 1.", ""
        )
    roots = _roots(sympy.expand(quotient), zeta)
    if len(roots) == m - 1:  # the characteristic polynomial is monic: show its roots
        poly = sympy.Mul(zeta - 1, *(zeta - r for r in roots), evaluate=False)
    if not roots:
        return Attraction(
            M,
            poly,
            [],
            None,
            None,
            True,
            None,
            "no parasitic roots: the only state is the position, the manifold is the "
            "whole space.",
        )
    if any(sympy.simplify(r - 1) == 0 for r in roots):  # pragma: no cover
        raise DeriveError(
            f"{rec.name!r} has a double characteristic root at 1: no slow manifold.", ""
        )
    h = sympy.Symbol("h")
    mods = [sympy.Abs(r) for r in roots]
    symbolic = any(r.free_symbols for r in roots)
    if symbolic:
        unique = list(dict.fromkeys(mods))
        rho = unique[0] if len(unique) == 1 else sympy.Max(*unique)
        condition = _condition(roots)
        attracting = None
        statement = (
            f"attracting where {condition}; not attracting where a parasitic root has "
            "modulus >= 1."
        )
    else:
        values = [sympy.nsimplify(sympy.Abs(sympy.N(r, 30))) for r in roots]
        exact = [sympy.simplify(a) for a in mods]
        rho = max(
            zip(values, exact, strict=True), key=lambda p: float(sympy.N(p[0], 30))
        )[1]
        rho_value = float(sympy.N(rho, 30))
        condition = None
        attracting = rho_value < 1
        if attracting:
            statement = (
                "attracting: every parasitic root has modulus < 1 (largest "
                f"{sympy.sstr(rho)} per step)"
            )
        else:
            bad = [
                sympy.sstr(r)
                for r, a in zip(roots, mods, strict=True)
                if float(sympy.N(a, 30)) >= 1
            ]
            statement = (
                "NOT attracting: the parasitic root(s) "
                + ", ".join(bad)
                + f" have modulus >= 1 (largest {rho_value:.6g}); deviations from "
                "the manifold do not decay, so iterates started off it need not "
                "approach it (the manifold and the modified flow still exist as "
                "formal series)."
            )
    per_time = sympy.log(rho) / h if rho != 0 else -sympy.oo
    if rho == 0:
        statement = statement[:-1] + (
            "; with roots 0 the linearised deviation vanishes after a few steps)"
        )
    return Attraction(
        M, poly, roots, rho, per_time, attracting, condition, statement.rstrip(".")
    )


def _roots(poly: sympy.Expr, zeta: sympy.Symbol) -> list[sympy.Expr]:
    """Roots with multiplicity: radicals where SymPy finds them, else `CRootOf`."""
    import sympy

    degree = sympy.degree(poly, zeta)
    if degree <= 0:
        return []
    found = sympy.roots(poly, zeta)
    out = []
    for r, mult in found.items():
        out += [sympy.factor(r)] * mult
    if len(out) == degree:
        return out
    P = sympy.Poly(poly, zeta)
    if P.free_symbols - {zeta}:
        raise DeriveError(
            "the characteristic polynomial of the update has no roots in radicals "
            "with symbolic parameters.",
            "Give the hyper-parameters numerical values (--param NAME=VALUE).",
        )
    return list(P.all_roots())


def _condition(roots: list[sympy.Expr]) -> str:
    """Where |root| < 1 for every parasitic root, as text (real parameters)."""
    import sympy

    parts = []
    for r in dict.fromkeys(roots):
        syms = sorted(r.free_symbols, key=lambda s: s.name)
        text = None
        if len(syms) == 1:
            s = syms[0]
            real = sympy.Symbol(s.name, real=True)
            try:
                cond = sympy.reduce_inequalities(sympy.Abs(r.subs(s, real)) < 1, [real])
                text = _interval_text(cond.as_set(), s.name)
            except (NotImplementedError, ValueError, TypeError, AttributeError):
                text = None
        parts.append(text or f"|{sympy.sstr(r)}| < 1")
    return " and ".join(parts)


def _interval_text(region: sympy.Set, name: str) -> str | None:
    import sympy

    pieces = region.args if isinstance(region, sympy.Union) else (region,)
    out = []
    for iv in pieces:
        if not isinstance(iv, sympy.Interval):
            return None
        lo = (
            ""
            if iv.start == -sympy.oo
            else f"{iv.start} {'<' if iv.left_open else '<='} "
        )
        hi = "" if iv.end == sympy.oo else f" {'<' if iv.right_open else '<='} {iv.end}"
        out.append(f"{lo}{name}{hi}")
    return " or ".join(out)


# ------------------------------------------------------------------ helpers


def _substitute(expr: sympy.Expr, params: dict[str, float]) -> sympy.Expr:
    import sympy

    return expr.subs({sympy.Symbol(k): sympy.nsimplify(v) for k, v in params.items()})
