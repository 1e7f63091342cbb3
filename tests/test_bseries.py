"""B-series algebra checked against direct symbolic computation.

The route here is independent of `derive`'s tables: for a concrete polynomial vector
field g on R^2 the elementary differentials F(t) are computed in this file from
multilinear derivatives (explicit sums of partial derivatives), a B-series
B(a, y) = a(empty) y + sum_t h^|t| a(t)/sigma(t) F(t)(y) is evaluated as a polynomial in
h, and compositions, insertions, Lie derivatives and flows are computed by substitution
and Taylor expansion (Lie series). The engine's `compose`, `inverse`,
`insert_into_field`, `lie_derivative`, `exponential` and `logarithm` must agree through
h^4 (trees with up to 4 nodes).

The comparisons are made at three rational points; `test_points_separate_the_trees`
proves that at these points the vectors F(t)(p) of the trees of each size are linearly
independent, so agreement of the evaluated series is equivalent to agreement of every
single coefficient.
"""

import itertools
import random
from fractions import Fraction
from functools import cache

import pytest
import sympy

from derive import (
    BSeries,
    compose,
    exponential,
    insert_into_field,
    inverse,
    lie_derivative,
    logarithm,
    tree_table,
)
from derive._coefficients import rational_function_field

X, Y, H = sympy.symbols("x y h")
VARS = (X, Y)
G = (Y**2 + X, X * Y - X**3)  # a polynomial field with no special structure
N = 4  # trees with up to N nodes, series through h^N
POINTS = [
    (sympy.Rational(1, 3), sympy.Rational(-2, 5)),
    (sympy.Rational(3, 4), sympy.Rational(1, 2)),
    (sympy.Rational(-5, 7), sympy.Rational(2, 3)),
]
TABLE = tree_table(6)
TREES = list(TABLE.up_to(N))


# --------------------------------------------------------------------------- direct route


def _nodes(t):
    return 1 + sum(_nodes(c) for c in t)


def sigma_of(t):
    """Symmetry coefficient sigma(t) = prod_k (m_k! sigma(t_k)^m_k) over distinct
    children t_k of multiplicity m_k (HLW section III.1.2), computed on nested tuples."""
    s = 1
    kids = [_canon(c) for c in t]
    for child in set(kids):
        m = kids.count(child)
        s *= sympy.factorial(m) * sigma_of(child) ** m
    return int(s)


def _canon(t):
    return tuple(sorted((_canon(c) for c in t), key=repr))


def multilinear(k, args):
    """g^(k)(v_1, ..., v_k) = sum_{i_1..i_k} d^k g / dx_{i_1}..dx_{i_k} v_1[i_1]..v_k[i_k]."""
    out = []
    for comp in G:
        total = sympy.Integer(0)
        for idx in itertools.product(range(len(VARS)), repeat=k):
            d = sympy.diff(comp, *[VARS[i] for i in idx]) if k else comp
            if d == 0:
                continue
            term = d
            for v, i in zip(args, idx, strict=True):
                term *= v[i]
            total += term
        out.append(sympy.expand(total))
    return tuple(out)


@cache
def F(t):
    """Elementary differential F(t)(x, y) for the nested-tuple tree t."""
    return multilinear(len(t), [F(c) for c in t])


# Truncated power series in h with rational coefficients: lists [c_0, ..., c_N].


def ser_add(a, b):
    return [x + y for x, y in zip(a, b, strict=True)]


def ser_scale(a, c):
    return [x * c for x in a]


def ser_mul(a, b):
    out = [Fraction(0)] * (N + 1)
    for i, x in enumerate(a):
        if x:
            for j in range(N + 1 - i):
                out[i + j] += x * b[j]
    return out


def ser_const(c):
    return [Fraction(c)] + [Fraction(0)] * N


def ser_monomial(c, k):
    out = ser_const(0)
    if k <= N:
        out[k] = Fraction(c)
    return out


@cache
def F_terms(t):
    """F(t) as {(i, j): c} per component: sum c x^i y^j (exact rationals)."""
    out = []
    for comp in F(t):
        poly = sympy.Poly(comp, *VARS, domain="QQ")
        out.append({m: Fraction(int(c.p), int(c.q)) for m, c in poly.terms() if c != 0})
    return tuple(out)


def F_at_series(t, point):
    """F(t) at a point given as truncated series in h (one per coordinate)."""
    powers = [[ser_const(1)] for _ in point]
    out = []
    for comp in F_terms(t):
        total = ser_const(0)
        for (i, j), c in comp.items():
            for v, k in ((0, i), (1, j)):
                while len(powers[v]) <= k:
                    powers[v].append(ser_mul(powers[v][-1], point[v]))
            total = ser_add(total, ser_scale(ser_mul(powers[0][i], powers[1][j]), c))
        out.append(total)
    return out


