"""The engine's fast exact arithmetic and tree tables against slower, independent routes.

- `RationalFunction` keeps denominators factored and reduces only when looked at
  (`derive._denominators`). Reference: the plain representation, a quotient of FLINT
  polynomials reduced by a gcd after every operation and normalised to a denominator
  with leading coefficient 1 (written out in this file), and SymPy's `cancel` on the
  same expressions. Random expressions in two variables must give the same reduced
  numerator and denominator, equal hashes and the same printout.
- Tree tables built from Butcher products (`t o u`, `u` the largest child): the order
  of the trees, the symmetries, the edge cuts and the admissible cuts against the
  original algorithms, restated here (multisets of children enumerated largest index
  first; cuts by per-child multiset choices with multinomial weights), through 9 nodes.
  `tests/test_trees.py` checks both cut tables against brute force over labelled trees
  through 7 nodes.
- The logarithm over the rationals (one FLINT polynomial in an auxiliary variable per
  tree) against the generic loop over the same numbers embedded as constant rational
  functions, and against `exponential` (the Lie series, another code path).
"""

import itertools
import math
import random
from collections import Counter
from fractions import Fraction

import flint
import pytest
import sympy

from derive import BSeries, exponential, logarithm, tree_table
from derive._bseries import logarithm_coefficients
from derive._coefficients import QQ, rational_function_field
from derive._rational_function import RationalFunctionField, linear_combination

# ----------------------------------------------------------------- reference quotients


class Reduced:
    """num/den of FLINT polynomials reduced by a gcd after every operation (the
    representation the engine used before factored denominators)."""

    def __init__(self, num, den):
        if not den.is_one():
            g = num.gcd(den)
            if not g.is_one():
                num, den = num / g, den / g
            c = den.leading_coefficient()
            if c != 1:
                num, den = num / c, den / c
        if num.is_zero():
            den = den.context().from_dict({(0,) * den.context().nvars(): 1})
        self.num, self.den = num, den

    def __add__(self, o):
        return Reduced(self.num * o.den + o.num * self.den, self.den * o.den)

    def __sub__(self, o):
        return Reduced(self.num * o.den - o.num * self.den, self.den * o.den)

    def __mul__(self, o):
        return Reduced(self.num * o.num, self.den * o.den)

    def __truediv__(self, o):
        return Reduced(self.num * o.den, self.den * o.num)


FIELD = RationalFunctionField(("a", "b"))  # a fresh field: its own factor registry
A, B = sympy.symbols("a b")


def random_polynomial(rng):
    ctx = FIELD.ctx
    terms = {}
    for _ in range(rng.randint(1, 3)):
        monom = (rng.randint(0, 2), rng.randint(0, 2))
        terms[monom] = flint.fmpq(rng.randint(-4, 4) or 1, rng.randint(1, 3))
    return ctx.from_dict(terms)


def random_pair(rng):
    """(engine element, reference element) of a random quotient."""
    num, den = random_polynomial(rng), random_polynomial(rng)
    return FIELD.from_polys(num, den), Reduced(num, den)


def sympy_of(ref):
    return FIELD.to_sympy(FIELD.from_polys(ref.num, ref.den))


@pytest.mark.parametrize("seed", range(4))
def test_rational_functions_match_gcd_after_every_operation(seed):
    rng = random.Random(seed)
    pool = [random_pair(rng) for _ in range(4)]
    for _ in range(12):
        (x, rx), (y, ry) = rng.sample(pool, 2)
        op = rng.choice("+-*/")
        if op == "/" and y.is_zero():
            continue
        z = {"+": x + y, "-": x - y, "*": x * y, "/": x / y}[op]
        rz = {"+": rx + ry, "-": rx - ry, "*": rx * ry, "/": rx / ry}[op]
        assert z == FIELD.from_polys(rz.num, rz.den)
        assert (z.num, z.den) == (rz.num, rz.den)
        assert hash(z) == hash(FIELD.from_polys(rz.num, rz.den))
        sx, sy = sympy_of(rx), sympy_of(ry)
        sz = {"+": sx + sy, "-": sx - sy, "*": sx * sy, "/": sx / sy}[op]
        assert sympy.cancel(sympy_of(rz) - sz) == 0
        if rz.num.total_degree() + rz.den.total_degree() < 24:  # keep sizes small
            pool[rng.randrange(len(pool))] = (z, rz)


