"""The record of an order test: everything needed to judge and reproduce it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from jax.flatten_util import ravel_pytree
from numpy.typing import NDArray

from derive import CONVENTIONS, GeneratedCode, Recurrence

from .._certificate import environment
from .._typing import PyTree
from .fit import overall_verdict
from .plan import Plan

__all__ = ["verification_record", "SCHEMA"]

SCHEMA = "optimizer-flows.verification/1"
"""The schema tag of verification records (`certificate.json`)."""


def describe_optimizer(rec: Recurrence, params: Mapping[str, float]) -> dict[str, Any]:
    return {
        "name": rec.name,
        "description": rec.description,
        "states": list(rec.states),
        "parameters": rec.parameter_texts,
        "numeric_parameters": dict(params),
        "program": rec.pretty(),
        "spec": rec.source,
    }


def step_records(
    plan: Plan,
    status: Sequence[str],
    diverged_at: NDArray[np.int_],
    flow_steps: NDArray[np.int_],
) -> list[dict[str, Any]]:
    """One entry per step size: $h$, $\\varepsilon$, steps, status and why."""
    out = []
    for k, h in enumerate(plan.h):
        item: dict[str, Any] = {
            "h": float(h),
            "epsilon": float(h * plan.L * plan.kappa),
            "steps": int(plan.steps[k]),
            "status": status[k],
            "flow_steps": int(flow_steps[k]),
        }
        if status[k] == "unstable":
            item["detail"] = (
                f"h = {h:.6g} >= the linear stability limit {plan.limit:.6g} at the "
                f"top curvature {plan.pilot['top']:.6g}"
            )
            d = int(diverged_at[k])
            item["diverged_at_step"] = d if d >= 0 else None
        elif status[k] == "diverged":
            item["diverged_at_step"] = int(diverged_at[k])
            item["detail"] = f"iterates blew up at step {int(diverged_at[k])}"
        elif status[k] == "flow failed":
            item["detail"] = (
                "the flow could not be integrated (step budget or non-finite)"
            )
        out.append(item)
    return out


def verification_record(
    *,
    rec: Recurrence,
    num: Mapping[str, float],
    order: int,
    loss_record: Mapping[str, Any],
    x0: PyTree,
    code: GeneratedCode,
    plan: Plan,
    steps: list[dict[str, Any]],
    results: list[dict[str, Any]],
    settings: Mapping[str, Any],
    timing: Mapping[str, float],
) -> dict[str, Any]:
    """The certificate's record (schema [`SCHEMA`][numerics._verify.record.SCHEMA])."""
    P = order
    loss_record = dict(loss_record)
    loss_record["x0"] = np.asarray(ravel_pytree(x0)[0]).tolist()
    return {
        "schema": SCHEMA,
        "passed": all(r["passed"] for r in results),
        "verdict": overall_verdict(results),
        "optimizer": describe_optimizer(rec, num),
        "order": P,
        "conventions": CONVENTIONS,
        "loss": loss_record,
        "flow": {
            "module": code.name,
            "mode": code.mode,
            "sha256": code.sha256,
            "content_sha256": code.content_hash,
            "terms": [
                {
                    "power": t.power,
                    "tree": t.tree,
                    "coefficient": code.flow.coefficient_text(t),  # type: ignore[arg-type]
                }
                for t in code.flow.terms
            ],
        },
        "settings": {
            "T": plan.T,
            "horizon_gradient_flow_time": plan.horizon,
            "h": [float(h) for h in plan.h],
            "h_range": [float(plan.h.min()), float(plan.h.max())],
            "h_choice": plan.chosen,
            "epsilon": plan.epsilon(),
            "leading_coefficient": plan.c0,
            "kappa": plan.kappa,
            "curvature": {
                "max_abs": plan.L,
                "top": plan.pilot["top"],
                "bottom": plan.pilot["bottom"],
                "along": "leading-order flow from x0 on [0, T]",
                **(
                    {
                        "kind": "correction ratio",
                        "definition": "kappa(x) = max_k (|F_k(x)|/|F_0(x)|)^(1/k); L is "
                        "its largest value along the flow (componentwise optimizer)",
                    }
                    if rec.componentwise
                    else {}
                ),
            },
            "stability_limit": None if not math.isfinite(plan.limit) else plan.limit,
            "method_order": plan.method_order,
            "expected_slopes": [r["expected_slope"] for r in results],
            "band_ratio": plan.ratio,
            "T_shortened_from": plan.T_shortened_from,
            "max_iterations": plan.max_iterations,
            "chunk": plan.chunk,
            "memory_budget_bytes": plan.memory,
            "notes": list(plan.notes),
            "initialisation": (
                f"slow manifold, moments through h^{P + 1} (off by O(h^{P + 2}))"
                if rec.componentwise
                else f"slow manifold, trees up to {P + 2} nodes (off by O(h^{P + 3}))"
                if len(rec.states) > 1
                else "x0 (one-step method)"
            ),
            **settings,
            "error": "max over n h <= T of the Euclidean norm |x_n - x(n h)|",
        },
        "step_sizes": steps,
        "results": results,
        "environment": environment(),
        "timing_s": dict(timing),
    }
