"""The Fu et al. reproduction on a reduced grid, and its bad input.

Reference behaviour (Fu et al., arXiv 2306.09000, section 3): at small effective
learning rates SGD and SGDM reach the same training loss; at large ones SGD becomes
unstable first. On a quadratic, SGD with rate eta is stable while eta lambda < 2 and
heavy ball (PyTorch SGDM) while eta lambda < 2(1 + mu) (Polyak 1964), which the report's
stability table is checked against. The full grid runs in `derive reproduce fu-momentum`
(benchmarks/fu_momentum.py times it).
"""

import json

import numpy as np
import pytest

from derive.cli import main


@pytest.fixture(scope="module")
def report():
    import numerics

    return numerics.reproduce_fu_momentum(
        batch_sizes=(1797, 128),  # sorted by the reproduction
        etas=(0.1, 0.3, 1.0, 3.0, 10.0, 100.0),
        mus=(0.0, 0.9),
        seeds=(0,),
        steps=40,
    )


def test_report_shape_and_physics(report, tmp_path):
    from numerics.reproductions import write_report

    sw = report.sweep
    assert sw.final.shape == (2, 2, 6, 1)
    # the batch-size trend (gap check, figure) reads the batch sizes in ascending order
    assert sw.batch_sizes == [128, 1797]
    assert [r["batch"] for r in report.rows] == [128, 1797]
    # small rates: SGD and SGDM agree (the effective learning rate is the time scale);
    # over 40 steps from rest the momentum's build-up (about 1/(1 - mu) = 10 steps)
    # still shows, so the bound is loose
    assert abs(np.log(sw.final[1, 0, 0, 0] / sw.final[1, 1, 0, 0])) < 0.2
    # eta_ef = 100 is far beyond both limits at the start: every run there diverged,
    # and a diverged run has no final loss (NaN), never a number
    assert (sw.diverged_at[:, :, -1, 0] >= 0).all()
    assert np.isnan(sw.final[:, :, -1, 0]).all()
    # SGD diverges at a smaller effective rate than SGDM
    first = lambda mi: int(np.argmax(sw.diverged_at[1, mi, :, 0] >= 0))  # noqa: E731
    assert first(0) < first(1)
    # converged runs sit below their own linear-stability limit (edge of stability)
    lam = report.stability["lambda"]
    for m in (0.0, 0.9):
        for e, v in zip(sw.etas, lam[m], strict=True):
            if v is not None:
                assert e * (1 - m) * v / (2 * (1 + m)) < 1.15
    files = write_report(report, tmp_path)
    names = {p.name for p in files}
    assert {"final-loss.png", "sharpness.png", "batch-size.png"} <= names
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["axes"]["eta_ef"] == sw.etas
    assert None in summary["final_loss"][0][0][-1]  # diverged: null, not NaN
    assert "| batch size |" in report.table()
    assert "diverged" in report.stability_table()


@pytest.mark.parametrize(
    "argv,phrase",
    [
        (["--batch-sizes", "5000"], "larger than the data"),
        (["--mus", "0.5,0.9"], "must include 0"),
        (["--etas", "1,2"], "at least four"),
        (
            [
                "--etas",
                "1000,2000,3000,4000",
                "--batch-sizes",
                "1797",
                "--mus",
                "0,0.9",
                "--steps",
                "8",
            ],
            "every run diverged",
        ),
    ],
)
def test_bad_input_exits_two(capsys, tmp_path, argv, phrase):
    status = main(["reproduce", "fu-momentum", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert status == 2
    assert phrase in err and "Traceback" not in err