def test_equal_values_by_different_routes_print_and_hash_alike():
    a, b = FIELD.gen("a"), FIELD.gen("b")
    one_minus_a = 1 - a
    x = (a * b + b) / one_minus_a**3
    y = x * (one_minus_a**2 * (2 - b)) / ((2 - b) * one_minus_a**2)  # not reduced
    assert x == y and hash(x) == hash(y) and repr(x) == repr(y)
    z = (x + (1 - b) / one_minus_a) - (1 - b) / one_minus_a
    assert z == x and hash(z) == hash(x) and str(z) == str(x)
    assert (x - y).is_zero() and not (x - y)
    assert (x * one_minus_a**3 / (a + 1)) == b  # every factor cancels
    assert (x * one_minus_a**3 / (a + 1)).den.is_one()


def test_division_by_new_and_non_monic_factors():
    """2a - 6 = 2 (a - 3): the factor is registered monic, the constant goes up."""
    a, b = FIELD.gen("a"), FIELD.gen("b")
    x = (a + b) / (2 * a - 6)
    assert str(x.den) == "a - 3" and str(x.num) == "1/2*a + 1/2*b"
    y = x / ((a - 3) * (a + b))
    assert str(y) == "(1/2)/(a^2 - 6*a + 9)"
    assert y * (a - 3) ** 2 * 2 == 1
    assert (y**-1) == 2 * (a - 3) ** 2
    with pytest.raises(ZeroDivisionError):
        x / (a - a)


def test_constants_and_conversions():
    a = FIELD.gen("a")
    x = a / (1 - a)
    assert x + Fraction(1, 2) == (1 + a) / (2 * (1 - a))
    assert (x * 0).is_zero() and x * 0 == 0 and x - x == 0
    assert ((x * (1 - a)) / a).is_constant() and ((x * (1 - a)) / a) == 1
    assert QQ.convert((x * (1 - a)) / a) == 1
    big = rational_function_field(("a", "b", "c"))
    assert big.convert(x) == big.gen("a") / (1 - big.gen("a"))


def test_linear_combination_equals_repeated_addition():
    rng = random.Random(7)
    pool = [random_pair(rng)[0] for _ in range(6)]
    total = FIELD.zero
    for x in pool:
        total = total + x
    assert linear_combination(pool, FIELD.zero) == total
    assert linear_combination([], FIELD.zero) == 0
    assert linear_combination([flint.fmpq(1, 3), 2], QQ.zero) == flint.fmpq(7, 3)


# ----------------------------------------------------------------- tree tables


def reference_trees(max_nodes):
    """Children tuples in the original order: non-decreasing tuples of indices whose
    sizes sum to n - 1, enumerated largest index first; and the symmetries."""
    children, size, sigma = [], [], []

    def forests(total, limit):
        if total == 0:
            yield ()
            return
        for i in range(limit - 1, -1, -1):
            if size[i] <= total:
                for rest in forests(total - size[i], i + 1):
                    yield (*rest, i)

    for n in range(1, max_nodes + 1):
        for kids in list(forests(n - 1, len(children))):
            children.append(kids)
            size.append(n)
            s = 1
            for c, m in Counter(kids).items():
                s *= math.factorial(m) * sigma[c] ** m
            sigma.append(s)
    return children, sigma


