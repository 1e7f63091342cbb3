"""The `derive manifold` and `derive ode` sub-commands.

Cheap to import: SymPy is imported inside the handlers only.
"""

from __future__ import annotations

import argparse

from ._arguments import (
    HelpFormatter,
    Subparsers,
    add_format_argument,
    add_loss_arguments,
    add_optimizer_arguments,
    add_order_argument,
    loss_from_args,
    optimizer_from_args,
)
from ._flow import by_power, print_latex

__all__ = ["register_manifold", "register_ode"]

_MANIFOLD_DESCRIPTION = """\
Print the slow invariant manifold of a momentum method (Kovachki & Stuart 2021, third
result; Hairer, Lubich & Wanner, ch. XV): every auxiliary state (previous iterate,
velocity, average of gradients) as a B-series in the position x, with exact
coefficients on all trees with up to P + 1 nodes; the reduced flow on the manifold
(the modified flow through h^P); and the attraction rate: the parasitic roots of the
characteristic polynomial of the update's linear part at h = 0 (beta for heavy ball
and Nesterov), the contraction per step rho = max |root| and per unit time
log(rho)/h, with a clear statement when a root has modulus >= 1 (not attracting).

Conventions: loss f, g = -grad f, step h, time t = n h; F([]) = g, F([[]]) = g'g,
F([t1,...,tk]) = g^(k)(F(t1),...,F(tk)); every term is coefficient * h^power * F(tree).
"""

_MANIFOLD_EPILOG = """\
examples:
  derive manifold heavy-ball --order 2
  derive manifold nesterov --param beta=0.9 --format json
  derive manifold "state x, d; param beta; d = beta*d + (1-beta)*grad(x); x = x - h*d"
  derive manifold heavy-ball --order 1 --loss "x**2/2 + y**4" --vars x,y
"""

_ODE_DESCRIPTION = """\
Print the high-resolution modified equation of a multi-step method, second order in
time with h as a parameter (Kovachki & Stuart 2021, second result; Shi, Du, Jordan &
Su's high-resolution ODEs):
  A(h) x'' + B(h) x' + N_h(x, x') + C(h) grad f(x) = 0,
consistent with the iterates to O(h^(P+1)). It comes from x_{n+k} = x(t + k h),
Taylor expansion of every shift and every gradient, and elimination of derivatives of
order >= 3 with the equation itself; x'' stays only in the inertial term A(h) x'', x'
is never eliminated, so Hessian-damping terms such as h beta H(x)[x'] (Nesterov)
appear as they do in the literature. --time-order 1 prints the first-order reduction
x' = F_h(x), which is checked against 'derive flow' (the modified flow).

Notation: x' = dx/dt, x'' = d^2x/dt^2, H(x)[u] the Hessian of f applied to u,
D^kf(x)[u, v, ...] the k-th derivative of f; time t = n h. The optimizer must be in
previous-iterate form (states x, x_prev, ...), as gd, heavy-ball, nesterov and
Runge-Kutta methods are.
"""

_ODE_EPILOG = """\
examples:
  derive ode heavy-ball                 # h(1+beta)/2 x'' + (1-beta) x' + grad f = 0
  derive ode nesterov --order 2 --format latex
  derive ode nesterov --time-order 1 --order 2
  derive ode heavy-ball --param beta=0.5 --loss "x**4/4 - x**2/2" --vars x
"""


def register_manifold(subparsers: Subparsers) -> None:
    """Add `manifold` to the `derive` sub-parsers."""
    parser = subparsers.add_parser(
        "manifold",
        help="the slow invariant manifold, reduced flow and attraction rate",
        description=_MANIFOLD_DESCRIPTION,
        epilog=_MANIFOLD_EPILOG,
        formatter_class=HelpFormatter,
    )
    add_optimizer_arguments(parser)
    add_order_argument(parser, default=2)
    add_loss_arguments(parser)
    add_format_argument(parser)
    parser.set_defaults(handler=_manifold)


def register_ode(subparsers: Subparsers) -> None:
    """Add `ode` to the `derive` sub-parsers."""
    parser = subparsers.add_parser(
        "ode",
        help="the high-resolution (second-order-in-time) modified equation",
        description=_ODE_DESCRIPTION,
        epilog=_ODE_EPILOG,
        formatter_class=HelpFormatter,
    )
    add_optimizer_arguments(parser)
    add_order_argument(parser, default=1)
    parser.add_argument(
        "--time-order",
        type=int,
        choices=(1, 2),
        default=2,
        help="2: keep x'' (default); 1: the first-order reduction x' = F_h(x)",
    )
    add_loss_arguments(parser)
    add_format_argument(parser)
    parser.set_defaults(handler=_ode)


def _manifold(args: argparse.Namespace) -> int:
    from .._invariant_manifold import invariant_manifold

    concrete = loss_from_args(args)
    loss, variables = concrete
    result = invariant_manifold(optimizer_from_args(args), args.order)
    if args.format == "json":
        print(result.to_json(loss=loss, variables=variables))
        return 0
    if args.format == "latex":
        from .._render.latex import display
        from .._render.manifold import manifold_latex_blocks

        blocks = [display([b]) for b in manifold_latex_blocks(result)]
        print_latex(blocks, args, f"Invariant manifold of {result.recurrence.name}")
        return 0
    print(result.text())
    if concrete[0] is not None:
        explicit = result.on(*concrete)
        print(f"\non the loss f = {explicit.loss}:")
        for name, comps in explicit.states.items():
            for v, c in zip(explicit.variables, comps, strict=True):
                print(f"  {name}[{v}] = {by_power(c)}")
    return 0


def _ode(args: argparse.Namespace) -> int:
    from .._high_resolution import high_resolution_ode

    concrete = loss_from_args(args)
    loss, variables = concrete
    ode = high_resolution_ode(
        optimizer_from_args(args), args.order, time_order=args.time_order
    )
    if args.format == "json":
        print(ode.to_json(loss=loss, variables=variables))
        return 0
    if args.format == "latex":
        from .._render.latex import display
        from .._render.ode import ode_latex_lines

        blocks = [display(ode_latex_lines(ode))]
        print_latex(blocks, args, f"High-resolution equation of {ode.recurrence.name}")
        return 0
    print(ode.text())
    if concrete[0] is not None:
        explicit = ode.on(*concrete)
        top = explicit.acceleration if args.time_order == 2 else explicit.velocity
        print(f"\non the loss f = {explicit.loss}:")
        for s, c in zip(top, explicit.solved, strict=True):
            print(f"  {s} = {c}")
    return 0
