"""Built-in networks: losses on pytrees, shapes, options and errors.

Reference values: parameter counts from the layer sizes (64*48 + 48 + 48*10 + 10 =
3610 for the default digits MLP); scikit-learn's digits have 1797 samples of 64 pixels
with values 0..16 (scikit-learn documentation, `load_digits`).
"""

import jax

jax.config.update("jax_enable_x64", True)

import doctest  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import numerics._models  # noqa: E402
from derive import DeriveError  # noqa: E402
from numerics.networks import MODELS, Model, digits, get_model  # noqa: E402

SMALL = {
    "digits-mlp": {"hidden": (8,), "n": 50},
    "deep-linear": {"width": 4, "depth": 3, "n": 16},
    "digits-cnn": {"channels": (2, 3), "n": 20},
    "teacher-student": {"d": 3, "hidden": 5, "n": 20},
}


@pytest.mark.parametrize("name", list(MODELS))
def test_models_give_finite_losses_and_gradients(name):
    model = get_model(name, **SMALL[name])
    assert isinstance(model, Model) and model.name == name
    params = model.init(jax.random.PRNGKey(0))
    leaves = jax.tree_util.tree_leaves(params)
    assert all(v.dtype == jnp.float64 for v in leaves)
    assert sum(v.size for v in leaves) == model.n_params
    value = model.loss(params)
    assert value.shape == () and np.isfinite(float(value)) and float(value) > 0
    grad = jax.grad(model.loss)(params)
    assert jax.tree_util.tree_structure(grad) == jax.tree_util.tree_structure(params)
    # deterministic, full batch
    assert float(model.loss(params)) == float(value)


def test_digits_data_and_sizes():
    X, Y = digits()
    assert X.shape == (1797, 64) and Y.shape == (1797, 10)
    assert float(X.max()) == 1.0 and float(X.min()) == 0.0
    assert np.all(np.asarray(Y.sum(axis=1)) == 1)
    assert digits(10, flat=False)[0].shape == (10, 8, 8, 1)
    assert get_model("digits-mlp").n_params == 3610


def test_options():
    mse = get_model(
        "digits-mlp", hidden=(4, 4), activation="gelu", data_loss="mse", n=30
    )
    p = mse.init(jax.random.PRNGKey(1))
    assert set(p) == {"W0", "b0", "W1", "b1", "W2", "b2"}
    assert np.isfinite(float(mse.loss(p)))


def test_errors():
    with pytest.raises(DeriveError, match="unknown model"):
        get_model("resnet")
    with pytest.raises(DeriveError, match="activation"):
        get_model("digits-mlp", activation="sigmoid")  # relu and linear exist now
    with pytest.raises(DeriveError, match="unknown option 'colour'"):
        get_model("deep-linear", colour=3)
    with pytest.raises(DeriveError, match="data_loss must be one of"):
        get_model("digits-mlp", data_loss="hinge")


def test_docstring_examples():
    assert doctest.testmod(numerics._models, optionflags=doctest.ELLIPSIS).failed == 0


def test_docstring_examples_of_the_other_network_modules(pytestconfig):
    """Their examples (a sweep, a network verification: half a minute) run once, in
    pytest's own doctest collection (`--doctest-modules` in pyproject.toml, whose test
    paths hold every module of numerics); here: that collection is on and the examples
    are there."""
    import numerics._sweep
    import numerics._verify_model

    assert "--doctest-modules" in pytestconfig.getini("addopts")
    finder = doctest.DocTestFinder()
    for module in (numerics._sweep, numerics._verify_model):
        tests = finder.find(module)
        assert sum(len(t.examples) for t in tests) > 0, module.__name__


def test_the_option_check_accepts_every_activation_the_models_have():
    """The cheap option check (no JAX) and the models list activations separately;
    every activation a model can build must pass the check (relu and linear, used by
    the Elkabetz-Cohen reproduction, were once refused by it)."""
    from numerics._model_options import check_options
    from numerics._models import _ACTIVATIONS

    for name in _ACTIVATIONS:
        check_options("digits-mlp", {"activation": name})
    with pytest.raises(DeriveError, match="activation"):
        check_options("digits-mlp", {"activation": "sigmoid"})
