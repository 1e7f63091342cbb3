"""`codegen`: a modified flow as a standalone JAX module, with a provenance header.

Two modes:

- **matrix-free** (default): the module evaluates the flow for any loss written in JAX
  (parameters are pytrees). $g = -\\nabla f$ is one `jax.grad`; $g'(y)[v]$ is a
  forward-over-reverse Hessian-vector product from one `jax.linearize` of $g$ at $y$;
  $g^{(k)}(y)[v_1, \\dots, v_k]$ nests `jax.jvp` $k$ times. No derivative tensor is
  formed, and every elementary differential $F(t)$ is computed once per evaluation and
  reused by the trees that contain it.
- **explicit** (`loss=` given): closed-form `jax.numpy` expressions of the field on
  that loss, from [`ModifiedFlow.on`][derive.ModifiedFlow.on] with `sympy.cse`; the
  state is a 1-D array of the variables in order.

The emitted text imports only `jax` and `jax.numpy`, is written directly in the layout
`ruff format` gives (no formatter runs, so the text is the same on every machine), and
starts with a docstring header (toolkit and version, optimizer, order, parameters,
conventions, the terms) that ends with the SHA-256 of everything below it. This package
imports neither JAX nor SymPy at import time.
"""

from __future__ import annotations

import hashlib
import linecache
import os
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import DeriveError
from .explicit import explicit_body
from .hashing import content_hash, seal
from .header import header, regenerate_command
from .matrix_free import matrix_free_body
from .output import check_compiles, check_output_path, write_atomically
from .python import identifier

if TYPE_CHECKING:
    from .._componentwise.flow import ComponentwiseFlow
    from .._concrete import LossExpression, Variables
    from .._exact import ExactValue
    from .._flow import ModifiedFlow
    from .._minibatch import MinibatchFlow
    from .._optimizers import OptimizerDefinition

__all__ = ["codegen", "GeneratedCode"]

MODE_MATRIX_FREE = "matrix-free"
MODE_EXPLICIT = "explicit"


@dataclass(frozen=True)
class GeneratedCode:
    """A generated JAX module; made by [`codegen`][derive.codegen].

    **Attributes:**

    - `source`: the module text.
    - `flow`: the [`ModifiedFlow`][derive.ModifiedFlow] (or
      [`MinibatchFlow`][derive.MinibatchFlow]) it implements.
    - `name`: the module name used by `load`.
    - `mode`: `"matrix-free"` or `"explicit"`.
    """

    source: str
    flow: ModifiedFlow | MinibatchFlow | ComponentwiseFlow = field(repr=False)
    name: str
    mode: str

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of the whole source, header included."""
        return hashlib.sha256(self.source.encode()).hexdigest()

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the code below the header, as stated in the header."""
        return content_hash(self.source)

    def write(self, path: str | os.PathLike[str], *, force: bool = True) -> Path:
        """Write the source to `path`, atomically (a temporary file in the same
        folder, then a rename); returns the path.

        The folder must exist (it is not created); with `force=False` an existing
        file is refused (a [`DeriveError`][derive.DeriveError]) instead of replaced.
        """
        return write_atomically(check_output_path(path, force), self.source)

    def load(self) -> types.ModuleType:
        """A fresh module object executed from `source` (imports JAX).

        **Returns:** a `types.ModuleType` named `name`; it is not added to
        `sys.modules`. Tracebacks show the generated lines.
        """
        filename = f"<optimizer-flows-generated {self.name}>"
        linecache.cache[filename] = (
            len(self.source),
            None,
            self.source.splitlines(keepends=True),
            filename,
        )
        module = types.ModuleType(self.name)
        module.__file__ = filename
        exec(compile(self.source, filename, "exec"), module.__dict__)
        return module