def reference_cuts(table, i, memo):
    """Admissible cuts by per-child multisets of options with multinomial weights."""
    if i in memo:
        return memo[i]
    acc = Counter()
    per_child = []
    for child, mult in Counter(table.children[i]).items():
        opts = [(None, (child,), 1)] + reference_cuts(table, child, memo)
        choices = []
        for picks in itertools.combinations_with_replacement(range(len(opts)), mult):
            weight = math.factorial(mult)
            for _, k in Counter(picks).items():
                weight //= math.factorial(k)
            for o in picks:
                weight *= opts[o][2]
            kept = [opts[o][0] for o in picks if opts[o][0] is not None]
            cut = [p for o in picks for p in opts[o][1]]
            choices.append((kept, cut, weight))
        per_child.append(choices)
    for combo in itertools.product(*per_child):
        roots = [r for c in combo for r in c[0]]
        forest = [p for c in combo for p in c[1]]
        acc[(table.lookup(roots), tuple(sorted(forest)))] += math.prod(
            c[2] for c in combo
        )
    memo[i] = [(r, f, m) for (r, f), m in acc.items()]
    return memo[i]


def reference_edge_cuts(table, i):
    acc = Counter()
    kids = table.children[i]
    for child, mult in Counter(kids).items():
        rest = list(kids)
        rest.remove(child)
        acc[(table.lookup(rest), child)] += mult
        for (trunk, branch), m in reference_edge_cuts(table, child).items():
            acc[(table.lookup([*rest, trunk]), branch)] += mult * m
    return acc


def test_tree_order_and_symmetries_are_the_original_ones():
    children, sigma = reference_trees(10)
    table = tree_table(10)
    assert table.children[: len(children)] == children
    assert table.sigma[: len(sigma)] == sigma


def test_cut_tables_match_the_original_algorithms_through_9_nodes():
    table = tree_table(9)
    memo = {}
    for i in table.up_to(9):
        assert Counter({(a, b): m for a, b, m in table.edge_cuts(i)}) == (
            reference_edge_cuts(table, i)
        ), table.bracket(i)
        got = table.admissible_cuts(i)
        assert len({(r, f) for r, f, _ in got}) == len(got)
        assert {(r, f): m for r, f, m in got} == {
            (r, f): m for r, f, m in reference_cuts(table, i, memo)
        }, table.bracket(i)
        # the forest of a forest cut is the tree with that forest as children
        assert [
            (r, table.children[f], m) for r, f, m in table.admissible_forest_cuts(i)
        ] == got


def test_butcher_factors_and_grafting():
    table = tree_table(5)
    i = table.index_of("[[],[[]],[[]]]")
    t, u = table.butcher_factors(i)
    assert (table.bracket(t), table.bracket(u)) == ("[[],[[]]]", "[[]]")
    assert table.graft(t, u) == i
    assert table.merge(table.index_of("[[],[]]"), table.index_of("[[[]]]")) == (
        table.index_of("[[],[],[[]]]")
    )
    with pytest.raises(ValueError):
        table.butcher_factors(table.index_of("[]"))


# ----------------------------------------------------------------- logarithm


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("denominators", [6, 10**30])
def test_rational_logarithm_matches_the_generic_loop_and_the_exponential(
    seed, denominators
):
    """Both routes of the largest trees' sums: integers over one common denominator
    (small denominators) and rationals (unrelated 100-bit denominators, whose lcm is
    too large), against the generic loop and exp(log a) = a."""
    rng = random.Random(seed)
    n_nodes = 7
    table = tree_table(n_nodes)
    n = len(table.up_to(n_nodes))
    a = [flint.fmpq(rng.randint(-5, 5), rng.randint(1, denominators)) for _ in range(n)]
    fast = logarithm_coefficients(table, n, a, QQ.zero, QQ.one, QQ.convert)
    K = rational_function_field(("c",))
    generic = logarithm_coefficients(
        table, n, [K.convert(x) for x in a], K.zero, K.one, K.convert
    )
    assert [K.convert(x) for x in fast] == generic
    series = BSeries(a, max_nodes=n_nodes, empty=1)
    assert exponential(logarithm(series)).coefficients == series.coefficients
