"""Rooted trees: counts, symmetry, density, bracket notation and the cut tables.

Every table of `derive._trees` is checked against an independent route: published values
(OEIS A000081; Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed. 2006,
Table III.1.1 and section III.1.2), classical counting identities, and brute force over
labelled trees written in this file (parent arrays, canonical forms of our own, explicit
enumeration of edges and edge subsets).
"""

import itertools
import math
from collections import Counter

import pytest

import derive
from derive import parse_tree, tree_counts, tree_table

MAX_BRUTE = 7  # brute force over labelled trees up to this many nodes


# --------------------------------------------------------------------------- helpers
# A labelled rooted tree is a parent array: parent[0] is None (the root), parent[v] is
# the parent of vertex v. Canonical form: nested tuples with the children sorted by
# (size, repr) -- an ordering of our own, unrelated to the engine's tree indices.


def _children(parent):
    kids = {v: [] for v in range(len(parent))}
    for v, p in enumerate(parent):
        if p is not None:
            kids[p].append(v)
    return kids


def _count_nodes(t):
    return 1 + sum(_count_nodes(c) for c in t)


def _canon_sub(kids, v):
    subs = [_canon_sub(kids, c) for c in kids[v]]
    return tuple(sorted(subs, key=lambda s: (_count_nodes(s), repr(s))))


def canonical(parent, root=0):
    """Canonical nested-tuple form of the labelled tree below `root`."""
    return _canon_sub(_children(parent), root)


def recursive_trees(n):
    """All parent arrays with parent[v] < v (increasingly labelled trees): (n-1)! of them."""
    for choice in itertools.product(*[range(v) for v in range(1, n)]):
        yield (None, *choice)


def labelled_trees_with_root_0(n):
    """All labelled rooted trees on {0..n-1} with root 0, by brute force over parent maps.

    There are n^(n-2) of them (Cayley: n^(n-1) rooted labelled trees, 1/n with root 0).
    """
    for choice in itertools.product(range(n), repeat=n - 1):
        parent = (None, *choice)
        ok = True
        for v in range(1, n):
            seen, u = set(), v
            while u != 0:
                if u in seen or parent[u] == u:
                    ok = False
                    break
                seen.add(u)
                u = parent[u]
            if not ok:
                break
        if ok:
            yield parent


def labelled_representative(t):
    """A parent array for the nested-tuple tree `t` (vertices in depth-first order)."""
    parent = [None]

    def walk(node, me):
        for c in node:
            parent.append(me)
            walk(c, len(parent) - 1)

    walk(t, 0)
    return tuple(parent)


def gamma_of(t):
    """Density gamma(t) = |t| prod gamma(t_i) (HLW section III.1.2)."""
    g = _count_nodes(t)
    for c in t:
        g *= gamma_of(c)
    return g


def distinct_shapes(n):
    """The distinct unlabelled rooted trees with n nodes, found by brute force."""
    return {canonical(p) for p in recursive_trees(n)}


# --------------------------------------------------------------------------- counts

# OEIS A000081: number of unlabelled rooted trees with n nodes, n = 1..10.
A000081 = [1, 1, 2, 4, 9, 20, 48, 115, 286, 719]


def test_tree_counts_match_oeis_a000081():
    assert tree_counts(10) == A000081


def test_table_sizes_by_brute_force():
    """Brute force (canonical forms of all increasingly labelled trees) finds the same
    number of distinct trees, and exactly the engine's trees."""
    table = tree_table(MAX_BRUTE)
    for n in range(1, MAX_BRUTE + 1):
        shapes = distinct_shapes(n)
        assert len(shapes) == A000081[n - 1]
        indices = {table.index_of(s) for s in shapes}
        assert indices == set(table.of_size(n)), n
        assert all(table.size[i] == n for i in indices)


def test_up_to_is_a_prefix_and_indices_ordered_by_size():
    table = tree_table(6)
    assert list(table.up_to(6)) == list(range(sum(A000081[:6])))
    sizes = [table.size[i] for i in table.up_to(6)]
    assert sizes == sorted(sizes)