def constant_point(p):
    return [ser_const(Fraction(int(c.p), int(c.q))) for c in p]


def series_at(coefficients, empty, point, shift=0):
    """B(a, p) = empty p + sum_t h^(|t|+shift) a(t)/sigma(t) F(t)(p) as truncated series.

    `coefficients` maps nested-tuple trees to numbers; `point` is a list of truncated
    series (a fixed point, or a point that depends on h)."""
    out = [ser_scale(c, Fraction(empty)) for c in point]
    for t, a in coefficients.items():
        k = _nodes(t) + shift
        if a == 0 or k > N:
            continue
        weight = ser_monomial(Fraction(a) / sigma_of(t), k)
        for comp, value in enumerate(F_at_series(t, point)):
            out[comp] = ser_add(out[comp], ser_mul(weight, value))
    return out


# Symbolic series: polynomials in (h, x, y) over QQ, truncated above h^N.
GENS = (H, *VARS)


def poly_truncate(p):
    return sympy.Poly.from_dict(
        {m: c for m, c in p.terms() if m[0] <= N} or {(0, 0, 0): 0}, *GENS, domain="QQ"
    )


def series_symbolic(coefficients, empty):
    """B(a, y) with symbolic y = (x, y), as Polys in (h, x, y)."""
    out = [sympy.Poly(sympy.sympify(empty) * v, *GENS, domain="QQ") for v in VARS]
    for t, a in coefficients.items():
        if a == 0 or _nodes(t) > N:
            continue
        w = sympy.Rational(a.numerator, a.denominator) / sigma_of(t)
        for k, comp in enumerate(F(t)):
            out[k] += sympy.Poly(w * H ** _nodes(t) * comp, *GENS, domain="QQ")
    return out


def poly_at(p, point):
    """A Poly in (h, x, y) at a rational point (x, y): a truncated series in h."""
    px, py = (Fraction(int(c.p), int(c.q)) for c in point)
    out = ser_const(0)
    for (k, i, j), c in p.terms():
        if k <= N:
            out[k] += Fraction(int(c.p), int(c.q)) * px**i * py**j
    return out


def engine_dict(series):
    """An engine BSeries as {nested tuple: Fraction} on the trees with <= N nodes."""
    return {
        TABLE.nested(i): Fraction(int(c.p), int(c.q))
        for i, c in enumerate(series.coefficients)
        if TABLE.size[i] <= N
    }


def random_coefficients(rng, max_nodes=N):
    return {
        TABLE.bracket(i): Fraction(rng.randint(-9, 9), rng.randint(1, 7))
        for i in TABLE.up_to(max_nodes)
    }


def as_nested(coefficients):
    return {TABLE.nested(TABLE.index_of(k)): v for k, v in coefficients.items()}


def as_fraction(q):
    return Fraction(int(q.p), int(q.q))


def assert_same(lhs, rhs, what, upto=N):
    for k, (a, b) in enumerate(zip(lhs, rhs, strict=True)):
        assert a[: upto + 1] == b[: upto + 1], (
            f"{what}: component {k}: coefficients of h^0..h^{upto} differ:\n"
            f"  direct {[str(c) for c in a[: upto + 1]]}\n"
            f"  engine {[str(c) for c in b[: upto + 1]]}"
        )


def lie_series_flow(field_components):
    """Time-one flow of y' = X(y) for X = O(h): y + sum_k D^k y / k!, D u = u' X,
    truncated at h^N (the Lie series of the exact flow; HLW section IX.9)."""
    term = [sympy.Poly(v, *GENS, domain="QQ") for v in VARS]
    total = list(term)
    for k in range(1, N + 1):
        term = [
            poly_truncate(
                sum(
                    (
                        u.diff(v) * Xj
                        for v, Xj in zip(VARS, field_components, strict=True)
                    ),
                    sympy.Poly(0, *GENS, domain="QQ"),
                )
            )
            for u in term
        ]
        total = [
            a + b * sympy.Rational(1, sympy.factorial(k))
            for a, b in zip(total, term, strict=True)
        ]
    return total


# --------------------------------------------------------------------------- the route itself


