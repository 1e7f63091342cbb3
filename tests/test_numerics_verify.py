"""Order tests: every truncation of the generated flow tracks the iterates at slope p+1.

Reference: an order-p truncation of the modified flow has global error O(h^(p+1)) on a
fixed interval (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, IX.1; for
momentum methods started on the slow manifold, ch. XV and Kovachki & Stuart 2021).
"""

import jax

jax.config.update("jax_enable_x64", True)

import doctest  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402

import derive  # noqa: E402
import derive._codegen  # noqa: E402
import numerics  # noqa: E402
import numerics._certificate  # noqa: E402
import numerics._integrate  # noqa: E402
import numerics._order  # noqa: E402
import numerics._verify.certify  # noqa: E402
from derive import DeriveError  # noqa: E402

NONCONVEX = ["himmelblau", "six-hump-camel", "double-well"]
OPTIMIZERS = {
    "gd": lambda: derive.gd(),
    "heavy-ball-0.5": lambda: derive.heavy_ball(0.5),
    "heavy-ball-0.9": lambda: derive.heavy_ball(0.9),
    "nesterov-0.5": lambda: derive.nesterov(0.5),
    "nesterov-0.9": lambda: derive.nesterov(0.9),
}


def assert_orders(cert, order):
    assert cert.passed, cert.table()
    for p, res in enumerate(cert.record["results"]):
        assert res["verdict"] == "pass", cert.table()
        assert abs(res["slope"] - (p + 1)) < 0.15, cert.table()
        assert sum(res["used"]) >= 4, cert.table()
    assert len(cert.record["results"]) == order + 1


@pytest.mark.slow
@pytest.mark.parametrize("loss", NONCONVEX)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_builtins_pass_orders_0_to_3_on_nonconvex_losses(name, loss):
    cert = numerics.verify(OPTIMIZERS[name](), 3, loss=loss)
    assert_orders(cert, 3)
    assert cert.record["settings"]["curvature"]["bottom"] < 0  # genuinely non-convex


@pytest.mark.slow
@pytest.mark.parametrize(
    ("optimizer", "params", "loss"),
    [
        (derive.gd(), None, "beale"),
        (
            derive.heavy_ball(),
            {"beta": 0.9},
            "rosenbrock",
        ),  # symbolic beta in the module
        (derive.heavy_ball(0.5), None, "quartic-saddle"),
        (derive.nesterov(0.9), None, "rastrigin"),
        (derive.gd(), None, "styblinski-tang"),
    ],
    ids=[
        "gd-beale",
        "hb-symbolic-rosenbrock",
        "hb-quartic-saddle",
        "nag-rastrigin",
        "gd-st",
    ],
)
def test_the_other_losses(optimizer, params, loss):
    assert_orders(numerics.verify(optimizer, 3, loss=loss, params=params), 3)


@pytest.mark.slow
def test_a_text_spec_optimizer_passes_orders_0_to_2():
    # quasi-hyperbolic momentum (Ma & Yarats, ICLR 2019) as a user spec
    qhm = derive.parse_spec(
        "state x, d; param beta, nu\n"
        "d = beta*d + (1 - beta)*grad(x)\n"
        "x = x - h*((1 - nu)*grad(x) + nu*d)",
        name="qhm",
        beta=0.9,
    )
    cert = numerics.verify(qhm, 2, loss="six-hump-camel", params={"nu": 0.7})
    assert_orders(cert, 2)
    assert cert.record["optimizer"]["spec"].startswith("state x, d")
    assert cert.record["optimizer"]["numeric_parameters"] == {"nu": 0.7}


@pytest.mark.slow
def test_a_python_function_optimizer_passes_orders_0_to_2():
    def extragradient(x, *, grad, h):
        y = x - h * grad(x)
        return x - h * grad(y)

    cert = numerics.verify(extragradient, 2, loss="quartic-saddle", quick=True)
    assert cert.passed, cert.table()
    assert len(cert.hs) == 4


@pytest.mark.slow
def test_a_wrong_coefficient_fails(monkeypatch):
    """Negative control: perturb the h^1 coefficient of the generated module by 5%; the
    order-0 test still passes, orders 1 and 2 drop to slope ~1 and fail."""
    load = derive._codegen.GeneratedCode.load

    def tampered(self):
        module = load(self)
        exact = module.coefficients

        def coefficients(args):
            c = dict(exact(args))
            c[(1, "[[]]")] = c[(1, "[[]]")] * 1.05
            return c

        module.coefficients = coefficients
        return module

    monkeypatch.setattr(derive._codegen.GeneratedCode, "load", tampered)
    cert = numerics.verify(derive.gd(), 2, loss="himmelblau", quick=True)
    verdicts = [r["verdict"] for r in cert.record["results"]]
    assert verdicts == ["pass", "fail", "fail"], cert.table()
    assert not cert.passed
    assert cert.slopes[1] < 1.8 and cert.slopes[2] < 2.8


