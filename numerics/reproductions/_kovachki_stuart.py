"""Reproduce Kovachki & Stuart's three results for heavy ball and Nesterov.

Kovachki & Stuart, *Continuous time analysis of momentum methods*, JMLR 22 (2021),
show for heavy ball (HB) and Nesterov (NAG) with fixed momentum $\\beta$:

1. as $h \\to 0$ the iterates follow the time-rescaled gradient flow
   $\\dot x = -\\nabla f(x)/(1-\\beta)$, with error $O(h)$;
2. with $h$ kept as a parameter, modified equations are accurate to $O(h^2)$: the
   first-order one $\\dot x = -\\nabla f/(1-\\beta) + h\\, c(\\beta) \\nabla^2 f \\nabla f$
   and the second-order one $\\tfrac{h(1+\\beta)}{2} \\ddot x + (1-\\beta) \\dot x
   [+ h\\beta \\nabla^2 f(x) \\dot x] + \\nabla f(x) = 0$ (the bracket for NAG);
3. the momentum state is attracted exponentially to an invariant manifold, at the rate
   $\\beta$ per step, on which the dynamics are a (modified) gradient flow.

[`reproduce_kovachki_stuart`][numerics.reproduce_kovachki_stuart] derives every
equation with `derive`, measures the global errors against $h$ and the decay towards
the manifold on a non-convex 2-D loss and on a small network (a teacher-student tanh
MLP with 13 parameters, `numerics.networks`), and writes figures, a Markdown table of
fitted slopes and rates next to the theorems' predictions, and a JSON record.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

import derive

from .._attraction import MeasuredAttraction, attraction
from .._high_resolution import EquationErrors, equation_errors
from .._iterates import initial_point, make_runner
from .._losses import get_loss
from .._precision import uses_float64
from .._stability import hessian_eigenvalues
from .._typing import Array, LossFunction, PyTree
from .._verify.plan import coefficient_scales, kappa_of
from ._kovachki_stuart_report import (
    ATTRACTION_EPSILON,
    EPSILON_RANGE,
    FIT_POINTS,
    NETWORK,
    NETWORK_EPSILON_RANGE,
    NETWORK_FLOW_TIME,
    NETWORK_MANIFOLD_NODES,
    REFERENCE,
    TOLERANCE,
    KovachkiStuartReport,
)

if TYPE_CHECKING:
    import sympy

    from .._high_resolution import Equation

__all__ = ["reproduce_kovachki_stuart", "KovachkiStuartReport"]


def _kappa(flow: derive.ModifiedFlow, params: Mapping[str, float]) -> float:
    """Growth of the flow's coefficients, as in `numerics.verify`."""
    return kappa_of(coefficient_scales(flow, params)[1])


def _curvature(
    rec: derive.Recurrence,
    loss: LossFunction,
    x0: PyTree,
    h: float,
    n: int,
    stride: int = 1,
) -> float:
    """The largest |Hessian eigenvalue| along a coarse run of the iterates (every
    `stride`-th position)."""
    runner = make_runner(rec, loss, n, init="rest")
    positions, _, _ = jax.jit(runner)(x0, jnp.float64(h))
    positions = jax.tree_util.tree_map(lambda p: p[::stride], positions)
    eig = jax.jit(jax.vmap(lambda z: hessian_eigenvalues(loss, z)))(positions)
    return float(jnp.max(jnp.abs(eig)))


