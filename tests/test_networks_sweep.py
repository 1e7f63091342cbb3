"""Sweeps: the sharded sweep equals the unsharded one and a point-by-point loop.

The sharding test runs in a subprocess, because the 8 simulated CPU devices must be
requested (`XLA_FLAGS=--xla_force_host_platform_device_count=8`) before JAX starts.
"""

import jax

jax.config.update("jax_enable_x64", True)

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import derive  # noqa: E402
import numerics  # noqa: E402
from derive import DeriveError  # noqa: E402
from numerics.networks import get_model, sweep  # noqa: E402

SHARDED = textwrap.dedent(
    """
    import jax, numpy as np, derive
    from numerics.networks import sweep
    assert len(jax.devices()) == 8, jax.devices()
    kw = dict(h=[0.05, 0.1, 0.2], params={"beta": [0.0, 0.5, 0.9]}, seeds=[0],
              n_steps=12, every=4, progress=False)
    a = sweep(derive.heavy_ball(), "deep-linear", **kw)
    b = sweep(derive.heavy_ball(), "deep-linear", shard=False, **kw)
    c = sweep(derive.heavy_ball(), "deep-linear", chunk=3, **kw)
    assert len(a.devices) == 8 and len(b.devices) == 1 and a.size == 9
    for r in (a, c):
        np.testing.assert_allclose(r.losses, b.losses, rtol=1e-10, atol=0)
        np.testing.assert_array_equal(r.diverged_at, b.diverged_at)
    print("OK")
    """
)


@pytest.mark.slow
def test_sharded_sweep_equals_unsharded_on_8_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("OK")


def test_sweep_matches_iterates_point_by_point():
    model = get_model("teacher-student", d=3, hidden=4, n=16)
    res = sweep(
        derive.heavy_ball(), model, h=[0.05, 0.2], params={"beta": [0.3, 0.8]},
        seeds=[0, 1], n_steps=6, progress=False,
    )  # fmt: skip
    assert res.size == 8 and res.losses.shape == (8, 7)
    assert res.reshape(res.final).shape == (2, 2, 2)
    for i in (0, 5):
        h, beta, seed = res.grid["h"][i], res.grid["beta"][i], res.grid["seed"][i]
        it = numerics.iterates(
            derive.heavy_ball(), model.loss, model.init(jax.random.PRNGKey(int(seed))),
            float(h), 6, params={"beta": float(beta)}, manifold_nodes=3,
        )  # fmt: skip
        expected = jax.vmap(model.loss)(it.positions)
        np.testing.assert_allclose(res.losses[i], expected, rtol=1e-12)
    assert "| h | beta | seed |" in res.table()


def test_initial_points_and_divergence():
    def loss(p):
        return 0.5 * (p["w"] ** 2).sum()

    x0 = {"w": np.array([[1.0, 2.0], [3.0, -1.0]])}  # two points
    res = sweep(derive.gd(), loss, h=[0.5, 3.0], x0=x0, n_steps=40, progress=False)
    assert list(res.axes) == ["h", "point"]
    div = res.reshape(res.diverged_at)
    assert np.all(div[0] == -1) and np.all(div[1] > 0)  # h = 3 > 2/L: |x_n| = 2^n |x_0|
    assert np.all(np.isnan(res.reshape(res.final)[1]))


def test_errors():
    with pytest.raises(DeriveError, match="beta"):
        sweep(derive.heavy_ball(), "deep-linear", h=[0.1], n_steps=2, progress=False)
    with pytest.raises(DeriveError, match="not symbolic"):
        sweep(derive.gd(), "deep-linear", h=[0.1], params={"beta": [0.5]}, n_steps=2)
    with pytest.raises(DeriveError, match="initial points"):
        sweep(derive.gd(), lambda p: p, h=[0.1], n_steps=2, progress=False)
