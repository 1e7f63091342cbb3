"""Modified flows by automatic differentiation: any smooth optimizer step, at a point.

The route for optimizers nobody wants a formula for (an `optax` transformation, a
step written in JAX) and an independent check of the symbolic engine. With the step
$(x, S, h) \\mapsto (x^+, S^+)$ (`numerics._update_step`), the modified field
$F = F_0 + h F_1 + \\dots$ and the optimizer's state on its slow manifold
$S = \\psi_0(x) + h \\psi_1(x) + \\dots$ are built as JAX functions of $x$, order by
order (the recursion of `derive._componentwise.solve`, here numerical):

- $\\psi_0(x)$ solves $S = S^+(x, S, 0)$ (Newton steps, exact for averages);
- $\\phi_k(x) = [x^+(x, \\Psi(x, h), h)]_k$, the $h^k$ Taylor coefficient of the
  one-step map on the manifold (nested `jax.jvp` in $h$: Taylor mode);
- $(I - J)\\,\\psi_k = [S^+(x, \\Psi(x, h), h) - \\Psi(\\Phi_h(x), h)]_k$ with
  $J = \\partial_S S^+$ at $h = 0$ and $\\Phi_h = x + \\sum_{i \\le k} h^i \\phi_i$
  (a dense solve for small states, GMRES otherwise: matrix-free on pytrees);
- $F_{k-1} = \\phi_k - [\\sum_{n \\ge 2} \\frac{h^n}{n!} L_F^n x]_k$ with
  $L_F E = DE[F]$ by nested `jax.jvp` in $x$ (the logarithm of the one-step map).

The position's update must have the form $x + O(h)$ with no state at $h = 0$ (update
form, as in optax and every built-in); orders $p \\le 3$.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

import derive

from ._precision import uses_float64
from ._typing import LossFunction, Parameters, PyTree
from ._update_step import UpdateStep, update_step

__all__ = ["ModifiedField", "modified_field", "field_functions", "FieldFunctions"]

MAX_ORDER = 3
DENSE_LIMIT = 400
"""States with at most this many numbers are solved densely; larger ones by GMRES."""

Fn = Callable[[PyTree], Any]


def _taylor(q: Callable[[Any], Any], k: int) -> Any:
    """The $h^k$ Taylor coefficient of `q` at $h = 0$ (k nested `jax.jvp`s)."""
    f = q
    for _ in range(k):
        f = _derivative(f)
    value = f(jnp.zeros((), dtype=jnp.float64))
    return jax.tree_util.tree_map(lambda v: v / math.factorial(k), value)


def _derivative(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def d(h: Any) -> Any:
        return jax.jvp(f, (h,), (jnp.ones_like(h),))[1]

    return d


def _axpy(a: Any, x: PyTree, y: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda u, v: a * u + v, x, y)


def _sum_h(h: Any, coefficients: list[PyTree], like: PyTree) -> PyTree:
    """$\\sum_k h^k c_k$ (Horner); zeros shaped like `like` when empty."""
    if not coefficients:
        return jax.tree_util.tree_map(jnp.zeros_like, like)
    total = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        total = _axpy(h, total, c)
    return total


def _solve(matvec: Callable[[list[Any]], list[Any]], rhs: list[Any]) -> list[Any]:
    """Solve `matvec(u) = rhs` for a pytree `u` (dense or GMRES)."""
    flat, unravel = ravel_pytree(rhs)
    if flat.size <= DENSE_LIMIT:

        def mv(v: Any) -> Any:
            return ravel_pytree(matvec(unravel(v)))[0]

        A = jax.vmap(mv, out_axes=1)(jnp.eye(flat.size, dtype=flat.dtype))
        return unravel(jnp.linalg.solve(A, flat))
    u, _ = jax.scipy.sparse.linalg.gmres(
        matvec, rhs, tol=1e-14, atol=0.0, restart=30, maxiter=50, solve_method="batched"
    )
    return u


@dataclass
class FieldFunctions:
    """The modified field and the slow manifold as JAX functions of $x$.

    **Attributes:**

    - `fields[k](x)`: $F_k(x)$ (a pytree like $x$), $k = 0, \\dots$, `order`.
    - `manifold[k](x)`: $\\psi_k(x)$, the floating leaves of the state (a list).
    - `order`, `name`.
    """

    fields: list[Fn]
    manifold: list[Fn]
    order: int
    name: str

    def field(self, x: PyTree, h: Any, order: int | None = None) -> PyTree:
        """$\\sum_{k \\le p} h^k F_k(x)$."""
        p = self.order if order is None else order
        return _sum_h(h, [F(x) for F in self.fields[: p + 1]], x)

    def terms_by_order(
        self, loss: object, y: PyTree, args: dict[str, Any], order: int | None = None
    ) -> list[PyTree]:
        """$[F_0(y), \\dots, F_p(y)]$, the interface of a generated module (`loss` and
        `args` are not used: they are fixed when the functions are built)."""
        p = self.order if order is None else order
        return [F(y) for F in self.fields[: p + 1]]


class _Route:
    """$\\psi_k$, $\\phi_k$ and $F_k$ as methods of $x$, memoised per point (so
    that one evaluation computes each of them once at each point it meets)."""

    def __init__(self, step: UpdateStep, order: int):
        self.step = step
        self.order = order
        self._memo: dict[tuple[str, int, int], tuple[PyTree, Any]] = {}
        self.constant: Callable[[list[Any]], list[Any]] | None = None

    def detect_constant(self, x0: PyTree) -> bool:
        """Whether the state update at $h = 0$ is affine in the state with a
        Jacobian $J$ that does not depend on $x$ (probed at `x0` and at two other
        points; true for every average of the adaptive optimizers). Then
        $(I - J)^{-1}$ is one fixed linear map, found once, and
        $\\psi_0(x) = (I - J)^{-1} S^+(x, 0, 0)$."""
        zero = jnp.zeros((), dtype=jnp.float64)
        S = jax.tree_util.tree_map(jnp.zeros_like, self.step.state0(x0))
        if not S:
            return False
        key = jax.random.PRNGKey(0)
        k1, k2, k3 = jax.random.split(key, 3)
        flat_x, unravel_x = ravel_pytree(x0)
        flat_S, unravel_S = ravel_pytree(S)
        x1 = unravel_x(flat_x + 0.1 * jax.random.normal(k1, flat_x.shape))
        S1 = unravel_S(jax.random.normal(k2, flat_S.shape))
        v = unravel_S(jax.random.normal(k3, flat_S.shape))

        def J(x: PyTree, S: list[Any], v: list[Any]) -> Any:
            out = jax.jvp(lambda T: self._state_update(x, T, zero), (S,), (v,))[1]
            return ravel_pytree(out)[0]

        base = J(x0, S, v)
        scale = float(jnp.max(jnp.abs(base))) or 1.0
        same = all(
            float(jnp.max(jnp.abs(J(xx, SS, v) - base))) <= 1e-12 * scale
            for xx, SS in ((x1, S), (x0, S1), (x1, S1))
        )
        if not same:
            return False
        affine = (
            ravel_pytree(self._state_update(x1, S1, zero))[0]
            - ravel_pytree(self._state_update(x1, S, zero))[0]
        )
        if float(jnp.max(jnp.abs(affine - J(x1, S, S1)))) > 1e-12 * (
            float(jnp.max(jnp.abs(affine))) or 1.0
        ):
            return False
        _, lin = jax.linearize(lambda T: self._state_update(x0, T, zero), S)

        def matvec(u: list[Any]) -> list[Any]:
            return jax.tree_util.tree_map(jnp.subtract, u, lin(u))

        if flat_S.size <= DENSE_LIMIT:
            A = jax.vmap(lambda e: ravel_pytree(matvec(unravel_S(e)))[0], out_axes=1)(
                jnp.eye(flat_S.size, dtype=flat_S.dtype)
            )
            inverse = jnp.linalg.inv(A)

            def solve(rhs: list[Any]) -> list[Any]:
                return unravel_S(inverse @ ravel_pytree(rhs)[0])

        else:

            def solve(rhs: list[Any]) -> list[Any]:
                return _solve(matvec, rhs)

        self.constant = solve
        return True

    def clear(self) -> None:
        self._memo.clear()

    def _cached(self, kind: str, k: int, x: PyTree, make: Callable[[], Any]) -> Any:
        key = (kind, k, id(x))
        got = self._memo.get(key)
        if got is not None and got[0] is x:
            return got[1]
        value = make()
        self._memo[key] = (x, value)
        return value

    # ------------------------------------------------------------------ order 0
    def _state_update(self, x: PyTree, S: list[Any], h: Any) -> list[Any]:
        return self.step.apply(x, S, h)[1]

    def jacobian_solve(self, x: PyTree, S0: list[Any], rhs: list[Any]) -> list[Any]:
        """$(I - \\partial_S S^+(x, S_0, 0))^{-1}$ rhs."""
        if self.constant is not None:
            return self.constant(rhs)
        zero = jnp.zeros((), dtype=jnp.float64)

        def matvec(v: list[Any]) -> list[Any]:
            Jv = jax.jvp(lambda S: self._state_update(x, S, zero), (S0,), (v,))[1]
            return jax.tree_util.tree_map(jnp.subtract, v, Jv)

        return _solve(matvec, rhs)

    def psi(self, k: int, x: PyTree) -> list[Any]:
        """$\\psi_k(x)$: the state's floating leaves on the slow manifold."""
        return self._cached("psi", k, x, lambda: self._psi(k, x))

    def _psi(self, k: int, x: PyTree) -> list[Any]:
        zero = jnp.zeros((), dtype=jnp.float64)
        if k == 0:  # the fixed point of S -> S+(x, S, 0): Newton steps from 0
            S = jax.tree_util.tree_map(jnp.zeros_like, self.step.state0(x))
            if self.constant is not None and S:  # affine: one step is exact
                return self.constant(self._state_update(x, S, zero))
            for _ in range(2):
                residual = jax.tree_util.tree_map(
                    jnp.subtract, S, self._state_update(x, S, zero)
                )
                S = jax.tree_util.tree_map(
                    jnp.subtract, S, self.jacobian_solve(x, S, residual)
                )
            return S
        values = [self.psi(j, x) for j in range(k)]
        if not values[0]:
            return []

        def q(h: Any) -> list[Any]:
            return self.step.apply(x, _sum_h(h, values, values[0]), h)[1]

        rhs = _taylor(q, k)
        # minus [Psi(Phi_h(x))]_k without psi_k: a Lie series in the F_i (i < k)
        for j in range(k):
            for n in range(1, k - j + 1):
                for idx in _compositions(k - j - n, n):
                    term = self.lie(partial(self.psi, j), idx, x)
                    rhs = _axpy(-1.0 / math.factorial(n), term, rhs)
        return self.jacobian_solve(x, values[0], rhs)

    def phi(self, k: int, x: PyTree) -> PyTree:
        """$\\phi_k(x)$: the $h^k$ coefficient of the position's step."""

        def make() -> PyTree:
            values = [self.psi(j, x) for j in range(k)]

            def q(h: Any) -> PyTree:
                S = _sum_h(h, values, values[0]) if values[0] else []
                return self.step.apply(x, S, h)[0]

            return _taylor(q, k)

        return self._cached("phi", k, x, make)

    def lie(self, E: Fn, indices: tuple[int, ...], x: PyTree) -> Any:
        """$L_{F_{i_n}} \\cdots L_{F_{i_1}} E$ at `x` (nested `jax.jvp`s)."""
        fn = E
        for i in indices:
            fn = _lie(fn, partial(self.F, i))
        return fn(x)

    def F(self, k: int, x: PyTree) -> PyTree:
        """$F_k = \\phi_{k+1} - [\\sum_{n \\ge 2} \\frac{h^n}{n!} L_F^n x]_{k+1}$."""

        def make() -> PyTree:
            value = self.phi(k + 1, x)
            for n in range(2, k + 2):
                for idx in _compositions(k + 1 - n, n):
                    first, rest = idx[0], idx[1:]
                    term = self.lie(partial(self.F, first), rest, x)
                    value = _axpy(-1.0 / math.factorial(n), term, value)
            return value

        return self._cached("F", k, x, make)

    def fields(self) -> list[Fn]:
        return [partial(self.F, k) for k in range(self.order + 1)]

    def manifold(self) -> list[Fn]:
        return [partial(self.psi, k) for k in range(self.order + 1)]


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    """Ordered tuples of `parts` non-negative integers adding up to `total`."""
    if parts == 0:
        return [()] if total == 0 else []
    return [
        (first, *rest)
        for first in range(total + 1)
        for rest in _compositions(total - first, parts - 1)
    ]


