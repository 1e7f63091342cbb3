"""The underlying one-step method of a recurrence on its slow invariant manifold.

For a recurrence with states $(x, s_2, \\dots, s_m)$ we seek, as B-series in $x$,

$$x_{n+1} = \\Phi_h(x_n), \\qquad s_j = \\Psi_j(x) = \\alpha_j x + \\sum_t
\\frac{\\psi_j(t)}{\\sigma(t)} F(t)(x),$$

such that running one step of the program from $(x, \\Psi_2(x), \\dots)$ returns
$(\\Phi(x), \\Psi_2(\\Phi(x)), \\dots)$ (Hairer, Lubich & Wanner, *Geometric Numerical
Integration*, ch. XV; Kovachki & Stuart, JMLR 22 (2021)). Gradient calls at points
$y = x + O(h)$ expand by insertion of B-series into $g$; $\\Psi_j \\circ \\Phi$ by
composition. For each tree the unknowns $(\\phi(t), \\psi_j(t))$ solve one linear system
whose matrix $L$ does not depend on the tree; $\\det L$ is, up to sign, the
characteristic polynomial's value at 1 with the principal root divided out (e.g.
$1 - \\beta$ for heavy ball), so a singular $L$ means a second root at 1.

When the program is homogeneous under $h \\to \\lambda h$, $g \\to g/\\lambda$ (every
built-in and every usual optimizer), every coefficient of tree $t$ in state $j$ is a
constant times $h^{|t| + w_j}$; the engine then computes at $h = 1$ over the field of
the hyper-parameters alone, and restores the powers of $h$. Otherwise $h$ stays a
variable of the field and results are expanded in $h$ at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import flint

from ._bseries import ForestProducts
from ._coefficients import (
    Coefficient,
    Field,
    RationalFunction,
    RationalFunctionField,
    as_rational_function,
    field_for,
    linear_combination,
)
from ._errors import DeriveError
from ._recurrence import Grad, Recurrence
from ._trees import TreeTable, tree_table

__all__ = ["SlowManifold", "solve_manifold"]

_Matrix = list[list[Coefficient]]
_RMatrix = list[list[RationalFunction]]  # over Q(parameters, h)


@dataclass
class SlowManifold:
    """Result of [`solve_manifold`][]: coefficients on all trees with up to `max_nodes`.

    - `field`: the field the coefficients live in.
    - `homogeneous`: whether powers of $h$ were factored out (then `weights[j]` gives
      state `j`'s extra power: its coefficient on tree $t$ carries $h^{|t| + w_j}$).
    - `phi`: coefficients of $\\Phi_h$ (the one-step map of $x$).
    - `psi[j]`: coefficients of $\\Psi_j$ (`psi[0]` is zero: $x$ itself).
    - `alpha[j]`: $\\alpha_j$, the weight of $x$ in state $j$.
    - `determinant`: $\\det L$, nonzero; conditions for validity are its zeros.
    - `linear_part`: $M_0$, the matrix of the state update at $h = 0$ with gradient
      results treated as independent inputs (`linear_part[j][k]`: weight of state `k`
      in the new state `j`), over $\\mathbb{Q}(\\text{parameters})$; its eigenvalues
      are the principal root 1 and the parasitic roots that set the attraction of the
      manifold (`derive.invariant_manifold`). `None` when an entry has a pole at
      $h = 0$.
    """

    recurrence: Recurrence
    table: TreeTable
    max_nodes: int
    field: Field
    homogeneous: bool
    weights: list[int]
    alpha: list[Coefficient]
    phi: list[Coefficient]
    psi: list[list[Coefficient]]
    determinant: Coefficient
    linear_part: list[list[Coefficient]] | None  # M at h = 0 over Q(parameters)


# ------------------------------------------------------------------------ analysis


def _h_degrees(rf: RationalFunction) -> tuple[int, int] | None:
    """If `rf` is (function of parameters) * h^k, return (k, 0); else None."""
    names = rf.field.names
    hi = names.index("h")

    def degs(p: flint.fmpq_mpoly) -> set[int]:
        return {m[hi] for m in p.monoms()}

    dn, dd = degs(rf.num), degs(rf.den)
    if rf.num.is_zero():
        return (0, 0)
    if len(dn) != 1 or len(dd) != 1:
        return None
    return (next(iter(dn)) - next(iter(dd)), 0)


def _at_h(rf: RationalFunction, target: Field, h_value: int = 1) -> Coefficient:
    """Evaluate `rf` (over parameters + h) at h = `h_value`, into `target`."""
    names = rf.field.names
    hi = names.index("h")
    keep = [i for i in range(len(names)) if i != hi]

    def collapse(p: flint.fmpq_mpoly) -> dict[tuple[int, ...], flint.fmpq | int]:
        out: dict[tuple[int, ...], flint.fmpq | int] = {}
        for monom, c in p.to_dict().items():
            key = tuple(monom[i] for i in keep)
            out[key] = out.get(key, 0) + c * (h_value ** monom[hi])
        return out

    num, den = collapse(rf.num), collapse(rf.den)
    if not isinstance(target, RationalFunctionField):
        fmpq = flint.fmpq
        n = sum((fmpq(c) for c in num.values()), fmpq(0))
        d = sum((fmpq(c) for c in den.values()), fmpq(0))
        if d == 0:
            raise ZeroDivisionError
        return n / d
    ctx = target.ctx
    return target.from_polys(ctx.from_dict(num), ctx.from_dict(den))


class _Weights:
    """Union-find with offsets for the h-weights of states (-1 is the absolute node)."""

    def __init__(self) -> None:
        self.parent: dict[int, tuple[int, int]] = {}

    def find(self, v: int) -> tuple[int, int]:
        if v == -1:
            return (-1, 0)
        p, off = self.parent.get(v, (v, 0))
        if p == v:
            return (v, 0)
        root, o2 = self.find(p)
        self.parent[v] = (root, off + o2)
        return (root, off + o2)

    def unify(self, a: tuple[int, int], b: tuple[int, int]) -> bool:
        """Impose w(a.var) + a.off == w(b.var) + b.off; False on conflict."""
        (va, oa), (vb, ob) = a, b
        ra, xa = self.find(va)
        rb, xb = self.find(vb)
        oa, ob = oa + xa, ob + xb
        if ra == rb:
            return oa == ob
        if ra == -1:
            ra, rb, oa, ob = rb, ra, ob, oa
        self.parent[ra] = (rb, ob - oa)
        return True

    def value(self, v: int) -> int:
        """The weight of `v`: its offset from the absolute node, or from its own
        root when nothing ties it to h (a free root has weight 0)."""
        return self.find(v)[1]


def _analyse(
    rec: Recurrence,
) -> tuple[_RMatrix, list[RationalFunction], bool, list[int]]:
    """x-weights alpha (exact, with h), linear maps W, and the homogeneity weights."""
    F = rec.field
    m = len(rec.states)
    nvals = m + len(rec.instructions)
    zero, one = F.zero, F.one

    # W[v][k]: dependence of value v on state k, grad results treated as independent
    W = [[one if k == v else zero for k in range(m)] for v in range(m)]
    for ins in rec.instructions:
        if isinstance(ins, Grad):
            W.append([zero] * m)
        else:
            row = [zero] * m
            for v, c in ins.terms:
                for k in range(m):
                    if W[v][k]:
                        row[k] = row[k] + c * W[v][k]
            W.append(row)

    # alpha: solve alpha_j = sum_k W[out_j][k] alpha_k, alpha_0 = 1
    alpha = _solve_alpha(rec, W)

    # the pure-x weight of every value
    pure = []
    for v in range(nvals):
        pure.append(sum((W[v][k] * alpha[k] for k in range(m) if W[v][k]), zero))
    for ins in rec.instructions:
        if isinstance(ins, Grad) and pure[ins.arg] != 1:
            raise DeriveError(
                f"grad is evaluated at a point whose coefficients of x sum to "
                f"{pure[ins.arg]}, not 1: the point is not x + O(h), so the gradient "
                "cannot be expanded around x.",
                "Evaluate gradients at x plus small corrections, e.g. grad(x + beta*(x - "
                "x_prev)) or grad(x - h*v).",
            )

    # homogeneity weights
    wts = _Weights()
    wexpr: list[tuple[int, int] | None] = [None] + [(j, 0) for j in range(1, m)]
    homogeneous = True
    for ins in rec.instructions:
        if isinstance(ins, Grad):
            a = wexpr[ins.arg]
            if a is not None and not wts.unify(a, (-1, 0)):
                homogeneous = False
            wexpr.append((-1, -1))
            continue
        cand: tuple[int, int] | None = None
        for v, c in ins.terms:
            wv = wexpr[v]
            if wv is None:
                continue
            d = _h_degrees(c)
            if d is None:
                homogeneous = False
                continue
            e = (wv[0], wv[1] + d[0])
            if cand is None:
                cand = e
            elif not wts.unify(cand, e):
                homogeneous = False
        wexpr.append(cand)
    for j, out in enumerate(rec.outputs):
        wout = wexpr[out]
        if wout is not None and not wts.unify(wout, (j, 0) if j else (-1, 0)):
            homogeneous = False
        if j and alpha[j]:
            d = _h_degrees(alpha[j])
            if d is None or not wts.unify((j, 0), (-1, d[0])):
                homogeneous = False
    weights = [0] + [wts.value(j) for j in range(1, m)]
    return W, alpha, homogeneous, weights


def _solve_alpha(rec: Recurrence, W: _RMatrix) -> list[RationalFunction]:
    F = rec.field
    m = len(rec.states)
    # unknowns alpha_1..alpha_{m-1}; equations j = 0..m-1:
    # sum_{k>=1} W[out_j][k] alpha_k - [j>=1] alpha_j = [j == 0] - W[out_j][0]
    rows: _Matrix = []
    for j, out in enumerate(rec.outputs):
        row = [W[out][k] - (F.one if k == j else F.zero) for k in range(1, m)]
        rhs = (F.one if j == 0 else F.zero) - W[out][0]
        rows.append([*row, rhs])
    sol, consistent, unique = _gauss(rows, m - 1, F)
    if not consistent:
        raise DeriveError(
            "the update does not keep the position's scale: in x+ the coefficients of "
            "x and of the other states do not add up to 1 (x+ = x + O(h) fails), e.g. "
            "a weight-decay term.",
            "Write the update as x plus gradient corrections; put weight decay into the "
            "loss as f(x) + (lambda/2)|x|^2.",
        )
    if not unique:
        raise DeriveError(
            "a state of the optimizer is not determined by the position on the slow "
            "manifold (the state's update leaves it free, e.g. s+ = s).",
            "Make every auxiliary state forget its past (a momentum factor |beta| < 1), "
            "or remove the state.",
        )
    return [F.one, *(as_rational_function(a) for a in sol)]


def _gauss(rows: _Matrix, n: int, F: Field) -> tuple[list[Coefficient], bool, bool]:
    """Solve an augmented system exactly; return (solution, consistent, unique)."""
    rows = [list(r) for r in rows]
    piv_cols = []
    r = 0
    for c in range(n):
        p = next((i for i in range(r, len(rows)) if rows[i][c]), None)
        if p is None:
            continue
        rows[r], rows[p] = rows[p], rows[r]
        inv = F.one / rows[r][c]
        rows[r] = [x * inv for x in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c]:
                f = rows[i][c]
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[r], strict=True)]
        piv_cols.append(c)
        r += 1
    consistent = all(rows[i][n] == 0 for i in range(r, len(rows)))
    unique = len(piv_cols) == n
    sol = [F.zero] * n
    for i, c in enumerate(piv_cols):
        sol[c] = rows[i][n]
    return sol, consistent, unique


def _determinant(mat: _Matrix, F: Field) -> Coefficient:
    """Exact determinant by fraction-free-free Gaussian elimination (small matrices)."""
    a = [list(r) for r in mat]
    n = len(a)
    det = F.one
    for c in range(n):
        p = next((i for i in range(c, n) if a[i][c]), None)
        if p is None:
            return F.zero
        if p != c:
            a[c], a[p] = a[p], a[c]
            det = -det
        det = det * a[c][c]
        inv = F.one / a[c][c]
        for i in range(c + 1, n):
            if a[i][c]:
                f = a[i][c] * inv
                a[i] = [x - f * y for x, y in zip(a[i], a[c], strict=True)]
    return det


def _inverse(mat: _Matrix, F: Field) -> _Matrix:
    n = len(mat)
    rows = [
        list(r) + [F.one if i == j else F.zero for j in range(n)]
        for i, r in enumerate(mat)
    ]
    for c in range(n):
        p = next(i for i in range(c, n) if rows[i][c])
        rows[c], rows[p] = rows[p], rows[c]
        inv = F.one / rows[c][c]
        rows[c] = [x * inv for x in rows[c]]
        for i in range(n):
            if i != c and rows[i][c]:
                f = rows[i][c]
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[c], strict=True)]
    return [r[n:] for r in rows]


# ------------------------------------------------------------------------ solving


def solve_manifold(rec: Recurrence, max_nodes: int) -> SlowManifold:
    """Solve for $\\Phi_h$ and the $\\Psi_j$ on all trees with up to `max_nodes` nodes.

    Raises [`DeriveError`][derive.DeriveError] when no slow manifold exists (a second
    characteristic root at 1, e.g. `beta = 1`), when a gradient is taken away from
    $x + O(h)$, or when the update does not have the form $x + O(h)$.
    """
    if max_nodes < 1:
        raise DeriveError(f"max_nodes must be positive, got {max_nodes}.", "")
    W, alpha, homogeneous, weights = _analyse(rec)
    m = len(rec.states)
    K: Field = field_for(rec.parameters) if homogeneous else rec.field

    def conv(c: RationalFunction) -> Coefficient:
        return _at_h(c, K) if homogeneous else c

    zero, one = K.zero, K.one
    Wk = [[conv(c) if c else zero for c in row] for row in W]
    alphak = [conv(a) if a else zero for a in alpha]
    # per instruction: the argument of a gradient call, or the terms of a combination
    instr: list[int | list[tuple[int, Coefficient]]] = []
    for ins in rec.instructions:
        if isinstance(ins, Grad):
            instr.append(ins.arg)
        else:
            instr.append([(v, conv(c)) for v, c in ins.terms])

    # L z = rhs, z = (phi(t), psi_1(t), ...); see the module docstring
    out0 = rec.outputs[0]
    L = [[zero] * m for _ in range(m)]
    L[0][0] = one
    for k in range(1, m):
        L[0][k] = -Wk[out0][k]
    for j in range(1, m):
        L[j][0] = alphak[j]
        for k in range(1, m):
            L[j][k] = (one if j == k else zero) - Wk[rec.outputs[j]][k]
    det = _determinant(L, K)
    singular = not det
    if not singular and not homogeneous:
        det_h = as_rational_function(det)  # over Q(parameters, h)
        try:
            _at_h(det_h, field_for(rec.parameters), 0)
        except ZeroDivisionError:
            singular = True
        else:
            singular = not _at_h(det_h, field_for(rec.parameters), 0)
    if singular:
        raise DeriveError(
            f"the recurrence {rec.name!r} has no slow manifold at these parameters "
            f"{_describe_values(rec)}: its characteristic polynomial has a second root "
            "at 1 (for heavy ball and Nesterov this is beta = 1: the momentum never "
            "forgets), so the momentum states cannot be written as functions of x.",
            "Choose parameters with every parasitic root strictly inside the unit circle "
            "(e.g. 0 <= beta < 1), or keep the parameter symbolic.",
        )
    Linv = _inverse(L, K)

    table = tree_table(max_nodes)
    n = len(table.up_to(max_nodes))
    nvals = m + len(rec.instructions)
    full = [[zero] * n for _ in range(nvals)]
    active = [j for j in range(1, m)]
    # a gradient at the value v contributes -prod_k v(t_k) over the children t_k of a
    # tree, and the composition Psi_j o Phi products of phi over pruned forests: both
    # are products over forests, memoised (see ForestProducts)
    at_value = {
        arg: ForestProducts(table, full[arg], one)
        for arg in {ins_k for ins_k in instr if isinstance(ins_k, int)}
    }
    of_phi = ForestProducts(table, full[out0], one)
    for i in range(n):
        known = [zero] * nvals
        for pos, ins_k in enumerate(instr):
            v = m + pos
            if isinstance(ins_k, int):
                known[v] = -at_value[ins_k](i)
            else:
                acc = zero
                for u, c in ins_k:
                    if known[u]:
                        acc = acc + c * known[u]
                known[v] = acc
        if not active:  # x alone: L = (1), nothing to solve
            for v in range(nvals):
                full[v][i] = known[v]
            continue
        rhs = [known[out] for out in rec.outputs]
        pruned = []
        for root, forest, mult in table.admissible_forest_cuts(i):
            if root == i:
                continue
            w = of_phi(forest)
            if w:
                pruned.append((root, w * mult if mult != 1 else w))
        for j in active:
            psi_j = full[j]
            r = linear_combination(
                (psi_j[root] * w for root, w in pruned if psi_j[root]), zero
            )
            rhs[j] = rhs[j] - r
        z = [
            sum((Linv[a][b] * rhs[b] for b in range(m) if rhs[b] and Linv[a][b]), zero)
            for a in range(m)
        ]
        s = [zero] + z[1:]
        for v in range(nvals):
            val = known[v]
            row = Wk[v]
            for k in range(1, m):
                if row[k] and s[k]:
                    val = val + row[k] * s[k]
            full[v][i] = val
        # full[out0][i] equals z[0] by construction of L
    phi = full[out0]
    psi = [[zero] * n] + [full[j] for j in range(1, m)]
    M0 = _linear_part_at_zero(rec, W)
    return SlowManifold(
        recurrence=rec,
        table=table,
        max_nodes=max_nodes,
        field=K,
        homogeneous=homogeneous,
        weights=weights,
        alpha=alphak,
        phi=phi,
        psi=psi,
        determinant=det,
        linear_part=M0,
    )


def _linear_part_at_zero(rec: Recurrence, W: _RMatrix) -> _Matrix | None:
    """The state update's linear part at $h = 0$, over Q(parameters).

    `W` is over Q(parameters, h); entries are evaluated at h = 0 (not at h = 1, where
    the homogeneous solve works: there the off-diagonal weights carry powers of h, so
    the matrix at h = 1 is only similar to the one at small h, and equals the h = 0
    limit only when no weight carries a positive power of h). `None` if an entry has
    a pole at h = 0.
    """
    P = field_for(rec.parameters)
    m = len(rec.states)
    out = []
    for j in range(m):
        row: list[Coefficient] = []
        for k in range(m):
            c = W[rec.outputs[j]][k]
            if not c:
                row.append(P.zero)
                continue
            try:
                row.append(_at_h(c, P, 0))
            except ZeroDivisionError:
                return None
        out.append(row)
    return out


def _describe_values(rec: Recurrence) -> str:
    if not rec.values:
        return "(all symbolic)"
    return "(" + ", ".join(f"{k} = {v}" for k, v in rec.values.items()) + ")"