def _network_part(
    methods: Mapping[str, derive.Recurrence],
    beta: float,
    kappa: float,
    quick: bool,
    say: Callable[[str], None],
) -> tuple[
    list[dict[str, Any]],
    dict[str, EquationErrors],
    dict[str, MeasuredAttraction],
    dict[str, Any],
]:
    """(i), (ii) and (iii) on the small network: rows, errors, attraction, settings."""
    from jax.flatten_util import ravel_pytree

    from ..networks import get_model

    options = {k: v for k, v in NETWORK.items() if k != "model"}
    model = get_model(NETWORK["model"], **options)
    z0, unravel = ravel_pytree(model.init(jax.random.PRNGKey(NETWORK["seed"])))
    z0 = jnp.asarray(z0, jnp.float64)

    def loss(z: Array) -> Array:
        return model.loss(unravel(z))

    T = NETWORK_FLOW_TIME * (1 - beta)
    L = _curvature(methods["heavy ball"], loss, z0, T / 200, 200, stride=10)
    scale = 1.0 / (L * kappa)
    eps = np.geomspace(*NETWORK_EPSILON_RANGE, 5 if quick else 7)
    counts = np.unique(np.round(T / (eps * scale)).astype(int))
    hs = np.sort(T / counts)[::-1]
    labels = [
        "network: (i) gradient-flow limit: error vs h",
        "network: (ii) first-order modified equation: error vs h",
        "network: (ii) second-order equation (order 1): error vs h",
    ]
    rows: list[dict[str, Any]] = []
    errors: dict[str, EquationErrors] = {}
    att: dict[str, MeasuredAttraction] = {}
    for name, rec in methods.items():
        say(f"network, {name}: iterates and 3 equations for {len(hs)} step sizes")
        res = equation_errors(
            rec,
            [
                derive.bseries_flow(rec, 0),
                derive.bseries_flow(rec, 1),
                derive.high_resolution_ode(rec, 1),
            ],
            loss,
            hs,
            T,
            names=[
                "gradient flow x' = -grad f/(1-beta)",
                "first-order modified equation",
                "second-order equation, order 1",
            ],
            expected=[1, 2, 2],
            x0=z0,
            manifold_nodes=NETWORK_MANIFOLD_NODES,
            fit_points=FIT_POINTS,
            tolerance=TOLERANCE,
        )
        errors[name] = res
        rows += _slope_rows(labels, name, res)
    h_att = ATTRACTION_EPSILON * scale
    for name, rec in methods.items():
        say(f"network, {name}: decay towards the manifold (h = {h_att:.3g})")
        a = attraction(rec, loss, h=h_att, x0=z0)
        att[name] = a
        rows.append(
            {
                "result": "network: (iii) attraction to the manifold, per step",
                "optimizer": name,
                "prediction": f"beta = {a.predicted:g}",
                "measured": f"{a.measured:.4f} ({100 * a.relative_error:.2f}% off)",
                "passed": bool(a.within(0.05)),
            }
        )
    settings = {
        **NETWORK,
        "description": model.description,
        "n_params": int(z0.size),
        "loss0": float(loss(z0)),
        "T": T,
        "curvature": L,
        "kappa": kappa,
        "h": [float(h) for h in hs],
        "manifold_nodes": NETWORK_MANIFOLD_NODES,
        "attraction_h": h_att,
    }
    return rows, errors, att, settings


