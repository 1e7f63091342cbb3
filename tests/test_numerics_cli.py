"""Tests of `derive verify`."""

import jax

jax.config.update("jax_enable_x64", True)

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

from derive.cli import main  # noqa: E402


@pytest.mark.slow
def test_default_runs_and_exits_0(tmp_path, monkeypatch, capsys):
    """`derive verify` with no options: heavy ball, beta = 9/10, order 3, Himmelblau."""
    monkeypatch.chdir(tmp_path)
    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert "heavy-ball" in out and "himmelblau" in out and "PASSED" in out
    folder = tmp_path / "runs" / "verify" / "heavy-ball-himmelblau-order3"
    record = json.loads((folder / "certificate.json").read_text())
    assert record["passed"] and record["order"] == 3
    assert record["optimizer"]["parameters"] == {"beta": "9/10"}
    assert [round(s) for s in (r["slope"] for r in record["results"])] == [1, 2, 3, 4]
    assert (folder / "errors.png").exists()


@pytest.mark.slow
def test_json_output_and_options(capsys):
    status = main(
        ["verify", "gd", "--order", "1", "--loss", "x**4/4 - x**2/2 + y**2/2 + x*y",
         "--vars", "x,y", "--x0", "0.3,0.4", "--quick", "--no-save", "--format", "json"]
    )  # fmt: skip
    assert status == 0
    record = json.loads(capsys.readouterr().out)
    assert record["passed"]
    assert record["loss"]["x0"] == [0.3, 0.4]
    assert len(record["settings"]["h"]) == 4
    assert "files" not in record


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--loss", "nosuch"],
        ["verify", "gd", "--loss", "x**2 + y**2"],  # no --vars
        ["verify", "--vars", "x,y"],
        ["verify", "heavy-ball", "--param", "beta=1"],
        ["verify", "gd", "--param", "beta=0.5"],
        ["verify", "nosuch"],
        ["verify", "--order", "-1"],
        ["verify", "--x0", "a,b"],
        ["verify", "state x; x = x*x"],
    ],
)
def test_bad_input_exits_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("derive: error:")
    assert not (tmp_path / "runs").exists()


def test_a_failed_verification_exits_1(monkeypatch, capsys):
    import numerics

    class Failed:
        passed = False
        record = {}

        def to_json(self):
            return '{"passed": false}'

    monkeypatch.setattr(numerics, "verify", lambda *a, **k: Failed())
    assert main(["verify", "gd", "--no-save", "--format", "json"]) == 1


def test_the_command_is_registered_and_imports_no_jax():
    code = (
        "import sys\n"
        "from derive.cli import build_parser\n"
        "parser = build_parser()\n"
        "args = parser.parse_args(['verify', '--quick'])\n"
        "assert args.order == 3 and args.quick\n"
        "heavy = [m for m in ('jax', 'numerics._verify', 'diffrax', 'matplotlib', 'sympy')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "derive", "verify", "--help"],
        capture_output=True,
        text=True,
    )
    assert helped.returncode == 0
    assert "--quick" in helped.stdout and "slope" in helped.stdout


def test_without_the_jax_extra_the_commands_say_how_to_install_it():
    """A base install (no `jax` extra): `derive --help` still lists the JAX commands,
    and running one exits with status 2 and the install hint, not a traceback."""
    code = (
        "import sys\n"
        "for name in ('jax', 'jaxlib', 'diffrax', 'equinox', 'matplotlib', 'sklearn'):\n"
        "    sys.modules[name] = None  # as if not installed\n"
        "from derive.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    helped = subprocess.run(
        [sys.executable, "-c", code, "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0 and "verify" in helped.stdout
    for argv in (["verify"], ["reproduce", "kovachki-stuart", "--quick"]):
        done = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("derive: error:")
        assert "pip install 'optimizer-flows[jax]'" in done.stderr
        assert "Traceback" not in done.stderr
