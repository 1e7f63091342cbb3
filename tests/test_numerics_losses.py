"""Tests of the test losses: one definition, two forms (SymPy and JAX), documented points."""

import jax

jax.config.update("jax_enable_x64", True)

import doctest  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy  # noqa: E402

import numerics  # noqa: E402
import numerics._losses  # noqa: E402
from derive import DeriveError  # noqa: E402

NAMED = [n for n in numerics.LOSSES if n != "quadratic"]


def test_registry_has_the_eight_named_losses():
    assert set(NAMED) == {
        "rosenbrock",
        "himmelblau",
        "beale",
        "six-hump-camel",
        "styblinski-tang",
        "rastrigin",
        "double-well",
        "quartic-saddle",
    }


@pytest.mark.parametrize("name", NAMED + ["quadratic"])
def test_sympy_and_jax_forms_agree(name):
    loss = numerics.get_loss(name)
    numeric = sympy.lambdify(loss.variables, loss.expression, "mpmath")
    grad_exprs = [sympy.diff(loss.expression, v) for v in loss.variables]
    grad_numeric = sympy.lambdify(loss.variables, grad_exprs, "mpmath")
    rng = np.random.default_rng(0)
    for point in rng.uniform(-2.5, 2.5, size=(20, loss.dimension)):
        want = float(numeric(*point))
        got = float(loss(jnp.asarray(point)))
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
        want_g = np.array([float(v) for v in grad_numeric(*point)])
        got_g = np.asarray(jax.grad(loss)(jnp.asarray(point)))
        np.testing.assert_allclose(got_g, want_g, rtol=1e-11, atol=1e-10)


@pytest.mark.parametrize("name", NAMED)
def test_documented_critical_points_are_stationary_and_of_their_kind(name):
    loss = numerics.get_loss(name)
    assert loss.minima, "every loss documents its minima"
    scale = 1.0 + max(abs(c.value) for c in loss.critical_points)
    for c in loss.critical_points:
        x = jnp.asarray(c.point)
        # exact gradient at the documented (15-digit) point, in high precision
        grad = [sympy.diff(loss.expression, v) for v in loss.variables]
        at = dict(
            zip(loss.variables, [sympy.Float(v, 30) for v in c.point], strict=True)
        )
        g_exact = [float(gi.evalf(30, subs=at)) for gi in grad]
        assert np.max(np.abs(g_exact)) < 1e-11 * scale, (c, g_exact)
        assert float(loss(x)) == pytest.approx(c.value, rel=1e-12, abs=1e-12)
        eig = np.asarray(numerics.hessian_eigenvalues(loss, x))
        if c.kind.endswith("minimum"):
            assert eig.min() > 0, (c, eig)
        elif c.kind == "saddle":
            assert eig.min() < 0 < eig.max(), (c, eig)
        elif c.kind == "local maximum":
            assert eig.max() < 0, (c, eig)
    # the global minima are the lowest documented values
    globals_ = [c.value for c in loss.critical_points if c.kind == "global minimum"]
    assert min(globals_) == min(c.value for c in loss.critical_points)


@pytest.mark.parametrize("name", NAMED)
def test_start_is_not_stationary_and_sees_negative_curvature(name):
    """The recommended start and horizon are meant for order tests on non-convex ground."""
    loss = numerics.get_loss(name)
    x = jnp.asarray(loss.start)
    assert float(jnp.linalg.norm(jax.grad(loss)(x))) > 1e-3
    assert loss.horizon > 0 and loss.scale and loss.description


def test_global_minimum_values_from_the_literature():
    # Surjanovic & Bingham, Virtual Library of Simulation Experiments (sfu.ca/~ssurjano)
    assert numerics.get_loss("six-hump-camel").minima[0].value == pytest.approx(
        -1.0316, abs=1e-4
    )
    st = numerics.get_loss("styblinski-tang").minima[0]
    assert st.value == pytest.approx(-39.16617 * 2, abs=1e-4)
    assert st.point[0] == pytest.approx(-2.903534, abs=1e-6)
    assert numerics.get_loss("beale").minima[0].point == (3.0, 0.5)


def test_quadratic_definite_and_indefinite():
    q = numerics.quadratic([[2, 0], [0, -1]])
    assert q.expression == sympy.sympify("x**2 - y**2/2")
    assert q.critical_points[0].kind == "saddle"
    assert float(q(jnp.array([1.0, 2.0]))) == pytest.approx(1.0 - 2.0)
    q3 = numerics.quadratic([[1, 0.5, 0], [0.5, 2, 0], [0, 0, 3]])
    assert [str(v) for v in q3.variables] == ["x1", "x2", "x3"]
    assert q3.dimension == 3
    with pytest.raises(DeriveError, match="symmetric"):
        numerics.quadratic([[1, 2], [0, 1]])
    with pytest.raises(DeriveError, match="square"):
        numerics.quadratic([[1, 2, 3], [0, 1, 2]])


def test_loss_from_expression_parses_safely():
    loss = numerics.loss_from_expression("x**4/4 - x**2/2 + y**2/2 + x*y", "x,y")
    ref = numerics.get_loss("quartic-saddle")
    assert sympy.simplify(loss.expression - ref.expression) == 0
    z = jnp.array([0.3, -0.7])
    assert float(loss(z)) == pytest.approx(float(ref(z)), rel=1e-15)
    np.testing.assert_allclose(jax.grad(loss)(z), jax.grad(ref)(z), rtol=1e-15)
    with pytest.raises(DeriveError):
        numerics.loss_from_expression("__import__('os').system('true')", "x,y")
    with pytest.raises(DeriveError, match="unknown name 'z'"):
        numerics.loss_from_expression("x**2 + z", "x,y")
    with pytest.raises(DeriveError, match="distinct names"):
        numerics.loss_from_expression("x**2", "x,x")
    # functions from the whitelist become jax.numpy functions
    f = numerics.loss_from_expression("sin(x)*exp(y) + sqrt(1 + x**2)", "x,y")
    assert float(f(jnp.array([0.5, 0.25]))) == pytest.approx(
        np.sin(0.5) * np.exp(0.25) + np.sqrt(1.25), rel=1e-15
    )


def test_get_loss_unknown_name_suggests():
    with pytest.raises(DeriveError, match="rosenbrock"):
        numerics.get_loss("rosenbrok")
    assert numerics.get_loss("six_hump_camel").name == "six-hump-camel"


def test_docstring_examples():
    result = doctest.testmod(numerics._losses, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
