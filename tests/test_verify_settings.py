"""`derive verify` at the settings people use: verdicts, bad settings, outputs, logs.

Every bad setting gets a specific message and exit status 2 (the house rule for bad
input); a verification has three outcomes, PASSED (exit 0), FAILED (exit 1) and
INCONCLUSIVE (exit 3); results are written atomically and never overwrite earlier ones
silently; piped tables are never cut at the terminal width.

Reference for the order of RK4 as an optimizer: the classical Runge-Kutta method has
order 4 (Hairer, Norsett & Wanner, *Solving ODEs I*, II.1), so its modified flow has no
terms in h, h^2, h^3 (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, IX.1)
and every truncation below order 3 has global error O(h^4).
"""

import jax

jax.config.update("jax_enable_x64", True)

import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import derive  # noqa: E402
import numerics  # noqa: E402
from derive import DeriveError  # noqa: E402
from derive.cli import main  # noqa: E402

RK4 = (
    [[0, 0, 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, 1, 0]],
    ["1/6", "1/3", "1/3", "1/6"],
)
FAST = ["gd", "--order", "1", "--loss", "quadratic", "--quick"]


def error_of(argv, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    status = main(argv)
    err = capsys.readouterr().err
    return status, err


# ------------------------------------------------------------------ bad settings


@pytest.mark.parametrize("beta", ["1.5", "-1"])
def test_momentum_outside_the_stable_range_is_named(
    beta, capsys, monkeypatch, tmp_path
):
    with _no_warnings():
        status, err = error_of(
            ["verify", "heavy-ball", "--param", f"beta={beta}", "--no-save"],
            capsys,
            monkeypatch,
            tmp_path,
        )
    assert status == 2, err
    assert err.startswith("derive: error:")
    assert "momentum" in err and "parasitic root" in err, err
    assert "horizon" not in err


class _no_warnings:
    """Fail on any warning (a NumPy divide-by-zero warning is not a message)."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self._seen = self._catch.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        assert not [str(w.message) for w in self._seen], [
            str(w.message) for w in self._seen
        ]


@pytest.mark.parametrize(
    ("loss", "x0", "words"),
    [
        ("1/x", "0", ["not finite", "x0"]),
        ("exp(exp(x))", "10", ["not finite", "x0"]),
        ("log(x)", "-1", ["not finite", "x0"]),
    ],
)
def test_a_singular_start_point_is_named(
    loss, x0, words, capsys, monkeypatch, tmp_path
):
    with _no_warnings():
        status, err = error_of(
            ["verify", "gd", "--order", "1", "--loss", loss, "--vars", "x", "--x0", x0,
             "--no-save"],
            capsys, monkeypatch, tmp_path,
        )  # fmt: skip
    assert status == 2, err
    for word in words:
        assert word in err, err
    assert "T must be positive" not in err and "horizon" not in err


def test_a_non_finite_start_is_named(capsys, monkeypatch, tmp_path):
    status, err = error_of(
        ["verify", "gd", "--loss", "x**2 + y**2", "--vars", "x,y", "--x0", "nan,1",
         "--no-save"],
        capsys, monkeypatch, tmp_path,
    )  # fmt: skip
    assert status == 2
    assert "x0" in err and "not finite" in err and "vanishes" not in err, err


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (["--h", "1e-300"], ["1e-300", "steps", "max_iterations"]),
        (["--T", "inf"], ["T", "finite"]),
        (["--h", "inf"], ["step size", "finite"]),
    ],
)
def test_degenerate_horizons_and_steps_are_named(
    option, words, capsys, monkeypatch, tmp_path
):
    with _no_warnings():
        status, err = error_of(
            ["verify", "gd", "--no-save", *option], capsys, monkeypatch, tmp_path
        )
    assert status == 2, err
    for word in words:
        assert word in err, err
    assert "longer than the horizon" not in err


@pytest.mark.parametrize(
    ("expression", "names", "renamed", "constant"),
    [
        ("e*x**2 + exp(1)*x", "e,x", "e1*x**2 + exp(1)*x", np.e),
        ("pi*x**2 + acos(-1)*x", "pi,x", "pi1*x**2 + acos(-1)*x", np.pi),
    ],
)
def test_a_variable_named_like_a_constant_is_refused_not_misread(
    expression, names, renamed, constant
):
    """On main the JAX loss read the variable `e` for Euler's number (1.12 instead of
    2.62 at (0.7, 0.8)) and `derive verify` passed on the wrong loss. Such a name is
    now refused on both sides (derive.variable_names), with the fix in the message,
    and the renamed loss keeps the constant."""
    with pytest.raises(DeriveError, match="cannot be used"):
        numerics.loss_from_expression(expression, names)
    loss = numerics.loss_from_expression(renamed, names.replace(",", "1,", 1))
    a, x = 0.7, 0.8
    expected = a * x**2 + constant * x
    assert float(loss(jax.numpy.array([a, x]))) == pytest.approx(expected, rel=1e-14)


def test_an_unknown_loss_name_points_to_the_command_line_form(
    capsys, monkeypatch, tmp_path
):
    status, err = error_of(
        ["verify", "gd", "--loss", "rosenbrok", "--no-save"],
        capsys,
        monkeypatch,
        tmp_path,
    )
    assert status == 2
    assert "'rosenbrock'" in err and '--loss "x**4' in err and "--vars x,y" in err


# ------------------------------------------------------------------ verdicts


def _record(verdicts, x0_size=2):
    results = []
    for p, verdict in enumerate(verdicts):
        results.append(
            {
                "order": p,
                "expected_slope": p + 1,
                "slope": None if verdict == "inconclusive" else p + 1.0,
                "passed": verdict == "pass",
                "verdict": verdict,
                "reason": "only 2 of 5 step sizes give order-1 errors above the floor"
                if verdict == "inconclusive"
                else None,
                "advice": "give larger step sizes"
                if verdict == "inconclusive"
                else None,
                "errors": [1e-3 / 2**k for k in range(5)],
                "used": [True, True, False, False, True],
                "local_slopes": [],
            }
        )
    return {
        "passed": all(v == "pass" for v in verdicts),
        "verdict": "inconclusive" if "inconclusive" in verdicts else "passed",
        "order": len(verdicts) - 1,
        "optimizer": {
            "name": "heavy-ball",
            "parameters": {"beta": "9/10"},
            "numeric_parameters": {},
        },
        "loss": {"name": "digits-mlp", "x0": [0.25] * x0_size},
        "flow": {"module": "m", "mode": "matrix-free", "sha256": "0" * 64},
        "settings": {
            "T": 0.1,
            "h": [0.2 / 2**k for k in range(5)],
            "h_range": [0.0125, 0.2],
            "epsilon": [0.1] * 5,
            "kappa": 1.0,
            "curvature": {"max_abs": 1.0, "top": 1.0, "bottom": -1.0},
            "stability_limit": 2.0,
            "initialisation": "x0",
            "solver": "dopri8",
            "rtol": 1e-14,
            "atol": 1e-14,
            "tolerance": 0.2,
            "floor": 1e-10,
        },  # fmt: skip
        "step_sizes": [
            {"h": 0.2 / 2**k, "epsilon": 0.1, "steps": 10, "status": "ok"}
            for k in range(5)
        ],
        "results": results,
    }


def test_inconclusive_is_its_own_verdict_and_exit_status(monkeypatch, capsys):
    cert = numerics.Certificate(_record(["pass", "inconclusive"]))
    assert cert.verdict == "inconclusive" and not cert.passed
    assert "INCONCLUSIVE" in repr(cert) and "FAILED" not in repr(cert)
    monkeypatch.setattr(numerics, "verify", lambda *a, **k: cert)
    assert main(["verify", "gd", "--no-save"]) == 3
    out = capsys.readouterr().out
    assert "INCONCLUSIVE" in out and "FAILED" not in out
    assert "only 2 of 5 step sizes" in out and "give larger step sizes" in out


def test_the_exit_codes_are_documented():
    import subprocess
    import sys

    helped = subprocess.run(
        [sys.executable, "-m", "derive", "verify", "--help"],
        capture_output=True,
        text=True,
    )
    text = " ".join(helped.stdout.split())
    assert "3 if" in text and "inconclusive" in text.lower()
    docs = Path(__file__).parents[1] / "docs" / "verification.md"
    readme = Path(__file__).parents[1] / "README.md"
    for page in (docs, readme):
        assert "INCONCLUSIVE" in page.read_text() and "exit status 3" in " ".join(
            page.read_text().split()
        ), page


def test_every_verdict_of_an_order_says_why_and_what_to_change():
    """The three ways an order is not a plain pass, from errors made up to fall like
    h^(p+1) (order 0), h^1 instead of h^2 (order 1, a wrong coefficient), or to sit
    below the floor (order 2)."""
    from numerics._verify.fit import fit_orders, overall_verdict

    hs = np.array([0.08, 0.04, 0.02, 0.01, 0.005])
    errors = np.array([hs, 0.1 * hs, 1e-9 * hs**3])
    results = fit_orders(hs, errors, ["ok"] * 5, floor=1e-10, tolerance=0.2)
    assert [r["verdict"] for r in results] == ["pass", "fail", "inconclusive"]
    assert results[0]["reason"] is None and results[0]["advice"] is None
    assert "below 2" in results[1]["reason"] and "--h" in results[1]["advice"]
    assert "above the floor" in results[2]["reason"]
    assert "Give larger step sizes, e.g. --h" in results[2]["advice"]
    assert overall_verdict(results) == "failed"  # a failure outweighs inconclusive
    assert overall_verdict(results[::2]) == "inconclusive"
    # step sizes that did not reach T: too few to fit, smaller ones are asked for
    status = ["unstable", "unstable", "diverged", "ok", "ok"]
    ran = fit_orders(hs, errors[:1], status, floor=1e-10, tolerance=0.2, limit=0.03)
    assert ran[0]["verdict"] == "inconclusive"
    assert "only 2 of 5 step sizes ran to T" in ran[0]["reason"]
    assert "2 unstable" in ran[0]["reason"] and "1 diverged" in ran[0]["reason"]
    assert "smaller step sizes" in ran[0]["advice"] and "h < 0.03" in ran[0]["advice"]


@pytest.mark.slow
def test_rk4_at_order_5_passes_or_is_inconclusive_with_a_reason():
    """Today's main fits errors below the floor and prints FAILED (exit 1)."""
    rk4 = derive.runge_kutta(*RK4, name="rk4")
    cert = numerics.verify(rk4, 5, loss="rosenbrock")
    assert cert.verdict in ("passed", "inconclusive"), cert.table()
    for res in cert.record["results"][:3]:  # no h, h^2, h^3 terms: slope 4
        assert res["expected_slope"] == 4
    for res in cert.record["results"]:
        if res["verdict"] == "inconclusive":
            assert res["reason"] and res["advice"], res
        errors = [e for e, u in zip(res["errors"], res["used"], strict=True) if u]
        assert all(e > cert.record["settings"]["floor"] for e in errors)