def test_direct_elementary_differentials_by_hand():
    """F([]) = g, F([[]]) = g'g, F([[],[]]) = g''(g,g) computed by hand for g below."""
    x, y = X, Y
    g = sympy.Matrix(G)
    J = g.jacobian([x, y])
    assert sympy.Matrix(F(())) == g
    assert sympy.expand(sympy.Matrix(F(((),))) - J * g) == sympy.zeros(2, 1)
    # g''(u, u) for u = g: second directional derivative of g along the constant u
    u1, u2, s = sympy.symbols("u1 u2 s")
    second = sympy.Matrix(
        [sympy.diff(c.subs({x: x + s * u1, y: y + s * u2}), s, 2).subs(s, 0) for c in G]
    )
    second = second.subs({u1: G[0], u2: G[1]})
    assert sympy.expand(sympy.Matrix(F(((), ()))) - second) == sympy.zeros(2, 1)


def test_direct_sigma_matches_table():
    for i in TABLE.up_to(6):
        assert sigma_of(TABLE.nested(i)) == TABLE.sigma[i]


@pytest.mark.parametrize("n", range(1, N + 1))
def test_points_separate_the_trees(n):
    """At the test points the F(t)(p), |t| = n, are linearly independent (rank = #trees),
    so a difference in any single coefficient shows up in the compared values."""
    trees = TABLE.of_size(n)
    cols = []
    for i in trees:
        col = []
        for p in POINTS:
            sub = dict(zip(VARS, p, strict=True))
            col += [c.xreplace(sub) for c in F(TABLE.nested(i))]
        cols.append(col)
    M = sympy.Matrix(cols).T
    assert M.rank() == len(trees)


# --------------------------------------------------------------------------- composition


@pytest.mark.parametrize(("seed", "b_empty"), [(1, 1), (2, 0), (3, Fraction(2, 3))])
def test_compose_matches_substitution(seed, b_empty):
    """B(b, B(a, y)) computed by substituting the series B(a, p) into F(t), against
    B(compose(b, a), p) (HLW Theorem III.1.10)."""
    rng = random.Random(seed)
    a = random_coefficients(rng)
    b = random_coefficients(rng)
    A = BSeries(a, max_nodes=N, empty=1)
    B = BSeries(b, max_nodes=N, empty=b_empty)
    C = compose(B, A)
    assert C.empty == B.empty
    for p in POINTS:
        inner = series_at(as_nested(a), 1, constant_point(p))
        lhs = series_at(as_nested(b), b_empty, inner)
        rhs = series_at(engine_dict(C), b_empty, constant_point(p))
        assert_same(lhs, rhs, f"compose at {p}")


def test_compose_is_associative():
    rng = random.Random(11)
    a, b, c = (BSeries(random_coefficients(rng, 6), 6, empty=1) for _ in range(3))
    left = compose(compose(c, b), a)
    right = compose(c, compose(b, a))
    assert left.coefficients == right.coefficients


def test_two_euler_steps_by_hand():
    """Two steps of y + h g(y) are y + 2h g + h^2 g'g + (h^3/2) g''(g,g)
    + (h^4/6) g'''(g,g,g): Taylor expansion of g(y + h g(y)) by hand, so
    a([]) = 2, a([[]]) = 1, a([[],[]]) = 1 (sigma 2), a([[],[],[]]) = 1 (sigma 6)."""
    euler = BSeries({"[]": 1}, max_nodes=4, empty=1)
    two = compose(euler, euler)
    got = {t: as_fraction(c) for t, c in two.items()}
    assert got == {"[]": 2, "[[]]": 1, "[[],[]]": 1, "[[],[],[]]": 1}


@pytest.mark.parametrize("seed", [4, 5])
def test_inverse_by_substitution_and_composition(seed):
    """B(inverse(a), B(a, p)) = p + O(h^5) by direct substitution, and the engine's
    compositions in both orders are the identity (on trees up to 6 nodes)."""
    rng = random.Random(seed)
    a = random_coefficients(rng)
    A = BSeries(a, max_nodes=N, empty=1)
    inv = inverse(A)
    assert inv.empty == 1
    for p in POINTS:
        inner = series_at(as_nested(a), 1, constant_point(p))
        lhs = series_at(engine_dict(inv), 1, inner)
        assert_same(lhs, constant_point(p), f"inverse at {p}")
    A6 = BSeries(random_coefficients(rng, 6), max_nodes=6, empty=1)
    for c in (compose(inverse(A6), A6), compose(A6, inverse(A6))):
        assert c.empty == 1
        assert all(x == 0 for x in c.coefficients)


