"""The `derive flow` sub-command: the modified flow of an optimizer."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .._text.spec import GRAMMAR

if TYPE_CHECKING:
    import sympy
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
from ._minibatch_flow import HELP as MINIBATCH_HELP
from ._minibatch_flow import add_minibatch_arguments, run_minibatch, wants_minibatch
from ._texts import CONVENTIONS_HELP, EXAMPLES, OPTIMIZERS_HELP, indent

__all__ = ["register"]


def register(subparsers: Subparsers) -> None:
    """Add `flow` to the `derive` sub-parsers."""
    parser = subparsers.add_parser(
        "flow",
        help="the modified flow of an optimizer, with exact coefficients",
        description="Print the modified flow of an optimizer to order P in h, with "
        "exact coefficients,\nits modified loss where one exists, and optionally the "
        "explicit field on a loss.\n\n"
        f"{CONVENTIONS_HELP}\n\n{OPTIMIZERS_HELP}\n\n{MINIBATCH_HELP}\n\nThe spec "
        f"language (full reference: the docstring of derive._text.spec):\n"
        f"{indent(GRAMMAR)}\n\n"
        "Output: text (default), latex (an aligned environment to paste), or json "
        "(one object\nwith optimizer, order, conventions, parameters, terms [power, "
        "tree, coefficient,\nlatex], modified_loss and, with --loss, vector_field: "
        "one SymPy string per\nvariable, in the variables, h and the symbolic "
        "parameters; read them with\nsympy.parse_expr(s, local_dict={name: "
        "sympy.Symbol(name) for each of these names}),\nsince names such as beta "
        "or gamma are SymPy functions by default).",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    add_optimizer_arguments(parser)
    add_order_argument(parser)
    add_loss_arguments(parser)
    add_format_argument(parser)
    add_minibatch_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run `derive flow` on parsed arguments; returns the exit status (0)."""
    from .._flow import ModifiedFlow, modified_flow

    if wants_minibatch(args):
        return run_minibatch(args)
    concrete = loss_from_args(args)
    loss, variables = concrete
    recurrence = optimizer_from_args(args)
    flow = modified_flow(recurrence, args.order)
    if args.format == "json":
        print(flow.to_json(loss=loss, variables=variables))
        return 0
    explicit = flow.on(*concrete) if concrete[0] is not None else None
    modified_loss = flow.modified_loss if isinstance(flow, ModifiedFlow) else None
    if args.format == "latex":
        import sympy

        print(flow.latex())
        if modified_loss is not None and modified_loss.through_order >= 0:
            print(modified_loss.latex)
        if explicit is not None:
            rows = [
                f"\\dot{{{sympy.latex(v)}}} &= {sympy.latex(by_power(c))}"
                for v, c in zip(explicit.variables, explicit.components, strict=True)
            ]
            print("\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}")
        return 0
    print(flow.text())
    if explicit is not None and concrete[0] is not None:
        loss, variables = concrete
        print(f"\non the loss f = {explicit.loss} (variables {', '.join(variables)}):")
        for v, c in zip(explicit.variables, explicit.components, strict=True):
            print(f"  d{v}/dt = {by_power(c)}")
        if modified_loss is not None and modified_loss.through_order >= 0:
            print(
                f"  modified loss through order {modified_loss.through_order}: "
                f"{by_power(modified_loss.on(loss, variables))}"
            )
    return 0


def by_power(expr: sympy.Expr) -> sympy.Expr:
    """`expr` collected by powers of h, each coefficient factored (for display)."""
    import sympy

    return sympy.collect(sympy.expand(expr), sympy.Symbol("h"), sympy.factor)
