"""Principal flows against exact iterates on quadratics, and `compare` / its CLI.

On a quadratic $f = \\tfrac12 x^\\top H x$ gradient descent is exactly the time-$h$ map
of its principal flow $\\dot x = \\log(I - hH)/h\\, x$ (Rosca et al., TMLR 2023): the
field is checked against SciPy's `logm` and the integrated flow against the iterates.
Heavy ball on its slow manifold ($x_{-1} = r(hH)^{-1} x_0$, $r$ the principal root)
is likewise $x_n = r(hH)^n x_0$. The `compare` example is the one of the issue: heavy
ball with $\\beta = 0.9$ at $h = 0.01$ on a curvature-1 quadratic is outside the
series' radius $(1 - \\sqrt\\beta)^2$ and only the second-order-in-time equation
tracks it.
"""

import json
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
import sympy
from scipy.linalg import expm, logm

import derive
import numerics
from numerics._principal_flow import _field, principal_function

H = np.array([[2.0, 0.5], [0.5, 1.0]])


def quadratic(x):
    return 0.5 * x @ jnp.asarray(H) @ x


def test_gd_principal_field_and_time_h_map():
    h = 0.2
    psi, edge = principal_function(derive.gd())
    assert edge == pytest.approx(1.0)
    x = jnp.array([0.3, -0.7])
    field = _field(quadratic, h, psi, "dense", 2)
    value, real, zmax = field(x)
    L = np.real(logm(np.eye(2) - h * H)) / h
    np.testing.assert_allclose(np.asarray(value), L @ np.asarray(x), atol=1e-12)
    assert bool(real) and float(zmax) == pytest.approx(h * np.linalg.eigvalsh(H)[-1])
    # the time-h map of the flow is one GD step
    np.testing.assert_allclose(expm(h * L) @ x, x - h * H @ x, atol=1e-12)
    sol = numerics.principal_flow(derive.gd(), quadratic, x, h, 2.0, substeps=8)
    run = numerics.iterates(derive.gd(), quadratic, x, h, 10)
    np.testing.assert_allclose(sol.positions, np.asarray(run.positions), atol=1e-8)
    lanczos = numerics.principal_flow(
        derive.gd(), quadratic, x, h, 2.0, substeps=8, method="lanczos", lanczos_steps=2
    )
    np.testing.assert_allclose(lanczos.positions, sol.positions, atol=1e-12)


def test_heavy_ball_principal_flow_on_its_slow_manifold():
    beta, h = 0.5, 0.035  # h lambda <= 0.078 < (1 - sqrt(0.5))^2 = 0.0858
    pf = derive.principal_flow(derive.heavy_ball(beta), 1)
    z = sympy.Symbol("z")
    root = sympy.lambdify(z, pf.root)
    lam, V = np.linalg.eigh(H)
    r = np.array([root(h * v) for v in lam])
    x0 = np.array([0.3, -0.7])
    x_prev = V @ ((V.T @ x0) / r)
    run = numerics.iterates(
        derive.heavy_ball(beta),
        quadratic,
        jnp.asarray(x0),
        h,
        25,
        init=(jnp.asarray(x0), jnp.asarray(x_prev)),
    )
    sol = numerics.principal_flow(
        derive.heavy_ball(beta), quadratic, x0, h, 25 * h, substeps=8
    )
    assert sol.complex_from is None
    np.testing.assert_allclose(sol.positions, np.asarray(run.positions), atol=1e-8)


def test_principal_flow_reports_where_it_becomes_complex():
    # the sharpness of x^2 (1 + y^2)/2 grows along the flow; with h = 0.5 it
    # reaches 1/h = 2 (y = 1): beyond it 1 - h lambda < 0
    def f(x):
        return 0.5 * (1 + x[1] ** 2) * x[0] ** 2 - x[1]

    sol = numerics.principal_flow(derive.gd(), f, [0.1, 0.0], 0.5, 4.0)
    assert sol.complex_from is not None and 0.5 < sol.complex_from < 1.5
    assert np.all(np.isfinite(sol.positions)) and sol.z_max[-1] < 1.0
    with pytest.raises(derive.DeriveError, match="substeps at least 1"):
        numerics.principal_flow(derive.gd(), f, [0.1, 0.0], 0.5, 4.0, substeps=0)


def _derive(*args):
    return subprocess.run(
        [sys.executable, "-m", "derive", *args], capture_output=True, text=True
    )


def test_compare_cli(tmp_path):
    out = _derive(
        "compare",
        "heavy-ball",
        "--param",
        "beta=0.9",
        "--loss",
        "(x**2 + y**2)/2",
        "--vars",
        "x,y",
        "--x0",
        "1,0.5",
        "--h",
        "0.01",
        "--T",
        "2",
        "--order",
        "1",
        "--out",
        str(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    assert "best model: second-order-1" in out.stdout
    assert "outside the radius" in out.stdout
    record = json.loads((tmp_path / "compare.json").read_text())["step_sizes"][0]
    assert record["outside_series"] is True
    assert record["radius_of_convergence"] == pytest.approx((1 - 0.9**0.5) ** 2)
    models = record["models"]
    so = models["second-order-1"]["max"]
    assert so < 0.01
    assert min(models["modified-0"]["max"], models["modified-1"]["max"]) > 10 * so
    assert models["principal-flow"]["max"] is None  # complex from t = 0
    assert (tmp_path / "compare-h0.01.png").exists()
    bad = _derive(
        "compare", "heavy-ball", "--loss", "x**2", "--vars", "x", "--h", "0.1"
    )
    assert bad.returncode == 2 and "beta" in bad.stderr
    none = _derive("compare", "gd", "--h", "0.1")
    assert none.returncode == 2 and "no loss" in none.stderr