def test_inverse_of_euler_is_implicit_euler_backwards():
    """The inverse of z -> z + h g(z) maps z to the y with y = z - h g(y) (implicit
    Euler with step -h); its expansion is derived in this test by fixed-point iteration
    of y = z - h g(y) at the test points, gaining one power of h per iteration."""
    A = BSeries({"[]": 1}, max_nodes=N, empty=1)
    inv = engine_dict(inverse(A))
    leaf = TABLE.nested(0)
    for p in POINTS:
        z = constant_point(p)
        yk = list(z)
        for _ in range(N + 1):
            gy = F_at_series(leaf, yk)
            yk = [
                ser_add(zc, ser_mul(ser_monomial(-1, 1), gc))
                for zc, gc in zip(z, gy, strict=True)
            ]
        assert_same(series_at(inv, 1, z), yk, f"inverse Euler at {p}")


# --------------------------------------------------------------------------- insertion


@pytest.mark.parametrize("seed", [6, 7])
def test_insert_into_field_matches_substitution(seed):
    """g(B(a, y)) by substitution, against B(insert_into_field(a), y), whose coefficient
    of tree t carries h^(|t|-1) (HLW Lemma III.1.9); through h^(N-1)."""
    rng = random.Random(seed)
    a = random_coefficients(rng)
    A = BSeries(a, max_nodes=N, empty=1)
    ins = insert_into_field(A)
    assert ins.empty == 0
    leaf = TABLE.nested(0)
    for p in POINTS:
        Yh = series_at(as_nested(a), 1, constant_point(p))
        lhs = F_at_series(leaf, Yh)
        rhs = series_at(engine_dict(ins), 0, constant_point(p), shift=-1)
        assert_same(lhs, rhs, f"insertion at {p}", upto=N - 1)


# --------------------------------------------------------------------------- Lie derivative


@pytest.mark.parametrize(("seed", "a_empty"), [(8, 1), (9, 0), (10, Fraction(-3, 2))])
def test_lie_derivative_matches_jacobian_product(seed, a_empty):
    """B(a, y)' B(b, y) by differentiating the symbolic series, against
    B(lie_derivative(a, b), y) (HLW Lemma IX.9.1)."""
    rng = random.Random(seed)
    a = random_coefficients(rng)
    b = random_coefficients(rng)
    A = BSeries(a, max_nodes=N, empty=a_empty)
    B = BSeries(b, max_nodes=N, empty=0)
    D = lie_derivative(A, B)
    assert D.empty == 0
    Ba = series_symbolic(as_nested(a), a_empty)
    for p in POINTS:
        Bb = series_at(as_nested(b), 0, constant_point(p))
        lhs = []
        for comp in Ba:
            total = ser_const(0)
            for v, bj in zip(VARS, Bb, strict=True):
                total = ser_add(total, ser_mul(poly_at(comp.diff(v), p), bj))
            lhs.append(total)
        rhs = series_at(engine_dict(D), 0, constant_point(p))
        assert_same(lhs, rhs, f"Lie derivative at {p}")


# --------------------------------------------------------------------------- exp and log


def test_exponential_of_g_is_the_exact_flow():
    """exp of the field g has the coefficients 1/gamma(t) of the exact flow (HLW
    section III.1.2: the exact solution is B(1/gamma, y)), up to 7 nodes."""
    table = tree_table(7)
    flow = exponential(BSeries({"[]": 1}, max_nodes=7))
    for i in table.up_to(7):
        assert as_fraction(flow.coefficients[i]) == Fraction(1, table.gamma(i)), (
            table.bracket(i)
        )
    assert flow.empty == 1


@pytest.mark.parametrize("seed", [12, 13])
def test_exponential_matches_lie_series(seed):
    """exp(b) against the Taylor expansion of the exact time-one flow of B(b, .)."""
    rng = random.Random(seed)
    b = random_coefficients(rng)
    E = exponential(BSeries(b, max_nodes=N, empty=0))
    flow = lie_series_flow(series_symbolic(as_nested(b), 0))
    for p in POINTS:
        lhs = [poly_at(c, p) for c in flow]
        assert_same(lhs, series_at(engine_dict(E), 1, constant_point(p)), f"exp at {p}")


@pytest.mark.parametrize("seed", [14, 15])
def test_logarithm_matches_lie_series(seed):
    """The Lie series of the engine's log(a) reproduces B(a, p) through h^4."""
    rng = random.Random(seed)
    a = random_coefficients(rng)
    L = logarithm(BSeries(a, max_nodes=N, empty=1))
    assert L.empty == 0
    flow = lie_series_flow(series_symbolic(engine_dict(L), 0))
    for p in POINTS:
        lhs = [poly_at(c, p) for c in flow]
        assert_same(lhs, series_at(as_nested(a), 1, constant_point(p)), f"log at {p}")


