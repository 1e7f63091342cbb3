"""Output folders that never collide and are written whole or not at all.

- [`check_output`][numerics._output.check_output] runs before any computation: the
  folder must be creatable (its nearest existing parent is a writable folder, not a
  file) and must not already hold results, unless they are to be replaced.
- [`free_folder`][numerics._output.free_folder] numbers a default folder
  (`name`, `name-2`, `name-3`, ...) so that a re-run never overwrites an earlier one.
- [`atomic_folder`][numerics._output.atomic_folder] writes into a temporary folder
  beside the target and renames it into place at the end: a run that fails half-way
  leaves the earlier results whole and nothing new beside them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from derive import DeriveError

__all__ = ["check_output", "free_folder", "atomic_folder"]


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")


def check_output(
    out: str | os.PathLike[str], *, overwrite: bool = False, option: str = "--out"
) -> Path:
    """Check that the folder `out` can receive results, before computing them.

    **Raises:** [`DeriveError`][derive.DeriveError] when `out` is a file, lies below a
    file, cannot be created (no permission), or is a folder that already holds files
    and `overwrite` is false.

    **Returns:** `out` as a `Path`.
    """
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise DeriveError(
            f"{option} {str(folder)!r} is a file, not a folder: the results are a "
            "folder of files (certificate.json, errors.png, the generated module).",
            f"Give a folder path with {option} (it is created if needed).",
        )
    if folder.is_dir():
        if any(folder.iterdir()) and not overwrite:
            raise DeriveError(
                f"{option} {str(folder)!r} already exists and holds results; they are "
                "never overwritten silently.",
                f"Give another {option}, remove the folder, or add --force "
                "(overwrite=True) to replace it as a whole.",
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise DeriveError(
                f"{option} {str(folder)!r} is not writable.", "Give another folder."
            )
        return folder
    base = _nearest_existing(folder.parent if folder.parent != folder else folder)
    if not base.is_dir():
        raise DeriveError(
            f"{option} {str(folder)!r} cannot be created: {str(base)!r} is a file, "
            "not a folder.",
            f"Give a path below a folder with {option}.",
        )
    if not os.access(base, os.W_OK | os.X_OK):
        raise DeriveError(
            f"{option} {str(folder)!r} cannot be created: {str(base)!r} is not "
            "writable.",
            f"Give a folder you can write to with {option}.",
        )
    return folder


def free_folder(base: str | os.PathLike[str]) -> Path:
    """`base` if it does not exist or is empty, else the first of `base-2`,
    `base-3`, ... that does not exist."""
    path = Path(base)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return path
    k = 2
    while True:
        candidate = path.with_name(f"{path.name}-{k}")
        if not candidate.exists():
            return candidate
        k += 1


@contextlib.contextmanager
def atomic_folder(
    out: str | os.PathLike[str], *, overwrite: bool = False
) -> Iterator[Path]:
    """Yield a temporary folder beside `out`; when the block ends without an
    exception, it becomes `out` (an existing `out` is replaced as a whole when
    `overwrite`, else refused); on an exception it is removed and `out` is untouched.
    """
    target = Path(out)
    check_output(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    )
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o777 & ~umask)  # as a folder made with mkdir would be
    try:
        yield temporary
        if not overwrite:
            # rename() replaces an empty folder but never one with files, so a folder
            # that another run filled meanwhile is kept whole
            try:
                os.rename(temporary, target)
            except OSError as e:
                if not (target.exists() or target.is_symlink()):
                    raise
                raise DeriveError(
                    f"{str(target)!r} was created or filled by another program "
                    "while the results were computed; it is never overwritten "
                    "silently, so these results were not written.",
                    "Run again with another --out (or --force to replace it).",
                ) from e
        elif target.exists():
            old = Path(
                tempfile.mkdtemp(
                    prefix=f".{target.name}.", suffix=".old", dir=target.parent
                )
            )
            os.rmdir(old)
            os.rename(target, old)
            try:
                os.rename(temporary, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(temporary, target)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