def _lie(E: Fn, field_fn: Fn) -> Fn:
    """$y \\mapsto DE(y)[F(y)]$ (one `jax.jvp`)."""

    def L(y: PyTree) -> PyTree:
        return jax.jvp(E, (y,), (field_fn(y),))[1]

    return L


def _check_update_form(step: UpdateStep, x: PyTree) -> None:
    zero = jnp.zeros((), dtype=jnp.float64)
    S = jax.tree_util.tree_map(jnp.zeros_like, step.state0(x))
    x0 = step.apply(x, S, zero)[0]
    moved = max(
        (
            float(jnp.max(jnp.abs(a - b)))
            for a, b in zip(
                jax.tree_util.tree_leaves(x0), jax.tree_util.tree_leaves(x), strict=True
            )
        ),
        default=0.0,
    )
    if moved > 0:
        raise derive.DeriveError(
            f"the step of {step.name} moves the position at h = 0 (x+ = x + O(h) "
            "fails), so it has no modified flow.",
            "Scale every change of x by h; for optax, build the transformation with "
            "learning rate 1 (x+ = x + h*updates).",
        )
    if S:
        ones = jax.tree_util.tree_map(jnp.ones_like, S)
        dx = jax.jvp(lambda T: step.apply(x, T, zero)[0], (S,), (ones,))[1]
        if any(float(jnp.max(jnp.abs(v))) > 0 for v in jax.tree_util.tree_leaves(dx)):
            raise derive.DeriveError(
                f"the position's update of {step.name} depends on its state at h = 0 "
                "(a multistep form such as x + beta*(x - x_prev)); the "
                "automatic-differentiation route needs the update form x + h*(...).",
                "Write the optimizer in velocity form (v = beta*v - h*grad(x); "
                "x = x + v), or use derive.modified_flow.",
            )