# ------------------------------------------------------------------ outputs


def test_an_output_path_that_is_a_file_is_refused_before_computing(
    monkeypatch, capsys, tmp_path
):
    called = []
    monkeypatch.setattr(numerics, "verify", lambda *a, **k: called.append(1))
    target = tmp_path / "a-file"
    target.write_text("keep me")
    started = time.perf_counter()
    assert main(["verify", "gd", "--out", str(target)]) == 2
    assert time.perf_counter() - started < 5.0 and not called
    err = capsys.readouterr().err
    assert "--out" in err and "not a folder" in err
    assert target.read_text() == "keep me"
    assert main(["verify", "gd", "--out", str(target / "below")]) == 2
    assert not called


def test_an_existing_output_folder_is_never_overwritten(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    old = tmp_path / "old"
    old.mkdir()
    (old / "certificate.json").write_text('{"old": true}')
    assert main(["verify", *FAST, "--order", "0", "--out", str(old)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (old / "certificate.json").read_text() == '{"old": true}'
    # the default folder is numbered instead
    assert main(["verify", *FAST, "--order", "0"]) == 0
    assert main(["verify", *FAST, "--order", "0"]) == 0
    folders = sorted(p.name for p in (tmp_path / "runs" / "verify").iterdir())
    assert folders == ["gd-quadratic-order0", "gd-quadratic-order0-2"], folders
    # --force replaces the folder as a whole
    assert main(["verify", *FAST, "--order", "0", "--out", str(old), "--force"]) == 0
    assert sorted(p.name for p in old.iterdir()) == [
        "certificate.json",
        "errors.png",
        "gd_order0.py",
    ]


def test_certificate_write_is_atomic(tmp_path, monkeypatch):
    cert = numerics.Certificate(_record(["pass", "pass"]), source="# module\n")
    out = tmp_path / "out"
    cert.write(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(self, path=None):
        raise RuntimeError("the plot failed")

    monkeypatch.setattr(numerics.Certificate, "plot", broken)
    cert.source = "# a new module\n"
    with pytest.raises(RuntimeError):
        cert.write(out, overwrite=True)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # the old certificate is left whole, nothing new beside it
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary left
    with pytest.raises(DeriveError, match="exists"):
        numerics.Certificate(_record(["pass"])).write(out)


def test_a_folder_filled_meanwhile_is_not_replaced(tmp_path):
    """Two runs that chose the same folder: the second one to finish does not
    replace the first one's results."""
    from numerics._output import atomic_folder

    out = tmp_path / "out"
    with pytest.raises(DeriveError, match="another program"):
        with atomic_folder(out) as scratch:
            (scratch / "certificate.json").write_text("mine")
            out.mkdir()
            (out / "certificate.json").write_text("theirs")
    assert (out / "certificate.json").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary left
    empty = tmp_path / "empty"
    with atomic_folder(empty) as scratch:  # an empty folder made meanwhile is used
        (scratch / "certificate.json").write_text("mine")
        empty.mkdir()
    assert (empty / "certificate.json").read_text() == "mine"


# ------------------------------------------------------------------ logs and plots


def test_piped_tables_are_not_cut(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["verify", *FAST, "--order", "3", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out, out
    rows = [line for line in out.splitlines() if "e-" in line and " ok " in line]
    assert rows and all(len(line.split()) == 8 for line in rows), out


def test_the_plot_summarises_and_marks_the_verdict():
    cert = numerics.Certificate(_record(["pass", "inconclusive"], x0_size=3610))
    fig = cert.plot()
    ax = fig.axes[0]
    title = ax.get_title()
    assert len(title) < 200 and "3,610 parameters" in title, title
    texts = " ".join(t.get_text() for t in (*fig.texts, *ax.texts))
    assert "INCONCLUSIVE" in texts, texts
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("hollow" in label for label in labels), labels
    assert "Euclidean" in ax.get_ylabel() or "2-norm" in ax.get_ylabel()


def test_a_name_with_dollar_signs_is_drawn_as_text(tmp_path, monkeypatch, capsys):
    """A spec file name such as `$\\frac{` made matplotlib's mathtext parser fail
    at the end of a run on main; names are user text, drawn as written."""
    record = _record(["pass", "pass"])
    record["optimizer"]["name"] = "my$\\frac{opt"
    record["loss"]["name"] = "x**2 [bold]$"
    cert = numerics.Certificate(record)
    fig = cert.plot(tmp_path / "errors.png")  # drawn and saved: no parse error
    assert (tmp_path / "errors.png").stat().st_size > 0
    assert fig.axes[0].get_title().startswith(r"my\$\frac{opt")
    # and printed as written, not read as rich markup
    monkeypatch.setattr(numerics, "verify", lambda *a, **k: cert)
    assert main(["verify", "gd", "--no-save"]) == 0
    assert "on x**2 [bold]$: PASSED" in capsys.readouterr().out


# ------------------------------------------------------------------ models


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("hidden=(1000000,)", ["GB", "memory"]),
        ("hidden=abc", ["hidden", "positive integer"]),
        ("n=-5", ["n", "between 1 and 1797"]),
    ],
)
def test_model_options_are_checked(option, words, capsys, monkeypatch, tmp_path):
    started = time.perf_counter()
    status, err = error_of(
        ["verify", "gd", "--model", "digits-mlp", "--model-option", option,
         "--no-save"],
        capsys, monkeypatch, tmp_path,
    )  # fmt: skip
    assert status == 2, err
    assert time.perf_counter() - started < 20
    for word in words:
        assert word in err, err
    assert "TypeError" not in err and "MLIR" not in err


# ------------------------------------------------------------------ planning


@pytest.mark.slow
def test_streaming_in_chunks_gives_the_same_errors():
    """The comparison streamed in many small chunks (a tiny memory budget) measures
    the same errors as in one piece; no element cap refuses a long run."""
    import numerics._verify.plan as plan

    assert not hasattr(plan, "MAX_ELEMENTS")
    kw = dict(loss="double-well", quick=True)
    whole = numerics.verify(derive.heavy_ball(0.9), 1, **kw)
    chunked = numerics.verify(derive.heavy_ball(0.9), 1, memory=200_000, **kw)
    assert chunked.record["settings"]["chunk"] < whole.record["settings"]["chunk"]
    np.testing.assert_allclose(
        np.array(chunked.errors, float), np.array(whole.errors, float), rtol=1e-6
    )
    assert whole.passed and chunked.passed


@pytest.mark.slow
def test_a_shortened_horizon_is_said_with_its_factor():
    cert = numerics.verify(
        derive.heavy_ball(0.9), 0, loss="double-well", quick=True, max_iterations=500
    )
    s = cert.record["settings"]
    assert s["T_shortened_from"] > s["T"]
    assert max(i["steps"] for i in cert.record["step_sizes"]) <= 500
    assert "shortened" in cert.table() and "x" in cert.table()


@pytest.mark.slow
def test_heavy_ball_beta_0_9_passes_on_a_reduced_digits_mlp():
    from numerics.networks import verify_model

    cert = verify_model(
        "digits-mlp",
        derive.heavy_ball(0.9),
        2,
        quick=True,
        model_options={"hidden": (3,), "n": 60},
    )
    assert cert.verdict == "passed", cert.table()
    for p, slope in enumerate(cert.slopes):
        assert abs(slope - (p + 1)) < 0.25, cert.table()


# ------------------------------------------------------------------ GPU readiness


def test_the_gpu_check_falls_back_on_a_cpu_machine(capsys):
    import importlib.util

    path = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.find_nvidia_gpu() is None  # no GPU on the test machines
    assert module.main(["--no-install", "--smoke"]) == 0
    out = capsys.readouterr().out
    assert "no NVIDIA GPU" in out and "backend: cpu" in out
    assert "error" not in out  # both smoke workloads ran on the CPU
    assert '"workload": "mlp"' in out and '"workload": "sweep"' in out