# --------------------------------------------------------------------------- sigma, gamma

# HLW Table III.1.1 (trees up to order 4): |t|, gamma(t), sigma(t).
HLW_TABLE_III_1_1 = {
    "[]": (1, 1, 1),
    "[[]]": (2, 2, 1),
    "[[],[]]": (3, 3, 2),
    "[[[]]]": (3, 6, 1),
    "[[],[],[]]": (4, 4, 6),
    "[[],[[]]]": (4, 8, 1),
    "[[[],[]]]": (4, 12, 2),
    "[[[[]]]]": (4, 24, 1),
}


@pytest.mark.parametrize(("tree", "expected"), sorted(HLW_TABLE_III_1_1.items()))
def test_size_gamma_sigma_hlw_table(tree, expected):
    table = tree_table(4)
    i = table.index_of(tree)
    assert (table.size[i], table.gamma(i), table.sigma[i]) == expected


def test_sigma_of_bushy_and_symmetric_trees():
    """sigma of the bush with k leaves is k! and of [[[]],[[]]] is 2 (automorphisms
    counted by hand: permute the leaves; swap the two identical branches)."""
    table = tree_table(7)
    for k in range(1, 7):
        bush = "[" + ",".join(["[]"] * k) + "]"
        assert table.sigma[table.index_of(bush)] == math.factorial(k)
    assert table.sigma[table.index_of("[[[]],[[]]]")] == 2
    assert table.sigma[table.index_of("[[[],[]],[[],[]]]")] == 2 * 2 * 2
    assert table.sigma[table.index_of("[[],[],[[]],[[]]]")] == 2 * 2


@pytest.mark.parametrize("n", range(1, 7))
def test_sigma_by_counting_labelled_trees(n):
    """A tree t has n!/sigma(t) labellings; brute force over all labelled rooted trees with
    a fixed root label gives (n-1)!/sigma(t) of them per shape."""
    table = tree_table(n)
    counts = Counter(canonical(p) for p in labelled_trees_with_root_0(n))
    assert sum(counts.values()) == (n ** (n - 2) if n >= 2 else 1)  # Cayley
    assert len(counts) == A000081[n - 1]
    for shape, c in counts.items():
        i = table.index_of(shape)
        assert c * table.sigma[i] == math.factorial(n - 1), table.bracket(i)


@pytest.mark.parametrize("n", range(1, MAX_BRUTE + 1))
def test_sigma_gamma_by_increasing_labellings(n):
    """The number of increasing labellings of t is alpha(t) = n!/(sigma(t) gamma(t))
    (HLW section III.1; Butcher), and they total (n-1)!."""
    table = tree_table(n)
    counts = Counter(canonical(p) for p in recursive_trees(n))
    assert sum(counts.values()) == math.factorial(n - 1)
    for shape, c in counts.items():
        i = table.index_of(shape)
        assert table.gamma(i) == gamma_of(shape)
        assert c * table.sigma[i] * table.gamma(i) == math.factorial(n), table.bracket(
            i
        )