@uses_float64
def field_functions(
    optimizer: object,
    loss: LossFunction,
    order: int = 2,
    *,
    params: Parameters | None = None,
    init: Callable[[PyTree], PyTree] | PyTree | None = None,
    check_at: PyTree | None = None,
) -> FieldFunctions:
    """The modified field $F_0, \\dots, F_p$ and the slow manifold as JAX functions.

    **Arguments:** as for [`modified_field`][numerics.modified_field]; `check_at` is
    a point where the update form is checked.

    **Returns:** [`FieldFunctions`][numerics.FieldFunctions] (`fields[k](x)`,
    `manifold[k](x)`, `field(x, h)`, and `terms_by_order` for integration).

    !!! example
        Gradient descent on $f = \\sum x^4/4$: $F_0 = g = -x^3$ and
        $F_1 = -\\tfrac12 g'g = -\\tfrac32 x^5$.

        ```python
        >>> import derive, numerics
        >>> import jax.numpy as jnp
        >>> F = numerics.field_functions(derive.gd(), lambda z: (z**4).sum() / 4, 1)
        >>> x = jnp.array([1.0, 2.0])
        >>> F.fields[0](x), F.fields[1](x)
        (Array([-1., -8.], dtype=float64), Array([ -1.5, -48. ], dtype=float64))

        ```
    """
    if (
        isinstance(order, bool)
        or not isinstance(order, int)
        or not 0 <= order <= MAX_ORDER
    ):
        raise derive.DeriveError(
            f"order must be an integer from 0 to {MAX_ORDER}, got {order!r}.",
            "The automatic-differentiation route goes up to order 3.",
        )
    step = update_step(optimizer, loss, params=params, init=init)
    if check_at is not None:
        _check_update_form(step, check_at)
    route = _Route(step, order)
    if check_at is not None:
        route.detect_constant(check_at)
    return FieldFunctions(route.fields(), route.manifold(), order, step.name)


