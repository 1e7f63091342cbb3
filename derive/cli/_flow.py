"""The `derive flow` sub-command: the modified flow of an optimizer."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._text.spec import GRAMMAR

if TYPE_CHECKING:
    import sympy

    from .._componentwise.flow import ComponentwiseFlow
    from .._flow import ExplicitField, ModifiedFlow, ModifiedLoss
    from .._minibatch import MinibatchFlow
    from .._minibatch_loss import MinibatchModifiedLoss
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
    from .._flow import modified_flow

    if wants_minibatch(args):
        return run_minibatch(args)
    concrete = loss_from_args(args)
    loss, variables = concrete
    recurrence = optimizer_from_args(args)
    flow = modified_flow(recurrence, args.order)
    if args.format == "json":
        print(flow.to_json(loss=loss, variables=variables))
        return 0
    if loss is None or variables is None:
        print_flow(flow, args.format, standalone=args.standalone)
        return 0
    from .._concrete_gradient import concrete_gradient

    explicit = flow.on(loss, variables)
    ml = modified_loss_of(flow)
    print_flow(
        flow,
        args.format,
        explicit,
        None if ml is None else lambda: ml.on(loss, variables),
        f"\non the loss f = {explicit.loss} (variables {', '.join(variables)}):",
        standalone=args.standalone,
    )
    from .._flow import ModifiedFlow

    if args.format == "text" and isinstance(flow, ModifiedFlow):
        verdict = concrete_gradient(flow, explicit)
        print("\n".join(verdict.lines()))
        if verdict.modified_loss is not None:
            print(
                f"  modified loss on this loss through order {verdict.through_order}:"
                f" {by_power(verdict.modified_loss)}"
            )
        elif verdict.through_order >= 0:
            print("  modified loss on this loss: no closed form found")
    return 0


def modified_loss_of(
    flow: ModifiedFlow | MinibatchFlow | ComponentwiseFlow,
) -> ModifiedLoss | MinibatchModifiedLoss | None:
    """The flow's modified loss; `None` for componentwise (adaptive) flows, whose
    gradient structure is not decided."""
    from .._componentwise.flow import ComponentwiseFlow

    return None if isinstance(flow, ComponentwiseFlow) else flow.modified_loss


def print_flow(
    flow: ModifiedFlow | MinibatchFlow | ComponentwiseFlow,
    fmt: str,
    explicit: ExplicitField[Any] | None = None,
    explicit_loss: Callable[[], sympy.Expr] | None = None,
    intro: str = "",
    standalone: bool = False,
) -> None:
    """Print a flow as text or LaTeX (`fmt`) for `derive flow`, with its field on a
    concrete loss when there is one (`explicit`; in text after the line `intro`) and
    the modified loss on it (`explicit_loss()`, asked for only when the flow has a
    modified loss); `standalone` makes LaTeX a complete document."""
    ml = modified_loss_of(flow)
    if fmt == "latex":
        from .._render.latex import display

        blocks = [display([flow.latex()])]
        if ml is not None and ml.through_order >= 0:
            blocks.append(display(ml.latex_lines()))
        if explicit is not None:
            blocks += [display([b]) for b in explicit_latex(explicit)]
        print_latex(blocks, standalone, f"Modified flow of {flow.recurrence.name}")
        return
    print(flow.text())
    if explicit is not None:
        print(intro)
        for v, c in zip(explicit.variables, explicit.components, strict=True):
            print(f"  d{v}/dt = {by_power(c)}")
        if ml is not None and ml.through_order >= 0 and explicit_loss is not None:
            print(
                f"  modified loss through order {ml.through_order}: "
                f"{by_power(explicit_loss())}"
            )


def explicit_latex(explicit: ExplicitField[Any]) -> list[str]:
    """The explicit field as one `aligned` block per variable (so that a display fits
    on a page): one row per power of h, its terms (a factored coefficient times a
    monomial of the variables) broken over several lines when long."""
    import sympy

    from .._render.coefficients import pretty_coefficient
    from .._render.latex import aligned_series
    from .._render.printers import h_power_latex, scaled_latex

    h = sympy.Symbol("h")
    blocks = []
    for v, component in zip(explicit.variables, explicit.components, strict=True):
        by_h = sympy.Poly(sympy.expand(component), h).all_coeffs()[::-1]
        rows = []
        for k, coef in enumerate(by_h):
            if coef == 0:
                continue
            grouped = sympy.collect(
                sympy.expand(coef), explicit.variables, evaluate=False
            )
            terms = [
                scaled_latex(pretty_coefficient(c), sympy.latex(m))
                if m != 1
                else sympy.latex(pretty_coefficient(c))
                for m, c in sorted(
                    grouped.items(), key=lambda mc: sympy.default_sort_key(mc[0])
                )
            ]
            rows.append((h_power_latex(k), terms))
        blocks.append(aligned_series(f"\\dot{{{sympy.latex(v)}}}", rows))
    return blocks


def print_latex(blocks: list[str], args: argparse.Namespace | bool, title: str) -> None:
    """Print display blocks, or with `--standalone` (`args.standalone`, or `True`) a
    complete LaTeX document."""
    from .._render.latex import document

    standalone = args if isinstance(args, bool) else getattr(args, "standalone", False)
    if standalone:
        print(document(blocks, title))
    else:
        print("\n\n".join(blocks))


def by_power(expr: sympy.Expr) -> sympy.Expr:
    """`expr` collected by powers of h, each coefficient factored (for display)."""
    import sympy

    return sympy.collect(sympy.expand(expr), sympy.Symbol("h"), sympy.factor)
