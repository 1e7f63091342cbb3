"""Elementary differentials and tree scalars on a concrete SymPy loss.

For a loss $f(x_1, \\dots, x_d)$ this evaluates $F(t)$ for $g = -\\nabla f$ and the scalar
invariants $S(\\tau)$ symbolically, so a modified flow becomes an explicit vector field.
Multilinear derivatives $g^{(k)}(v_1, \\dots, v_k)$ are built with placeholder
directions and substituted afterwards, so the directions are never differentiated.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import TypeAlias

import sympy

from ._budget import check_expression_size
from ._errors import DeriveError
from ._trees import TreeTable

__all__ = ["ConcreteLoss", "LossExpression", "Variables"]

LossExpression: TypeAlias = str | sympy.Expr
"""A concrete loss: a SymPy expression, or a string parsed safely."""

Variables: TypeAlias = str | Sequence[str | sympy.Symbol]
"""The coordinates of a concrete loss: `"x,y"`, names or SymPy symbols."""


# k -> (the k-th derivative with placeholder directions, the directions)
_Cache: TypeAlias = dict[int, tuple[list[sympy.Expr], list[list[sympy.Symbol]]]]


class ConcreteLoss:
    """A SymPy loss with memoised elementary differentials.

    **Arguments:**

    - `loss`: a SymPy expression, or a string parsed safely (see `derive._text.expression`).
    - `variables`: the coordinates, as SymPy symbols or names.
    - `parameters`: hyper-parameter names that may appear in the loss. A SymPy loss
      may also contain other symbols (constants such as a curvature `lam`); a string
      loss may not, so that typos are caught.

    !!! example
        ```python
        >>> import sympy
        >>> from derive import tree_table
        >>> from derive._concrete import ConcreteLoss
        >>> x, y = sympy.symbols("x y")
        >>> loss = ConcreteLoss(x**2 + 3*y**2, [x, y])
        >>> loss.differential(tree_table(2), 1)   # g'g = H grad f
        [4*x, 36*y]

        ```
    """

    def __init__(
        self,
        loss: LossExpression,
        variables: Variables,
        parameters: tuple[str, ...] = (),
    ):
        from ._text.names import variable_names

        if not isinstance(variables, str) and not variables:
            raise DeriveError(
                "no variables were given for the loss.", "Pass e.g. --vars x,y."
            )
        names = variable_names(variables)
        # a SymPy loss may carry constants of its own (e.g. lam in lam*x**2/2); a string
        # (from the command line) may not, so that typos are caught
        allow_constants = not isinstance(loss, str)
        clash = set(names) & (set(parameters) | {"h"})
        if clash:
            raise DeriveError(
                f"the loss variables {sorted(clash)} clash with h or a hyper-parameter.",
                "Rename the loss variables.",
            )
        syms = {n: sympy.Symbol(n) for n in names}
        if isinstance(loss, str):
            from ._text.expression import ParseError, parse_expression

            allowed = dict(syms)
            allowed.update({p: sympy.Symbol(p) for p in parameters})
            try:
                loss = parse_expression(loss, allowed)
            except ParseError as e:
                raise DeriveError(str(e), "") from None
        else:
            loss = sympy.sympify(loss) if not isinstance(loss, sympy.Basic) else loss
            # normalise symbols by name so that assumptions do not split them
            loss = loss.subs(
                {
                    s: sympy.Symbol(unicodedata.normalize("NFKC", s.name))
                    for s in loss.free_symbols
                }
            )
        extra = {s.name for s in loss.free_symbols} - set(names) - set(parameters)
        if extra and not allow_constants:
            raise DeriveError(
                f"the loss uses symbols {sorted(extra)} that are neither variables "
                f"{names} nor hyper-parameters.",
                "List every coordinate in the variables, or give the symbol a value.",
            )
        from ._loss_check import check_loss

        check_loss(loss, names)
        self.loss = loss
        self.variables = [syms[n] for n in names]
        self.gradient = [sympy.diff(loss, v) for v in self.variables]
        self.field = [-d for d in self.gradient]  # g = -grad f
        self._multi: _Cache = {}
        self._fmulti: _Cache = {}
        self._F: dict[int, list[sympy.Expr]] = {}

    def _derivative(
        self, base: list[sympy.Expr], k: int, cache: _Cache
    ) -> tuple[list[sympy.Expr], list[list[sympy.Symbol]]]:
        """`base^(k)(u_1, ..., u_k)` with placeholder directions u."""
        got = cache.get(k)
        if got is not None:
            return got
        d = len(self.variables)
        dirs = [[sympy.Symbol(f"_u{j}_{i}") for i in range(d)] for j in range(k)]
        expr = list(base)
        for j in range(k):
            expr = [
                sympy.expand(
                    sum(
                        sympy.diff(e, v) * u
                        for v, u in zip(self.variables, dirs[j], strict=True)
                    )
                )
                for e in expr
            ]
            check_expression_size(expr, f"the derivative of order {j + 2} of the loss")
        cache[k] = (expr, dirs)
        return cache[k]

    def _apply(
        self, base: list[sympy.Expr], args: list[list[sympy.Expr]], cache: _Cache
    ) -> list[sympy.Expr]:
        expr, dirs = self._derivative(base, len(args), cache)
        sub = {}
        for u, a in zip(dirs, args, strict=True):
            sub.update(dict(zip(u, a, strict=True)))
        return [e.xreplace(sub) for e in expr]

    def differential(self, table: TreeTable, i: int) -> list[sympy.Expr]:
        """$F(t)$ for tree `i` of `table`, one expression per variable."""
        got = self._F.get(i)
        if got is None:
            args = [self.differential(table, c) for c in table.children[i]]
            got = (
                self._apply(self.field, args, self._multi) if args else list(self.field)
            )
            check_expression_size(
                got, f"the elementary differential {table.bracket(i)}"
            )
            self._F[i] = got
        return got

    def scalar(self, table: TreeTable, i: int) -> sympy.Expr:
        """The scalar invariant $S$ of the free tree rooted as tree `i`:
        $\\nabla^k f(G(t_1), \\dots, G(t_k))$ with $G(u) = (-1)^{|u|} F(u)$."""
        args = []
        for c in table.children[i]:
            sign = -1 if table.size[c] % 2 else 1
            args.append([sign * e for e in self.differential(table, c)])
        if not args:
            return self.loss
        return self._apply([self.loss], args, self._fmulti)[0]