@pytest.mark.parametrize("seed", range(20, 25))
def test_log_exp_round_trips(seed):
    """logarithm(exponential(b)) == b and exponential(logarithm(a)) == a exactly, on all
    trees up to 6 nodes (exp and log are inverse maps, HLW section IX.9)."""
    rng = random.Random(seed)
    b = BSeries(random_coefficients(rng, 6), max_nodes=6, empty=0)
    a = BSeries(random_coefficients(rng, 6), max_nodes=6, empty=1)
    assert logarithm(exponential(b)).coefficients == b.coefficients
    back = exponential(logarithm(a))
    assert back.coefficients == a.coefficients and back.empty == 1


def test_log_of_commuting_flows_adds():
    """The time-s and time-r flows of one field compose to its time-(s+r) flow:
    log(exp(s b) . exp(r b)) = (s+r) b (a one-parameter group)."""
    rng = random.Random(31)
    b = random_coefficients(rng, 6)
    s, r = Fraction(2, 3), Fraction(-5, 4)
    Es = exponential(BSeries({k: s * v for k, v in b.items()}, 6))
    Er = exponential(BSeries({k: r * v for k, v in b.items()}, 6))
    total = logarithm(compose(Es, Er))
    expect = BSeries({k: (s + r) * v for k, v in b.items()}, 6)
    assert total.coefficients == expect.coefficients


def test_logarithm_over_a_rational_function_field_specialises_correctly():
    """Logarithm with a symbolic parameter, then beta = 3/7, equals the logarithm of the
    specialised series (exactness of the QQ(beta) arithmetic)."""
    K = rational_function_field(("beta",))
    beta = K.gen("beta")
    rng = random.Random(41)
    coef = {}
    for i in TABLE.up_to(5):
        p, q = rng.randint(-5, 5), rng.randint(1, 4)
        coef[TABLE.bracket(i)] = (beta * p + q) / (beta * beta + 1 + beta * q)
    sym = logarithm(BSeries(coef, max_nodes=5, empty=1, field=K))
    value = sympy.Rational(3, 7)
    bsym = sympy.Symbol("beta")
    num = {k: K.to_sympy(v).subs(bsym, value) for k, v in coef.items()}
    num = {k: Fraction(int(v.p), int(v.q)) for k, v in num.items()}
    ref = logarithm(BSeries(num, max_nodes=5, empty=1))
    for i in TABLE.up_to(5):
        got = K.to_sympy(sym.coefficients[i]).subs(bsym, value)
        assert got == as_fraction(ref.coefficients[i]), TABLE.bracket(i)


# --------------------------------------------------------------------------- explicit Euler


def test_logarithm_of_explicit_euler_hlw_ix_1():
    """Modified equation of explicit Euler (= gradient descent),
    y' = g - h/2 g'g + h^2 (1/12 g''(g,g) + 1/3 g'g'g) + ...
    (HLW section IX.1, the example of the explicit Euler method). sigma-normalised:
    b([[],[]]) = sigma * 1/12 = 1/6."""
    field = logarithm(BSeries({"[]": 1}, max_nodes=3, empty=1))
    got = {t: as_fraction(c) for t, c in field.items()}
    assert got == {
        "[]": 1,
        "[[]]": Fraction(-1, 2),
        "[[],[]]": Fraction(1, 6),
        "[[[]]]": Fraction(1, 3),
    }
    assert field.empty == 0


def test_euler_modified_field_reproduces_the_euler_step():
    """The engine's modified field of explicit Euler through 4 nodes, put through the
    Lie series computed here, gives back y + h g(y) + O(h^5) at every test point."""
    L = logarithm(BSeries({"[]": 1}, max_nodes=N, empty=1))
    flow = lie_series_flow(series_symbolic(engine_dict(L), 0))
    for p in POINTS:
        lhs = [poly_at(c, p) for c in flow]
        rhs = series_at({TABLE.nested(0): 1}, 1, constant_point(p))
        assert_same(lhs, rhs, f"Euler at {p}")


def test_operations_reject_wrong_empty_coefficients():
    field = BSeries({"[]": 1}, max_nodes=3, empty=0)
    with pytest.raises(ValueError):
        logarithm(field)
    with pytest.raises(ValueError):
        inverse(field)
    with pytest.raises(ValueError):
        insert_into_field(field)
    with pytest.raises(ValueError):
        compose(field, field)
    with pytest.raises(ValueError):
        lie_derivative(field, BSeries({"[]": 1}, max_nodes=3, empty=1))
