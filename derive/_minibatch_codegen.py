"""Code generation for mini-batch flows: a standalone JAX module per flow.

Two modes, as for full-batch flows (`derive._codegen`):

- **matrix-free** (default): the module takes the per-batch losses as a list of JAX
  functions of a pytree, one per batch. A node of color $c$ evaluates $g_c = -\\nabla
  f_c$ (fixed order) or, for an expectation, $g = -\\nabla f$ (color 0, $f$ the mean of
  the batch losses) and the deviations $d_k = g_k - g$ (colors 1, 2, 3), averaged over
  their batch indices; $g^{(k)}(y)[v_1, \\dots, v_k]$ nests $k$ `jax.jvp`s, so no
  derivative tensor is formed.
- **explicit** (`losses=` given as SymPy or text): the field on those losses in closed
  form (`MinibatchFlow.on`), with `sympy.cse`; the state is a 1-D array of the
  variables.

Both start with a header (toolkit, optimizer, batches, sampling, order, parameters,
conventions, the terms) that ends with the SHA-256 of the code below it, checked by
[`verify_content_hash`][derive.verify_content_hash].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._codegen.explicit import explicit_module
from ._codegen.hashing import seal
from ._codegen.header import WRAP, docstring, provenance_lines, terms_table
from ._codegen.matrix_free import coefficients_function, constants, runtime_text
from ._codegen.module import MODE_EXPLICIT, MODE_MATRIX_FREE, GeneratedCode
from ._codegen.python import identifier, literal, quote
from ._conventions import CONVENTIONS
from ._errors import DeriveError

if TYPE_CHECKING:
    from ._concrete import LossExpression, Variables
    from ._minibatch import MinibatchFlow

__all__ = ["minibatch_codegen"]


def minibatch_codegen(
    flow: MinibatchFlow,
    *,
    losses: Sequence[LossExpression] | None = None,
    variables: Variables | None = None,
    name: str | None = None,
) -> GeneratedCode:
    """A JAX module for a [`MinibatchFlow`][derive.MinibatchFlow] (used by
    [`codegen`][derive.codegen] when it is given one).

    The matrix-free module defines `OPTIMIZER`, `ORDER`, `BATCHES`, `SAMPLING`,
    `PARAMETERS`, `SYMBOLIC_PARAMETERS`, `TERMS`, `TREES` (each term's colored tree as
    nested `(color, children)`), `coefficients(args)`, `terms_by_order(losses, y,
    args, order=ORDER)`, `make_vector_field(losses, order=ORDER)` and
    `vector_field(t, y, args)` with the list of per-batch losses in `args["losses"]`.

    !!! example
        ```python
        >>> import derive
        >>> flow = derive.minibatch_flow("sgd", order=1, batches=2)
        >>> code = derive.codegen(flow)
        >>> code.mode, "def make_vector_field(losses, order=ORDER):" in code.source
        ('matrix-free', True)

        ```
    """
    if (losses is None) != (variables is None):
        raise DeriveError(
            "the explicit mode needs both the batch losses and their variables.",
            'Pass e.g. losses=["x**2", "(x-1)**2"], variables="x" (or neither).',
        )
    if name is None:
        name = (
            f"{identifier(flow.recurrence.name)}_{flow.sampling}_"
            f"{flow.batches}_order{flow.order}"
        )
    if not name.isidentifier():
        raise DeriveError(
            f"{name!r} is not a valid module name.", "Use e.g. name='sgd2'."
        )
    if flow.batches == "m":
        raise DeriveError(
            "code needs a number of batches, not the symbol m.",
            "Derive the flow with batches given as a whole number.",
        )
    extra: list[str] = []
    if losses is None or variables is None:  # both None, as checked above
        mode, body = MODE_MATRIX_FREE, _matrix_free_body(flow)
    else:
        mode = MODE_EXPLICIT
        body, extra = _explicit_body(flow, losses, variables)
    text = _header(flow, mode, extra) + body
    return GeneratedCode(seal(text), flow, name, mode)


def _header(flow: MinibatchFlow, mode: str, extra: list[str]) -> str:
    lines = [
        f"Mini-batch modified flow of {flow.recurrence.name} ({flow.batches} batches, "
        f"{flow.sampling}) through order {flow.order}, as JAX code ({mode}).",
        "",
        *provenance_lines(flow),
    ]
    lines.insert(
        5, f"Batches: {flow.batches}; sampling: {flow.sampling}; order: {flow.order}"
    )
    lines += WRAP.wrap(f"Notation: {flow.notation()}")
    lines += WRAP.wrap(f"Conventions: {CONVENTIONS}")
    lines += [
        "Regenerate:",
        f"    derive.codegen(derive.minibatch_flow({flow.recurrence.name!r}, "
        f"{flow.order}, batches={flow.batches}, sampling={flow.sampling!r}"
        + "".join(f", {k}={v!r}" for k, v in flow.recurrence.values.items())
        + "))",
    ]
    lines += terms_table(flow, flow.differential_text, tree="colored tree")
    return docstring(lines, extra)


def _constants(flow: MinibatchFlow, before_terms: Sequence[str] = ()) -> list[str]:
    return constants(
        flow,
        extra=[f"BATCHES = {flow.batches}", f"SAMPLING = {literal(flow.sampling)}"],
        differential=flow.differential_text,
        tree="colored tree",
        before_terms=before_terms,
    )


_MATRIX_FREE = '''

def _check_order(order):
    if not 0 <= order <= ORDER:
        raise ValueError(f"order must be between 0 and {ORDER}, got {order}")


def _fields(losses):
    """The field of every color: batches 1..m (fixed order), or the mean field g
    (color 0) and the deviations d_k = g_k - g (by batch index)."""
    if len(losses) != BATCHES:
        raise ValueError(f"{len(losses)} losses for {BATCHES} batches")
    batch = [negative_gradient(loss) for loss in losses]
    if SAMPLING == "fixed":
        return batch, None

    def mean(z):
        return tree_scale(1.0 / BATCHES, tree_add(*(g(z) for g in batch)))

    def deviation(k):
        return lambda z: tree_add(batch[k](z), tree_scale(-1.0, mean(z)))

    return mean, [deviation(k) for k in range(BATCHES)]


def _differential(tree, y, field_of, memo):
    key = tree
    if key not in memo:
        color, kids = tree
        args = [_differential(k, y, field_of, memo) for k in kids]
        memo[key] = directional_derivative(field_of(color), y, args)
    return memo[key]


def _blocks(tree):
    color, kids = tree
    out = {color} if color > 0 else set()
    for k in kids:
        out |= _blocks(k)
    return out


def _averaged(tree, y, fields):
    """<F(tree)>: fixed order: F with color c = batch c; expectation: the deviation
    blocks averaged over their batch indices, independently."""
    if SAMPLING == "fixed":
        return _differential(tree, y, lambda c: fields[0][c - 1], {})
    mean, deviation = fields
    r = len(_blocks(tree))
    total = None
    for assignment in itertools.product(range(BATCHES), repeat=r):

        def field_of(c, a=assignment):
            return mean if c == 0 else deviation[a[c - 1]]

        value = _differential(tree, y, field_of, {})
        total = value if total is None else tree_add(total, value)
    return tree_scale(1.0 / BATCHES**r, total)


def terms_by_order(losses, y, args, order=ORDER):
    """[F_0(y), ..., F_order(y)] (pytrees like y): the flow is sum_k h^k F_k(y)."""
    _check_order(order)
    fields = _fields(losses)
    c = coefficients(args)
    out = []
    for k in range(order + 1):
        parts = [
            tree_scale(c[p, tree], _averaged(TREES[tree], y, fields))
            for p, tree, _ in TERMS
            if p == k
        ]
        out.append(tree_add(*parts) if parts else tree_zeros_like(y))
    return out


def _flow(losses, y, args, order):
    F = terms_by_order(losses, y, args, order)
    h = args["h"]
    total = F[order]
    for term in reversed(F[:order]):
        total = tree_add(term, tree_scale(h, total))
    return total


def make_vector_field(losses, order=ORDER):
    """The truncated flow as `field(t, y, args)` for `diffrax.ODETerm`; `losses` is
    the list of per-batch losses (JAX functions of a pytree)."""
    _check_order(order)

    def field(t, y, args):
        return _flow(losses, y, args, order)

    return field


def vector_field(t, y, args):
    """The flow through ORDER, with the per-batch losses in `args["losses"]`."""
    return _flow(args["losses"], y, args, ORDER)
'''


def _matrix_free_body(flow: MinibatchFlow) -> str:
    lines = ["\nimport itertools", runtime_text().rstrip("\n"), ""]
    lines += _constants(flow)
    lines += ["", "# each term's colored tree as nested (color, children)", "TREES = {"]
    for t in flow.terms:
        lines.append(f"    {quote(t.tree)}: {flow.table.nested(t.index)!r},")
    lines.append("}")
    lines += coefficients_function(flow, tree="colored tree")
    lines.append(_MATRIX_FREE.rstrip("\n"))
    return "\n".join(lines) + "\n"


def _explicit_body(
    flow: MinibatchFlow, losses: Sequence[LossExpression], variables: Variables
) -> tuple[str, list[str]]:
    import sympy

    explicit = flow.on(losses, variables)
    names = [v.name for v in explicit.variables]
    batch = [sympy.sstr(b.loss) for b in explicit.concrete.batch]
    constants_ = _constants(
        flow,
        before_terms=[
            f"BATCH_LOSSES = {literal(tuple(batch))}",
            f"VARIABLES = {literal(tuple(names))}",
        ],
    )
    body = explicit_module(
        [list(row) for row in explicit.by_power],
        names,
        list(flow.recurrence.parameters),
        constants_,
    )
    extra = [
        "Batch losses: " + "; ".join(batch),
        f"Variables: {', '.join(names)} (the state is a 1-D array in this order)",
    ]
    return body, extra