@uses_float64
def reproduce_kovachki_stuart(
    *,
    beta: float = 0.5,
    loss: str = "double-well",
    quick: bool = False,
    network: bool = True,
    progress: Callable[[str], None] | None = None,
) -> KovachkiStuartReport:
    """Derive and measure Kovachki & Stuart's three results for HB and NAG.

    **Arguments:**

    - `beta`: the momentum of both methods (0.5 by default; 0.9 works too, with step
      sizes scaled down by the growth of the flow's coefficients).
    - `loss`: a built-in 2-D loss (default `double-well`, non-convex: the path crosses
      negative curvature).
    - `quick`: fewer step sizes.
    - `network`: also measure (i), (ii) and (iii) on a small network (a
      teacher-student tanh MLP with 13 parameters; about 15 s on 2 cores).
    - `progress`: called with a short message at each stage.

    **Returns:** a [`KovachkiStuartReport`][numerics.KovachkiStuartReport]; write it
    with [`write_report`][numerics.reproductions.write_report] (its figures are
    `errors-heavy-ball.png`, `errors-nesterov.png`, `attraction.png` and
    `network.png`).

    !!! example
        ```python
        >>> import numerics
        >>> report = numerics.reproduce_kovachki_stuart(quick=True)  # doctest: +SKIP
        >>> report.passed                                             # doctest: +SKIP
        True

        ```
    """
    if not 0 <= beta < 1:
        raise derive.DeriveError(
            f"beta = {beta} is outside [0, 1): the momentum methods have no "
            "attracting slow manifold there.",
            "Use e.g. --beta 0.5 or 0.9.",
        )
    say = progress or (lambda message: None)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    loss_obj = get_loss(loss)
    x0 = initial_point(loss_obj, None)
    b = derive.exact_number(beta)
    methods = {"heavy ball": derive.heavy_ball(b), "Nesterov": derive.nesterov(b)}
    c0 = 1 / (1 - float(b))
    if loss_obj.horizon is None:  # pragma: no cover - every built-in loss has one
        raise derive.DeriveError(f"the loss {loss!r} has no horizon.", "")
    T = float(loss_obj.horizon) / c0

    say("deriving the equations")
    models: dict[str, list[Equation]] = {}
    texts: dict[str, dict[str, str]] = {}
    for name, rec in methods.items():
        flow0 = derive.bseries_flow(rec, 0)
        flow1 = derive.bseries_flow(rec, 1)
        ode1 = derive.high_resolution_ode(rec, 1)
        ode2 = derive.high_resolution_ode(rec, 2)
        models[name] = [flow0, flow1, ode1, ode2]
        texts[name] = {
            "gradient-flow limit (order 0)": flow0.text(header=False),
            "first-order modified equation": flow1.text(header=False),
            "second-order equation, order 1": ode1.equation_text(),
            "second-order equation, order 2": ode2.text(header=False),
            "invariant manifold": derive.invariant_manifold(rec, 1).text(header=False),
        }
    symbolic_texts = {
        "heavy ball": derive.high_resolution_ode(
            derive.heavy_ball(), 1
        ).equation_text(),
        "Nesterov": derive.high_resolution_ode(derive.nesterov(), 1).equation_text(),
    }
    for name in texts:
        texts[name]["second-order equation, order 1, symbolic beta"] = symbolic_texts[
            name
        ]
    equations = texts
    t_derive = time.perf_counter()

    say("measuring the curvature along the path")
    kappa = max(_kappa(derive.bseries_flow(r, 3), {}) for r in methods.values())
    L = _curvature(methods["heavy ball"], loss_obj, x0, T / 200, 200)
    scale = 1.0 / (L * kappa)
    eps = np.geomspace(*EPSILON_RANGE, 8 if quick else 12)
    counts = np.unique(np.round(T / (eps * scale)).astype(int))
    hs = np.sort(T / counts)[::-1]

    errors: dict[str, EquationErrors] = {}
    rows: list[dict[str, Any]] = []
    for name, rec in methods.items():
        say(
            f"{name}: iterates and {len(models[name])} equations for {len(hs)} step sizes"
        )
        res = equation_errors(
            rec,
            models[name],
            loss_obj,
            hs,
            T,
            names=[
                "gradient flow x' = -grad f/(1-beta)",
                "first-order modified equation",
                "second-order equation, order 1",
                "second-order equation, order 2",
            ],
            expected=[1, 2, 2, 3],
            fit_points=FIT_POINTS,
            tolerance=TOLERANCE,
        )
        errors[name] = res
        labels = [
            "(i) gradient-flow limit: error vs h",
            "(ii) first-order modified equation: error vs h",
            "(ii) second-order equation (order 1): error vs h",
            "(ii) second-order equation (order 2, beyond KS): error vs h",
        ]
        rows += _slope_rows(labels, name, res)
    t_errors = time.perf_counter()

    att: dict[str, MeasuredAttraction] = {}
    h_att = ATTRACTION_EPSILON * scale
    for name, rec in methods.items():
        say(f"{name}: decay towards the manifold (h = {h_att:.3g})")
        a = attraction(rec, loss_obj, h=h_att, nodes=6)
        att[name] = a
        ok = a.within(0.05)
        rows.append(
            {
                "result": "(iii) attraction to the manifold, per step",
                "optimizer": name,
                "prediction": f"beta = {a.predicted:g}",
                "measured": f"{a.measured:.4f} ({100 * a.relative_error:.2f}% off)",
                "passed": bool(ok),
            }
        )
        rows.append(
            {
                "result": f"(iii) attraction per unit time, log(beta)/h at "
                f"h = {h_att:.3g}",
                "optimizer": name,
                "prediction": f"{a.predicted_rate:.4g}",
                "measured": f"{a.measured_rate:.4g}",
                "passed": bool(
                    abs(a.measured_rate / a.predicted_rate - 1) <= 0.05
                    if a.predicted_rate
                    else ok
                ),
            }
        )
    t_att = time.perf_counter()

    net_errors: dict[str, EquationErrors] = {}
    net_att: dict[str, MeasuredAttraction] = {}
    net_settings: dict[str, Any] | None = None
    if network:
        net_rows, net_errors, net_att, net_settings = _network_part(
            methods, float(b), kappa, quick, say
        )
        rows += net_rows
    t_net = time.perf_counter()

    from .._certificate import environment

    report = KovachkiStuartReport(
        rows=rows,
        errors=errors,
        attraction=att,
        equations=equations,
        settings={
            "beta": float(b),
            "loss": loss_obj.name,
            "loss_expression": _latex(loss_obj.expression),
            "x0": [float(v) for v in np.asarray(x0)],
            "T": T,
            "curvature": L,
            "kappa": kappa,
            "h": [float(h) for h in hs],
            "fit_points": FIT_POINTS,
            "attraction_h": h_att,
            "network": net_settings,
            "reference": REFERENCE,
        },
        timing={
            "derive_s": t_derive - start_wall,
            "errors_s": t_errors - t_derive,
            "attraction_s": t_att - t_errors,
            "network_s": t_net - t_att,
            "total_s": time.perf_counter() - start_wall,
            "cpu_s": time.process_time() - start_cpu,
        },
        environment=environment(),
        network_errors=net_errors,
        network_attraction=net_att,
    )
    return report


def _slope_rows(
    labels: Sequence[str], name: str, res: EquationErrors
) -> list[dict[str, Any]]:
    """One table row per equation: predicted and fitted slope, and the verdict."""
    rows = []
    for label, e, slope in zip(labels, res.expected, res.slopes, strict=True):
        verdict = _verdict(slope, e)
        rows.append(
            {
                "result": label,
                "optimizer": name,
                "prediction": f"slope {e:g}",
                "measured": f"slope {slope:.3f}",
                "passed": verdict != "NO",
                "verdict": verdict,
            }
        )
    return rows


def _verdict(slope: float, expected: float) -> str:
    if not math.isfinite(slope):
        return "NO"
    if abs(slope - expected) <= TOLERANCE:
        return "yes"
    return "steeper" if slope > expected else "NO"


def _latex(expr: sympy.Expr) -> str:
    import sympy

    return sympy.latex(expr)
