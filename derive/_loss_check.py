"""What a concrete loss must be before anything is derived from it: real and smooth.

A modified flow is a series of derivatives of the loss. A loss with `abs` or `sign`
has no derivatives where it matters (SymPy writes `re(x)*Derivative(re(x), x)`, which
is not an answer), and a complex constant (`sqrt(-1)*x**2`) makes the "loss" a
complex function, for which gradient descent means nothing. Both are refused here with
a message, before any derivative is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._errors import DeriveError

if TYPE_CHECKING:
    import sympy

__all__ = ["check_loss", "NON_SMOOTH"]

NON_SMOOTH = (
    "Abs sign re im arg conjugate Heaviside floor ceiling frac Max Min Piecewise "
    "DiracDelta Mod"
).split()
"""SymPy functions a loss may not contain: not differentiable where their argument
vanishes, or not real-analytic."""


def check_loss(loss: sympy.Expr, variables: Sequence[str]) -> None:
    """Refuse a loss that is not a real, smooth expression.

    **Arguments:**

    - `loss`: the SymPy expression.
    - `variables`: its coordinates (for the message).

    **Raises:** [`DeriveError`][derive.DeriveError] naming the non-smooth function or
    the complex constant.

    !!! example
        ```python
        >>> import sympy
        >>> from derive._loss_check import check_loss
        >>> x = sympy.Symbol("x")
        >>> check_loss(x**2 / 2, ["x"])
        >>> check_loss(sympy.Abs(x), ["x"])
        Traceback (most recent call last):
        ...
        derive._errors.DeriveError: the loss Abs(x) uses abs, which is not differentiable everywhere: a modified flow is a series of derivatives of the loss, so it has no meaning there. Replace it by a smooth function, e.g. sqrt(x**2 + eps**2) with a small number eps for abs(x), or tanh(x/eps) for sign(x).

        ```
    """
    import sympy

    if not isinstance(loss, sympy.Expr):
        raise DeriveError(
            f"the loss {loss} is not a scalar expression.",
            "Give the loss as one real expression in the variables, e.g. x**2/2 + y**4.",
        )
    for node in sympy.preorder_traversal(loss):
        name = type(node).__name__
        if name in NON_SMOOTH or isinstance(node, sympy.Derivative):
            shown = "abs" if name == "Abs" else name
            raise DeriveError(
                f"the loss {sympy.sstr(loss)} uses {shown}, which is not "
                "differentiable everywhere: a modified flow is a series of derivatives "
                "of the loss, so it has no meaning there.",
                "Replace it by a smooth function, e.g. sqrt(x**2 + eps**2) with a small "
                "number eps for abs(x), or tanh(x/eps) for sign(x).",
            )
    for node in sympy.preorder_traversal(loss):
        if node is sympy.I or (
            isinstance(node, sympy.Expr)
            and not node.free_symbols
            and node.is_extended_real is False
        ):
            raise DeriveError(
                f"the loss {sympy.sstr(loss)} is not real: {sympy.sstr(node)} is a "
                "complex number.",
                f"Give a real loss in {', '.join(variables)} (sqrt and log of "
                "negative numbers, and asin/acos outside [-1, 1], are complex).",
            )
