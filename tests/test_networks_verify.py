"""Order tests on a network: the modified flows of GD, heavy ball and Nesterov track
the iterates on a (reduced) digits MLP at slope p + 1.

Reference: an order-p truncation of the modified flow has global error O(h^(p+1)) on a
fixed interval (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, IX.1;
momentum methods started on the slow manifold: ch. XV and Kovachki & Stuart 2021).
The reduced model (64 -> 3 -> 10 tanh MLP on 60 digits, 235 parameters) keeps the test
quick; `benchmarks/verify_network.py` runs the full-size one.
"""

import jax

jax.config.update("jax_enable_x64", True)

import json  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import derive  # noqa: E402
from derive import DeriveError  # noqa: E402
from derive.cli import main  # noqa: E402
from numerics._curvature import extreme_eigenvalues, matrix_free_pilot  # noqa: E402
from numerics._verify_model import model_options  # noqa: E402
from numerics.networks import get_model, verify_model  # noqa: E402

REDUCED = {"hidden": (3,), "n": 60}
OPTIMIZERS = {
    "gd": derive.gd,
    "heavy-ball": lambda: derive.heavy_ball(0.5),
    "nesterov": lambda: derive.nesterov(0.5),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_orders_0_to_2_on_the_digits_mlp(name):
    cert = verify_model(
        "digits-mlp",
        OPTIMIZERS[name](),
        2,
        quick=True,
        model_options=REDUCED,
    )
    assert cert.passed, cert.table()
    for p, slope in enumerate(cert.slopes):
        assert abs(slope - (p + 1)) < 0.25, cert.table()
    assert cert.record["loss"]["name"] == "digits-mlp"


def test_matrix_free_curvature_matches_dense():
    model = get_model("teacher-student", d=3, hidden=4, n=20)
    x = model.init(jax.random.PRNGKey(0))
    flat, unravel = jax.flatten_util.ravel_pytree(x)
    f = lambda z: model.loss(unravel(z))  # noqa: E731
    H = jax.jit(jax.hessian(f))(flat)  # one compiled program, not op by op
    ev = np.linalg.eigvalsh(np.asarray(H))
    hi, lo, _ = extreme_eigenvalues(
        lambda u: H @ u, jnp.cos(jnp.arange(flat.size)) + 1.0, steps=2000
    )
    assert abs(float(hi) - ev[-1]) < 1e-6 * abs(ev).max()
    assert abs(float(lo) - ev[0]) < 1e-6 * abs(ev).max()
    pilot = matrix_free_pilot(model.loss, x, 1.0, 0.1)
    assert pilot["ok"] and pilot["top"] > 0


def test_user_loss_needs_x0_and_options_parse():
    with pytest.raises(DeriveError, match="x0"):
        verify_model(lambda p: jnp.sum(p["w"] ** 2), derive.gd(), 1)
    assert model_options(["hidden=(4,)", "n=30", "activation=gelu"]) == {
        "hidden": (4,),
        "n": 30,
        "activation": "gelu",
    }
    with pytest.raises(DeriveError):
        model_options(["hidden"])


@pytest.mark.slow
def test_cli_model_option(capsys):
    status = main(
        ["verify", "gd", "--order", "0", "--model", "teacher-student",
         "--model-option", "d=2", "--model-option", "hidden=3", "--model-option",
         "n=10", "--seed", "1", "--quick", "--no-save", "--format", "json"]
    )  # fmt: skip
    record = json.loads(capsys.readouterr().out)
    assert status == 0 and record["passed"]
    assert record["loss"]["name"] == "teacher-student"
    model = get_model("teacher-student", d=2, hidden=3, n=10)
    x0 = jax.flatten_util.ravel_pytree(model.init(jax.random.PRNGKey(1)))[0]
    np.testing.assert_allclose(record["loss"]["x0"], np.asarray(x0))


def test_cli_model_conflicts_with_loss(capsys):
    assert main(["verify", "gd", "--model", "digits-mlp", "--loss", "rosenbrock"]) == 2
    assert "--model" in capsys.readouterr().err
