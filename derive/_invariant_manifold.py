"""`invariant_manifold`: the slow manifold of a momentum method, its reduced flow and
its attraction rate.

A recurrence with states $(x, s_2, \\dots, s_m)$ has, for small $h$, an invariant
manifold on which every auxiliary state is a function of the position,

$$s_j = \\Psi_j(x) = \\alpha_j h^{w_j} x + \\sum_t h^{|t| + w_j}
\\frac{\\psi_j(t)}{\\sigma(t)} F(t)(x),$$

and on which the position follows the one-step map $x_{n+1} = \\Phi_h(x_n)$, the
time-$h$ map of the modified flow (the *reduced flow*; Hairer, Lubich & Wanner,
*Geometric Numerical Integration*, ch. XV; Kovachki & Stuart, JMLR 22 (2021),
third result). The manifold attracts nearby states at the rate of the *parasitic*
characteristic roots: the eigenvalues, other than the principal root 1, of $M_0$, the
linear part of the state update at $h = 0$ (gradient results treated as inputs). A
deviation from the manifold shrinks by about $\\rho = \\max |\\zeta|$ per step, that is
like $e^{t \\log \\rho / h}$ in time $t = n h$: for heavy ball and Nesterov $M_0$ is the
same matrix, with characteristic polynomial $(\\zeta - 1)(\\zeta - \\beta)$, so
$\\rho = |\\beta|$.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cached_property

from ._conventions import CONVENTIONS
from ._errors import DeriveError
from ._flow import (
    ExplicitField,
    ModifiedFlow,
    Term,
    _latex_wrap,
    _sympy_str,
    _wrap,
    modified_flow,
)
from ._optimizers import optimizer as make_optimizer
from ._recurrence import Recurrence
from ._render import differential_latex, differential_text, pretty_coefficient

_THIN = "\\,"

__all__ = [
    "invariant_manifold",
    "InvariantManifold",
    "ManifoldState",
    "Attraction",
    "ExplicitManifold",
]


def invariant_manifold(
    optimizer: Recurrence | Callable, order: int, **params
) -> InvariantManifold:
    """The slow invariant manifold of an optimizer, its reduced flow and attraction.

    On the manifold every auxiliary state (a previous iterate, a velocity, an EMA of
    gradients) is a B-series in the position $x$; the position follows the modified
    flow; off the manifold, deviations decay by the largest modulus $\\rho$ of the
    parasitic characteristic roots per step (Kovachki & Stuart 2021, third result).

    **Arguments:**

    - `optimizer`: a [`Recurrence`][derive.Recurrence] or a plain update function
      (traced with `params`).
    - `order`: the order $p$ of the reduced (modified) flow; the states are given on
      all trees with up to $p + 1$ nodes, like the flow (for a previous iterate:
      through $h^{p+1}$).
    - `**params`: hyper-parameter values when `optimizer` is a function.

    **Returns:** an [`InvariantManifold`][derive.InvariantManifold]: `.states` (one
    [`ManifoldState`][derive.ManifoldState] per auxiliary state), `.flow` (the reduced
    flow, a [`ModifiedFlow`][derive.ModifiedFlow]) and `.attraction` (an
    [`Attraction`][derive.Attraction]); `.text()`, `.latex()`, `.to_dict()`,
    `.on(loss, variables)`.

    !!! example
        ```python
        >>> import derive
        >>> m = derive.invariant_manifold(derive.heavy_ball(), order=1)
        >>> print(m.states[0].text())
        x_prev = x
               + h * (-1/(1 - beta) g)
               + h^2 * (1/((1 - beta)**3) g'g)
        >>> m.attraction.parasitic_roots, m.attraction.per_step
        ([beta], Abs(beta))
        >>> derive.invariant_manifold(derive.nesterov(0.9), 1).attraction.statement
        'attracting: every parasitic root has modulus < 1 (largest 9/10 per step)'

        ```

    ??? cite "References"
        Kovachki & Stuart, *Continuous time analysis of momentum methods*, JMLR 22
        (2021); Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed.
        (2006), section XV.2 (the underlying one-step method of a multistep method).
    """
    rec = make_optimizer(optimizer, **params)
    flow = modified_flow(rec, order)
    return InvariantManifold(flow)


@dataclass
class ManifoldState:
    """One auxiliary state on the manifold: $\\alpha x + \\sum$ `terms`.

    **Attributes:**

    - `name`: the state's name (`"x_prev"`).
    - `alpha`: `[(power, coefficient)]`, the weight of $x$ (as a series in $h$; for
      heavy ball `[(0, 1)]`: $x_{\\text{prev}} = x + O(h)$).
    - `terms`: [`Term`][derive.Term]s `coefficient * h**power * F(tree)`, by power then
      tree.
    """

    name: str
    alpha: list
    terms: list[Term]
    field: object = dataclass_field(repr=False)
    table: object = dataclass_field(repr=False, default=None)

    def _alpha_parts(self, latex: bool) -> list[str]:
        import sympy

        out = []
        sep = "\\," if latex else " "
        for k, c in self.alpha:
            cs = pretty_coefficient(self.field.to_sympy(c))
            s = sympy.latex(cs) if latex else _sympy_str(cs)
            hk = _h_power(k, latex)
            coef = "" if s == "1" else (_latex_wrap(s) if latex else _wrap(s)) + sep
            out.append((hk + sep if hk else "") + coef + "x")
        return out

    def by_power(self) -> dict[int, list[Term]]:
        out: dict[int, list[Term]] = {}
        for t in self.terms:
            out.setdefault(t.power, []).append(t)
        return out

    def text(self, table=None) -> str:
        """`name = alpha x + h * (...) + ...`, one line per power of $h$."""
        table = table or self.table
        rows = self._alpha_parts(False)
        for k, terms in sorted(self.by_power().items()):
            body = _terms_text(terms, table)
            rows.append(body if k == 0 else f"{_h_power(k, False)} * ({body})")
        head = f"{self.name} = "
        pad = " " * (len(head) - 2)
        lines = [head + (rows[0] if rows else "0")]
        lines += [f"{pad}+ {row}" for row in rows[1:]]
        return "\n".join(lines)

    def latex(self, table=None) -> str:
        """LaTeX: `x_{\\mathrm{prev}} &= x + h\\left(...\\right) + ...`."""
        import sympy

        table = table or self.table
        rows = self._alpha_parts(True)
        for k, terms in sorted(self.by_power().items()):
            parts = []
            for t in terms:
                c = sympy.latex(t.sympy)
                name = differential_latex(table, t.index)
                parts.append(
                    name
                    if c == "1"
                    else ("-" + name if c == "-1" else f"{_latex_wrap(c)}\\, {name}")
                )
            body = " + ".join(parts).replace("+ -", "- ")
            rows.append(body if k == 0 else f"{_h_power(k, True)}\\left({body}\\right)")
        body = " \\\\\n&\\quad + ".join(rows) if rows else "0"
        return f"{_latex_name(self.name)} &= " + body


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

    matrix: object
    polynomial: object
    parasitic_roots: list
    per_step: object
    per_unit_time: object
    attracting: bool | None
    condition: str | None
    statement: str

    def polynomial_text(self) -> str:
        """The characteristic polynomial as a product over its roots, as text."""
        import sympy

        if sympy.degree(sympy.expand(self.polynomial), sympy.Symbol("zeta")) != (
            len(self.parasitic_roots) + 1
        ):
            return _sympy_str(self.polynomial)
        factors = ["(zeta - 1)"]
        for r in self.parasitic_roots:
            text = _sympy_str(r)
            if r == 0:
                factors.append("zeta")
            elif r.is_number and r.is_real and r < 0:
                factors.append(f"(zeta + {_sympy_str(-r)})")
            else:
                factors.append(f"(zeta - {_wrap(text)})")
        return "*".join(factors)

    def per_step_value(self, **params) -> float:
        """$\\rho$ as a float at numerical values of symbolic parameters."""
        return float(_substitute(self.per_step, params))

    def per_unit_time_value(self, h: float, **params) -> float:
        """$\\log \\rho / h$ as a float at a step size and parameter values."""
        import math

        rho = self.per_step_value(**params)
        return -math.inf if rho == 0 else math.log(rho) / h

    def to_dict(self) -> dict:
        import sympy

        def s(e):
            return None if e is None else _sympy_str(e)

        rho = self.per_step
        numeric = (
            rho is not None and not rho.free_symbols and bool(rho.is_number)
        ) or False
        return {
            "matrix_at_h0": [[s(e) for e in row] for row in self.matrix.tolist()],
            "characteristic_polynomial": self.polynomial_text(),
            "principal_root": "1",
            "parasitic_roots": [s(r) for r in self.parasitic_roots],
            "per_step": s(rho),
            "per_step_value": float(rho) if numeric else None,
            "per_unit_time": s(self.per_unit_time),
            "per_unit_time_latex": None
            if self.per_unit_time is None
            else sympy.latex(self.per_unit_time),
            "attracting": self.attracting,
            "condition": self.condition,
            "statement": self.statement,
        }


@dataclass
class ExplicitManifold:
    """An [`InvariantManifold`][derive.InvariantManifold] on a concrete loss.

    `states[name]` lists the state's components (SymPy, in the variables, `h` and
    symbolic parameters); `flow` is the reduced flow's
    [`ExplicitField`][derive.ExplicitField].
    """

    loss: object
    variables: list
    states: dict
    flow: ExplicitField


class InvariantManifold:
    """The slow manifold of a recurrence; made by
    [`invariant_manifold`][derive.invariant_manifold].

    **Attributes:**

    - `recurrence`, `order`.
    - `flow`: the reduced flow on the manifold, the
      [`ModifiedFlow`][derive.ModifiedFlow] of the same order.
    - `manifold`: the engine's `SlowManifold` (all coefficients).
    - `states`: one [`ManifoldState`][derive.ManifoldState] per auxiliary state.
    - `attraction`: the [`Attraction`][derive.Attraction].
    """

    def __init__(self, flow: ModifiedFlow):
        self.flow = flow
        self.recurrence = flow.recurrence
        self.order = flow.order
        self.manifold = flow.manifold
        self.table = flow.table
        self.states = self._states()

    # ------------------------------------------------------------- states
    def _states(self) -> list[ManifoldState]:
        from ._coefficients import field_for
        from ._series_h import h_series

        mf = self.manifold
        table = self.table
        n = len(table.up_to(self.order + 1))
        params = self.recurrence.parameters
        out = []
        for j in range(1, len(self.recurrence.states)):
            terms = []
            if mf.homogeneous:
                K = mf.field
                w = int(mf.weights[j])
                alpha = [(w, mf.alpha[j])] if mf.alpha[j] else []
                for i in range(n):
                    c = mf.psi[j][i]
                    if c:
                        terms.append(
                            Term(
                                table.size[i] + w,
                                table.bracket(i),
                                i,
                                c / table.sigma[i],
                                K,
                            )
                        )
            else:
                K = field_for(params)
                upto = self.order + 1
                alpha = []
                if mf.alpha[j]:
                    series = h_series(mf.alpha[j], params, upto)
                    alpha = [(k, c) for k, c in enumerate(series) if c]
                for i in range(n):
                    c = mf.psi[j][i]
                    if not c:
                        continue
                    series = h_series(c, params, upto)
                    for k, ck in enumerate(series):
                        if ck:
                            terms.append(
                                Term(
                                    k,
                                    table.bracket(i),
                                    i,
                                    ck / table.sigma[i],
                                    K,
                                )
                            )
            terms.sort(key=lambda t: (t.power, t.index))
            out.append(ManifoldState(self.recurrence.states[j], alpha, terms, K, table))
        return out

    # ------------------------------------------------------------- attraction
    @cached_property
    def attraction(self) -> Attraction:
        """The parasitic roots of $M_0$ and the rates they give."""
        return _attraction(self)

    # ------------------------------------------------------------- renderings
    def _header_lines(self) -> list[str]:
        params = ", ".join(f"{k} = {v}" for k, v in self.flow.parameters.items())
        return [
            f"Invariant (slow) manifold of {self.recurrence.name} through order "
            f"{self.order} (parameters: {params or 'none'})",
            f"conventions: {CONVENTIONS}",
        ]

    def text(self, header: bool = True) -> str:
        """The states on the manifold, the reduced flow and the attraction, as text."""
        lines = self._header_lines() if header else []
        if self.states:
            lines.append(
                f"on the manifold (trees with up to {self.order + 1} nodes; "
                f"error O(h^{self.order + 2}) for previous iterates):"
            )
            for s in self.states:
                lines += ["  " + row for row in s.text(self.table).splitlines()]
        else:
            lines.append(
                "no auxiliary states: the manifold is the whole space (a one-step "
                "method)."
            )
        lines.append("reduced flow on the manifold (the modified flow):")
        lines += [
            "  " + row for row in self.flow.text(header=False).splitlines() if row
        ]
        a = self.attraction
        lines.append("attraction:")
        lines.append(
            "  linear part of the update at h = 0: "
            + _sympy_str(a.matrix.tolist())
            + f"; characteristic polynomial {a.polynomial_text()}"
        )
        if a.parasitic_roots:
            lines.append(
                "  principal root 1; parasitic root(s): "
                + ", ".join(_sympy_str(r) for r in a.parasitic_roots)
            )
            lines.append(
                f"  per step: {_sympy_str(a.per_step)}; per unit time: "
                f"{_sympy_str(a.per_unit_time)} (deviations ~ exp(t log(rho)/h), "
                "t = n h)"
            )
        lines.append("  " + a.statement)
        if self.flow.conditions:
            lines.append("valid for: " + ", ".join(self.flow.conditions))
        return "\n".join(lines)

    def latex(self) -> str:
        """An `aligned` block: the states, the reduced flow and the attraction rate."""
        import sympy

        rows = [s.latex(self.table) for s in self.states]
        out = []
        if rows:
            out.append("\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}")
        out.append(self.flow.latex())
        a = self.attraction
        if a.parasitic_roots:
            roots = ", ".join(sympy.latex(r) for r in a.parasitic_roots)
            out.append(
                f"\\zeta \\in \\{{{roots}\\}}, \\quad \\rho = "
                f"{sympy.latex(a.per_step)}, \\quad "
                f"\\frac{{\\log \\rho}}{{h}} = {sympy.latex(a.per_unit_time)}"
            )
        return "\n".join(out)

    def to_dict(self, loss=None, variables=None) -> dict:
        """The JSON record: states, reduced flow (the `derive flow` record) and
        attraction."""
        import sympy

        from ._version import DISTRIBUTION, __version__

        states = []
        for s in self.states:
            states.append(
                {
                    "name": s.name,
                    "alpha": [
                        {"power": k, "coefficient": _sympy_str(s.field.to_sympy(c))}
                        for k, c in s.alpha
                    ],
                    "terms": [
                        {
                            "power": t.power,
                            "tree": t.tree,
                            "differential": differential_text(self.table, t.index),
                            "coefficient": _sympy_str(t.sympy),
                            "latex": f"{_latex_wrap(sympy.latex(t.sympy))}\\, "
                            f"{_h_power(t.power, True)}"
                            f"{_THIN if t.power else ''}"
                            f"{differential_latex(self.table, t.index)}",
                        }
                        for t in s.terms
                    ],
                    "text": s.text(self.table),
                    "latex": s.latex(self.table),
                }
            )
        record = {
            "optimizer": self.recurrence.name,
            "order": self.order,
            "conventions": CONVENTIONS,
            "parameters": self.flow.parameters,
            "states": states,
            "reduced_flow": self.flow.to_dict(),
            "attraction": self.attraction.to_dict(),
            "conditions": self.flow.conditions,
            "toolkit": {"name": DISTRIBUTION, "version": __version__},
        }
        if loss is not None:
            explicit = self.on(loss, variables)
            record["loss"] = {
                "expression": str(explicit.loss),
                "variables": [str(v) for v in explicit.variables],
            }
            record["explicit_states"] = {
                k: [_sympy_str(e) for e in v] for k, v in explicit.states.items()
            }
        return record

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(**kwargs), indent=2)

    def on(self, loss, variables) -> ExplicitManifold:
        """The states on the manifold and the reduced flow for a concrete loss.

        **Arguments:**

        - `loss`: a SymPy expression or a string.
        - `variables`: the coordinates (`"x,y"` or symbols).

        **Returns:** an [`ExplicitManifold`][derive.ExplicitManifold] with `states` (name -> components) and
        `flow` (the reduced flow's [`ExplicitField`][derive.ExplicitField]).

        !!! example
            ```python
            >>> import derive
            >>> m = derive.invariant_manifold(derive.heavy_ball(0.5), order=1)
            >>> m.on("x**2/2", "x").states["x_prev"]
            [8*h**2*x + 2*h*x + x]

            ```
        """
        import sympy

        from ._concrete import ConcreteLoss

        cl = ConcreteLoss(loss, variables, self.recurrence.parameters)
        h = sympy.Symbol("h")
        states = {}
        for s in self.states:
            comps = [sympy.Integer(0)] * len(cl.variables)
            for k, c in s.alpha:
                a = s.field.to_sympy(c) * h**k
                comps = [e + a * v for e, v in zip(comps, cl.variables, strict=True)]
            for t in s.terms:
                F = cl.differential(self.table, t.index)
                c = s.field.to_sympy(t.coefficient) * h**t.power
                comps = [e + c * f for e, f in zip(comps, F, strict=True)]
            states[s.name] = [sympy.expand(e) for e in comps]
        return ExplicitManifold(cl.loss, cl.variables, states, self.flow.on(cl, None))


# ------------------------------------------------------------------ attraction


def _attraction(im: InvariantManifold) -> Attraction:
    import sympy

    rec = im.recurrence
    M0 = im.manifold.linear_part
    if M0 is None:
        raise DeriveError(
            f"the update of {rec.name!r} has a coefficient with a pole at h = 0, so its "
            "linear part at h = 0 (and the attraction rate) is undefined.",
            "Write the update with coefficients that are polynomial in h.",
        )
    K = im.manifold.field if im.manifold.homogeneous else None
    from ._coefficients import field_for

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
                f"{_sympy_str(rho)} per step)"
            )
        else:
            bad = [
                _sympy_str(r)
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


def _roots(poly, zeta) -> list:
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


def _condition(roots) -> str:
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
        parts.append(text or f"|{_sympy_str(r)}| < 1")
    return " and ".join(parts)


def _interval_text(region, name: str) -> str | None:
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


def _substitute(expr, params: dict):
    import sympy

    return expr.subs({sympy.Symbol(k): sympy.nsimplify(v) for k, v in params.items()})


def _h_power(k: int, latex: bool) -> str:
    if k == 0:
        return ""
    if k == 1:
        return "h"
    return f"h^{{{k}}}" if latex else f"h^{k}"


def _latex_name(name: str) -> str:
    if "_" in name:
        base, sub = name.split("_", 1)
        return f"{base}_{{\\mathrm{{{sub}}}}}"
    return name


def _terms_text(terms: list[Term], table) -> str:
    parts = []
    for t in terms:
        c = _sympy_str(t.sympy)
        name = differential_text(table, t.index)
        parts.append(
            name if c == "1" else ("-" + name if c == "-1" else f"{_wrap(c)} {name}")
        )
    return " + ".join(parts).replace("+ -", "- ")
