"""A spec run as a Python update function, so that the tracer reads it like any other."""

from __future__ import annotations

import ast
import inspect
import operator
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any, TypeAlias

from .._coefficients import RationalFunction
from .._errors import DeriveError
from .._exact import exact_number
from .._trace import Affine as _Affine
from .limits import MAX_BITS, MAX_DEGREE, MAX_EXPONENT
from .spec_program import (
    _ARITHMETIC,
    SpecError,
    _bits,
    _Located,
    _Program,
    _Segment,
)
from .spec_statements import (
    _PRODUCTS,
    _SUMS,
    _spine,
)

# ---------------------------------------------------------------------- evaluation

# the values of names, the gradient, and whether the values are exact (traced)
_Context: TypeAlias = tuple[dict[str, Any], Callable[[Any], Any], bool]


class _Step:
    """The spec as a Python function `step(*states, grad, h, **params)`."""

    def __init__(self, program: _Program, name: str, values: Mapping[str, object]):
        self.program = program
        self.__name__ = name.replace("-", "_")
        self.__doc__ = program.text
        P = inspect.Parameter
        parameters = [P(s, P.POSITIONAL_OR_KEYWORD) for s in program.states]
        parameters += [P("grad", P.KEYWORD_ONLY), P("h", P.KEYWORD_ONLY)]
        for p in program.params:
            d = P.empty if values[p] is None else exact_number(values[p])
            parameters.append(P(p, P.KEYWORD_ONLY, default=d))
        self.__signature__ = inspect.Signature(parameters)

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        program = self.program
        bound = self.__signature__.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        exact = isinstance(values["h"], RationalFunction)
        env = {s: values[s] for s in program.states}
        for p in program.params:
            value = values[p]
            env[p] = (
                float(value) if isinstance(value, Fraction) and not exact else value
            )
        env["h"] = values["h"]
        context: _Context = (env, values["grad"], exact)
        last = {}
        for a in program.assignments:
            results = [self.evaluate(v, a.segment, context) for v in a.values]
            if a.augmented is not None:
                op = _ARITHMETIC[a.augmented]
                results = [
                    self.apply(op, a.node, a.segment, env[a.targets[0]], results[0])
                ]
            for name, value in zip(a.targets, results, strict=True):
                env[name] = value
                last[name] = a
        new = tuple(env[s] for s in program.states)
        if exact:
            for s, value in zip(program.states, new, strict=True):
                if not isinstance(value, _Affine):
                    a = last[s]
                    raise program.error(
                        a.node,
                        f"the state '{s}' is set to a scalar (a number, h or a "
                        "parameter), not to a combination of states and gradients",
                        "Update each state with an affine combination of states and "
                        "grad(...) calls, e.g. 'x = x - h*grad(x)'.",
                        a.segment,
                    )
        return new

    def apply(
        self, fn: Callable[..., Any], node: _Located, seg: _Segment, *args: Any
    ) -> Any:
        """`fn(*args)`, with tracer errors located at `node`."""
        try:
            value = fn(*args)
        except SpecError:
            raise
        except DeriveError as e:
            raise self.program.error(node, _lower(e.problem), e.fix, seg) from None
        except ZeroDivisionError:
            raise self.program.error(
                node,
                "division by zero",
                "Check the divisor; with parameter values it may vanish (e.g. "
                "1/(1 - beta) at beta = 1).",
                seg,
            ) from None
        return self.program.bounded(value, node, seg)

    def check_offset(
        self, left: object, right: object, node: _Located, seg: _Segment
    ) -> None:
        """Refuse `position + constant`: updates must commute with translations (a
        constant added to another vector, as in sqrt(v) + eps, is componentwise)."""
        if isinstance(left, _Affine) == isinstance(right, _Affine):
            return
        vector = left if isinstance(left, _Affine) else right
        assert isinstance(vector, _Affine)
        if not vector.terms.get(0):
            return
        scalar = right if isinstance(left, _Affine) else left
        if scalar != 0:
            shown = f" ({scalar})" if isinstance(scalar, Fraction) else ""
            raise self.program.error(
                node,
                f"a constant{shown} is added to a state; an update must be an "
                "affine combination of states and gradients with no constant offset",
                "Remove the constant term (the method must commute with translations),"
                " or multiply it by a state or a gradient.",
                seg,
            )

    def evaluate(self, node: ast.expr, seg: _Segment, context: _Context) -> Any:
        env, grad, exact = context
        if isinstance(node, ast.Constant):
            value = self.program.numbers[node]
            return value if exact else float(value)
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.UnaryOp):
            value = self.evaluate(node.operand, seg, context)
            if isinstance(node.op, ast.UAdd):
                return value
            return self.apply(operator.neg, node, seg, value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            base = self.evaluate(node.left, seg, context)
            p = self.program.exponents[node]
            if isinstance(base, _Affine) or not exact:  # componentwise power
                exponent = p if exact else float(p)
                return self.apply(operator.pow, node, seg, base, exponent)
            if p.denominator != 1 or not 0 <= p <= MAX_EXPONENT:
                raise self.program.error(
                    node.right,
                    f"the exponent {p} is not a whole number from 0 to {MAX_EXPONENT}",
                    "Use a non-negative integer exponent, e.g. beta**2; write 1/beta "
                    "instead of beta**-1 (rational powers apply to vectors only).",
                    seg,
                )
            n = int(p)
            if isinstance(base, RationalFunction):
                degree = max(base.num.total_degree(), base.den.total_degree())
                if degree * n > MAX_DEGREE:
                    raise self.program.error(
                        node,
                        f"this power has degree {degree * n} in h and the parameters",
                        f"Coefficients are limited to degree {MAX_DEGREE}.",
                        seg,
                    )
            elif isinstance(base, Fraction) and _bits(base) * n > MAX_BITS:
                raise self.program.error(
                    node,
                    "this power builds a number that is too large",
                    f"Exact numbers are limited to {MAX_BITS} bits.",
                    seg,
                )
            return self.apply(operator.pow, node, seg, base, n)
        if isinstance(node, ast.BinOp):
            group = _SUMS if isinstance(node.op, _SUMS) else _PRODUCTS
            first, chain = _spine(node, group)
            value = self.evaluate(first, seg, context)
            for link in chain:
                right = self.evaluate(link.right, seg, context)
                if exact and group is _SUMS:
                    self.check_offset(value, right, link, seg)
                if isinstance(link.op, ast.Div) and _is_zero(right):
                    raise self.program.error(
                        link.right,
                        "division by zero",
                        "Check the divisor; with parameter values it may vanish "
                        "(e.g. 1 - beta at beta = 1).",
                        seg,
                    )
                value = self.apply(_ARITHMETIC[type(link.op)], link, seg, value, right)
            return value
        # A call of grad or of a componentwise function (`_check` lets no other).
        if not isinstance(node, ast.Call):  # pragma: no cover - refused by _check
            raise AssertionError(node)
        name = node.func.id if isinstance(node.func, ast.Name) else "grad"
        if name != "grad":
            value = self.evaluate(node.args[0], seg, context)
            if exact and not isinstance(value, _Affine):
                raise self.program.error(
                    node,
                    f"{name} is applied to a scalar (a number, h or a parameter); "
                    "coefficients must be rational in h and the parameters",
                    f"Apply {name} to vectors (states, gradients); for a coefficient "
                    "such as sqrt(beta), introduce a parameter.",
                    seg,
                )
            return self.apply(_elementwise(name, exact), node, seg, value)
        point = self.evaluate(node.args[0], seg, context)
        if exact and not isinstance(point, _Affine):
            raise self.program.error(
                node,
                "grad is applied to a scalar (a number, h or a parameter), not to a "
                "point",
                "Call grad on a state or an affine combination of states, e.g. "
                "grad(x) or grad(x + beta*(x - x_prev)).",
                seg,
            )
        return self.apply(grad, node, seg, point)


def _elementwise(name: str, exact: bool) -> Callable[[Any], Any]:
    """The componentwise function `name` on traced values (exact) or numbers."""
    if exact:
        from .._componentwise import tracing

        if name == "sqrt":
            return lambda v: tracing.power(v, Fraction(1, 2), "square root of a state")
        return lambda v: tracing.apply(name, v)
    import numpy

    return {"sqrt": numpy.sqrt, "abs": numpy.abs, "exp": numpy.exp, "log": numpy.log}[
        name
    ]


def _is_zero(value: object) -> bool:
    return isinstance(value, Fraction | RationalFunction | int | float) and value == 0


def _lower(problem: str) -> str:
    return problem[:1].lower() + problem[1:] if problem[1:2].islower() else problem
