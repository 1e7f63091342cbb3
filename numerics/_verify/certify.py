"""`verify`: show numerically that a generated modified flow tracks the iterates.

For each truncation order $p = 0, \\dots, P$ of the flow, the global error
$e_p(h) = \\max_{n h \\le T} |x_n - x_p(n h)|$ between the iterates $x_n$ (started
on the slow manifold) and the solution $x_p$ of the order-$p$ flow is measured for a
geometric set of step sizes, and the log-log slope is fitted; it must be $p + 1$, or
the first power above $p$ whose terms do not vanish (a method of order $q$ has no terms
in $h, \\dots, h^{q-1}$: its truncations below $q - 1$ have slope $q$).

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
The largest step size runs first; where the highest order's error at it, falling like
$h^{k}$ ($k$ its expected slope), would reach 3 times the floor within that band, the
band is narrowed (to a factor of at least 2), so that every order stays measurable.
When the smallest step size would need more than `max_iterations` steps, $T$ is
shortened to fit and the certificate says by how much. The iterates and the flows are
compared in chunks that fit in the memory budget (`numerics._verify.run`), so memory
does not limit the number of steps. $T$, the step sizes, $\\varepsilon$, $L$,
$\\kappa$, the chunk length and what the plan changed are recorded in the
certificate.

**Pass criterion.** Errors at or below `floor` (default $10^4 \\max(\\text{rtol},
\\text{atol}) = 10^{-10}$, 100 times the solver's floor) are left out; with at least 3
usable step sizes, order $p$ passes when the fitted slope is at least the expected
slope minus 0.2 (`tolerance`) and fails otherwise; with fewer it is inconclusive, with
the reason and what to change. A wrong order-$p$ coefficient gives slope $p$ and fails
(the tests check this with a coefficient perturbed by 5%). A slope above the expected
one plus 0.2 (the next term happens to vanish on the problem) passes and is flagged.
The certificate's `verdict` is `"failed"` if an order fails, else `"inconclusive"` if
one is, else `"passed"`.

**Settings refused.** Before the derivation, a setting that makes the test
meaningless raises a `DeriveError` with its own message (`numerics._verify.checks`):
momentum outside the stable range (a parasitic root of the update at $h = 0$ with
modulus $\\ge 1$), a start point where the loss or its gradient is not finite, a
horizon or step size that is not a finite positive number or needs more than
`max_iterations` steps, an output folder that cannot be used.

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

import numpy as np

import derive

from .._certificate import Certificate, check_output
from .._componentwise_start import ComponentwiseStart
from .._iterates import as_recurrence, initial_point
from .._losses import Loss, resolve_loss
from .._precision import uses_float64
from .._typing import LossFunction, Parameters, PyTree

if TYPE_CHECKING:
    import sympy
from .budget import DEFAULT_MAX_ITERATIONS
from .checks import check_momentum, check_start
from .fit import fit_orders
from .plan import Plan, coefficient_scales, kappa_of, narrow_band, plan_test
from .plan_adaptive import plan_componentwise
from .record import step_records, verification_record
from .run import Comparer, Comparison, StepResult, recurrence_comparison

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
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    memory: float | None = None,
    overwrite: bool = False,
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
      $10^{-14}$; `max_steps` per chunk).
    - `max_iterations`: the most steps one step size may take (default $10^6$): the
      automatic horizon is shortened to fit, and says so; given step sizes or a given
      `T` that need more are refused.
    - `memory`: the bytes the comparison may hold at once (default: a quarter of the
      available memory, at most 4 GiB); it is streamed in chunks that fit.
    - `overwrite`: replace an existing, non-empty `out` folder (default: refuse).
    - `progress`: called with a short description at each stage.

    **Returns:** a [`Certificate`][numerics.Certificate]: `.verdict` (`"passed"`,
    `"failed"` or `"inconclusive"`), `.passed`, `.table()`, `.to_json()`,
    `.plot(path)`.

    **Raises:** [`DeriveError`][derive.DeriveError] for a setting that makes the test
    meaningless, before any long computation: momentum outside the stable range, a
    start where the loss or its gradient is not finite, a horizon or step size that is
    not a finite positive number or needs more than `max_iterations` steps, an `out`
    that exists or cannot be created.

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

    if out is not None:
        check_output(out, overwrite=overwrite)
    check_start(loss_fn, x0)
    check_momentum(rec, num)

    # derive once: the flow through P + 1 (for kappa), its truncation for the module,
    # and its slow manifold for the start
    say(f"deriving the modified flow of {rec.name} through order {P + 1}")
    flow_hi = modified_flow(rec, P + 1)
    say(f"generating the JAX module for order {P}")
    code = codegen(flow_hi.truncate(P))
    module = code.load()
    clock["derive"] = time.perf_counter()
    comparison: Comparison
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
            max_iterations=max_iterations,
            memory=memory,
        )
        start = ComponentwiseStart(rec, P + 1, num, module=module)
        comparison = recurrence_comparison(
            rec, loss_fn, x0, num, None, module, P, start=start
        )
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
            sums=sums,
            order=P,
            T=T,
            hs=hs,
            quick=quick,
            max_iterations=max_iterations,
            memory=memory,
        )
        comparison = recurrence_comparison(
            rec, loss_fn, x0, num, flow_hi.manifold, module, P
        )
    clock["pilot"] = time.perf_counter()

    comparer = Comparer(
        comparison,
        x0,
        plan.T,
        plan.chunk,
        solver=solver,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
    )
    plan, runs = _compare(comparer, plan, floor, say)
    clock["iterates"] = clock["flows"] = time.perf_counter()
    status = [r.status for r in runs]
    errors = np.array([r.errors for r in runs]).T
    diverged_at = np.array([r.diverged_at for r in runs])
    flow_steps = np.array([r.flow_steps for r in runs])

    results = fit_orders(
        plan.h,
        errors,
        status,
        floor=floor,
        tolerance=tolerance,
        expected=plan.powers,
        limit=plan.limit,
    )
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
            "iterates_flows_and_errors": clock["flows"] - clock["pilot"],
            "total": clock["end"] - clock["start"],
        },
    )
    certificate = Certificate(record, source=code.source)
    if out is not None:
        say(f"writing the certificate to {out}")
        certificate.write(out, overwrite=overwrite)
    return certificate


def _compare(
    comparer: Comparer, plan: Plan, floor: float, say: Callable[[str], None]
) -> tuple[Plan, list[StepResult]]:
    """Run the step sizes, largest first; with automatic step sizes the band below the
    largest is narrowed where the highest order's error would fall below the floor
    (`narrow_band`), so the rest run only where they can be measured."""
    done: dict[float, StepResult] = {}

    def one(k: int, total: int) -> None:
        h = float(plan.h[k])
        if h in done:
            return
        say(f"step size {k + 1} of {total}: h = {h:.4g}, {int(plan.steps[k]):,} steps")
        done[h] = comparer.run(h, int(plan.steps[k]), bool(plan.unstable[k]))

    one(0, len(plan.h))
    first = done[float(plan.h[0])]
    if first.status == "ok":
        plan = narrow_band(plan, list(first.errors), floor)
    for k in range(len(plan.h)):
        one(k, len(plan.h))
    return plan, [done[float(h)] for h in plan.h]