@dataclass
class ModifiedField:
    """The modified field of an optimizer at a point, by automatic differentiation.

    **Attributes:**

    - `terms[k]`: $F_k(x)$ (pytrees like $x$), $k = 0, \\dots$, `order`.
    - `manifold[k]`: $\\psi_k(x)$, the state's floating leaves on the slow manifold.
    - `x`, `order`, `name`.
    """

    terms: list[PyTree]
    manifold: list[list[Any]]
    x: PyTree
    order: int
    name: str
    functions: FieldFunctions = field(repr=False)

    def field(self, h: float, order: int | None = None) -> PyTree:
        """$\\sum_{k \\le p} h^k F_k(x)$."""
        p = self.order if order is None else order
        return _sum_h(h, self.terms[: p + 1], self.x)

    def states(self, h: float) -> list[Any]:
        """The state on the slow manifold, $\\sum_k h^k \\psi_k(x)$ (floating leaves)."""
        if not self.manifold or not self.manifold[0]:
            return []
        return _sum_h(h, self.manifold, self.manifold[0])


@uses_float64
def modified_field(
    optimizer: object,
    loss: LossFunction,
    x: PyTree,
    order: int = 2,
    *,
    params: Parameters | None = None,
    init: Callable[[PyTree], PyTree] | PyTree | None = None,
    jit: bool = True,
) -> ModifiedField:
    """The modified field $F_0(x), \\dots, F_p(x)$ of any smooth optimizer step at a
    point, by automatic differentiation (Taylor mode in $h$, nested `jvp`), with the
    state on its slow manifold; matrix-free on pytrees.

    **Arguments:**

    - `optimizer`: a `derive` definition (`derive.adam(0.9, 0.999, 1e-8)`, a name, a
      spec, an update function), an optax `GradientTransformation` built with
      learning rate 1 (`optax.adam(1.0)`), or a function `step(x, state, h, grad)`
      returning `(x+, state+)` (with `init`).
    - `loss`: a JAX function of a pytree.
    - `x`: the point (a pytree).
    - `order`: $p \\le 3$.
    - `params`: numbers for the hyper-parameters of a `derive` definition.
    - `init`: for a step function, its state (or `init(x)`).
    - `jit`: compile the evaluation (faster for repeated shapes).

    **Returns:** a [`ModifiedField`][numerics.ModifiedField].

    !!! example
        ```python
        >>> import jax.numpy as jnp, derive, numerics
        >>> mf = numerics.modified_field(derive.gd(), lambda x: jnp.sum(x**2) / 2,
        ...                              jnp.array([1.0, -2.0]), order=1)
        >>> [list(map(float, t)) for t in mf.terms]      # -x, then -(1/2) x
        [[-1.0, 2.0], [-0.5, 1.0]]

        ```
    """
    x = jax.tree_util.tree_map(lambda v: jnp.asarray(v, dtype=jnp.float64), x)
    fns = field_functions(optimizer, loss, order, params=params, init=init, check_at=x)

    def evaluate(y: PyTree) -> tuple[list[PyTree], list[list[Any]]]:
        return [F(y) for F in fns.fields], [p(y) for p in fns.manifold]

    run = jax.jit(evaluate) if jit else evaluate
    terms, manifold = run(x)
    return ModifiedField(terms, manifold, x, order, fns.name, fns)
