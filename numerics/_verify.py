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

import math
import time
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from derive import evaluate

from ._certificate import Certificate, environment
from ._curvature import (
    DENSE_LIMIT,
    matrix_free_pilot,
    pilot_result,
    rk4_step,
    top_curvature,
)
from ._integrate import integrate
from ._iterates import as_recurrence, initial_point, make_runner
from ._losses import Loss, resolve_loss
from ._order import local_slopes, observed_order
from ._precision import uses_float64
from ._pytree import norm
from ._stability import hessian_eigenvalues, stability_limit

__all__ = ["verify", "DEFAULT_LOSS"]

DEFAULT_LOSS = "himmelblau"
DEFAULT_EPSILON = (0.02, 0.16)
DEFAULT_NH = 5
QUICK_EPSILON = (0.03, 0.12)
QUICK_NH = 4
DEFAULT_TOLERANCE = 0.2
MAX_ELEMENTS = 200_000_000  # positions stored: steps x step sizes x (orders + 1) x dim


def _coefficient_scales(flow, params: Mapping) -> tuple[float, list[float]]:
    """$c_0$ and $B_k$ (sum of |coefficients| of the $h^k$ terms) at the parameters."""
    sums = [0.0] * (flow.order + 1)
    c0 = 0.0
    for t in flow.terms:
        value = abs(evaluate(t.coefficient, params))
        sums[t.power] += value
        if t.power == 0 and t.tree == "[]":
            c0 = value
    return c0, sums


def _kappa(sums: list[float]) -> float:
    B0 = sums[0]
    if B0 <= 0:
        return 1.0
    ks = [(sums[k] / B0) ** (1.0 / k) for k in range(1, len(sums)) if sums[k] > 0]
    return max(ks) if ks else 1.0


def _size(x) -> int:
    return sum(int(jnp.size(leaf)) for leaf in jax.tree_util.tree_leaves(x))


def _pilot(loss: Callable, x0, c0: float, T: float, max_steps: int = 4096) -> dict:
    """Curvature along the leading-order flow $\\dot x = c_0 g$ on $[0, T]$.

    Classical RK4 with the step $0.1/(c_0 \\rho(H))$ from the Hessian's spectral
    radius at every step (well inside RK4's stability region), recording the extreme
    Hessian eigenvalues met. The Hessian is dense (fine for a few thousand parameters).
    """
    flat0, unravel = ravel_pytree(x0)
    if flat0.size > DENSE_LIMIT:
        return matrix_free_pilot(loss, x0, c0, T, max_steps)

    def f(z):
        return loss(unravel(z))

    def g(z):
        return -c0 * jax.grad(f)(z)

    def eig(z):
        return hessian_eigenvalues(f, z)

    def cond(c):
        t, z, top, bottom, n = c
        return (t < T) & (n < max_steps) & jnp.all(jnp.isfinite(z))

    def body(c):
        t, z, top, bottom, n = c
        ev = eig(z)
        rho = c0 * jnp.max(jnp.abs(ev))
        dt = jnp.minimum(jnp.where(rho > 0, 0.1 / rho, T), T - t)
        return (
            t + dt,
            rk4_step(g, z, dt),
            jnp.maximum(top, ev[-1]),
            jnp.minimum(bottom, ev[0]),
            n + 1,
        )

    @jax.jit
    def run(z0):
        ev0 = eig(z0)
        init = (jnp.zeros(()), z0, ev0[-1], ev0[0], jnp.zeros((), int))
        t, z, top, bottom, n = jax.lax.while_loop(cond, body, init)
        ev = eig(z)
        return t, z, jnp.maximum(top, ev[-1]), jnp.minimum(bottom, ev[0]), n

    return pilot_result(*run(flat0), flat0, T)


