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

The emitted text imports only `jax`, `jax.numpy` and nothing else, is formatted with
`ruff format` when the `ruff` executable is available, and starts with a docstring
header (toolkit and version, optimizer, order, parameters, conventions, the terms) that
ends with the SHA-256 of everything below it. This module imports neither JAX nor
SymPy at import time.
"""

from __future__ import annotations

import hashlib
import keyword
import linecache
import os
import re
import shutil
import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import DeriveError

__all__ = ["codegen", "GeneratedCode", "content_hash", "verify_content_hash"]

_HASH_PLACEHOLDER = "sha256:" + "0" * 64
_HASH_LINE = re.compile(r"^Content hash: sha256:([0-9a-f]{64})", re.MULTILINE)
_MODE_MATRIX_FREE = "matrix-free"
_MODE_EXPLICIT = "explicit"


@dataclass(frozen=True)
class GeneratedCode:
    """A generated JAX module; made by [`codegen`][derive.codegen].

    **Attributes:**

    - `source`: the module text.
    - `flow`: the [`ModifiedFlow`][derive.ModifiedFlow] it implements.
    - `name`: the module name used by `load`.
    - `mode`: `"matrix-free"` or `"explicit"`.
    """

    source: str
    flow: object = field(repr=False)
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

    def write(self, path: str | os.PathLike) -> Path:
        """Write the source to `path` (parent folders are created); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.source, encoding="utf-8")
        return path

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
    optimizer,
    order: int | None = None,
    *,
    loss=None,
    variables=None,
    name: str | None = None,
    **params,
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
    from ._flow import ModifiedFlow, modified_flow
    from ._minibatch import MinibatchFlow

    if isinstance(optimizer, MinibatchFlow):  # per-batch losses: a list in `loss`
        if (order is not None and order != optimizer.order) or params:
            raise DeriveError(
                "order or hyper-parameter values were given with a MinibatchFlow.",
                "Fix them when deriving the flow (derive.minibatch_flow).",
            )
        from ._minibatch_codegen import minibatch_codegen

        return minibatch_codegen(optimizer, losses=loss, variables=variables, name=name)
    if isinstance(optimizer, ModifiedFlow):
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
        name = f"{_identifier(flow.recurrence.name)}_order{flow.order}"
    if not name.isidentifier():
        raise DeriveError(
            f"{name!r} is not a valid module name.", "Use e.g. name='hb3'."
        )
    if loss is None:
        mode = _MODE_MATRIX_FREE
        body = _matrix_free_body(flow)
        extra, explicit = [], None
    else:
        mode = _MODE_EXPLICIT
        body, extra, explicit = _explicit_body(flow, loss, variables)
    text = _header(flow, mode, extra, _regenerate_command(flow, explicit)) + body
    return GeneratedCode(_finish(text), flow, name, mode)


# ------------------------------------------------------------------------ hashing


def _split(source: str) -> tuple[str, str]:
    """(header docstring, body): the header ends at the first line that is `\"\"\"`."""
    if not source.startswith(('"""', 'r"""')):
        raise ValueError("not a generated module: it does not start with a docstring")
    end = source.find('\n"""\n')
    if end < 0:
        raise ValueError("not a generated module: the header docstring does not end")
    cut = end + len('\n"""\n')
    return source[:cut], source[cut:]


def content_hash(source: str) -> str:
    """SHA-256 (hex) of the code below the header docstring of a generated module."""
    return hashlib.sha256(_split(source)[1].encode()).hexdigest()


def verify_content_hash(source: str) -> str:
    """Check the header's content hash against the body.

    **Returns:** the hash (hex). **Raises:** [`DeriveError`][derive.DeriveError] if the
    code below the header was edited.

    !!! example
        ```python
        >>> import derive
        >>> src = derive.codegen(derive.gd(), order=0).source
        >>> len(derive.verify_content_hash(src))
        64

        ```
    """
    try:
        header, _ = _split(source)
    except ValueError as e:
        raise DeriveError(
            f"{e}.", "Pass the text of a module made by codegen."
        ) from None
    match = _HASH_LINE.search(header)
    if match is None:
        raise DeriveError("the module header states no content hash.", "Regenerate it.")
    actual = content_hash(source)
    if match.group(1) != actual:
        raise DeriveError(
            f"the content hash in the header ({match.group(1)[:12]}...) does not match "
            f"the code below it ({actual[:12]}...): the module was edited.",
            "Regenerate it with derive.codegen or `derive codegen`.",
        )
    return actual


