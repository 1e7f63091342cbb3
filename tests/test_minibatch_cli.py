"""`derive flow sgd|sgdm --batches ...`, the code generated for mini-batch flows, and
the derived output shown in docs/minibatch.md (regenerated here, so the page cannot
drift from the engine).

Reference values: SGD over m reshuffled batches has the first-order flow
g - h/2 (g'g + <d_k'd_k>) (Smith, Dherin, Barrett & De, ICLR 2021, eq. (4) written per
step); SGDM with one batch is heavy ball (`derive.heavy_ball`).
"""

import json
from pathlib import Path

import pytest
import sympy as sp

import derive
from derive.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_flow_sgd_shuffle_text(capsys):
    status, out, _ = run(capsys, "flow", "sgd", "--batches", "4", "--order", "1")
    assert status == 0
    assert "dx/dt = g\n      + h * (-1/2 g'g - 1/2 <d_k'd_k>)" in out
    assert "f + h*(1/4 |grad f|^2 + 1/4 <|grad e_k|^2>)" in out
    assert "t = n h counts steps" in out


def test_flow_sgdm_json_with_batch_losses(capsys):
    status, out, _ = run(
        capsys,
        "flow",
        "sgdm",
        "--param",
        "mu=1/2",
        "--order",
        "1",
        "--batch-losses",
        "(x-1)**2/2",
        "(x+1)**2/2",
        "--vars",
        "x",
        "--sampling",
        "fixed",
        "--format",
        "json",
    )
    assert status == 0
    record = json.loads(out)
    for key in ("optimizer", "order", "conventions", "parameters", "terms"):
        assert key in record
    assert record["batches"] == 2 and record["sampling"] == "fixed"
    local = {s: sp.Symbol(s) for s in record["symbols"]}
    (field,) = [sp.parse_expr(s, local_dict=local) for s in record["vector_field"]]
    x, h = sp.symbols("x h")
    # leading order: the full loss x^2/2 + 1/2 at effective rate 1/(1 - mu) = 2
    assert sp.expand(field.subs(h, 0)) == -2 * x


def test_one_batch_sgdm_is_heavy_ball(capsys):
    _, a, _ = run(capsys, "flow", "sgdm", "--batches", "1", "--param", "mu=0.9")
    _, b, _ = run(capsys, "flow", "heavy-ball", "--param", "beta=0.9")
    body = [line for line in a.splitlines() if line.startswith(("dx/dt", "      + h"))]
    assert len(body) == 3 and all(line in b for line in body)


def test_flow_help_mentions_minibatch(capsys):
    status, out, _ = run(capsys, "flow", "--help")
    assert status == 0
    for phrase in ["--batches M", "--sampling", "--batch-losses", "sgdm", "mu"]:
        assert phrase in out, phrase


@pytest.mark.parametrize(
    "argv,phrase",
    [
        (["flow", "sgd", "--order", "1"], "number of batches"),
        (["flow", "sgd", "--batches", "0"], "at least 1"),
        (["flow", "sgd", "--batches", "two"], "whole number"),
        (["flow", "sgd", "--batches", "2", "--sampling", "cyclic"], "invalid choice"),
        (
            ["flow", "sgd", "--batches", "2", "--loss", "x", "--vars", "x"],
            "one loss per",
        ),
        (["flow", "sgd", "--batch-losses", "x**2", "x"], "needs --vars"),
        (
            [
                "flow",
                "sgd",
                "--batches",
                "3",
                "--batch-losses",
                "x**2",
                "x",
                "--vars",
                "x",
            ],
            "--batches 3 was given with 2",
        ),
        (["flow", "sgd", "--batches", "2", "--param", "mu=0.9"], "no parameters"),
        (["flow", "sgdm", "--batches", "2", "--param", "mu=1"], "mu = 1 is singular"),
        (["flow", "sgd", "--batches", "m", "--sampling", "fixed"], "needs a number"),
        (["flow", "sgd", "--batches", "60", "--sampling", "fixed"], "colored trees"),
    ],
)
def test_minibatch_flow_errors(capsys, argv, phrase):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert phrase in err and "Traceback" not in err


def test_codegen_matrix_free_and_explicit_agree():
    import jax.numpy as jnp

    for sampling in ("shuffle", "fixed"):
        flow = derive.minibatch_flow("sgd", 2, batches=2, sampling=sampling)
        losses = ["x**2/2 + sin(x)*y + y**2", "x**4/4 - x + exp(y/2)"]
        explicit_code = derive.codegen(flow, loss=losses, variables="x,y")
        free_code = derive.codegen(flow)
        explicit, free = explicit_code.load(), free_code.load()
        jax_losses = [
            lambda z: z[0] ** 2 / 2 + jnp.sin(z[0]) * z[1] + z[1] ** 2,
            lambda z: z[0] ** 4 / 4 - z[0] + jnp.exp(z[1] / 2),
        ]
        y = jnp.array([0.3, -0.7])
        a = explicit.vector_field(0.0, y, {"h": 0.1})
        b = free.make_vector_field(jax_losses)(0.0, y, {"h": 0.1})
        assert jnp.allclose(a, b, rtol=1e-12, atol=1e-12), sampling
        for code in (explicit_code, free_code):
            assert derive.verify_content_hash(code.source) == code.content_hash


def _block(text, first):
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    return "\n".join(lines[start : start + 5])


def test_docs_show_current_derivations(capsys):
    page = (ROOT / "docs" / "minibatch.md").read_text()
    for argv in (
        ["flow", "sgd", "--batches", "m", "--order", "2"],
        ["flow", "sgd", "--batches", "3", "--sampling", "fixed", "--order", "1"],
        ["flow", "sgdm", "--batches", "4", "--order", "1"],
    ):
        _, out, _ = run(capsys, *argv)
        body = [line for line in out.splitlines()[3:] if line.strip()]
        for line in body:
            assert line in page, f"docs/minibatch.md is stale: {line!r}"
