"""The modified flows of RMSProp, Adam and AdamW against the iterates and against the
automatic-differentiation route.

- Symbolic (derive, generated JAX module) against automatic differentiation of the
  one-step map (numerics.modified_field: Taylor mode in h, the moments solved on
  their slow manifold by the same recursion, no formula) on a small tanh network,
  through order 2, to 1e-10 relative in float64.
- The numerical order test: the order-p truncation of a modified flow has global
  error O(h^(p+1)) on a fixed interval (Hairer, Lubich & Wanner, *Geometric
  Numerical Integration*, IX.1; the moments started on their slow manifold as for
  momentum methods, Kovachki & Stuart 2021), slope p + 1 within 0.2 for p = 0..2,
  with eps small against the gradient components (eps/|d_i f(x0)| <= 1e-6: Adam on
  Rosenbrock about 1e-10, AdamW on the six-hump camel about 1e-7; sign-like
  behaviour) and large (RMSProp on Himmelblau, eps/|d_i f(x0)| >= 4.5:
  gradient-descent-like behaviour). Reduced sizes (`quick=True`); `benchmarks/adaptive_speed.py` and
  `derive verify` run the full ones.
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

from typing import Any  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

import derive  # noqa: E402
import numerics  # noqa: E402
from derive import DeriveError  # noqa: E402

_rng = np.random.default_rng(0)
_X = jnp.asarray(_rng.normal(size=(8, 3)))
_Y = jnp.asarray(_rng.normal(size=(8,)))
NETWORK = {
    "W1": jnp.asarray(_rng.normal(size=(3, 4)) / 2),
    "b1": jnp.asarray(_rng.normal(size=4) / 4),
    "w2": jnp.asarray(_rng.normal(size=4) / 2),
}


def network_loss(p: dict[str, Any]) -> Any:
    """Mean squared error of a 3 -> 4 -> 1 tanh network on 8 random points."""
    hidden = jnp.tanh(_X @ p["W1"] + p["b1"])
    return jnp.mean((hidden @ p["w2"] - _Y) ** 2) / 2


HYPER = {
    "rmsprop": {"beta2": 0.9, "eps": 0.05},
    "adam": {"beta1": 0.8, "beta2": 0.95, "eps": 0.05},
    "adamw": {"beta1": 0.8, "beta2": 0.95, "eps": 0.05, "weight_decay": 0.1},
}


@pytest.mark.parametrize("name", list(HYPER))
def test_symbolic_flow_equals_automatic_differentiation(name: str) -> None:
    rec = getattr(derive, name)()  # symbolic hyper-parameters
    module = derive.codegen(derive.modified_flow(rec, 2)).load()
    num = HYPER[name]
    symbolic = jax.jit(
        lambda p: module.terms_by_order(network_loss, p, {**num, "h": 0.0}, 2)
    )(NETWORK)
    ad = numerics.modified_field(rec, network_loss, NETWORK, order=2, params=num)
    for k in range(3):
        a = ravel_pytree(symbolic[k])[0]
        b = ravel_pytree(ad.terms[k])[0]
        scale = float(jnp.max(jnp.abs(b)))
        assert scale > 0
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-10 * scale, (name, k)


def _assert_orders(cert: numerics.Certificate) -> None:
    assert cert.passed, cert.table()
    assert len(cert.slopes) == 3
    for p, slope in enumerate(cert.slopes):
        assert abs(slope - (p + 1)) < 0.2, cert.table()


SMALL_EPS = [
    ("adam", "rosenbrock", {"beta1": 0.9, "beta2": 0.99, "eps": 1e-8}),
    (
        "adamw",
        "six-hump-camel",
        {"beta1": 0.9, "beta2": 0.99, "eps": 1e-8, "weight_decay": 0.1},
    ),
]
LARGE_EPS = [("rmsprop", "himmelblau", {"beta2": 0.9, "eps": 100.0})]


@pytest.mark.slow
@pytest.mark.parametrize("name, loss, num", SMALL_EPS + LARGE_EPS)
def test_observed_orders_on_non_convex_losses(
    name: str, loss: str, num: dict[str, float]
) -> None:
    rec = getattr(derive, name)()
    cert = numerics.verify(rec, 2, loss=loss, params=num, quick=True)
    _assert_orders(cert)
    assert cert.record["settings"]["initialisation"].startswith(
        "slow manifold, moments"
    )
    # the regime at x0: eps/|d_i f| <= 1e-6 (sign-like) or >= 1 (GD-like)
    x0 = jnp.asarray(cert.record["loss"]["x0"])
    grad = np.abs(np.asarray(jax.grad(numerics.get_loss(loss))(x0)))
    if num["eps"] < 1:
        assert num["eps"] / grad.min() <= 1e-6
    else:
        assert num["eps"] / grad.max() >= 1


def test_zero_gradient_component_with_eps_zero_is_refused() -> None:
    """eps = 0 with a zero gradient component: the quotient g/|g| is singular there."""
    with pytest.raises(DeriveError, match="zero gradient"):
        numerics.verify(
            derive.rmsprop(eps=0),
            1,
            loss="x**2/2 + y**2/2",
            variables="x,y",
            x0=[0.0, 1.0],
            params={"beta2": 0.9},
            quick=True,
        )


def test_derive_verify_command_writes_certificate_and_plot(tmp_path: Any) -> None:
    """`derive verify rmsprop ...` end to end: exit 0, certificate and plot."""
    from derive.cli import main

    status = main(
        [
            "verify",
            "rmsprop",
            "--param",
            "eps=100",
            "--order",
            "1",
            "--loss",
            "himmelblau",
            "--quick",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0
    assert (tmp_path / "certificate.json").exists()
    assert (tmp_path / "errors.png").exists()


@pytest.mark.slow
def test_observed_orders_on_the_digits_mlp() -> None:
    """The reduced digits MLP (64 -> 3 -> 10 tanh, 60 digits, 235 parameters).
    Always-zero input pixels give exactly zero gradient components, where the flow
    with eps outside the root is not smooth (sign(g)); eps inside the root (eps = 1,
    gradient-descent-like since |d_i f| < 1 here) is smooth. The step sizes are given:
    the automatic plan's are about four times too large on this network (its order-2
    slope is 2.46 there; with these, 3.1)."""
    from numerics.networks import verify_model

    cert = verify_model(
        "digits-mlp",
        derive.rmsprop(eps_inside_sqrt=True),
        2,
        quick=True,
        model_options={"hidden": (3,), "n": 60},
        params={"beta2": 0.9, "eps": 1.0},
        hs=[0.0064, 0.004, 0.0025, 0.0016],
        T=0.4,
    )
    _assert_orders(cert)