def _finish(text: str, format: bool = True) -> str:
    formatted = _ruff_format(text) if format else text
    header, body = _split(formatted)
    digest = hashlib.sha256(body.encode()).hexdigest()
    if _HASH_PLACEHOLDER not in header:  # pragma: no cover - our own header
        raise AssertionError("the header lost its content hash line")
    return header.replace(_HASH_PLACEHOLDER, "sha256:" + digest) + body


def _ruff_command() -> list[str] | None:
    exe = shutil.which("ruff")
    if exe is None:
        candidate = Path(sys.executable).with_name("ruff")
        exe = str(candidate) if candidate.exists() else None
    return None if exe is None else [exe]


def _ruff_format(text: str) -> str:
    """`ruff format` with fixed settings (line length 88); `text` if ruff is missing."""
    cmd = _ruff_command()
    if cmd is None:
        return text
    try:
        done = subprocess.run(
            [*cmd, "format", "--isolated", "--line-length", "88", "-"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return text
    return done.stdout if done.returncode == 0 and done.stdout else text


# ------------------------------------------------------------------------ header


def _header(flow, mode: str, extra: list[str], command: list[str] | None) -> str:
    from ._conventions import CONVENTIONS
    from ._render import differential_text
    from ._version import DISTRIBUTION, __version__

    params = flow.parameters
    symbolic = flow.recurrence.parameters
    plist = (
        ", ".join(
            f"{k} = {v}" + (f' (symbolic: pass args["{k}"])' if k in symbolic else "")
            for k, v in params.items()
        )
        or "none"
    )
    wrap = textwrap.TextWrapper(width=84, subsequent_indent="    ")
    lines = [
        f"Modified flow of {flow.recurrence.name} through order {flow.order}, "
        f"as JAX code ({mode}).",
        "",
        "Generated by derive; do not edit (regenerate instead).",
        f"Toolkit: {DISTRIBUTION} {__version__}",
        f"Optimizer: {flow.recurrence.name}"
        + (f" ({flow.recurrence.description})" if flow.recurrence.description else ""),
        f"Order: {flow.order}",
        *wrap.wrap(f"Parameters: {plist}"),
    ]
    if flow.conditions:
        lines.append("Valid for: " + ", ".join(flow.conditions))
    lines += wrap.wrap(f"Conventions: {CONVENTIONS}")
    if flow.recurrence.source:
        lines += [
            "Spec:",
            *("    " + s for s in flow.recurrence.source.strip().splitlines()),
        ]
    if command:
        lines += ["Regenerate:", *_shell_lines(command, width=84)]
    rows = [
        (f"h^{t.power}", t.tree, differential_text(flow.table, t.index))
        for t in flow.terms
    ]
    widths = [max((len(r[j]) for r in rows), default=0) for j in range(3)]
    lines += [
        "",
        "Terms (power of h, tree, elementary differential, exact coefficient):",
    ]
    for row, t in zip(rows, flow.terms, strict=True):
        cells = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
        lines.append(f"    {cells}  {flow.coefficient_text(t)}")
    if not flow.terms:
        lines.append("    (none: the flow is zero)")
    lines += ["", *extra] if extra else []
    lines += [
        "",
        f"Content hash: {_HASH_PLACEHOLDER}",
        "(SHA-256 of the UTF-8 text below this docstring, derive.verify_content_hash)",
    ]
    text = "\n".join(lines)
    if '"""' in text:  # pragma: no cover - only a comment in a spec could hold one
        text = text.replace('"""', '\\"\\"\\"')
    # a raw docstring when it holds a backslash (the shell continuations), so that the
    # file reads exactly as the text
    return ('r"""' if "\\" in text else '"""') + text + '\n"""\n'


def _shell_lines(words: list[str], width: int) -> list[str]:
    """A shell command over several lines joined by ` \\` continuations."""
    lines, current = [], "    " + words[0]
    for word in words[1:]:
        if len(current) + 1 + len(word) + 2 > width:
            lines.append(current + " \\")
            current = "        " + word
        else:
            current += " " + word
    return [*lines, current]


def _regenerate_command(flow, explicit) -> list[str] | None:
    """The `derive codegen` command that rebuilds this module, when there is one."""
    from ._optimizers import (
        gradient_descent_step,
        heavy_ball_step,
        nesterov_step,
    )

    rec = flow.recurrence
    steps = {
        "gd": gradient_descent_step,
        "heavy-ball": heavy_ball_step,
        "nesterov": nesterov_step,
    }
    if rec.source:
        words = ["derive codegen --spec SPEC_FILE"]  # SPEC_FILE: the spec above
    elif rec.name in steps and rec.function is steps[rec.name]:
        words = [f"derive codegen {rec.name}"]
    else:
        return None
    words.append(f"--order {flow.order}")
    words += [f"--param {k}={v}" for k, v in rec.values.items()]
    if explicit is not None:
        words += [f"--loss '{explicit[0]}'", f"--vars {','.join(explicit[1])}"]
    return words


# ------------------------------------------------------------------------ coefficients


def _python(expr) -> str:
    """A rational function of the parameters as Python text in `ruff format` spacing.

    Exact rationals become `p / q` (Python's true division of integers rounds
    correctly to the nearest float).
    """
    import sympy

    if expr.is_Rational and not expr.is_Integer:
        # Python divides the two integers, correctly rounded, before JAX sees them
        return _spaced(f"{expr.p}/{expr.q}")
    return _spaced(_float_big_integers(sympy.sstr(expr)))


_INT32 = 2**31 - 1
_INTEGER = re.compile(r"(?<![\w.])(\d+)(?![\w.])")


def _float_big_integers(text: str) -> str:
    """Integer literals beyond int32 as `float(n)`: JAX cannot take them as weak-typed
    ints (OverflowError for `17642229001000000000 * beta` with a traced `beta`)."""

    def replace(m: re.Match) -> str:
        n = m.group(1)
        return f"float({n})" if int(n) > _INT32 else n

    return _INTEGER.sub(replace, text)


def _spaced(text: str) -> str:
    """Spaces around binary operators, `**` hugging simple operands (ruff's style)."""
    import io
    import tokenize

    toks = [
        t
        for t in tokenize.generate_tokens(io.StringIO(text).readline)
        if t.type not in (tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.NL)
    ]
    out: list[str] = []
    prev = None
    for k, tok in enumerate(toks):
        s = tok.string
        if tok.type == tokenize.OP and s in {"+", "-", "*", "/", "**"}:
            unary = s in {"+", "-"} and (
                prev is None or prev.string in {"(", ",", "+", "-", "*", "/", "**"}
            )
            if unary:
                out.append(s)
            elif s == "**":
                nxt = toks[k + 1] if k + 1 < len(toks) else None
                simple = (
                    prev is not None
                    and prev.type in (tokenize.NAME, tokenize.NUMBER)
                    and nxt is not None
                    and nxt.type in (tokenize.NAME, tokenize.NUMBER)
                )
                out.append("**" if simple else " ** ")
            else:
                out.append(f" {s} ")
        elif s == ",":
            out.append(", ")
        else:
            out.append(s)
        prev = tok
    return "".join(out)


def _quote(text: str) -> str:
    """A string literal in double quotes (ruff's preference)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value) -> str:
    """Python text for str, int, tuples and dicts of them, with double quotes."""
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items())
            + "}"
        )
    return repr(value)


def _identifier(text: str) -> str:
    out = re.sub(r"\W", "_", text)
    return out if out and not out[0].isdigit() else "_" + out


# ------------------------------------------------------------------------ matrix-free


def _tree_name(table, i: int) -> str:
    """`g` for a leaf; `g` + one `p` per child, then the children (`_`-separated)."""
    kids = table.children[i]
    if not kids:
        return "g"
    names = [_tree_name(table, c) for c in kids]
    if len(kids) == 1:
        return "gp" + names[0]
    return "g" + "p" * len(kids) + "_" + "_".join(names)


def _needed_trees(flow) -> dict[int, int]:
    """Tree index -> lowest truncation order at which its differential is needed."""
    table = flow.table
    need: dict[int, int] = {}

    def visit(i: int, power: int):
        if need.get(i, power + 1) <= power:
            return
        need[i] = power
        for c in set(table.children[i]):
            visit(c, power)

    for t in flow.terms:
        visit(t.index, t.power)
    need.setdefault(0, 0)  # g itself is always computed (and is F([]))
    return need


_MATRIX_FREE_HELPERS = '''

def _add(*trees):
    """Leafwise sum of pytrees with the same structure."""
    return jax.tree_util.tree_map(lambda *leaves: sum(leaves[1:], leaves[0]), *trees)


def _scale(c, tree):
    """`c * tree` for a scalar `c`, leafwise."""
    return jax.tree_util.tree_map(lambda leaf: c * leaf, tree)


def _zeros_like(tree):
    return jax.tree_util.tree_map(jnp.zeros_like, tree)


def _check_order(order):
    if not 0 <= order <= ORDER:
        raise ValueError(f"order must be between 0 and {ORDER}, got {order}")


def _along(fn, v):
    """`z -> fn'(z)[v]`: one forward-mode `jax.jvp`."""

    def derivative(z):
        return jax.jvp(fn, (z,), (v,))[1]

    return derivative


def _derivatives(loss, y):
    """`g(y)` and `dg`, with `dg(v_1, ..., v_k)` = g^(k)(y)[v_1, ..., v_k].

    g = -grad(loss) is built once. g'(y)[v] applies one `jax.linearize` of g at y
    (a forward-over-reverse Hessian-vector product, the forward pass shared by all
    calls); g^(k) for k >= 2 nests k `jax.jvp`s. No derivative tensor is formed.
    """
    grad = jax.grad(loss)

    def g(z):
        return jax.tree_util.tree_map(jnp.negative, grad(z))

    g_y, g_prime = jax.linearize(g, y)

    def dg(*directions):
        if len(directions) == 1:
            return g_prime(directions[0])
        fn = g
        for v in directions:
            fn = _along(fn, v)
        return fn(y)

    return g_y, dg
'''

_MATRIX_FREE_FIELDS = '''

def terms_by_order(loss, y, args, order=ORDER):
    """[F_0(y), ..., F_order(y)] (pytrees like y): the flow is sum_k h^k F_k(y).

    `loss` maps a pytree to a scalar; `args` holds the symbolic parameters.
    """
    _check_order(order)
    F = _differentials(loss, y, order)
    c = coefficients(args)
    out = []
    for k in range(order + 1):
        parts = [_scale(c[p, tree], F[tree]) for p, tree, _ in TERMS if p == k]
        out.append(_add(*parts) if parts else _zeros_like(y))
    return out


def _flow(loss, y, args, order):
    F = terms_by_order(loss, y, args, order)
    h = args["h"]
    total = F[order]
    for term in reversed(F[:order]):  # Horner: F_0 + h (F_1 + h (F_2 + ...))
        total = _add(term, _scale(h, total))
    return total


def make_vector_field(loss, order=ORDER):
    """The truncated flow as `field(t, y, args)` for `diffrax.ODETerm`.

    `args` is a dict with "h" and one entry per name in SYMBOLIC_PARAMETERS;
    `order` (at most ORDER) keeps the terms with powers of h up to it.
    """
    _check_order(order)

    def field(t, y, args):
        return _flow(loss, y, args, order)

    return field


def vector_field(t, y, args):
    """The flow through ORDER as `(t, y, args)`, with the loss in `args["loss"]`."""
    return _flow(args["loss"], y, args, ORDER)
'''


def _constants(flow) -> list[str]:
    from ._render import differential_text

    lines = [
        "",
        "import jax",
        "import jax.numpy as jnp",
        "",
        f"OPTIMIZER = {_literal(flow.recurrence.name)}",
        f"ORDER = {flow.order}",
        f"PARAMETERS = {_literal(dict(flow.parameters))}",
        f"SYMBOLIC_PARAMETERS = {_literal(tuple(flow.recurrence.parameters))}",
        "",
        "# (power of h, tree, elementary differential) of each term",
        "TERMS = (",
    ]
    for t in flow.terms:
        lines.append(
            f"    ({t.power}, {_quote(t.tree)}, "
            f"{_quote(differential_text(flow.table, t.index))}),"
        )
    lines.append(")")
    return lines


def _coefficients_function(flow) -> list[str]:
    params = list(flow.recurrence.parameters)
    doc = "Exact coefficients keyed by (power of h, tree)"
    if params:
        at = ", ".join(f'args["{p}"]' for p in params)
        if len(doc) + len(at) + 16 <= 81:
            doc = f"{doc}, at {at}."
        else:
            doc = f"{doc}.\n\n    The symbolic parameters are read from {at}.\n    "
    else:
        doc += "."
    lines = ["", "", "def coefficients(args):", f'    """{doc}"""']
    if not params:
        lines.append("    del args  # every parameter has a value")
    else:  # one assignment, so that a parameter may even be called `args`
        lines.append(
            f"    {', '.join(params)} = " + ", ".join(f'args["{p}"]' for p in params)
        )
    lines.append("    return {")
    for t in flow.terms:
        key = f"({t.power}, {_quote(t.tree)})"
        value = _python(t.sympy)
        line = f"        {key}: {value},"
        if len(line) > 88:  # the layout ruff gives a long value in parentheses
            line = f"        {key}: (\n            {value}\n        ),"
        lines.append(line)
    lines.append("    }")
    return lines


def _matrix_free_body(flow) -> str:
    from ._render import differential_text

    table = flow.table
    need = _needed_trees(flow)
    lines = _constants(flow)
    lines.append(_MATRIX_FREE_HELPERS.rstrip("\n"))
    lines += _coefficients_function(flow)
    # one function per elementary differential, in terms of its children's values
    for i in sorted(need):
        kids = table.children[i]
        if not kids:
            continue
        fname = "F_" + _tree_name(table, i)
        unique = list(dict.fromkeys(_tree_name(table, c) for c in kids))
        call = ", ".join(_tree_name(table, c) for c in kids)
        lines += [
            "",
            "",
            f"def {fname}(dg, {', '.join(unique)}):",
            f'    """F({table.bracket(i)}) = {differential_text(table, i)}."""',
            f"    return dg({call})",
        ]
    # every needed differential once, children first
    lines += [
        "",
        "",
        "def _differentials(loss, y, order=ORDER):",
        '    """F(tree) at y for each tree the terms through `order` need, once."""',
        "    g, dg = _derivatives(loss, y)",
        '    F = {"[]": g}',
    ]
    by_order: dict[int, list[int]] = {}
    for i, k in need.items():
        if table.children[i]:
            by_order.setdefault(k, []).append(i)
    for k in sorted(by_order):
        lines.append(f"    if order >= {k}:")
        for i in sorted(by_order[k]):
            args = ", ".join(
                f"F[{_quote(table.bracket(c))}]"
                for c in dict.fromkeys(table.children[i])
            )
            lines.append(
                f"        F[{_quote(table.bracket(i))}] = "
                f"F_{_tree_name(table, i)}(dg, {args})"
            )
    lines.append("    return F")
    lines.append(_MATRIX_FREE_FIELDS.rstrip("\n"))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ explicit


_RESERVED = {
    "state", "args", "order", "jnp", "jax", "t", "y", "h", "k", "F", "loss", "field",
    "term", "total", "ORDER", "LOSS", "VARIABLES", "TERMS",
}  # fmt: skip


def _explicit_printer():
    from sympy.printing.numpy import JaxPrinter

    class _Printer(JaxPrinter):
        """SymPy's JAX printer, writing `jnp.` for `jax.numpy.` and `1/x**k` for
        negative integer powers (instead of `x**(-k.0)`)."""

        def doprint(self, expr, assign_to=None):
            return _float_big_integers(super().doprint(expr, assign_to))

        def _print_Pow(self, expr, rational=False):
            b, e = expr.as_base_exp()
            if e.is_Integer and e.is_negative:
                base = self.parenthesize(b, 50)  # PRECEDENCE["Pow"] = 60, Mul = 50
                return f"1/{base}" if e == -1 else f"1/{self.parenthesize(b, 60)}**{-e}"
            return super()._print_Pow(expr, rational=rational)

        def _module_format(self, fqn, register=True):
            text = super()._module_format(fqn, register)
            return (
                "jnp." + text[len("jax.numpy.") :]
                if text.startswith("jax.numpy.")
                else text
            )

    return _Printer({"fully_qualified_modules": True, "allow_unknown_functions": False})


def _explicit_body(flow, loss, variables):
    """(module body, header lines, (loss text, variable names))."""
    import sympy

    explicit = flow.on(loss, variables)
    concrete = explicit.concrete
    names = [v.name for v in explicit.variables]
    params = list(flow.recurrence.parameters)
    local = _local_names([*names, *params])
    rename = {sympy.Symbol(n): sympy.Symbol(local[n]) for n in [*names, *params]}
    # per power of h: sum of coefficient * F(tree), components in the variables
    coefficient = [t.sympy for t in flow.terms]
    orders = []
    for k in range(flow.order + 1):
        comps = [sympy.Integer(0)] * len(names)
        for t, c in zip(flow.terms, coefficient, strict=True):
            if t.power != k:
                continue
            F = concrete.differential(flow.table, t.index)
            comps = [a + c * f for a, f in zip(comps, F, strict=True)]
        orders.append([c.xreplace(rename) for c in comps])
    flat = [c for comps in orders for c in comps]
    exclude = set(rename.values()) | {sympy.Symbol(r) for r in _RESERVED}
    replacements, reduced = sympy.cse(
        flat, symbols=sympy.numbered_symbols("s", exclude=exclude), order="none"
    )
    printer = _explicit_printer()
    loss_expr = explicit.loss.xreplace(rename)
    loss_params = [p for p in params if sympy.Symbol(p) in explicit.loss.free_symbols]
    unpack = _unpack_line([local[n] for n in names])
    lines = _constants(flow)
    lines[lines.index("TERMS = (") - 1 : lines.index("TERMS = (")] = [
        f"LOSS = {_quote(sympy.sstr(explicit.loss))}",
        f"VARIABLES = {_literal(tuple(names))}",
        "",
        "# (power of h, tree, elementary differential) of each term",
    ]
    lines += [
        "",
        "",
        "def _check_order(order):",
        "    if not 0 <= order <= ORDER:",
        '        raise ValueError(f"order must be between 0 and {ORDER}, got {order}")',
        "",
        "",
        "def _stack(components, state):",
        "    return jnp.stack([jnp.zeros_like(state[0]) + c for c in components])",
        "",
        "",
        *_loss_function(loss_expr, loss_params, local, unpack, printer),
        "",
        "",
        "def terms_by_order(state, args, order=ORDER):",
        '    """[F_0, ..., F_order] at `state` (1-D arrays): dx/dt = sum h^k F_k."""',
        "    _check_order(order)",
        f"    {unpack}",
    ]
    if params:  # one assignment: every right side is read before any name is bound
        lines.append(
            f"    {', '.join(local[p] for p in params)} = "
            + ", ".join(f'args["{p}"]' for p in params)
        )
    if not params:
        lines.append("    del args  # every parameter has a value")
    for sym, expr in replacements:
        lines.append(f"    {sym} = {printer.doprint(expr)}")
    d = len(names)
    for k in range(flow.order + 1):
        comps = ", ".join(printer.doprint(e) for e in reduced[k * d : (k + 1) * d])
        lines.append(f"    F_{k} = [{comps}]")
    lines += [
        "    F = [" + ", ".join(f"F_{k}" for k in range(flow.order + 1)) + "]",
        "    return [_stack(F_k, state) for F_k in F[: order + 1]]",
        "",
        "",
        "def _flow(state, args, order):",
        "    F = terms_by_order(state, args, order)",
        '    h = args["h"]',
        "    total = F[order]",
        "    for term in reversed(F[:order]):  # Horner: F_0 + h (F_1 + h (F_2 + ...))",
        "        total = term + h * total",
        "    return total",
        "",
        "",
        "def make_vector_field(order=ORDER):",
        '    """The flow truncated at `order`, as `field(t, y, args)` (y: 1-D)."""',
        "    _check_order(order)",
        "",
        "    def field(t, y, args):",
        "        return _flow(y, args, order)",
        "",
        "    return field",
        "",
        "",
        "def vector_field(t, y, args):",
        '    """The flow through ORDER, `(t, y, args)`; y: 1-D array of VARIABLES."""',
        "    return _flow(y, args, ORDER)",
    ]
    extra = [
        f"Loss: {sympy.sstr(explicit.loss)}",
        f"Variables: {', '.join(names)} (the state is a 1-D array in this order)",
    ]
    return "\n".join(lines) + "\n", extra, (sympy.sstr(explicit.loss), names)


def _loss_function(expr, params, local, unpack, printer) -> list[str]:
    if not params:
        return [
            "def loss(state):",
            '    """The loss LOSS at `state`, a 1-D array of VARIABLES."""',
            f"    {unpack}",
            f"    return {printer.doprint(expr)}",
        ]
    return [
        "def loss(state, args):",
        '    """The loss LOSS at `state` (1-D array of VARIABLES) and `args`."""',
        f"    {unpack}",
        f"    {', '.join(local[p] for p in params)} = "
        + ", ".join(f'args["{p}"]' for p in params),
        f"    return {printer.doprint(expr)}",
    ]


def _local_names(names: list[str]) -> dict[str, str]:
    """Python names for loss variables and parameters that clash with nothing."""
    out: dict[str, str] = {}
    taken = set(names)
    for n in names:
        py = n if not n.startswith("_") else "v" + n
        while py in _RESERVED or keyword.iskeyword(py) or (py != n and py in taken):
            py += "_"
        taken.add(py)
        out[n] = py
    return out


def _unpack_line(names: list[str]) -> str:
    if len(names) == 1:
        return f"{names[0]} = state[0]"
    return (
        ", ".join(names) + " = " + ", ".join(f"state[{i}]" for i in range(len(names)))
    )
