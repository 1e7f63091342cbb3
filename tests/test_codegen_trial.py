"""`derive codegen` runs the module once on a sample point before writing it (through
the `derive.codegen_trials` plug-in that numerics registers, so that derive itself
never imports JAX): a module that raises is not written, and the command exits 2 with
the exception named."""

from __future__ import annotations

from pathlib import Path

import pytest

import derive
from derive.cli import main
from numerics._cli.trial import run_once


def test_generated_modules_pass_the_trial() -> None:
    matrix_free = derive.codegen(derive.heavy_ball(), 2).source
    explicit = derive.codegen(derive.gd(), 1, loss="x**2*y + y**4", variables="x,y")
    componentwise = derive.codegen(derive.adam(), 1).source
    assert run_once(matrix_free, "heavy_ball_order2")
    assert run_once(explicit.source, "gd_order1")
    assert run_once(componentwise, "adam_order1")


def test_a_module_that_raises_is_refused() -> None:
    broken = derive.codegen(derive.gd(), 1).source.replace(
        "def make_vector_field(", "def _unused(", 1
    )
    with pytest.raises(derive.DeriveError, match="fails when it is run") as error:
        run_once(broken, "gd_order1")
    assert "make_vector_field" in str(error.value)  # the exception is named


def test_the_command_writes_only_after_the_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "gd_flow.py"
    assert main(["codegen", "gd", "--order", "1", "-o", str(out)]) == 0
    assert out.exists()
    assert "not run" not in capsys.readouterr().err

    def failing(source: str, name: str) -> bool:
        raise derive.DeriveError("the generated module fails when it is run.", "")

    monkeypatch.setattr("numerics._cli.trial.run_once", failing)
    again = tmp_path / "again.py"
    assert main(["codegen", "gd", "--order", "1", "-o", str(again)]) == 2
    assert not again.exists()
    assert main(["codegen", "gd", "--order", "1", "-o", str(again), "--no-trial"]) == 0
    assert again.exists()


def test_without_jax_the_module_is_written_and_the_trial_said_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base install (no JAX): the plug-in returns None, the module is written and
    the command says it was compiled but not run."""
    monkeypatch.setattr("numerics._cli.trial.run_once", lambda source, name: None)
    out = tmp_path / "gd_flow.py"
    assert main(["codegen", "gd", "--order", "1", "-o", str(out)]) == 0
    assert out.exists()
    assert "compiled but not run" in capsys.readouterr().err