def codegen(
    optimizer: OptimizerDefinition | ModifiedFlow | MinibatchFlow | ComponentwiseFlow,
    order: int | None = None,
    *,
    loss: LossExpression | Sequence[LossExpression] | None = None,
    variables: Variables | None = None,
    name: str | None = None,
    **params: ExactValue | None,
) -> GeneratedCode:
    """Generate a standalone JAX module for the modified flow of an optimizer.

    **Arguments:**

    - `optimizer`: a [`Recurrence`][derive.Recurrence] or a plain Python function, as
      for [`modified_flow`][derive.modified_flow]; or an existing
      [`ModifiedFlow`][derive.ModifiedFlow] (then leave `order` as `None`); or a
      [`MinibatchFlow`][derive.MinibatchFlow], whose explicit mode takes a list of
      per-batch losses as `loss` (see `derive._minibatch_codegen`).
    - `order`: the highest power of $h$.
    - `loss`, `variables`: a SymPy expression (or text) and its variables, for the
      explicit mode; leave both out for the matrix-free mode.
    - `name`: the module name for [`GeneratedCode.load`][derive.GeneratedCode.load]
      (default: `<optimizer>_order<p>`).
    - `**params`: hyper-parameter values when `optimizer` is a function.

    **Returns:** a [`GeneratedCode`][derive.GeneratedCode].

    The matrix-free module defines `OPTIMIZER`, `ORDER`, `PARAMETERS` (exact strings),
    `SYMBOLIC_PARAMETERS` (names to pass in `args`), `TERMS`, `coefficients(args)`, one
    function `F_<name>` per elementary differential (`F_gpg` is $g'g$, `F_gpp_g_g` is
    $g''(g,g)$: `p` is a prime, children follow), `terms_by_order(loss, y, args,
    order=ORDER)` (the $F_k(y)$, without powers of $h$), `make_vector_field(loss,
    order=ORDER)` returning `field(t, y, args)` and `vector_field(t, y, args)` with the
    loss in `args["loss"]`. `args` holds `"h"` and one entry per symbolic parameter.

    The explicit module has the same constants plus `LOSS` and `VARIABLES`, `loss(y)`
    (`loss(y, args)` if the loss involves a symbolic hyper-parameter),
    `terms_by_order(y, args, order=ORDER)`, `make_vector_field(order=ORDER)` and
    `vector_field(t, y, args)`, where `y` is a 1-D array of the variables in order;
    the field is written out in `jax.numpy`, with the common subexpressions of all
    its components computed once (`sympy.cse`). It is meant for small models and for
    checking the matrix-free module; its size grows quickly with the order.

    !!! example
        ```python
        >>> import derive
        >>> code = derive.codegen(derive.gd(), order=1)
        >>> print(code.source.splitlines()[0])
        \"\"\"Modified flow of gd through order 1, as JAX code (matrix-free).
        >>> derive.verify_content_hash(code.source) == code.content_hash
        True

        ```

    With JAX installed, `code.load().make_vector_field(loss)` is a field for
    `diffrax.ODETerm`.
    """
    from .._componentwise.flow import ComponentwiseFlow
    from .._flow import ModifiedFlow, modified_flow
    from .._minibatch import MinibatchFlow

    if isinstance(optimizer, MinibatchFlow):  # per-batch losses: a list in `loss`
        if (order is not None and order != optimizer.order) or params:
            raise DeriveError(
                "order or hyper-parameter values were given with a MinibatchFlow.",
                "Fix them when deriving the flow (derive.minibatch_flow).",
            )
        from .._minibatch_codegen import minibatch_codegen

        return minibatch_codegen(optimizer, losses=loss, variables=variables, name=name)

    flow: ModifiedFlow | ComponentwiseFlow
    if isinstance(optimizer, ModifiedFlow | ComponentwiseFlow):
        if order is not None and order != optimizer.order:
            raise DeriveError(
                f"order={order} was given with a flow of order {optimizer.order}.",
                "Leave order out when passing a ModifiedFlow, or pass the optimizer.",
            )
        if params:
            raise DeriveError(
                "hyper-parameter values were given with a ModifiedFlow.",
                "Fix the values when deriving the flow.",
            )
        flow = optimizer
    else:
        if order is None:
            raise DeriveError("no order was given.", "Pass e.g. order=2.")
        flow = modified_flow(optimizer, order, **params)
    if (loss is None) != (variables is None):
        raise DeriveError(
            "the explicit mode needs both a loss and its variables.",
            'Pass e.g. loss="x**2/2 + y**2", variables="x,y" (or neither).',
        )
    if name is None:
        name = f"{identifier(flow.recurrence.name)}_order{flow.order}"
    if not name.isidentifier():
        raise DeriveError(
            f"{name!r} is not a valid module name.", "Use e.g. name='hb3'."
        )
    if isinstance(flow, ComponentwiseFlow):
        return _componentwise(flow, loss, variables, name)
    if loss is None or variables is None:  # both None, as checked above
        mode = MODE_MATRIX_FREE
        body = matrix_free_body(flow)
        extra: list[str] = []
        explicit = None
    else:
        mode = MODE_EXPLICIT
        body, extra, explicit = explicit_body(flow, loss, variables)
    text = seal(header(flow, mode, extra, regenerate_command(flow, explicit)) + body)
    check_compiles(text, name)
    return GeneratedCode(text, flow, name, mode)


def _componentwise(
    flow: ComponentwiseFlow,
    loss: LossExpression | None,
    variables: Variables | None,
    name: str,
) -> GeneratedCode:
    """`codegen` of a componentwise flow (see `derive._componentwise.codegen`)."""
    from .._componentwise.codegen import (
        componentwise_body,
        componentwise_header,
        explicit_componentwise_body,
        regenerate_words,
    )

    if loss is None or variables is None:
        mode = MODE_MATRIX_FREE
        body = componentwise_body(flow)
        extra: list[str] = []
        explicit = None
    else:
        mode = MODE_EXPLICIT
        body, extra, explicit = explicit_componentwise_body(flow, loss, variables)
    command = regenerate_words(flow, explicit)
    text = seal(componentwise_header(flow, mode, extra, command) + body)
    check_compiles(text, name)
    return GeneratedCode(text, flow, name, mode)