@pytest.mark.slow
def test_unstable_step_sizes_are_reported_with_the_limit_and_not_fitted(tmp_path):
    L = 10.0
    loss = numerics.quadratic([[1, 0], [0, L]])
    hs = [3 / L, 0.02, 0.01, 0.005, 0.0025]
    cert = numerics.verify(derive.gd(), 1, loss=loss, hs=hs, T=10.0, out=tmp_path)
    first = cert.record["step_sizes"][0]
    assert first["status"] == "unstable"
    assert cert.record["settings"]["stability_limit"] == pytest.approx(2 / L, rel=1e-8)
    assert first["diverged_at_step"] is not None  # and the iterates did blow up
    assert "stability limit 0.2" in first["detail"]
    for res in cert.record["results"]:
        assert res["errors"][0] is None and res["used"][0] is False
    assert cert.passed, cert.table()
    assert "unstable" in cert.table()
    assert (tmp_path / "errors.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def small_certificate(tmp_path_factory):
    out = tmp_path_factory.mktemp("certificate")
    cert = numerics.verify(
        derive.heavy_ball(0.5), 1, loss="double-well", quick=True, out=out
    )
    return cert, out


@pytest.mark.slow
def test_certificate_json_has_the_documented_keys(small_certificate):
    cert, out = small_certificate
    record = json.loads((out / "certificate.json").read_text())
    for key in (*numerics.CERTIFICATE_KEYS, "files"):
        assert key in record, key
    assert record["schema"] == "optimizer-flows.verification/1"
    s = record["settings"]
    for key in ("T", "h", "h_range", "epsilon", "kappa", "curvature", "stability_limit",
                "solver", "rtol", "atol", "tolerance", "floor", "initialisation"):  # fmt: skip
        assert key in s, key
    assert s["rtol"] <= 1e-12 and s["solver"] == "dopri8"
    assert s["h_range"] == [min(s["h"]), max(s["h"])]
    env = record["environment"]
    assert env["x64"] is True
    for pkg in ("jax", "diffrax", "sympy", "derive", "numpy"):
        assert env["packages"][pkg], pkg
    for res in record["results"]:
        for key in (
            "order",
            "expected_slope",
            "slope",
            "passed",
            "verdict",
            "errors",
            "used",
        ):
            assert key in res
    # the module written next to the certificate is the one that was verified
    module = out / f"{record['flow']['module']}.py"
    import hashlib

    assert hashlib.sha256(module.read_bytes()).hexdigest() == record["flow"]["sha256"]
    assert (
        derive.verify_content_hash(module.read_text())
        == record["flow"]["content_sha256"]
    )
    assert (out / "errors.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_certificate_reads_back_and_renders(small_certificate):
    cert, out = small_certificate
    again = numerics.Certificate.from_json((out / "certificate.json").read_text())
    assert again.passed == cert.passed and again.slopes == cert.slopes
    text = again.table()
    assert "PASSED" in text and "expected" in text and "observed" in text
    fig = again.plot()
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "step size" in ax.get_xlabel() and "error" in ax.get_ylabel()
    assert "heavy-ball" in repr(again)


def test_bad_input_is_a_derive_error():
    with pytest.raises(DeriveError, match="beta"):
        numerics.verify(derive.heavy_ball(), 1)  # symbolic beta without a number
    with pytest.raises(DeriveError, match="order"):
        numerics.verify(derive.gd(), -1)
    with pytest.raises(DeriveError, match="unknown loss"):
        numerics.verify(derive.gd(), 1, loss="nosuch")
    with pytest.raises(DeriveError, match="variables"):
        numerics.verify(derive.gd(), 1, loss="x**2 + y**2")
    with pytest.raises(DeriveError, match="x0"):
        numerics.verify(derive.gd(), 1, loss="x**2 + y**4", variables="x,y")
    with pytest.raises(DeriveError, match="gradient vanishes"):
        numerics.verify(derive.gd(), 1, loss="quadratic", x0=[0.0, 0.0])


def test_observed_order_fits_and_respects_the_floor():
    hs = [0.1, 0.05, 0.025, 0.0125]
    errors = [3e-4, 3.75e-5, 4.7e-6, 1e-12]
    slope, used = numerics.observed_order(hs, errors, floor=1e-10)
    assert used == [True, True, True, False]
    assert slope == pytest.approx(3.0, abs=0.01)
    local = numerics._order.local_slopes(hs[:3], errors[:3])
    assert local == pytest.approx([3.0, 3.0], abs=0.01)


def test_docstring_examples(pytestconfig):
    """The examples run once, in pytest's own doctest collection (`--doctest-modules`
    in pyproject.toml, whose test paths hold every module of numerics); here: that
    collection is on and each of these modules has examples."""
    assert "--doctest-modules" in pytestconfig.getini("addopts")
    finder = doctest.DocTestFinder()
    for module in (numerics, numerics._verify.certify, numerics._certificate, numerics._integrate,
                   numerics._order):  # fmt: skip
        assert sum(len(t.examples) for t in finder.find(module)) > 0, module.__name__


def test_verify_derives_once(monkeypatch):
    """`verify` solves the slow manifold once and passes the flow on: the truncation
    for the generated module and the manifold start reuse that derivation."""
    import derive._flow
    import derive._slow_manifold

    calls = []
    solve = derive._slow_manifold.solve_manifold

    def counting(rec, max_nodes):
        calls.append(max_nodes)
        return solve(rec, max_nodes)

    monkeypatch.setattr(derive._flow, "solve_manifold", counting)
    monkeypatch.setattr(derive, "solve_manifold", counting)
    cert = numerics.verify(derive.heavy_ball(0.5), 1, loss="double-well", quick=True)
    assert cert.passed
    assert calls == [3]  # order P + 1 = 2: trees with up to 3 nodes, once
