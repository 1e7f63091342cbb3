"""Tests of the iterates, the slow-manifold start, the differentials and stability."""

import jax

jax.config.update("jax_enable_x64", True)

import doctest  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy  # noqa: E402

import derive  # noqa: E402
import numerics  # noqa: E402
import numerics._iterates  # noqa: E402
import numerics._manifold_start  # noqa: E402
import numerics._stability  # noqa: E402
from derive import DeriveError  # noqa: E402
from derive._concrete import ConcreteLoss  # noqa: E402
from derive._flow import manifold_states  # noqa: E402


def qhm_step(x, d, *, grad, h, beta, nu):
    """Quasi-hyperbolic momentum (Ma & Yarats 2019) in the toolkit's conventions."""
    d_new = beta * d + (1 - beta) * grad(x)
    return x - h * ((1 - nu) * grad(x) + nu * d_new), d_new


HB_VELOCITY = "state x, v; param beta\nv = beta*v - h*grad(x); x = x + v"


# ---------------------------------------------------------------------- iterates


def test_gd_on_a_quadratic_matches_the_closed_form():
    # x_n = (I - h A)^n x_0 for f = x^T A x / 2
    A = np.diag([1.0, 10.0])
    loss = numerics.quadratic(A.tolist())
    run = numerics.iterates(derive.gd(), loss, [1.0, -2.0], h=0.05, n_steps=30)
    want = np.array(
        [
            np.linalg.matrix_power(np.eye(2) - 0.05 * A, n) @ [1.0, -2.0]
            for n in range(31)
        ]
    )
    np.testing.assert_allclose(run.positions, want, rtol=1e-13, atol=1e-15)
    assert not run.diverged


@pytest.mark.parametrize(
    "optimizer",
    [
        derive.heavy_ball(0.9),
        derive.nesterov(0.5),
        derive.trace(qhm_step, beta=0.9, nu=0.7),
    ],
    ids=["heavy-ball", "nesterov", "qhm"],
)
def test_traced_program_and_python_function_give_the_same_iterates(optimizer):
    loss = numerics.get_loss("six-hump-camel")
    a = numerics.iterates(optimizer, loss, None, h=0.01, n_steps=200, via="program")
    b = numerics.iterates(optimizer, loss, None, h=0.01, n_steps=200, via="function")
    np.testing.assert_allclose(a.positions, b.positions, rtol=1e-13, atol=1e-14)


def test_spec_and_builtin_heavy_ball_agree():
    """Heavy ball in velocity form (a spec) has the same positions as the built-in."""
    spec = derive.parse_spec(HB_VELOCITY, beta=0.9)
    loss = numerics.get_loss("himmelblau")
    a = numerics.iterates(spec, loss, None, h=1e-4, n_steps=300)
    b = numerics.iterates(derive.heavy_ball(0.9), loss, None, h=1e-4, n_steps=300)
    # both start on their slow manifolds, up to O(h^6): the positions agree to that
    np.testing.assert_allclose(a.positions, b.positions, rtol=0, atol=1e-12)


def test_iterates_over_a_pytree_equal_iterates_over_the_flat_array():
    rosen = numerics.get_loss("rosenbrock")

    def tree_loss(params):
        return rosen(jnp.concatenate([params["a"], params["b"]["c"]]))

    x0_tree = {"a": jnp.array([-1.2]), "b": {"c": jnp.array([1.0])}}
    for opt in (
        derive.heavy_ball(0.5),
        derive.nesterov(0.9),
        derive.parse_spec(HB_VELOCITY, beta=0.5),
    ):
        flat = numerics.iterates(
            opt, rosen, jnp.array([-1.2, 1.0]), h=1e-4, n_steps=100
        )
        tree = numerics.iterates(opt, tree_loss, x0_tree, h=1e-4, n_steps=100)
        joined = jnp.concatenate(
            [tree.positions["a"], tree.positions["b"]["c"]], axis=1
        )
        np.testing.assert_allclose(joined, flat.positions, rtol=1e-14, atol=1e-15)
        for s_flat, s_tree in zip(flat.initial_state, tree.initial_state, strict=True):
            joined = jnp.concatenate([s_tree["a"], s_tree["b"]["c"]])
            np.testing.assert_allclose(joined, s_flat, rtol=1e-14, atol=1e-15)


