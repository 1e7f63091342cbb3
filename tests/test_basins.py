"""Basin maps of gradient descent and of its continuous models, at reduced size.

References: linear stability of a fixed point of $x \\mapsto x - h f'(x)$: a minimum
with curvature $\\lambda = f''(m) > 0$ attracts GD exactly when $|1 - h\\lambda| < 1$,
i.e. $h < 2/\\lambda$ (e.g. Nocedal & Wright, Numerical Optimization, 2nd ed., 3.3;
the mechanism used by Mohtashami, Jaggi & Stich, ICML 2023). The sweep is checked
against a plain Python loop over the same points (no vmap, no sharding); the
one-dimensional flow basins against the fact that a 1-D gradient flow ends at the
first minimum downhill, the basin boundaries being the local maxima of $f$.
"""

import os
import subprocess
import sys
import textwrap

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import numerics  # noqa: E402
from derive import DeriveError  # noqa: E402
from numerics._basins import DIVERGED, UNSETTLED  # noqa: E402
from numerics._flow_basins import EDGE  # noqa: E402


@pytest.fixture(scope="module")
def one_well() -> tuple[numerics.NarrowWells, list]:
    wells = numerics.NarrowWells(centres=(2.0,), depths=(0.5,), widths=(0.1,))
    return wells, wells.minima()


def test_minima_curvature_against_the_formula(one_well):
    wells, minima = one_well
    glob, well = minima
    # near the centre c: f'' = mu + a/s^2 (1 - (x-c)^2/s^2) e^{-(x-c)^2/(2s^2)}
    x = float(well.position[0])
    z = (x - 2.0) / 0.1
    want = 1.0 + 0.5 / 0.01 * (1 - z * z) * np.exp(-z * z / 2)
    assert well.curvature == pytest.approx(want, rel=1e-10)
    assert glob.threshold == pytest.approx(2.0, rel=1e-6)  # the bowl: 2/mu
    assert well.threshold == pytest.approx(2.0 / want, rel=1e-10)


def test_basin_map_threshold_is_two_over_lambda(one_well):
    wells, minima = one_well
    well = minima[1]
    m, s = float(well.position[0]), 0.1
    starts = m + s * np.array([-0.05, 0.02, 0.05])  # inside the well, near m
    h = well.threshold * np.array([0.9, 0.97, 1.03, 1.1])
    res = numerics.basin_map(wells.loss, minima, h, starts, 4000)
    below, above = res.category[:2], res.category[2:]
    assert np.all(below == 1)  # converges to the well's minimum while h < 2/lambda
    assert not np.any(above == 1)  # never once h > 2/lambda
    assert res.largest_step_reaching(1) == pytest.approx(h[1])
    # the bowl's minimum: every start diverges past 2/mu, a category of its own
    far = numerics.basin_map(wells.loss, minima, [1.9, 2.1], [-3.0, 0.5], 2000)
    assert far.category[0].tolist() == [0, 0]
    assert far.category[1].tolist() == [DIVERGED, DIVERGED]
    assert np.all(np.isnan(far.final[1]))  # never a point plotted as data
    assert far.fraction(DIVERGED).tolist() == [0.0, 1.0]


def test_sweep_equals_a_loop_over_the_same_points(one_well):
    wells, minima = one_well
    h = np.array([0.005, 0.03, 0.5, 1.5, 2.5])
    starts = np.array([-2.5, 1.7, 1.93, 2.2, 3.0])
    n = 600
    res = numerics.basin_map(wells.loss, minima, h, starts, n, chunk=7)
    grad = jax.jit(jax.grad(wells.loss))
    for i, hv in enumerate(h):
        for j, x0 in enumerate(starts):
            x, prev = jnp.array([x0]), jnp.array([x0])
            bad = False
            for _ in range(n):
                new = x - hv * grad(x)
                if not np.isfinite(float(new[0])) or abs(float(new[0])) > 1e6 * (
                    1 + abs(x0)
                ):
                    bad = True
                    break
                x, prev = new, x
            if bad:
                assert res.category[i, j] == DIVERGED
                continue
            np.testing.assert_allclose(res.final[i, j], x, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(res.previous[i, j], prev, rtol=1e-12, atol=1e-14)
    # unsharded, unchunked: the same map
    plain = numerics.basin_map(wells.loss, minima, h, starts, n, shard=False)
    np.testing.assert_array_equal(plain.category, res.category)
    assert {DIVERGED, UNSETTLED} & set(res.category.ravel().tolist())


SHARDED = textwrap.dedent(
    """
    import jax, numpy as np, numerics
    assert len(jax.devices()) == 4
    wells = numerics.NarrowWells()
    mins = wells.minima()
    h, x0 = np.geomspace(1e-3, 2.5, 7), np.linspace(-3.0, 3.0, 9)
    a = numerics.basin_map(wells.loss, mins, h, x0, 300)           # 4 devices
    b = numerics.basin_map(wells.loss, mins, h, x0, 300, shard=False)
    c = numerics.basin_map(wells.loss, mins, h, x0, 300, chunk=10)  # padded calls
    assert len(a.devices) == 4 and len(b.devices) == 1
    for r in (a, c):
        np.testing.assert_array_equal(r.category, b.category)
        np.testing.assert_allclose(r.final, b.final, rtol=1e-12, atol=1e-300)
    print("OK")
    """
)


@pytest.mark.slow
def test_sharded_basin_map_equals_unsharded_on_4_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("OK")


def test_flow_basins_of_the_gradient_flow(one_well):
    wells, minima = one_well
    grid = np.linspace(-5.0, 5.0, 20_001)
    x = jnp.asarray(grid)
    fp = np.asarray(jax.vmap(jax.grad(lambda v: wells.loss(v[None])))(x))
    # the crest between the bowl's minimum and the well: f' > 0 on its left, < 0 on
    # its right
    crest = grid[np.flatnonzero((fp[:-1] > 0) & (fp[1:] <= 0))[0]]
    starts = np.array([-4.0, crest - 0.01, crest + 0.01, 4.0])
    v = numerics.flow_velocity("gradient-flow", wells.loss)
    res = numerics.flow_basins(v, minima, [0.1], starts, grid)
    assert res.category[0].tolist() == [0, 0, 1, 1]
    # the central flow stops at the edge hf'' = 2 inside a well it cannot hold
    h = 1.5 * minima[1].threshold
    c = numerics.flow_velocity("central-flow", wells.loss)
    edge = numerics.flow_basins(c, minima, [h], [crest + 0.01], grid, undefined=EDGE)
    assert edge.category[0, 0] == EDGE
    fpp = jax.grad(jax.grad(lambda v: wells.loss(jnp.reshape(v, (1,)))))
    assert h * float(fpp(edge.end[0, 0])) == pytest.approx(2.0, abs=0.05)


def test_bad_input_is_named(one_well):
    wells, minima = one_well
    with pytest.raises(DeriveError, match="positive step sizes"):
        numerics.basin_map(wells.loss, minima, [0.0], [1.0], 10)
    with pytest.raises(DeriveError, match="one entry per well"):
        numerics.NarrowWells(centres=(1.0, 2.0), depths=(0.5,), widths=(0.1,))
    with pytest.raises(DeriveError, match="unknown model"):
        numerics.flow_velocity("adam-flow", wells.loss)
