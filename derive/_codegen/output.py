"""Generated modules on their way out: compiled before they are written, written
atomically, never over an existing file unless asked, and reading their `args` with a
message that names a missing parameter.

`derive` never imports JAX, so a module is compiled here (`compile()`: its syntax and
names are valid Python), not run; running it on a sample point is the job of the
numerical side.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .._errors import DeriveError

__all__ = [
    "ARGS_CHECK",
    "args_check_call",
    "check_compiles",
    "check_output_path",
    "write_atomically",
]

ARGS_CHECK = [
    "",
    "",
    "def _check_args(args):",
    "    missing = [p for p in SYMBOLIC_PARAMETERS if p not in args]",
    "    if missing:",
    "        raise KeyError(",
    '            f"args has no value for the symbolic parameter(s) {missing} of this "',
    '            f"module; pass each of {list(SYMBOLIC_PARAMETERS)} with h, e.g. "',
    "            f\"args = {{'h': 0.01, '{missing[0]}': 0.9}}\"",
    "        )",
]
"""The function `_check_args(args)` of a module with symbolic parameters: a
`KeyError` that names the missing parameters instead of a bare `KeyError: 'beta'`."""


def args_check_call(indent: str = "    ") -> str:
    """The line that calls `_check_args(args)` before the parameters are read."""
    return f"{indent}_check_args(args)"


def check_compiles(source: str, name: str) -> None:
    """Compile the generated `source`; a [`DeriveError`][derive.DeriveError] (a bug
    in derive, reported instead of writing a broken module) if it does not."""
    try:
        compile(source, f"<generated {name}>", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise DeriveError(
            f"the generated module {name} does not compile ({type(e).__name__}: {e}); "
            "nothing was written.",
            "This is a bug in derive: please report it with the command that caused "
            "it.",
        ) from None


def check_output_path(path: str | os.PathLike[str], force: bool = False) -> Path:
    """Check, before any work, that a module can be written to `path`.

    The folder must exist (it is never created silently), `path` must not be a
    folder nor contain control characters, and an existing file is replaced only
    with `force`.

    **Returns:** the path. **Raises:** [`DeriveError`][derive.DeriveError].
    """
    p = Path(path)
    text = str(path)
    if not text or any(not c.isprintable() for c in text):
        raise DeriveError(
            f"the output path {text!r} contains a control character (such as a "
            "carriage return or a newline).",
            "Give a plain file name, e.g. -o hb3.py.",
        )
    if p.is_dir():
        raise DeriveError(
            f"the output path {text!r} is a folder.",
            f"Give a file name inside it, e.g. -o {p / 'flow.py'}.",
        )
    parent = p.parent
    if not parent.is_dir():
        raise DeriveError(
            f"the folder {str(parent)!r} of the output file does not exist; it is not "
            "created silently.",
            f"Create it first (mkdir -p {parent}) or write to an existing folder.",
        )
    if not os.access(parent, os.W_OK):
        raise DeriveError(
            f"the folder {str(parent)!r} is not writable.",
            "Write the module to a folder you can write to.",
        )
    if p.exists() and not force:
        raise DeriveError(
            f"{text!r} exists already; it is not overwritten silently.",
            "Add --force to replace it, or choose another file name.",
        )
    return p


def write_atomically(path: Path, text: str) -> Path:
    """Write `text` to a temporary file in `path`'s folder, then rename it to `path`:
    a reader never sees a half-written module, and a failure leaves the old file."""
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
    except OSError as e:
        raise _cannot_write(path, e) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would create it
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _cannot_write(path, e) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _cannot_write(path: Path, error: OSError) -> DeriveError:
    return DeriveError(
        f"cannot write {str(path)!r} ({error.strerror or error}); nothing was written.",
        "Write the module to a folder you can write to.",
    )
