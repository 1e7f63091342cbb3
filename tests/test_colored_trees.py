"""Colored trees and colored series against independent routes.

- Counts: every colored tree is built here by brute force (attach a leaf of every color
  to every node of every smaller tree, then canonicalise nested tuples), independently
  of the table's enumeration by forests; one color must give OEIS A000081 and two
  colors OEIS A038055 (1, 2, ... : 2, 4, 14, 52, 214, 916).
- Additive Runge-Kutta methods: the colored B-series of an ARK method computed here
  from its tableaux by the colored elementary weights (Araújo, Murua & Sanz-Serna,
  SIAM J. Numer. Anal. 34 (1997), eq. (2.5); HLW section III.2 for P-series):
  Phi_i(t) = prod over children u of sum_j a^{c(u)}_ij Phi_j(u), a(t) = sum_i
  b^{c(t)}_i Phi_i(t), must equal what the engine gets by tracing the method as a
  program with colored gradient calls and solving for its map (`EpochMap`). The epoch
  of SGD over a fixed batch order is the special case a^c_ij = [c_j = c] (j < i),
  b^c_i = [c_i = c].
"""

from fractions import Fraction

import pytest

import derive
from derive import (
    ColoredSeries,
    colored_compose,
    colored_exponential,
    colored_logarithm,
    colored_step,
    colored_tree_counts,
    colored_tree_table,
    parse_colored_tree,
)
from derive._epoch import EpochMap

TABLE = colored_tree_table()


def _canonical(t):
    color, kids = t
    return (color, tuple(sorted(_canonical(k) for k in kids)))


def _attach_everywhere(t, color):
    """Every tree obtained from t by hanging a new leaf of `color` below one node."""
    c, kids = t
    yield (c, (*kids, (color, ())))
    for i, k in enumerate(kids):
        for new in _attach_everywhere(k, color):
            yield (c, (*kids[:i], new, *kids[i + 1 :]))


def brute_force_counts(max_nodes, colors):
    level = {_canonical((c, ())) for c in range(colors)}
    counts = [len(level)]
    for _ in range(max_nodes - 1):
        level = {
            _canonical(new)
            for t in level
            for c in range(colors)
            for new in _attach_everywhere(t, c)
        }
        counts.append(len(level))
    return counts


@pytest.mark.parametrize("colors,max_nodes", [(1, 8), (2, 6), (3, 5)])
def test_counts_against_brute_force(colors, max_nodes):
    assert colored_tree_counts(max_nodes, colors) == brute_force_counts(
        max_nodes, colors
    )


def test_counts_against_oeis():
    assert colored_tree_counts(9, 1) == [1, 1, 2, 4, 9, 20, 48, 115, 286]  # A000081
    assert colored_tree_counts(7, 2) == [2, 4, 14, 52, 214, 916, 4116]  # A038055


def test_parse_and_print_round_trip():
    for text in ["[]_0", "[[]_1,[]_2]_3", "[[[]_2]_1,[]_1]_12"]:
        i = TABLE.index_of(text)
        assert TABLE.index_of(TABLE.bracket(i)) == i
        assert parse_colored_tree(TABLE.bracket(i)) == TABLE.nested(i)
    with pytest.raises(ValueError, match="expected '_'"):
        parse_colored_tree("[[]]")


def test_symmetry_factor():
    # sigma counts the automorphisms that keep colors: g''(g_1, g_1) has 2, g''(g_1, g_2) 1
    assert TABLE.sigma[TABLE.index_of("[[]_1,[]_1]_0")] == 2
    assert TABLE.sigma[TABLE.index_of("[[]_1,[]_2]_0")] == 1
    assert TABLE.sigma[TABLE.index_of("[[[]_1]_2,[[]_1]_2]_0")] == 2


# ------------------------------------------------------------------ ARK special case


def ark_weights(tableaux, max_nodes, colors):
    """{tree: a(t)} of the additive RK method {color: (A, b)} from its tableaux."""
    s = len(next(iter(tableaux.values()))[1])
    stage = {}
    out = {}
    for t in TABLE.up_to(max_nodes, colors):
        phis = []
        for i in range(s):
            prod = Fraction(1)
            for u in TABLE.children[t]:
                A = tableaux[TABLE.color[u]][0]
                prod *= sum(Fraction(A[i][j]) * stage[u][j] for j in range(s))
            phis.append(prod)
        stage[t] = phis
        b = tableaux[TABLE.color[t]][1]
        out[t] = sum(Fraction(b[i]) * phis[i] for i in range(s))
    return out