def test_classical_identities_up_to_ten_nodes():
    """sum_{|t|=n} n!/sigma(t) = n^(n-1) (Cayley's count of labelled rooted trees) and
    sum_{|t|=n} n!/(sigma(t) gamma(t)) = (n-1)! (increasing labellings)."""
    table = tree_table(10)
    for n in range(1, 11):
        trees = table.of_size(n)
        total = sum(math.factorial(n) // table.sigma[i] for i in trees)
        assert total == n ** (n - 1), n
        total = sum(
            math.factorial(n) // (table.sigma[i] * table.gamma(i)) for i in trees
        )
        assert total == math.factorial(n - 1), n


def test_is_tall_only_for_chains():
    table = tree_table(6)
    for n in range(1, 7):
        tall = [i for i in table.of_size(n) if table.is_tall(i)]
        assert len(tall) == 1
        assert table.bracket(tall[0]) == "[" * n + "]" * n


# --------------------------------------------------------------------------- notation


def test_parse_tree_examples():
    assert parse_tree("[]") == ()
    assert parse_tree("[[]]") == ((),)
    assert parse_tree("[[],[]]") == ((), ())
    assert parse_tree(" [ [ ] , [ [ ] ] ] ") == ((), ((),))


def test_bracket_round_trip_up_to_seven_nodes():
    table = tree_table(7)
    for i in table.up_to(7):
        text = table.bracket(i)
        assert table.index_of(text) == i
        assert table.index_of(parse_tree(text)) == i
        assert parse_tree(text) == table.nested(i)
        assert canonical(labelled_representative(parse_tree(text))) == canonical(
            labelled_representative(table.nested(i))
        )


def test_canonicalisation_ignores_child_order():
    table = tree_table(5)
    assert table.index_of("[[[]],[]]") == table.index_of("[[],[[]]]")
    assert table.bracket(table.index_of("[[[]],[]]")) == table.bracket(
        table.index_of("[[],[[]]]")
    )
    assert table.index_of("[[[]],[],[[],[]]]") == table.index_of("[[[],[]],[[]],[]]")
    # different shapes stay different
    assert table.index_of("[[],[]]") != table.index_of("[[[]]]")


def test_every_permutation_of_children_gives_the_same_index():
    table = tree_table(7)
    for i in table.up_to(7):
        kids = [table.bracket(c) for c in table.children[i]]
        for perm in itertools.permutations(kids):
            assert table.index_of("[" + ",".join(perm) + "]") == i


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[",
        "]",
        "[[]",
        "[]]",
        "[],[]",
        "[[],]",
        "[,[]]",
        "[,]",
        "x",
        "[x]",
        "()",
        "[[]][]",
        "[[] []]",
        "[[]],",
    ],
)
def test_malformed_trees_raise_value_error(text):
    with pytest.raises(ValueError):
        parse_tree(text)
    with pytest.raises(ValueError):
        tree_table(3).index_of(text)


# --------------------------------------------------------------------------- cut tables


def _descendants(kids, v):
    out = [v]
    for c in kids[v]:
        out += _descendants(kids, c)
    return out


def _subtree_parent_array(parent, kids, root, drop):
    """Parent array of the part of the tree below `root` with the subtrees at `drop` removed."""
    keep = []

    def walk(v):
        keep.append(v)
        for c in kids[v]:
            if c not in drop:
                walk(c)

    walk(root)
    relabel = {v: k for k, v in enumerate(keep)}
    return tuple(None if v == root else relabel[parent[v]] for v in keep)


def brute_edge_cuts(t):
    """{(trunk, branch): multiplicity} by cutting each edge of a labelled representative."""
    parent = labelled_representative(t)
    kids = _children(parent)
    out = Counter()
    for v in range(1, len(parent)):  # the edge parent[v] -- v
        trunk = canonical(_subtree_parent_array(parent, kids, 0, {v}))
        branch = canonical(parent, root=v)
        out[(trunk, branch)] += 1
    return out


def brute_admissible_cuts(t):
    """{(root part, sorted forest): multiplicity} over edge subsets with at most one
    edge on any path from the root (the empty cut included): the admissible cuts of
    HLW section III.1.4, used in Theorem III.1.10."""
    parent = labelled_representative(t)
    kids = _children(parent)
    n = len(parent)
    below = {v: set(_descendants(kids, v)) for v in range(n)}
    edges = list(range(1, n))  # edge identified by its lower vertex
    out = Counter()
    total = 0
    for r in range(len(edges) + 1):
        for cut in itertools.combinations(edges, r):
            if any(u != v and u in below[v] for u in cut for v in cut):
                continue
            total += 1
            root_part = canonical(_subtree_parent_array(parent, kids, 0, set(cut)))
            forest = sorted(
                (canonical(parent, root=v) for v in cut),
                key=lambda s: (_count_nodes(s), repr(s)),
            )
            out[(root_part, tuple(forest))] += 1
    return out, total