def _all_orders_field(module, loss: Callable, P: int, x0):
    """One field for the truncations $p = 0..P$ of the generated flow, stacked on a
    leading axis of every leaf (`jax.vmap` over $p$, so the generated code is traced
    once): the order-$p$ copy is $\\sum_{k \\le p} h^k F_k$ with the $F_k$ from the
    module's `terms_by_order`, exactly what its `make_vector_field(loss, order=p)`
    computes. Modules without `terms_by_order` are integrated order by order with
    `make_vector_field` instead.
    """
    orders = jnp.arange(P + 1)
    y0 = jax.tree_util.tree_map(lambda v: jnp.stack([v] * (P + 1)), x0)
    if hasattr(module, "terms_by_order"):

        def one(y, p, args):
            F = module.terms_by_order(loss, y, args, P)
            h = args["h"]

            def keep(k, tree):
                return jax.tree_util.tree_map(lambda v: jnp.where(p >= k, v, 0.0), tree)

            total = keep(P, F[P])
            for k in range(P - 1, -1, -1):
                total = jax.tree_util.tree_map(
                    lambda a, b: a + h * b, keep(k, F[k]), total
                )
            return total

        def field(t, ys, args):
            return jax.vmap(one, in_axes=(0, 0, None))(ys, orders, args)

        return field, y0
    fields = [module.make_vector_field(loss, order=p) for p in range(P + 1)]

    def field(t, ys, args):
        parts = [
            f(t, jax.tree_util.tree_map(lambda v, k=k: v[k], ys), args)
            for k, f in enumerate(fields)
        ]
        return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *parts)

    return field, y0


def _describe_optimizer(rec, params: Mapping) -> dict:
    exact = {k: str(v) for k, v in rec.values.items()}
    exact.update({p: p for p in rec.parameters})
    return {
        "name": rec.name,
        "description": rec.description,
        "states": list(rec.states),
        "parameters": exact,
        "numeric_parameters": dict(params),
        "program": rec.pretty(),
        "spec": rec.source,
    }


