"""`verify`: show numerically that a generated modified flow tracks the iterates.

For each truncation order $p = 0, \\dots, P$ of the flow, the global error
$e_p(h) = \\max_{n h \\le T} |x_n - x_p(n h)|$ between the iterates $x_n$ (started
on the slow manifold) and the solution $x_p$ of the order-$p$ flow is measured for a
geometric set of step sizes, and the log-log slope is fitted; it must be $p + 1$.

**Choosing $T$ and $h$.** Let $c_0$ be the leading coefficient of the flow
($\\dot x = c_0 g + O(h)$; $c_0 = 1/(1-\\beta)$ for heavy ball), $B_k$ the sum of
the absolute coefficients of its $h^k$ terms, and
$\\kappa = \\max_{1 \\le k \\le P+1} (B_k/B_0)^{1/k}$ (0.83 for gradient descent
with $P = 3$; 8.8 and 290 for heavy ball with $\\beta = 0.5$ and $0.9$). With $L$ the
largest $|\\lambda|$ of the Hessian along the leading-order trajectory, the $k$-th
correction is about $(h L \\kappa)^k$ times the leading term, so the small parameter is
$\\varepsilon = h L \\kappa$. By default $T = T_{gf}/c_0$, with $T_{gf}$ the loss's
documented gradient-flow horizon (for a user loss $3/L_0$, $L_0$ the curvature at the
start), and the step sizes are $T/N$ for whole numbers $N$ (every run ends exactly at
$T$) with $\\varepsilon$ from 0.16 down to 0.02, 5 values (`quick=True`: 4 values
from 0.12 to 0.03). Then the corrections are small (the asymptotic regime: the local
slopes between neighbouring step sizes agree), the smallest order-3 errors, about
$10^{-9}$ on the built-in losses, stay far above the solver's error floor (about
$10^{-12}$ at `rtol = atol = 1e-14`), and $h$ stays far below the stability limit.
$T$, the step sizes, $\\varepsilon$, $L$ and $\\kappa$ are recorded in the
certificate.

**Pass criterion.** Errors at or below `floor` (default $10^4 \\max(\\text{rtol},
\\text{atol}) = 10^{-10}$, 100 times the solver's floor) are left out; with at least 3
usable step sizes, order $p$ passes when the fitted slope is at least $p + 1 - 0.2$
(`tolerance`). A wrong order-$p$ coefficient gives slope $p$ and fails (the tests check
this with a coefficient perturbed by 5%). A slope above $p + 1 + 0.2$ (the next term
happens to vanish on the problem) passes and is flagged.

**Unstable and divergent step sizes.** Each $h$ is screened against the linear
stability limit of the optimizer's own program at the top curvature along the trajectory
([`stability_limit`][numerics.stability_limit]; $2/L$ for gradient descent,
$2(1+\\beta)/L$ for heavy ball); step sizes at or beyond it are reported as unstable,
with the limit, and their iterates are still run to show the blow-up. Iterates that
blow up (non-finite, or norm beyond $10^8$ times the start) are reported as divergent,
and flows that fail to integrate as failed; none of them enters a fit or a plot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

import derive

from .._certificate import Certificate
from .._componentwise_start import ComponentwiseStart
from .._iterates import as_recurrence, initial_point
from .._losses import Loss, resolve_loss
from .._precision import uses_float64
from .._typing import LossFunction, Parameters, PyTree

if TYPE_CHECKING:
    import sympy
from .fit import fit_orders
from .plan import coefficient_scales, kappa_of, plan_test
from .plan_adaptive import plan_componentwise
from .record import step_records, verification_record
from .run import flow_errors, run_iterates

__all__ = ["verify", "DEFAULT_LOSS", "DEFAULT_TOLERANCE"]

DEFAULT_LOSS = "himmelblau"
DEFAULT_TOLERANCE = 0.2


@uses_float64
def verify(
    optimizer: derive.OptimizerDefinition,
    order: int = 3,
    *,
    loss: Loss | str | sympy.Expr | LossFunction = DEFAULT_LOSS,
    variables: str | Sequence[str | sympy.Symbol] | None = None,
    params: Parameters | None = None,
    hs: Sequence[float] | None = None,
    T: float | None = None,
    x0: PyTree | None = None,
    out: str | PathLike[str] | None = None,
    quick: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    floor: float | None = None,
    solver: str = "dopri8",
    rtol: float = 1e-14,
    atol: float = 1e-14,
    max_steps: int = 200_000,
    progress: Callable[[str], None] | None = None,
) -> Certificate:
    """Verify numerically that an optimizer's modified flow has the predicted order.

    The flow is derived exactly (`derive.modified_flow`), turned into a JAX module
    (`derive.codegen`, matrix-free), and every truncation $p \\le P$ of it is integrated
    with diffrax and compared with the iterates of the same optimizer definition.

    **Arguments:**

    - `optimizer`: a `derive.Recurrence`, a built-in name (`"heavy-ball"`) or a plain
      update function.
    - `order`: $P$, the highest order tested (every $p = 0, \\dots, P$ is tested).
    - `loss`: a [`Loss`][numerics.Loss], a name in `numerics.LOSSES`, or an
      expression with `variables` (default: `"himmelblau"`).
    - `variables`: the coordinates of an expression loss (`"x,y"`).
    - `params`: hyper-parameter values (numbers for symbolic ones; for a name or a
      function, its hyper-parameters).
    - `hs`: step sizes (default: chosen from the curvature, see the module docs).
    - `T`: the time horizon (default: the loss's horizon over $c_0$).
    - `x0`: the initial point (default: the loss's recommended start).
    - `out`: a folder for `certificate.json`, `errors.png` and the generated module.
    - `quick`: fewer, closer step sizes (4 instead of 5).
    - `tolerance`: the slope tolerance (0.2).
    - `floor`: errors at or below it are left out of the fits
      (default $10^4 \\max(\\text{rtol}, \\text{atol})$).
    - `solver`, `rtol`, `atol`, `max_steps`: the diffrax solve (Dopri8,
      $10^{-14}$).
    - `progress`: called with a short description at each stage.

    **Returns:** a [`Certificate`][numerics.Certificate]: `.passed`, `.table()`,
    `.to_json()`, `.plot(path)`.

    !!! example
        ```python
        >>> import derive, numerics
        >>> cert = numerics.verify(derive.gd(), 1, loss="quartic-saddle", quick=True)
        >>> cert.passed, [round(s) for s in cert.slopes]
        (True, [1, 2])

        ```
    """
    from derive import DeriveError, codegen, modified_flow

    say = progress or (lambda message: None)
    clock = {"start": time.perf_counter()}
    loss_obj: Loss | None
    loss_fn: LossFunction
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise DeriveError(f"order must be a non-negative integer, got {order!r}.", "")
    if not 0 < tolerance < 1:
        raise DeriveError(f"tolerance must be in (0, 1), got {tolerance}.", "")
    rec, num = as_recurrence(optimizer, params)
    if isinstance(loss, Loss | str) or type(loss).__module__.startswith("sympy"):
        loss_obj = resolve_loss(loss, variables)
        loss_fn = loss_obj
    elif callable(loss):
        loss_obj, loss_fn = None, loss
    else:
        loss_obj = resolve_loss(loss, variables)  # raises with a helpful message
        loss_fn = loss_obj
    x0 = initial_point(loss_obj if loss_obj is not None else loss_fn, x0)
    P = order
    if floor is None:
        floor = 1e4 * max(rtol, atol)

    # derive once: the flow through P + 1 (for kappa), its truncation for the module,
    # and its slow manifold for the start
    say(f"deriving the modified flow of {rec.name} through order {P + 1}")
    flow_hi = modified_flow(rec, P + 1)
    say(f"generating the JAX module for order {P}")
    code = codegen(flow_hi.truncate(P))
    module = code.load()
    clock["derive"] = time.perf_counter()
    if isinstance(flow_hi, derive.ComponentwiseFlow):
        say("measuring the correction ratios along the leading-order flow")
        plan = plan_componentwise(
            loss_fn,
            loss_obj,
            x0,
            num,
            codegen(flow_hi).load(),
            order=P,
            T=T,
            hs=hs,
            quick=quick,
        )
        start = ComponentwiseStart(rec, P + 1, num, module=module)
        manifold = None
    else:
        c0, sums = coefficient_scales(flow_hi, num)
        if c0 == 0:
            raise DeriveError(
                f"the leading-order flow of {rec.name} is zero: it does not move.", ""
            )
        say("measuring the curvature along the leading-order flow")
        plan = plan_test(
            rec,
            loss_fn,
            loss_obj,
            x0,
            num,
            c0=c0,
            kappa=kappa_of(sums),
            order=P,
            T=T,
            hs=hs,
            quick=quick,
        )
        start, manifold = None, flow_hi.manifold
    clock["pilot"] = time.perf_counter()

    say(f"running the iterates ({plan.n_max} steps x {len(plan.h)} step sizes)")
    positions, diverged_at, status = run_iterates(
        rec, loss_fn, x0, num, plan, manifold, P, start
    )
    clock["iterates"] = time.perf_counter()

    say(f"integrating the flows of orders 0..{P} ({solver}, rtol = atol = {rtol:g})")
    errors, flow_steps = flow_errors(
        module,
        loss_fn,
        x0,
        num,
        plan,
        positions,
        status,
        P,
        solver=solver,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
    )
    clock["flows"] = time.perf_counter()

    results = fit_orders(plan.h, errors, status, floor=floor, tolerance=tolerance)
    clock["end"] = time.perf_counter()
    loss_record: dict[str, Any] = (
        loss_obj.record()
        if loss_obj is not None
        else {"name": getattr(loss_fn, "__name__", "loss"), "expression": None}
    )
    record = verification_record(
        rec=rec,
        num=num,
        order=P,
        loss_record=loss_record,
        x0=x0,
        code=code,
        plan=plan,
        steps=step_records(plan, status, diverged_at, flow_steps),
        results=results,
        settings={
            "solver": solver,
            "rtol": rtol,
            "atol": atol,
            "max_steps": max_steps,
            "tolerance": tolerance,
            "floor": floor,
        },
        timing={
            "derive_and_codegen": clock["derive"] - clock["start"],
            "pilot": clock["pilot"] - clock["derive"],
            "iterates": clock["iterates"] - clock["pilot"],
            "flows_and_errors": clock["flows"] - clock["iterates"],
            "total": clock["end"] - clock["start"],
        },
    )
    certificate = Certificate(record, source=code.source)
    if out is not None:
        say(f"writing the certificate to {out}")
        certificate.write(out)
    return certificate