def _engine_edge_cuts(table, i):
    out = Counter()
    for trunk, branch, mult in table.edge_cuts(i):
        key = (
            canonical(labelled_representative(table.nested(trunk))),
            canonical(labelled_representative(table.nested(branch))),
        )
        assert key not in out, "edge_cuts lists the same pair twice"
        out[key] += mult
    return out


def _engine_admissible(table, i):
    out = Counter()
    for root, forest, mult in table.admissible_cuts(i):
        key = (
            canonical(labelled_representative(table.nested(root))),
            tuple(
                sorted(
                    (
                        canonical(labelled_representative(table.nested(p)))
                        for p in forest
                    ),
                    key=lambda s: (_count_nodes(s), repr(s)),
                )
            ),
        )
        assert key not in out, "admissible_cuts lists the same cut twice"
        out[key] += mult
    return out


def test_edge_cut_multiplicities_count_the_edges():
    table = tree_table(8)
    for i in table.up_to(8):
        total = sum(m for _, _, m in table.edge_cuts(i))
        assert total == table.size[i] - 1, table.bracket(i)
        for trunk, branch, _ in table.edge_cuts(i):
            assert table.size[trunk] + table.size[branch] == table.size[i]


def test_edge_cuts_of_small_trees_by_hand():
    """[[],[[]]]: cutting the leaf gives trunk [[[]]]; cutting the edge to [[]] gives
    trunk [[]] and branch [[]]; cutting the inner leaf gives trunk [[],[]]."""
    table = tree_table(4)
    got = {
        (table.bracket(a), table.bracket(b), m)
        for a, b, m in table.edge_cuts(table.index_of("[[],[[]]]"))
    }
    assert got == {("[[[]]]", "[]", 1), ("[[]]", "[[]]", 1), ("[[],[]]", "[]", 1)}
    got = {
        (table.bracket(a), table.bracket(b), m)
        for a, b, m in table.edge_cuts(table.index_of("[[],[],[]]"))
    }
    assert got == {("[[],[]]", "[]", 3)}


@pytest.mark.parametrize("n", range(2, MAX_BRUTE + 1))
def test_edge_cuts_match_brute_force(n):
    table = tree_table(n)
    for i in table.of_size(n):
        assert _engine_edge_cuts(table, i) == brute_edge_cuts(table.nested(i)), (
            table.bracket(i)
        )


@pytest.mark.parametrize("n", range(1, MAX_BRUTE + 1))
def test_admissible_cuts_match_brute_force(n):
    table = tree_table(n)
    for i in table.of_size(n):
        brute, total = brute_admissible_cuts(table.nested(i))
        engine = _engine_admissible(table, i)
        assert engine == brute, table.bracket(i)
        assert sum(m for _, _, m in table.admissible_cuts(i)) == total


def test_admissible_cuts_of_small_trees_by_hand():
    """[[[]]] (a chain of three): the empty cut, cut the top edge (root part [],
    forest [[]]), cut the lower edge (root part [[]], forest []). [[],[]]: the empty
    cut, either leaf (multiplicity 2), both leaves. Enumerated by hand."""
    table = tree_table(3)
    got = {
        (table.bracket(r), tuple(table.bracket(p) for p in f), m)
        for r, f, m in table.admissible_cuts(table.index_of("[[[]]]"))
    }
    assert got == {("[[[]]]", (), 1), ("[]", ("[[]]",), 1), ("[[]]", ("[]",), 1)}
    got = {
        (table.bracket(r), tuple(table.bracket(p) for p in f), m)
        for r, f, m in table.admissible_cuts(table.index_of("[[],[]]"))
    }
    assert got == {("[[],[]]", (), 1), ("[[]]", ("[]",), 2), ("[]", ("[]", "[]"), 1)}


def test_tree_table_rejects_nonpositive_size():
    with pytest.raises(ValueError):
        derive.TreeTable(0)