def test_the_runner_vmaps_over_initial_points_and_step_sizes():
    loss = numerics.get_loss("himmelblau")
    rec = derive.nesterov(0.5)
    runner = numerics._iterates.make_runner(rec, loss, 50, manifold_nodes=4)
    x0s = jnp.array([[0.0, 0.0], [1.0, -1.0], [-2.0, 0.5]])
    hs = jnp.array([1e-3, 2e-3])
    batched, _, _ = jax.jit(jax.vmap(jax.vmap(runner, (0, None)), (None, 0)))(x0s, hs)
    for i, x0 in enumerate(x0s):
        for k, h in enumerate(hs):
            one = numerics.iterates(rec, loss, x0, float(h), 50, manifold_nodes=4)
            np.testing.assert_allclose(
                batched[k, i], one.positions, rtol=1e-13, atol=1e-14
            )


def test_symbolic_parameters_need_numbers():
    loss = numerics.get_loss("double-well")
    with pytest.raises(DeriveError, match="beta"):
        numerics.iterates(derive.heavy_ball(), loss, None, h=0.01, n_steps=5)
    a = numerics.iterates(
        derive.heavy_ball(), loss, None, h=0.005, n_steps=50, params={"beta": 0.5}
    )
    b = numerics.iterates(derive.heavy_ball(0.5), loss, None, h=0.005, n_steps=50)
    np.testing.assert_allclose(a.positions, b.positions, rtol=1e-14)
    with pytest.raises(DeriveError, match="unknown parameter"):
        numerics.iterates(
            derive.gd(), loss, None, h=0.01, n_steps=5, params={"beta": 0.5}
        )


def test_rest_start_leaves_an_order_h_offset_that_the_manifold_start_removes():
    """Started at rest, heavy ball lags its slow manifold by O(h): the offset between
    the two runs halves with h (Kovachki & Stuart 2021, the transient)."""
    loss = numerics.get_loss("double-well")
    offsets = []
    for h in (2e-3, 1e-3):
        n = int(round(0.05 / h))
        a = numerics.iterates(
            derive.heavy_ball(0.5), loss, None, h=h, n_steps=n, init="rest"
        )
        b = numerics.iterates(derive.heavy_ball(0.5), loss, None, h=h, n_steps=n)
        offsets.append(float(jnp.linalg.norm(a.positions[-1] - b.positions[-1])))
    assert np.log2(offsets[0] / offsets[1]) == pytest.approx(1.0, abs=0.1)


# ---------------------------------------------------------------------- divergence


def test_gd_beyond_two_over_L_diverges_and_the_limit_is_two_over_L():
    L = 10.0
    loss = numerics.quadratic([[1, 0], [0, L]])
    run = numerics.iterates(derive.gd(), loss, None, h=3 / L, n_steps=100)
    assert run.diverged and run.diverged_at is not None
    assert numerics.stability_limit(derive.gd(), L) == pytest.approx(2 / L, rel=1e-9)
    stable = numerics.iterates(derive.gd(), loss, None, h=1.9 / L, n_steps=400)
    assert not stable.diverged


def test_non_finite_iterates_are_divergent():
    loss = numerics.loss_from_expression("x**4 + y**2", "x,y")
    run = numerics.iterates(derive.gd(), loss, [10.0, 0.0], h=1.0, n_steps=20)
    assert run.diverged and run.diverged_at <= 5


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_stability_limits_match_the_closed_forms(beta):
    # heavy ball: h L < 2 (1 + beta); Nesterov: h L < 2 (1 + beta) / (1 + 2 beta)
    # (roots of the characteristic polynomials at -1; Polyak 1964)
    L = 4.0
    assert numerics.stability_limit(derive.heavy_ball(beta), L) == pytest.approx(
        2 * (1 + beta) / L, rel=1e-8
    )
    assert numerics.stability_limit(derive.nesterov(beta), L) == pytest.approx(
        2 * (1 + beta) / ((1 + 2 * beta) * L), rel=1e-8
    )
    spec = derive.parse_spec(HB_VELOCITY, beta=beta)
    assert numerics.stability_limit(spec, L) == pytest.approx(
        2 * (1 + beta) / L, rel=1e-8
    )


def test_transition_matrix_of_heavy_ball():
    M = numerics.transition_matrix(derive.heavy_ball(0.5), 0.1, 2.0)
    np.testing.assert_allclose(M, [[1.5 - 0.2, -0.5], [1.0, 0.0]])


