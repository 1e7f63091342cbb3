"""Assignments of a spec, checked statically: allowed constructs, names, exponents."""

from __future__ import annotations

import ast
import keyword
import re
from typing import TypeAlias

from .limits import MAX_DEPTH
from .spec_program import (
    _ARITHMETIC,
    _ONLY,
    _OPERATORS,
    _RESERVED,
    _Assignment,
    _parse_segment,
    _Program,
    _Segment,
)
from .syntax import CONSTRUCTS as _CONSTRUCTS

ELEMENTWISE = ("sqrt", "abs", "exp", "log")
"""The componentwise functions a spec may call (besides grad)."""

NONSMOOTH = (
    "sign",
    "max",
    "min",
    "maximum",
    "minimum",
    "where",
    "clip",
    "floor",
    "ceil",
    "round",
    "relu",
)
"""Functions refused with the non-smooth message."""

_OperatorTypes: TypeAlias = tuple[type[ast.operator], ...]

# ---------------------------------------------------------------------- statements


def _known(program: _Program, temporaries: list[str]) -> dict[str, str]:
    known = {s: "state" for s in program.states}
    known.update({p: "parameter" for p in program.params})
    known["h"] = "step size"
    known.update({t: "temporary" for t in temporaries if t not in known})
    return known


def _target(program: _Program, node: ast.expr, seg: _Segment) -> str:
    if not isinstance(node, ast.Name):
        what = _CONSTRUCTS.get(type(node), f"a {type(node).__name__}")
        raise program.error(
            node,
            f"cannot assign to {what}",
            "Assign to names: 'x = ...' or 'x, v = ..., ...'.",
            seg,
        )
    name = node.id
    if name in program.params:
        raise program.error(
            node,
            f"'{name}' is a parameter and cannot be assigned",
            "Use a temporary with another name, or declare it as a state.",
            seg,
        )
    if name in _RESERVED or name.startswith("_"):
        what = _RESERVED.get(name, "reserved (names starting with '_')")
        raise program.error(
            node, f"'{name}' cannot be assigned: it is {what}", "Rename it.", seg
        )
    return name


def _statement(program: _Program, seg: _Segment, temporaries: list[str]) -> None:
    first = re.match(r"[^\W\d]\w*", seg.text)
    word = first.group() if first else ""
    if keyword.iskeyword(word) or keyword.issoftkeyword(word):
        what = {"import": "imports", "from": "imports", "lambda": "lambdas"}.get(
            word, f"'{word}' statements"
        )
        raise program.error(seg.start, f"{what} are not allowed", _ONLY)
    module = _parse_segment(program, seg)
    for node in module.body:
        if isinstance(node, ast.Assign):
            if len(node.targets) > 1:
                raise program.error(
                    node,
                    "chained assignments ('a = b = ...') are not allowed",
                    "Write one assignment per statement.",
                    seg,
                )
            target = node.targets[0]
            if isinstance(target, ast.Tuple | ast.List):
                names = [_target(program, t, seg) for t in target.elts]
                if not isinstance(node.value, ast.Tuple):
                    raise program.error(
                        node.value,
                        f"the left side names {len(names)} values but the right side "
                        "is a single expression",
                        "Give one expression per name: 'x, x_prev = x + v, x'.",
                        seg,
                    )
                values = node.value.elts
                if len(values) != len(names):
                    raise program.error(
                        node.value,
                        f"{len(names)} names are assigned {len(values)} values",
                        "Give one expression per name: 'x, x_prev = x + v, x'.",
                        seg,
                    )
                if len(set(names)) != len(names):
                    raise program.error(
                        target,
                        "a name appears twice on the left side",
                        "Assign each name once per statement.",
                        seg,
                    )
            else:
                names, values = [_target(program, target, seg)], [node.value]
            augmented: type[ast.operator] | None = None
        elif isinstance(node, ast.AugAssign):
            if type(node.op) not in _ARITHMETIC:
                symbol = _OPERATORS.get(type(node.op), "**")
                raise program.error(
                    node,
                    f"the operator '{symbol}=' is not allowed",
                    "Use +=, -=, *= or /=, or write 'x = ...'.",
                    seg,
                )
            names, values = [_target(program, node.target, seg)], [node.value]
            augmented = type(node.op)
        elif isinstance(node, ast.Expr):
            _check(program, node.value, seg, _known(program, temporaries), 0)
            raise program.error(
                node,
                "this expression is not assigned to anything",
                "Assign it to a state or a temporary, e.g. 'x = x - h*grad(x)'.",
                seg,
            )
        elif isinstance(node, ast.AnnAssign):
            raise program.error(
                node, "annotations are not allowed", "Write 'name = expr'.", seg
            )
        else:
            raise program.error(node, "this statement is not allowed", _ONLY, seg)
        if not program.states:
            raise program.error(
                seg.start,
                "the state is not declared before the first assignment",
                "Start the spec with a 'state' line naming the position first, e.g. "
                "'state x' or 'state x, v'.",
            )
        known = _known(program, temporaries)
        if isinstance(node, ast.AugAssign) and names[0] not in known:
            _check(program, node.target, seg, known, 0)
        for value in values:
            _check(program, value, seg, known, 0)
        temporaries.extend(n for n in names if n not in program.states)
        program.assignments.append(
            _Assignment(tuple(names), tuple(values), augmented, node, seg)
        )