@uses_float64
def verify(
    optimizer,
    order: int = 3,
    *,
    loss=DEFAULT_LOSS,
    variables=None,
    params: Mapping | None = None,
    hs: Sequence[float] | None = None,
    T: float | None = None,
    x0=None,
    out=None,
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

    # ---------------------------------------------------------------- derive
    say(f"deriving the modified flow of {rec.name} through order {P + 1}")
    flow_hi = modified_flow(rec, P + 1)
    c0, sums = _coefficient_scales(flow_hi, num)
    if c0 == 0:
        raise DeriveError(
            f"the leading-order flow of {rec.name} is zero: it does not move.", ""
        )
    kappa = _kappa(sums)
    say(f"generating the JAX module for order {P}")
    code = codegen(flow_hi.truncate(P))  # the same derivation: nothing is solved again
    module = code.load()
    clock["derive"] = time.perf_counter()

    # ---------------------------------------------------------------- T, curvature
    say("measuring the curvature along the leading-order flow")
    g0 = float(norm(jax.grad(loss_fn)(x0)))
    if not g0 > 0:
        raise DeriveError(
            "the gradient vanishes at x0: the iterates and every flow stay put, so "
            "there is no error to measure.",
            "Start away from critical points (e.g. the loss's recommended start).",
        )
    if T is None:
        horizon = getattr(loss_obj, "horizon", None)
        if horizon is None:
            if _size(x0) > DENSE_LIMIT:
                L0 = top_curvature(loss_fn, x0)
            else:
                L0 = float(np.abs(np.asarray(hessian_eigenvalues(loss_fn, x0))).max())
            horizon = 3.0 / L0 if L0 > 0 else 1.0
        T = horizon / c0
    else:
        horizon = float(T) * c0
    T = float(T)
    if not T > 0:
        raise DeriveError(f"T must be positive, got {T}.", "")
    pilot = _pilot(loss_fn, x0, c0, T)
    L = max(pilot["spectral"], 1e-12)
    limit = stability_limit(rec, max(pilot["top"], 0.0), num)
    clock["pilot"] = time.perf_counter()

    # ---------------------------------------------------------------- step sizes
    eps_range, n_h = (
        (QUICK_EPSILON, QUICK_NH) if quick else (DEFAULT_EPSILON, DEFAULT_NH)
    )
    if hs is None:
        eps = np.geomspace(eps_range[1], eps_range[0], n_h)
        h_values = eps / (L * kappa)
        if math.isfinite(limit) and h_values.max() > 0.5 * limit:
            h_values = h_values * (0.5 * limit / h_values.max())
        # whole numbers of steps, so that every run ends exactly at T
        counts = np.unique(np.maximum(np.round(T / h_values), 1))
        h_values = np.sort(T / counts)[::-1]
        chosen = "automatic"
    else:
        h_values = np.asarray(sorted((float(h) for h in hs), reverse=True))
        if h_values.size == 0 or not np.all(h_values > 0):
            raise DeriveError("the step sizes must be positive numbers.", "")
        chosen = "given"
    h_values = np.asarray(h_values, dtype=float)
    steps = np.floor(T / h_values + 1e-9).astype(int)
    unstable = np.array([h >= limit for h in h_values])
    if np.any(steps < 1):
        raise DeriveError(
            f"a step size is longer than the horizon T = {T:.6g}.",
            "Give smaller step sizes or a longer T.",
        )
    n_max = int(steps[~unstable].max()) if np.any(~unstable) else int(steps.max())
    dim = sum(int(np.size(v)) for v in jax.tree_util.tree_leaves(x0))
    if (n_max + 1) * len(h_values) * (P + 2) * dim > MAX_ELEMENTS:
        raise DeriveError(
            f"the test needs {n_max} steps for each of {len(h_values)} step sizes, "
            "more than fits in memory.",
            "Give a shorter T or larger step sizes.",
        )

    # ---------------------------------------------------------------- iterates
    say(f"running the iterates ({n_max} steps x {len(h_values)} step sizes)")
    runner = make_runner(
        rec,
        loss_fn,
        n_max,
        params=num,
        init="manifold",
        manifold_nodes=P + 2,
        manifold=flow_hi.manifold,  # solved on trees with P + 2 nodes already
    )
    positions, diverged_at, _ = jax.jit(jax.vmap(runner, in_axes=(None, 0)))(
        x0, jnp.asarray(h_values)
    )
    diverged_at = np.asarray(diverged_at)
    clock["iterates"] = time.perf_counter()

    status = []
    for k in range(len(h_values)):
        d = int(diverged_at[k])
        diverged = 0 <= d <= steps[k]
        if unstable[k]:
            status.append("unstable")
        elif diverged:
            status.append("diverged")
        else:
            status.append("ok")
    run = np.array([s == "ok" for s in status])

    # ---------------------------------------------------------------- flows
    errors = np.full((P + 1, len(h_values)), np.nan)
    flow_steps = np.zeros(len(h_values), dtype=int)
    if np.any(run):
        say(
            f"integrating the flows of orders 0..{P} ({solver}, rtol = atol = {rtol:g})"
        )
        field, y0 = _all_orders_field(module, loss_fn, P, x0)

        def solve(h):
            n = jnp.arange(n_max + 1)
            ts = jnp.minimum(n * h, T)
            args = {"h": h, **num}
            return integrate(
                field,
                y0,
                ts,
                args,
                t1=T,
                solver=solver,
                rtol=rtol,
                atol=atol,
                max_steps=max_steps,
            )

        idx = np.flatnonzero(run)
        ys, ok, nsteps = jax.jit(jax.vmap(solve))(jnp.asarray(h_values[idx]))
        ok = np.asarray(ok)
        flow_steps[idx] = np.asarray(nsteps)
        say("measuring the global errors")
        pos = jax.tree_util.tree_map(lambda v: v[idx], positions)
        mask = jnp.arange(n_max + 1)[None, :] <= jnp.asarray(steps[idx])[:, None]
        for p in range(P + 1):
            diff = jax.tree_util.tree_map(lambda a, b, p=p: a - b[:, :, p], pos, ys)
            e = jnp.where(mask, norm(diff, batch_dims=2), 0.0)
            errors[p, idx] = np.asarray(jnp.max(e, axis=1))
        for j, k in enumerate(idx):
            if not ok[j]:
                status[k] = "flow failed"
                errors[:, k] = np.nan
    clock["flows"] = time.perf_counter()

    # ---------------------------------------------------------------- fits
    results = []
    for p in range(P + 1):
        usable = [status[k] == "ok" for k in range(len(h_values))]
        e = np.where(usable, errors[p], np.nan)
        slope, used = observed_order(h_values, e, floor=floor)
        n_used = int(sum(used))
        expected = p + 1
        if n_used < 3:
            verdict, passed = "inconclusive", False
        elif slope >= expected - tolerance:
            passed = True
            verdict = (
                "pass" if slope <= expected + tolerance else "pass (above expected)"
            )
        else:
            verdict, passed = "fail", False
        results.append(
            {
                "order": p,
                "expected_slope": expected,
                "slope": None if math.isnan(slope) else slope,
                "passed": passed,
                "verdict": verdict,
                "errors": [
                    None if not math.isfinite(v) else float(v) for v in errors[p]
                ],
                "used": used,
                "local_slopes": [
                    None if not math.isfinite(s) else s
                    for s in local_slopes(
                        list(h_values[np.array(used, bool)]),
                        list(errors[p][np.array(used, bool)]),
                    )
                ],
            }
        )

    h_records = []
    for k, h in enumerate(h_values):
        item = {
            "h": float(h),
            "epsilon": float(h * L * kappa),
            "steps": int(steps[k]),
            "status": status[k],
            "flow_steps": int(flow_steps[k]),
        }
        if status[k] == "unstable":
            item["detail"] = (
                f"h = {h:.6g} >= the linear stability limit {limit:.6g} at the top "
                f"curvature {pilot['top']:.6g}"
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
        h_records.append(item)

    clock["end"] = time.perf_counter()
    loss_record = (
        loss_obj.record()
        if loss_obj is not None
        else {"name": getattr(loss_fn, "__name__", "loss"), "expression": None}
    )
    loss_record["x0"] = np.asarray(ravel_pytree(x0)[0]).tolist()
    record = {
        "schema": "optimizer-flows.verification/1",
        "passed": all(r["passed"] for r in results),
        "optimizer": _describe_optimizer(rec, num),
        "order": P,
        "conventions": _conventions(),
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
                    "coefficient": code.flow.coefficient_text(t),
                }
                for t in code.flow.terms
            ],
        },
        "settings": {
            "T": T,
            "horizon_gradient_flow_time": horizon,
            "h": [float(h) for h in h_values],
            "h_range": [float(h_values.min()), float(h_values.max())],
            "h_choice": chosen,
            "epsilon": [float(h * L * kappa) for h in h_values],
            "leading_coefficient": c0,
            "kappa": kappa,
            "curvature": {
                "max_abs": L,
                "top": pilot["top"],
                "bottom": pilot["bottom"],
                "along": "leading-order flow from x0 on [0, T]",
            },
            "stability_limit": None if not math.isfinite(limit) else limit,
            "initialisation": (
                f"slow manifold, trees up to {P + 2} nodes (off by O(h^{P + 3}))"
                if len(rec.states) > 1
                else "x0 (one-step method)"
            ),
            "solver": solver,
            "rtol": rtol,
            "atol": atol,
            "max_steps": max_steps,
            "tolerance": tolerance,
            "floor": floor,
            "error": "max over n h <= T of the Euclidean norm |x_n - x(n h)|",
        },
        "step_sizes": h_records,
        "results": results,
        "environment": environment(),
        "timing_s": {
            "derive_and_codegen": clock["derive"] - clock["start"],
            "pilot": clock["pilot"] - clock["derive"],
            "iterates": clock["iterates"] - clock["pilot"],
            "flows_and_errors": clock["flows"] - clock["iterates"],
            "total": clock["end"] - clock["start"],
        },
    }
    certificate = Certificate(record, source=code.source)
    if out is not None:
        say(f"writing the certificate to {out}")
        certificate.write(out)
    return certificate


def _conventions() -> str:
    from derive import CONVENTIONS

    return CONVENTIONS
