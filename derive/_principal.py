"""Principal flows: the all-orders-in-$hH$ part of a modified flow, from the recurrence.

On a quadratic $f = \\tfrac12 x^\\top H x$ every optimizer of the affine class (gradient
descent, heavy ball, Nesterov, QHM, user specs) is a linear recurrence. Along an
eigenvector with eigenvalue $\\lambda$ its transition matrix has the characteristic
polynomial $p(r, z)$ with $z = h\\lambda$, and on its slow manifold the iterates
multiply by the *principal root* $r(z)$, the root with $r(0) = 1$. Time $t = nh$
turns that into the exact rate $\\log r(z)/h$, so on the quadratic

$$\\dot x = \\frac{\\log r(hH)}{h}\\, x = \\psi(hH)\\, \\nabla f(x), \\qquad
\\psi(z) = \\frac{\\log r(z)}{z}.$$

Applied to the local Hessian of any loss this is the *principal flow* (Rosca, Wu,
Qin & Dherin, TMLR 2023, for gradient descent: $r = 1 - z$, $\\psi(z) = \\log(1 -
z)/z$; Cattaneo & Shigida, arXiv 2509.08483, for heavy ball). Its Taylor series in
$z$ collects the terms $h^k (g')^k g$ (the chain trees) of the modified flow of
every order, with exact coefficients: if $\\log r(z) = \\sum_{j \\ge 1} a_j z^j$ then the
chain tree with $k+1$ nodes has coefficient $(-1)^{k+1} a_{k+1}$.

[`principal_flow`][derive.principal_flow] derives $p(r, z)$ from the recurrence's
program (exact, SymPy), the series of $r(z)$ by Newton's method on power series (each
order a linear equation with the coefficient $\\partial_r p(1, 0)$), the series of
$\\log r$, the closed form of $\\psi$ when $p$ has degree at most 2 in $r$, and the radius
of convergence of the series (the nearest $z$ where roots collide or $r$ vanishes:
beyond it, here $h\\lambda \\ge 1$ for GD and $h\\lambda > (1 - \\sqrt\\beta)^2$ for heavy
ball, the principal root is complex or negative and the iterates oscillate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import DeriveError
from ._optimizers import OptimizerDefinition
from ._recurrence import Recurrence

if TYPE_CHECKING:  # SymPy and NumPy are imported on first use
    import numpy as np
    import sympy
    from numpy.typing import ArrayLike, NDArray

__all__ = ["PrincipalFlow", "principal_flow"]


def _symbols() -> tuple[sympy.Symbol, sympy.Symbol]:
    """The symbols $r$ and $z$ (SymPy is imported on first use: `import derive` stays
    fast)."""
    import sympy

    return sympy.symbols("r z")


@dataclass(frozen=True, eq=False)
class PrincipalFlow:
    """The principal root of an affine optimizer and its flow (see the module docs).

    **Attributes:**

    - `recurrence`: the optimizer.
    - `order`: the series are exact through $z^{\\text{order}+1}$ (chain trees with up
      to `order` + 1 nodes, the modified flow's terms through $h^{\\text{order}}$).
    - `polynomial`: $p(r, z)$, SymPy, monic in $r$.
    - `root_series`: $[r_0 = 1, r_1, \\dots]$, the Taylor coefficients of $r(z)$.
    - `log_series`: $[a_1, a_2, \\dots]$ with $\\log r(z) = \\sum_j a_j z^j$.
    - `root`: the closed form of $r(z)$ (SymPy) when $p$ has degree $\\le 2$ in $r$,
      else `None`; `function`: $\\psi(z) = \\log r(z)/z$ likewise.
    - `radius`: the radius of convergence of the series (a float; `inf` if none).
    """

    recurrence: Recurrence
    order: int
    polynomial: sympy.Expr
    root_series: tuple[sympy.Expr, ...]
    log_series: tuple[sympy.Expr, ...]
    root: sympy.Expr | None
    function: sympy.Expr | None
    radius: float

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(self.recurrence.parameters)

    def chain_coefficients(self) -> list[sympy.Expr]:
        """The coefficients $c_k$ of $h^k (g')^k g$ (tree `[[...[]...]]` with $k+1$
        nodes) implied by the principal root: $c_k = (-1)^{k+1} a_{k+1}$, for
        $k = 0, \\dots,$ `order`; they must equal the modified flow's."""
        import sympy

        return [
            sympy.factor((-1) ** (k + 1) * self.log_series[k])
            for k in range(self.order + 1)
        ]

    def roots(self, z: ArrayLike, **params: float) -> NDArray[np.complex128]:
        """The principal root $r(z)$ at real numbers `z` (array), by continuation
        from $r(0) = 1$ with Newton's method in complex arithmetic; complex where the
        root has left the real axis."""
        import numpy as np

        coeffs = _numeric_coefficients(self, params)
        zr = np.atleast_1d(np.asarray(z, dtype=float))
        steps = 400
        r = np.ones_like(zr, dtype=complex)
        for s in range(1, steps + 1):
            # a path just above the real axis, so that past a collision of two real
            # roots the continuation picks up their imaginary parts
            zs = zr * s / steps + 0.05j * np.abs(zr) * np.sin(np.pi * s / steps)
            for _ in range(30):
                val, der = _poly_and_derivative(coeffs, r, zs)
                delta = val / np.where(der == 0, 1e-300, der)
                r = r - delta
                if np.all(np.abs(delta) <= 1e-15 * (1 + np.abs(r))):
                    break
        return r

    def rate(self, z: ArrayLike, **params: float) -> NDArray[np.float64]:
        """$\\psi(z) = \\log r(z)/z$ (its limit $a_1$ at $z = 0$) at real `z`; NaN
        where the principal root is complex or not positive (no real flow)."""
        import numpy as np
        import sympy

        zr = np.atleast_1d(np.asarray(z, dtype=float))
        r = self.roots(zr, **params)
        real = (np.abs(r.imag) <= 1e-10 * (1 + np.abs(r))) & (r.real > 0)
        out = np.full(zr.shape, np.nan)
        small = np.abs(zr) < 1e-8
        a1 = float(sympy.sympify(self.log_series[0]).subs(_subs(self, params)))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[real] = np.log(r.real[real]) / zr[real]
        out[small & real] = a1
        return out

    def radius_at(self, **params: float) -> float:
        """The radius of convergence of the series for numeric hyper-parameters
        (`radius` when the recurrence has none).

        !!! example
            ```python
            >>> import derive
            >>> round(derive.principal_flow(derive.heavy_ball(), 1).radius_at(beta=0.81),
            ...       12)                                  # (1 - sqrt(beta))^2
            0.01

            ```
        """
        if not self.parameters:
            return self.radius
        return _radius(self, params)

    def text(self) -> str:
        """The polynomial, the closed form (if any), the series and the radius."""
        import sympy

        z_series = " + ".join(
            f"({sympy.sstr(sympy.factor(a))})*z^{j + 1}"
            for j, a in enumerate(self.log_series)
        )
        lines = [
            f"Principal flow of {self.recurrence.name} (Rosca et al., TMLR 2023)",
            "conventions: loss f, g = -grad f, step h, time t = n h, z = h*lambda "
            "for a Hessian eigenvalue lambda; on a quadratic x_n = r(z)^n x_0 on the "
            "slow manifold, so dx/dt = psi(hH) grad f with psi(z) = log r(z)/z",
            f"characteristic polynomial: p(r, z) = {sympy.sstr(self.polynomial)}",
        ]
        if self.root is not None:
            lines.append(f"principal root: r(z) = {sympy.sstr(self.root)}")
        lines.append(f"log r(z) = {z_series} + O(z^{self.order + 2})")
        if self.parameters:
            lines.append(
                "radius of convergence in z = h*lambda: depends on "
                f"{', '.join(self.parameters)} (radius_at(...) gives it for numbers)"
            )
        else:
            lines.append(
                f"radius of convergence in z = h*lambda: {self.radius:.6g} (beyond it "
                "the principal root is complex or not positive: the iterates "
                "oscillate)"
            )
        return "\n".join(lines)


def _subs(
    flow: PrincipalFlow, params: Mapping[str, float]
) -> dict[sympy.Symbol, sympy.Expr]:
    import sympy

    missing = [p for p in flow.parameters if p not in params]
    if missing:
        raise DeriveError(
            f"no value for the symbolic hyper-parameter(s) {missing}.",
            "Give numbers, e.g. rate(z, beta=0.9).",
        )
    return {sympy.Symbol(p): sympy.nsimplify(params[p]) for p in flow.parameters}


def _numeric_coefficients(
    flow: PrincipalFlow, params: Mapping[str, float]
) -> list[np.poly1d]:
    """Coefficients of $p(r, z)$ in $r$ (highest first) as polynomials in $z$."""
    import numpy as np
    import sympy

    R, Z = _symbols()

    expr = flow.polynomial.subs(_subs(flow, params))
    poly = sympy.Poly(sympy.expand(expr), R)
    out = []
    for c in poly.all_coeffs():
        pz = sympy.Poly(sympy.expand(c), Z)
        out.append(np.poly1d([float(v) for v in pz.all_coeffs()]))
    return out


def _poly_and_derivative(
    coeffs: list[np.poly1d], r: NDArray[np.complex128], z: NDArray[Any]
) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
    """$p(r, z)$ and $\\partial_r p(r, z)$ by Horner's scheme in $r$."""
    import numpy as np

    val = np.zeros_like(r)
    der = np.zeros_like(r)
    for c in coeffs:
        cz = c(z)
        der = der * r + val
        val = val * r + cz
    return val, der


def _characteristic_polynomial(rec: Recurrence) -> sympy.Expr:
    """$\\det(rI - M)$ with $M$ the transition matrix on $f = \\lambda x^2/2$ and
    $\\lambda = z/h$ (`DeriveError` unless $h$ then cancels)."""
    import sympy

    R, Z = _symbols()

    h, lam = sympy.symbols("h lambda")
    m = len(rec.states)
    to_sympy = rec.field.to_sympy
    values = [sympy.Matrix.eye(m)[k, :] for k in range(m)]
    for ins in rec.instructions:
        if hasattr(ins, "arg"):
            values.append(lam * values[ins.arg])
        else:
            total = sympy.zeros(1, m)
            for v, c in ins.terms:
                total += to_sympy(c) * values[v]
            values.append(total)
    M = sympy.Matrix([list(values[o]) for o in rec.outputs])
    p = sympy.factor(sympy.cancel(M.charpoly(R).as_expr().subs(lam, Z / h)))
    p = sympy.expand(sympy.cancel(p))
    if h in p.free_symbols:
        raise DeriveError(
            f"the transition matrix of {rec.name} on a quadratic depends on h and the "
            "curvature separately, not through h*lambda alone, so its principal flow "
            "is not a function of hH.",
            "Principal flows are defined for optimizers whose every gradient enters "
            "multiplied by h once (GD, heavy ball, Nesterov, QHM, ...).",
        )
    return sympy.Poly(p, R).monic().as_expr()


def principal_flow(optimizer: OptimizerDefinition, order: int = 6) -> PrincipalFlow:
    """Derive the principal root and flow of an affine optimizer (see the module docs).

    **Arguments:**

    - `optimizer`: a [`Recurrence`][derive.Recurrence] or anything
      [`optimizer`][derive.optimizer] accepts (`"heavy-ball"`, a spec, a function).
    - `order`: the series are derived through $z^{\\text{order}+1}$.

    **Returns:** a [`PrincipalFlow`][derive.PrincipalFlow].

    !!! example
        ```python
        >>> import derive
        >>> pf = derive.principal_flow(derive.gd(), 3)
        >>> pf.root, pf.log_series                 # r = 1 - z, log r = -z - z^2/2 - ...
        (1 - z, (-1, -1/2, -1/3, -1/4))
        >>> hb = derive.principal_flow(derive.heavy_ball(), 1)
        >>> hb.chain_coefficients()                # 1/(1-beta) g, -(1+beta)/... h g'g
        [-1/(beta - 1), (beta + 1)/(2*(beta - 1)**3)]
        >>> round(derive.principal_flow(derive.heavy_ball(0.9), 1).radius, 6)
        0.002633

        ```

    !!! cite "References"
        Rosca, Wu, Qin & Dherin, *On a continuous time model of gradient descent
        dynamics and instability in deep learning*, TMLR (2023). Cattaneo & Shigida,
        arXiv 2509.08483 (heavy ball).
    """
    import sympy

    R, Z = _symbols()

    from ._optimizers import optimizer as as_optimizer

    rec = optimizer if isinstance(optimizer, Recurrence) else as_optimizer(optimizer)
    order = int(order)
    if order < 0:
        raise DeriveError(f"order must be non-negative, got {order}.", "")
    p = _characteristic_polynomial(rec)
    N = order + 1
    dp = sympy.diff(p, R).subs({R: 1, Z: 0})
    dp = sympy.cancel(dp)
    if sympy.cancel(p.subs({R: 1, Z: 0})) != 0 or dp == 0:
        raise DeriveError(
            f"1 is not a simple root of the characteristic polynomial of {rec.name} at "
            "h = 0, so the iterates have no slow manifold with a principal root (e.g. "
            "momentum beta = 1).",
            "Use hyper-parameters for which the method is consistent and zero-stable.",
        )
    # power series r = 1 + sum r_j z^j: one linear equation per order (coefficient
    # dp/dr at (1, 0)); p is a polynomial in r whose coefficients are polynomials in z
    pr = sympy.Poly(p, R)
    cz = [
        [sympy.cancel(c) for c in _coefficient_list(sympy.expand(a), N)]
        for a in pr.all_coeffs()[::-1]
    ]  # cz[i][j]: coefficient of r^i z^j
    coeffs = [sympy.Integer(1)]
    for j in range(1, N + 1):
        r_trunc = coeffs + [sympy.Integer(0)]
        value = _evaluate_series(cz, r_trunc, j)
        coeffs.append(sympy.factor(sympy.cancel(-value / dp)))
    log_series = tuple(sympy.factor(a) for a in _log_series(coeffs, N)[1:])
    root = function = None
    if sympy.degree(p, R) <= 2:
        root = _principal_closed_form(p, rec)
        if root is not None:
            function = sympy.log(root) / Z
    flow = PrincipalFlow(
        recurrence=rec,
        order=order,
        polynomial=p,
        root_series=tuple(coeffs),
        log_series=log_series,
        root=root,
        function=function,
        radius=float("inf"),
    )
    return _with_radius(flow)


def _coefficient_list(expr: sympy.Expr, N: int) -> list[sympy.Expr]:
    """Coefficients of $z^0..z^N$ of a polynomial in $z$."""
    import sympy

    R, Z = _symbols()

    poly = sympy.Poly(expr, Z) if Z in sympy.sympify(expr).free_symbols else None
    if poly is None:
        return [expr] + [sympy.Integer(0)] * N
    return [poly.coeff_monomial(Z**j) for j in range(N + 1)]


def _multiply(a: list[sympy.Expr], b: list[sympy.Expr], N: int) -> list[sympy.Expr]:
    """The product of two power series in $z$, through $z^N$."""
    import sympy

    return [
        sympy.cancel(
            sum(a[i] * b[j - i] for i in range(j + 1) if i < len(a) and j - i < len(b))
        )
        for j in range(N + 1)
    ]


def _evaluate_series(
    cz: list[list[sympy.Expr]], r: list[sympy.Expr], j: int
) -> sympy.Expr:
    """The coefficient of $z^j$ of $p(r(z), z)$ for a truncated series `r`."""
    import sympy

    power = [sympy.Integer(1)] + [sympy.Integer(0)] * j
    total = sympy.Integer(0)
    for row in cz:
        total += sum(row[i] * power[j - i] for i in range(min(j, len(row) - 1) + 1))
        power = _multiply(power, r, j)
    return sympy.cancel(total)


def _log_series(r: list[sympy.Expr], N: int) -> list[sympy.Expr]:
    """Coefficients of $\\log r(z)$ through $z^N$ for $r(0) = 1$: $\\log(1 + s) =
    \\sum_m (-1)^{m+1} s^m/m$ with $s = r - 1$."""
    import sympy

    s = [sympy.Integer(0)] + list(r[1 : N + 1])
    out = [sympy.Integer(0)] * (N + 1)
    power = [sympy.Integer(1)] + [sympy.Integer(0)] * N
    for m in range(1, N + 1):
        power = _multiply(power, s, N)
        for j in range(N + 1):
            out[j] += sympy.Rational((-1) ** (m + 1), m) * power[j]
    return [sympy.cancel(c) for c in out]


def _sample(rec: Recurrence) -> dict[sympy.Symbol, sympy.Rational]:
    """Sample values for symbolic parameters (1/3: inside (0, 1), where momenta live)."""
    import sympy

    return {sympy.Symbol(p): sympy.Rational(1, 3) for p in rec.parameters}


def _principal_closed_form(p: sympy.Expr, rec: Recurrence) -> sympy.Expr | None:
    """The root of $p$ (degree at most 2 in $r$) that is 1 at $z = 0$, in closed
    form (located at sample values of the hyper-parameters), or `None`."""
    import sympy

    R, Z = _symbols()

    roots = sympy.roots(sympy.Poly(p, R))
    if not roots:
        return None
    sample = _sample(rec)
    best, dist = None, float("inf")
    for candidate in roots:
        try:
            value = complex(sympy.N(candidate.subs(sample).subs(Z, 0)))
        except (TypeError, ValueError):
            continue
        d = abs(value - 1)
        if best is None or d < dist:
            best, dist = candidate, d
    return sympy.simplify(best) if best is not None and dist < 1e-9 else None


def _with_radius(flow: PrincipalFlow) -> PrincipalFlow:
    """The flow with its `radius` (for numeric hyper-parameters; `inf` otherwise)."""
    if flow.parameters:
        return flow
    return PrincipalFlow(**{**flow.__dict__, "radius": _radius(flow, {})})


def _radius(flow: PrincipalFlow, params: Mapping[str, float]) -> float:
    """The nearest singularity of the principal branch: a $z$ where $p$ has a double
    root (the discriminant in $r$ vanishes) or a zero root."""
    import numpy as np
    import sympy

    R, Z = _symbols()

    p = (
        flow.polynomial.subs(_subs(flow, params))
        if flow.parameters
        else flow.polynomial
    )
    candidates = []
    disc = sympy.discriminant(sympy.Poly(p, R)) if sympy.degree(p, R) > 1 else 0
    for expr in (disc, p.subs(R, 0)):
        expr = sympy.expand(sympy.sympify(expr))
        if expr == 0 or Z not in expr.free_symbols:
            continue
        coeffs = [complex(c) for c in sympy.Poly(expr, Z).all_coeffs()]
        candidates += [z for z in np.roots(coeffs) if abs(z) > 1e-14]
    # keep the singularities of the principal branch: continue r along the ray to z
    radius = float("inf")
    for zc in sorted(candidates, key=abs):
        if abs(zc) >= radius:
            break
        if _on_principal_branch(flow, zc, params):
            radius = abs(zc)
    return float(radius)


def _on_principal_branch(
    flow: PrincipalFlow, zc: complex, params: Mapping[str, float]
) -> bool:
    """Whether the principal root, continued from $z = 0$ along the segment to `zc`,
    meets the singularity there (collides with another root, or reaches 0)."""
    import numpy as np

    coeffs = _numeric_coefficients(flow, params)
    r = np.array([1.0 + 0j])
    steps = 2000
    for s in range(1, steps + 1):
        z = np.array([zc * s / steps])
        for _ in range(60):
            val, der = _poly_and_derivative(coeffs, r, z)
            delta = val / np.where(der == 0, 1e-300, der)
            r = r - delta
            if abs(delta[0]) < 1e-15:
                break
    _, der = _poly_and_derivative(coeffs, r, np.array([zc]))
    scale = sum(abs(c(zc)) for c in coeffs)
    return bool(abs(r[0]) < 1e-4 or abs(der[0]) < 1e-4 * scale)