def ark_program(tableaux):
    """The ARK method as a program: each stage calls grad once per field, in color
    order; returns (step function, color of every gradient call)."""
    colors = sorted(tableaux)
    s = len(tableaux[colors[0]][1])

    def step(x, *, grad, h):
        ks = []
        for i in range(s):
            y = x
            for j in range(i):
                for c, k in zip(colors, ks[j], strict=True):
                    a = Fraction(tableaux[c][0][i][j])
                    if a:
                        y = y - h * a * k
            ks.append([grad(y) for _ in colors])
        out = x
        for i in range(s):
            for c, k in zip(colors, ks[i], strict=True):
                b = Fraction(tableaux[c][1][i])
                if b:
                    out = out - h * b * k
        return out

    return step, [c for _ in range(s) for c in colors]


def as_fraction(q):
    return Fraction(int(q.p), int(q.q))


HEUN = ([[0, 0], [1, 0]], [Fraction(1, 2), Fraction(1, 2)])
MIDPOINT = ([[0, 0], [Fraction(1, 2), 0]], [0, 1])
RK4 = (
    [[0, 0, 0, 0], [Fraction(1, 2), 0, 0, 0], [0, Fraction(1, 2), 0, 0], [0, 0, 1, 0]],
    [Fraction(1, 6), Fraction(1, 3), Fraction(1, 3), Fraction(1, 6)],
)


@pytest.mark.parametrize(
    "tableaux",
    [{1: HEUN, 2: MIDPOINT}, {1: RK4, 2: RK4}, {1: MIDPOINT, 2: HEUN}],
    ids=["heun-midpoint", "rk4-rk4", "midpoint-heun"],
)
def test_ark_method_against_elementary_weights(tableaux):
    step, colors = ark_program(tableaux)
    rec = derive.trace(step, name="ark")
    engine = EpochMap(rec, colors, per_call=True)
    weights = ark_weights(tableaux, 4, tuple(tableaux))
    for t, a in weights.items():
        assert as_fraction(engine.phi(t)) == a, TABLE.bracket(t)


def test_ark_coupling_conditions_by_hand():
    # Heun for g_1, midpoint for g_2: sum_i b^1_i c^2_i = 1/4 and sum_i b^2_i c^1_i = 1
    # (c^nu = row sums of A^nu), against 1/gamma = 1/2 for a consistent order-2 pair
    step, colors = ark_program({1: HEUN, 2: MIDPOINT})
    engine = EpochMap(derive.trace(step, name="ark"), colors, per_call=True)
    assert as_fraction(engine.phi(TABLE.index_of("[[]_2]_1"))) == Fraction(1, 4)
    assert as_fraction(engine.phi(TABLE.index_of("[[]_1]_2"))) == Fraction(1)
    assert as_fraction(engine.phi(TABLE.index_of("[[]_1]_1"))) == Fraction(1, 2)
    # RK4 for both fields has order 4: its series is the exact flow of g_1 + g_2
    step, colors = ark_program({1: RK4, 2: RK4})
    engine = EpochMap(derive.trace(step, name="ark"), colors, per_call=True)
    exact = colored_exponential(ColoredSeries({"[]_1": 1, "[]_2": 1}))
    for t in TABLE.up_to(4, (1, 2)):
        assert engine.phi(t) == exact[t], TABLE.bracket(t)


@pytest.mark.parametrize("order", [(1, 2, 3), (2, 1, 1), (3, 1, 2, 1)])
def test_sgd_epoch_is_an_ark_method(order):
    m = len(order)
    colors = tuple(sorted(set(order)))
    tableaux = {
        c: (
            [
                [1 if (j < i and order[j] == c) else 0 for j in range(m)]
                for i in range(m)
            ],
            [1 if order[i] == c else 0 for i in range(m)],
        )
        for c in colors
    }
    engine = EpochMap(derive.sgd(), order)
    weights = ark_weights(tableaux, 4, colors)
    for t, a in weights.items():
        assert as_fraction(engine.phi(t)) == a, TABLE.bracket(t)
    # the same map by composing the steps' series (HLW Theorem III.1.10)
    composed = colored_step(order[0])
    for c in order[1:]:
        composed = colored_compose(colored_step(c), composed)
    for t in weights:
        assert composed[t] == engine.phi(t)


def test_logarithm_inverts_exponential():
    field = ColoredSeries({"[]_1": 1, "[[]_2]_1": Fraction(1, 3), "[]_2": -2})
    back = colored_logarithm(colored_exponential(field))
    for t in TABLE.up_to(5, (1, 2)):
        assert back[t] == field[t]
