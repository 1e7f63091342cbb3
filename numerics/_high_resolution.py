"""Continuous-time models of an optimizer, integrated and compared with its iterates.

Three kinds of equation from `derive`, evaluated matrix-free on any JAX loss:

- a modified flow $\\dot x = \\sum_k h^k F_k(x)$ (`derive.ModifiedFlow`, or the
  first-order reduction of a `derive.HighResolutionODE`), including the time-rescaled
  gradient flow $\\dot x = -\\nabla f/(1-\\beta)$ (order 0);
- a high-resolution equation $A(h) \\ddot x + B(h) \\dot x + N_h(x, \\dot x) + C(h)
  \\nabla f(x) = 0$ (`derive.high_resolution_ode`), integrated as the first-order system
  $(x, v)' = (v, -[B v + N_h(x, v) + C \\nabla f(x)]/A(h))$.

**Consistent start.** The second-order equation has a fast mode,
$v - F_h(x) \\propto e^{-B t/A} = e^{-2(1-\\beta) t/((1+\\beta) h)}$ for heavy ball (the
continuous image of the parasitic root $\\beta$). Started with an arbitrary velocity it
decays within a few $h$ of time, but shifts $x$ for good by about
$(A/B)(v(0) - F_h(x(0))) = O(h)$, which would hide the $O(h^2)$ accuracy of the
equation. So $v(0) = F_h(x(0))$, the first-order reduction (the modified flow) of the
same order at $x(0)$: the solution starts on the equation's own slow manifold, off by
$O(h^{p+1})$, and the offset it leaves is $O(h^{p+2})$.

[`equation_errors`][numerics.equation_errors] runs the iterates (started on the slow
manifold) and every equation for a set of step sizes, vmapped over $h$, and measures the
global error $\\max_{nh \\le T} |x_n - x(nh)|$.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np

import derive
from derive import evaluate

from ._differentials import directional_derivative, elementary_differentials
from ._integrate import integrate
from ._iterates import as_recurrence, initial_point, make_runner
from ._order import observed_order
from ._precision import uses_float64
from ._pytree import combine, norm
from ._typing import Array, LossFunction, Parameters, PyTree, VectorField

__all__ = [
    "flow_field",
    "second_order_field",
    "slow_velocity",
    "equation_errors",
    "EquationErrors",
]


Equation: TypeAlias = derive.ModifiedFlow | derive.HighResolutionODE
"""A continuous-time model: a modified flow or a high-resolution equation."""

_Monomial: TypeAlias = tuple[Any, ...]  # ("d", j) or ("f", args), as in derive


def _coefficients(
    terms: Sequence[derive.Term] | Sequence[derive.EquationTerm],
    field: derive.Field,
    params: Mapping[str, float],
    h: Any,
) -> list[Any]:
    """Numbers `c * h**power` for exact terms (`.coefficient`, `.power`)."""
    return [evaluate(t.coefficient, params) * h**t.power for t in terms]


def _flow_terms(equation: Equation) -> tuple[list[derive.Term], derive.Field, int]:
    """The modified-flow terms (trees) of a `ModifiedFlow` or a `HighResolutionODE`."""
    if isinstance(equation, derive.HighResolutionODE):
        return equation.reduction, equation.field, equation.order
    return equation.terms, equation.field, equation.order


def flow_field(
    equation: Equation, loss: LossFunction, params: Mapping[str, float] | None = None
) -> VectorField:
    """The vector field `(t, x, args) -> dx/dt` of a modified flow (`args["h"]`).

    **Arguments:**

    - `equation`: a `derive.ModifiedFlow`, or a `derive.HighResolutionODE` (its
      first-order reduction is used).
    - `loss`: $f$, a JAX function of a pytree.
    - `params`: numbers for symbolic hyper-parameters.

    !!! example
        ```python
        >>> import derive, numerics
        >>> import jax.numpy as jnp
        >>> field = numerics.flow_field(derive.modified_flow(derive.gd(), 1),
        ...                             lambda z: z @ z / 2)
        >>> field(0.0, jnp.ones(2), {"h": 0.1})   # -x - h/2 x
        Array([-1.05, -1.05], dtype=float64)

        ```
    """
    terms, field, order = _flow_terms(equation)
    numbers = dict(params or {})
    from derive import tree_table

    table = tree_table(order + 1)
    indices = sorted({t.index for t in terms})

    def vector_field(t: Any, x: PyTree, args: Mapping[str, Any]) -> PyTree:
        F = elementary_differentials(loss, x, table, indices)
        cs = _coefficients(terms, field, numbers, args["h"])
        return combine(cs, [F[t.index] for t in terms])

    return vector_field


def slow_velocity(
    equation: Equation, loss: LossFunction, params: Mapping[str, float] | None = None
) -> Callable[[PyTree, Any], PyTree]:
    """`(x, h) -> F_h(x)`: the velocity on the slow manifold (the first-order reduction),
    the consistent initial velocity of a second-order equation.

    !!! example
        Heavy ball with $\\beta = 1/2$ through order 1: $F_h = 2g - 6h\\, g'g$; on
        $f = \\sum x^4/4$, $g = -x^3$ and $g'g = 3x^5$.

        ```python
        >>> import derive, numerics
        >>> import jax.numpy as jnp
        >>> ode = derive.high_resolution_ode(derive.heavy_ball(), 1)
        >>> v = numerics.slow_velocity(ode, lambda z: (z**4).sum() / 4, {"beta": 0.5})
        >>> v(jnp.array([1.0, 2.0]), 0.1)  # (-2 - 0.6*3, -16 - 0.6*96)
        Array([ -3.8, -73.6], dtype=float64)

        ```
    """
    field = flow_field(equation, loss, params)
    return lambda x, h: field(0.0, x, {"h": h})


def _monomial_values(
    loss: LossFunction, x: PyTree, v: PyTree, monomials: Iterable[_Monomial]
) -> dict[_Monomial, PyTree]:
    """Values of `derive` monomials: `("d", 1)` is $v$, `("f", args)` is
    $D^{k+1} f(x)[args]$ by nested `jax.jvp` of `jax.grad` (no Hessian is formed)."""
    grad = jax.grad(loss)
    memo: dict[_Monomial, PyTree] = {}

    def value(mono: _Monomial) -> PyTree:
        got = memo.get(mono)
        if got is None:
            if mono == ("d", 1):
                got = v
            elif mono[0] == "d":
                raise ValueError(f"unexpected derivative {mono} in a reduced equation")
            else:
                got = directional_derivative(grad, x, [value(a) for a in mono[1]])
            memo[mono] = got
        return got

    return {m: value(m) for m in monomials}


def second_order_field(
    ode: derive.HighResolutionODE,
    loss: LossFunction,
    params: Mapping[str, float] | None = None,
) -> VectorField:
    """The first-order system `(t, (x, v), args) -> (v, v')` of a high-resolution
    equation (`args["h"]`), with $v' = -[\\text{all terms but } A(h) \\ddot x]/A(h)$.

    **Arguments:**

    - `ode`: a `derive.HighResolutionODE` with `time_order=2`.
    - `loss`: $f$, a JAX function of a pytree.
    - `params`: numbers for symbolic hyper-parameters.

    !!! example
        ```python
        >>> import derive, numerics
        >>> import jax.numpy as jnp
        >>> ode = derive.high_resolution_ode(derive.gd(), 1)   # h/2 x'' + x' + grad f
        >>> field = numerics.second_order_field(ode, lambda z: z @ z / 2)
        >>> x, v = jnp.ones(1), -jnp.ones(1)
        >>> field(0.0, (x, v), {"h": 0.1})[1]                  # -(v + x)/(h/2)
        Array([-0.], dtype=float64)

        ```
    """
    from derive import DeriveError

    if getattr(ode, "time_order", None) != 2:
        raise DeriveError(
            "second_order_field needs a high-resolution equation with time_order=2.",
            "Use flow_field for first-order equations.",
        )
    numbers = dict(params or {})
    inertia = [t for t in ode.terms if t.monomial == ("d", 2)]
    rest = [t for t in ode.terms if t.monomial != ("d", 2)]
    monomials = sorted({t.monomial for t in rest})

    def vector_field(t: Any, y: PyTree, args: Mapping[str, Any]) -> PyTree:
        x, v = y
        h = args["h"]
        A = sum(_coefficients(inertia, ode.field, numbers, h))
        values = _monomial_values(loss, x, v, monomials)
        cs = _coefficients(rest, ode.field, numbers, h)
        total = combine(cs, [values[t.monomial] for t in rest])
        return v, jax.tree_util.tree_map(lambda a: -a / A, total)

    return vector_field


@dataclass
class EquationErrors:
    """Result of [`equation_errors`][numerics.equation_errors].

    - `names`: one label per equation; `expected`: the predicted slopes.
    - `hs`: the step sizes; `steps`: steps per run ($T/h$); `T`: the horizon.
    - `errors[i][k]`: $\\max_{nh \\le T} |x_n - x_i(nh)|$ for equation `i` and `hs[k]`
      (`nan` where the flow failed).
    - `slopes[i]`: the fitted log-log slope; `passed[i]`: within `tolerance` of the
      prediction; `used[i][k]`: whether `hs[k]` entered the fit.
    """

    names: list[str]
    expected: list[float]
    hs: list[float]
    steps: list[int]
    T: float
    errors: list[list[float]]
    slopes: list[float]
    passed: list[bool]
    tolerance: float
    floor: float
    used: list[list[bool]]

    def table(self) -> str:
        rows = [
            "| equation | expected slope | fitted slope | pass |",
            "|---|---|---|---|",
        ]
        for name, e, s, ok in zip(
            self.names, self.expected, self.slopes, self.passed, strict=True
        ):
            rows.append(f"| {name} | {e:g} | {s:.3f} | {'yes' if ok else 'NO'} |")
        return "\n".join(rows)


@uses_float64
def equation_errors(
    optimizer: derive.OptimizerDefinition,
    equations: Sequence[Equation],
    loss: LossFunction,
    hs: Iterable[float],
    T: float,
    *,
    names: Sequence[str] | None = None,
    expected: Sequence[float] | None = None,
    x0: PyTree | None = None,
    params: Parameters | None = None,
    manifold_nodes: int = 5,
    velocity: str | Sequence[str] = "slow",
    tolerance: float = 0.2,
    floor: float = 1e-10,
    fit_max_h: float | None = None,
    fit_points: int | None = None,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    max_steps: int = 400_000,
) -> EquationErrors:
    """Global errors of continuous-time models against the iterates, for several $h$.

    **Arguments:**

    - `optimizer`: a `derive.Recurrence` (or a built-in name or an update function).
    - `equations`: `derive.ModifiedFlow`s and `derive.HighResolutionODE`s (time order 1
      or 2). A second-order equation starts with the velocity of its own first-order
      reduction (see the module documentation).
    - `loss`: a [`Loss`][numerics.Loss] or a JAX function of a pytree.
    - `hs`, `T`: the step sizes and the horizon; each run takes `round(T/h)` steps
      (give $h = T/N$ for whole $N$ so that every run ends at $T$).
    - `names`, `expected`: labels and predicted slopes (default: the equation's order
      plus one).
    - `x0`: the start (default: the loss's recommended start).
    - `params`: numbers for symbolic hyper-parameters.
    - `manifold_nodes`: the iterates start on the slow manifold up to
      $O(h^{\\text{nodes}+1})$.
    - `velocity`: the initial velocity of second-order equations: `"slow"` (default,
      $F_h(x_0)$, consistent) or `"rest"` ($\\dot x(0) = 0$, which leaves an $O(h)$
      offset, see the module documentation); or one such string per equation.
    - `tolerance`: a slope passes within this distance of the prediction.
    - `floor`: errors at or below it are left out of the fits.
    - `fit_max_h`: only step sizes up to it enter the fits (the asymptotic regime);
      default: all.
    - `fit_points`: fit only this many of the smallest step sizes whose errors are
      above `floor` (the most asymptotic ones); default: all.
    - `rtol`, `atol`, `max_steps`: the diffrax solve (Dopri8).

    **Returns:** an [`EquationErrors`][numerics.EquationErrors].

    !!! example
        ```python
        >>> import derive, numerics
        >>> rec = derive.gd()
        >>> res = numerics.equation_errors(
        ...     rec, [derive.modified_flow(rec, 0), derive.high_resolution_ode(rec, 1)],
        ...     numerics.get_loss("quartic-saddle"), hs=[0.02, 0.01, 0.005], T=0.4)
        >>> [round(s) for s in res.slopes], res.passed
        ([1, 2], [True, True])

        ```
    """
    rec, num = as_recurrence(optimizer, params)
    x0 = initial_point(loss, x0)
    h_values = np.asarray([float(h) for h in hs])
    steps = np.maximum(np.round(T / h_values).astype(int), 1)
    n_max = int(steps.max())
    labels = list(names or [_label(e) for e in equations])
    slopes_expected = list(expected or [e.order + 1 for e in equations])

    runner = make_runner(
        rec, loss, n_max, params=num, init="manifold", manifold_nodes=manifold_nodes
    )
    positions, diverged_at, _ = jax.jit(jax.vmap(runner, in_axes=(None, 0)))(
        x0, jnp.asarray(h_values)
    )

    starts_v = [velocity] * len(equations) if isinstance(velocity, str) else velocity
    fields: list[VectorField] = []
    starts: list[Callable[[Any], PyTree]] = []
    for eq, how in zip(equations, starts_v, strict=True):
        if isinstance(eq, derive.HighResolutionODE) and eq.time_order == 2:
            fields.append(second_order_field(eq, loss, num))
            if how == "slow":
                starts.append(_slow_start(x0, slow_velocity(eq, loss, num)))
            elif how == "rest":
                zero = jax.tree_util.tree_map(jnp.zeros_like, x0)
                starts.append(_rest_start(x0, zero))
            else:
                from derive import DeriveError

                raise DeriveError(
                    f"velocity={how!r}: use 'slow' or 'rest'.", "'slow' is consistent."
                )
        else:
            fields.append(flow_field(eq, loss, num))
            starts.append(lambda h: x0)

    def field(t: Any, ys: tuple[PyTree, ...], args: Mapping[str, Any]) -> PyTree:
        return tuple(f(t, y, args) for f, y in zip(fields, ys, strict=True))

    def solve(h: Array) -> tuple[PyTree, Array, Array]:
        ts = jnp.minimum(jnp.arange(n_max + 1) * h, T)
        y0 = tuple(s(h) for s in starts)
        return integrate(
            field,
            y0,
            ts,
            {"h": h},
            t1=T,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
        )

    ys, solved, _ = jax.jit(jax.vmap(solve))(jnp.asarray(h_values))
    ok = np.asarray(solved)
    first_bad = np.asarray(diverged_at)
    errors = np.full((len(equations), len(h_values)), np.nan)
    n = np.arange(n_max + 1)
    for i, eq in enumerate(equations):
        y = ys[i]
        xs = y[0] if getattr(eq, "time_order", 1) == 2 else y
        diff = jax.tree_util.tree_map(lambda a, b: a - b, positions, xs)
        dist = np.asarray(norm(diff, batch_dims=2))  # (h, n)
        for k in range(len(h_values)):
            if not ok[k] or 0 <= first_bad[k] <= steps[k]:
                continue
            errors[i, k] = float(np.max(dist[k][n <= steps[k]]))
    slopes: list[float] = []
    passed: list[bool] = []
    used_all: list[list[bool]] = []
    in_fit = (
        np.ones(len(h_values), bool)
        if fit_max_h is None
        else h_values <= fit_max_h * 1.000001
    )
    for i in range(len(equations)):
        keep = in_fit.copy()
        if fit_points is not None:
            above = np.flatnonzero(keep & np.isfinite(errors[i]) & (errors[i] > floor))
            smallest = above[np.argsort(h_values[above])[:fit_points]]
            keep = np.zeros(len(h_values), bool)
            keep[smallest] = True
        slope, used = observed_order(h_values[keep], errors[i][keep], floor=floor)
        mask = np.zeros(len(h_values), bool)
        mask[np.flatnonzero(keep)[np.asarray(used, bool)]] = True
        used_all.append(mask.tolist())
        slopes.append(slope)
        passed.append(
            bool(np.isfinite(slope))
            and sum(used) >= 2
            and abs(slope - slopes_expected[i]) <= tolerance
        )
    return EquationErrors(
        names=labels,
        expected=[float(e) for e in slopes_expected],
        hs=h_values.tolist(),
        steps=steps.tolist(),
        T=float(T),
        errors=errors.tolist(),
        slopes=slopes,
        passed=passed,
        tolerance=tolerance,
        floor=floor,
        used=used_all,
    )


def _slow_start(
    x0: PyTree, velocity: Callable[[PyTree, Any], PyTree]
) -> Callable[[Any], PyTree]:
    """`h -> (x0, F_h(x0))`: a second-order equation started on its slow manifold."""
    return lambda h: (x0, velocity(x0, h))


def _rest_start(x0: PyTree, zero: PyTree) -> Callable[[Any], PyTree]:
    """`h -> (x0, 0)`: a second-order equation started at rest."""
    return lambda h: (x0, zero)


def _label(eq: Equation) -> str:
    if getattr(eq, "time_order", 1) == 2:
        return f"second-order equation, order {eq.order}"
    if eq.order == 0:
        return "gradient flow (order 0)"
    return f"modified flow, order {eq.order}"