def _spine(node: ast.expr, group: _OperatorTypes) -> tuple[ast.expr, list[ast.BinOp]]:
    """Walk the left spine of `a + b - c ...` (or of `*`, `/`) without recursion."""
    chain = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, group):
        chain.append(node)
        node = node.left
    return node, chain[::-1]


_SUMS: _OperatorTypes = (ast.Add, ast.Sub)
_PRODUCTS: _OperatorTypes = (ast.Mult, ast.Div)


def _check(
    program: _Program,
    node: ast.expr,
    seg: _Segment,
    known: dict[str, str],
    depth: int,
) -> None:
    """Check an expression statically: allowed constructs, names, exponents."""
    if depth > MAX_DEPTH:
        raise program.error(
            node,
            f"the expression is nested more than {MAX_DEPTH} levels deep",
            "Split it into several assignments with temporaries.",
            seg,
        )
    if isinstance(node, ast.Constant):
        program.numbers[node] = program.literal(node, seg)
    elif isinstance(node, ast.Name):
        name = node.id
        if name == "grad":
            raise program.error(
                node,
                "grad is used without an argument",
                "Call it at a point, as in grad(x).",
                seg,
            )
        if name.startswith("__"):
            raise program.error(
                node,
                f"the name '{name}' is not allowed",
                "Names may not start with '__'.",
                seg,
            )
        if name not in known:
            listed = ", ".join(f"{k} ({v})" for k, v in known.items())
            raise program.error(
                node,
                f"unknown name '{name}'; the names defined here are {listed}",
                "Declare states in the 'state' line (e.g. 'state x, x_prev') and "
                "hyper-parameters with 'param', or assign the name before this line.",
                seg,
            )
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise program.error(
                node,
                f"the operator '{_OPERATORS[type(node.op)]}' is not allowed",
                seg=seg,
            )
        _check(program, node.operand, seg, known, depth + 1)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        _check(program, node.left, seg, known, depth + 1)
        program.exponents[node] = program.power_exponent(node.right, seg)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, _SUMS + _PRODUCTS):
        group = _SUMS if isinstance(node.op, _SUMS) else _PRODUCTS
        first, chain = _spine(node, group)
        _check(program, first, seg, known, depth + 1)
        for link in chain:
            _check(program, link.right, seg, known, depth + 1)
    elif isinstance(node, ast.BinOp):
        symbol = _OPERATORS.get(type(node.op), "?")
        fix = "Write powers with '**'." if symbol == "^" else _ONLY
        raise program.error(node, f"the operator '{symbol}' is not allowed", fix, seg)
    elif isinstance(node, ast.Call):
        called = node.func.id if isinstance(node.func, ast.Name) else None
        if called in NONSMOOTH:
            raise program.error(
                node,
                f"'{called}' is not smooth: a modified flow is a series of derivatives "
                "of the update, and it has none where the update jumps",
                "Replace it by a smooth form (sign(v) ~ v/sqrt(v*v + eps)), or study "
                "the optimizer numerically.",
                seg,
            )
        if called not in ("grad", *ELEMENTWISE):
            raise program.error(
                node,
                f"calling '{called}' is not allowed"
                if called
                else "only grad(...) can be called",
                "The functions of a spec are grad(...) and the componentwise "
                f"{', '.join(ELEMENTWISE)}; put other functions into the loss.",
                seg,
            )
        if called in ELEMENTWISE and (
            node.keywords
            or len(node.args) != 1
            or isinstance(node.args[0], ast.Starred)
        ):
            raise program.error(
                node,
                f"{called} takes exactly one argument and no keywords",
                f"Write {called}(v).",
                seg,
            )
        if (
            node.keywords
            or len(node.args) != 1
            or isinstance(node.args[0], ast.Starred)
        ):
            raise program.error(
                node,
                "grad takes exactly one argument (a point) and no keywords",
                "Write grad(x) or grad(x + beta*(x - x_prev)).",
                seg,
            )
        _check(program, node.args[0], seg, known, depth + 1)
    else:
        what = _CONSTRUCTS.get(type(node), f"a {type(node).__name__} expression")
        raise program.error(node, f"{what} is not allowed", _ONLY, seg)