# ---------------------------------------------------------------------- differentials, manifold


@pytest.mark.parametrize("name", ["double-well", "rastrigin"])
def test_elementary_differentials_match_the_symbolic_ones(name):
    """Nested jvp against SymPy's exact F(t) (derive._concrete), every tree up to 4 nodes."""
    loss = numerics.get_loss(name)
    table = derive.tree_table(4)
    concrete = ConcreteLoss(loss.expression, list(loss.variables))
    point = [0.7, -0.4]
    indices = list(table.up_to(4))
    F = numerics.elementary_differentials(loss, jnp.array(point), table, indices)
    for i in indices:
        exact = sympy.lambdify(
            loss.variables, concrete.differential(table, i), "mpmath"
        )
        want = [float(v) for v in exact(*point)]
        np.testing.assert_allclose(
            F[i], want, rtol=1e-11, atol=1e-9, err_msg=table.bracket(i)
        )


@pytest.mark.parametrize(
    ("optimizer", "params"),
    [
        (derive.heavy_ball(), {"beta": 0.7}),
        (derive.nesterov(0.9), {}),
        (derive.parse_spec(HB_VELOCITY), {"beta": 0.6}),
        (derive.trace(qhm_step, beta=0.9), {"nu": 0.7}),
    ],
    ids=["heavy-ball-symbolic", "nesterov", "velocity-spec", "qhm"],
)
def test_manifold_start_matches_derive_manifold_states(optimizer, params):
    """The matrix-free manifold (numerics) against the SymPy one (derive), same trees."""
    loss = numerics.get_loss("quartic-saddle")
    order = 2  # derive's manifold_states uses trees with order + 1 = 3 nodes
    flow = derive.modified_flow(optimizer, order)
    exact = manifold_states(flow, loss.expression, list(loss.variables))
    h = 0.013
    start = numerics.ManifoldStart(
        optimizer, nodes=order + 1, params=params, optimal_truncation=False
    )
    point = jnp.array([0.3, -0.2])
    got = start(loss, point, h)
    subs = {**dict(zip(loss.variables, [0.3, -0.2], strict=True)), sympy.Symbol("h"): h}
    subs.update({sympy.Symbol(k): v for k, v in params.items()})
    for name, value in zip(optimizer.states, got, strict=True):
        want = [float(e.evalf(30, subs=subs)) for e in exact[name]]
        np.testing.assert_allclose(value, want, rtol=1e-12, err_msg=name)


def test_optimal_truncation_keeps_large_steps_finite():
    """At a step size far outside the asymptotic regime (h L kappa ~ 20) the full series
    throws the start far off; the optimally truncated one stays near x."""
    loss = numerics.get_loss("double-well")
    x = jnp.array(loss.start)
    full = numerics.ManifoldStart(derive.heavy_ball(0.9), 5, optimal_truncation=False)
    cut = numerics.ManifoldStart(derive.heavy_ball(0.9), 5)
    far = float(jnp.linalg.norm(full(loss, x, 0.01)[1] - x))
    near = float(jnp.linalg.norm(cut(loss, x, 0.01)[1] - x))
    assert near < 1.0 < far
    small = 1e-5  # in the asymptotic regime both agree
    np.testing.assert_allclose(
        full(loss, x, small)[1], cut(loss, x, small)[1], rtol=1e-15
    )


def test_manifold_start_is_invariant_to_high_order():
    """From the manifold start, one step lands on the manifold again up to O(h^(N+1))."""
    loss = numerics.get_loss("double-well")
    rec = derive.heavy_ball(0.5)
    x = jnp.array(loss.start)
    defects = []
    for h in (2e-3, 1e-3):
        start = numerics.ManifoldStart(rec, nodes=3)
        state = start(loss, x, h)
        run = numerics.iterates(rec, loss, x, h=h, n_steps=1, init=state)
        x1 = run.positions[1]
        prev_on_manifold = start(loss, x1, h)[1]
        defects.append(float(jnp.linalg.norm(prev_on_manifold - x)))
    # the defect is O(h^4): halving h divides it by ~16
    assert np.log2(defects[0] / defects[1]) == pytest.approx(4.0, abs=0.3)


def test_docstring_examples():
    for module in (numerics._iterates, numerics._manifold_start, numerics._stability):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__
