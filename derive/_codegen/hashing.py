"""The content hash in the header of a generated module, and its check."""

from __future__ import annotations

import hashlib
import re

from .._errors import DeriveError

__all__ = ["HASH_PLACEHOLDER", "content_hash", "verify_content_hash", "seal"]

HASH_PLACEHOLDER = "sha256:" + "0" * 64
"""Written in the header while the module is assembled; `seal` fills it in."""

_HASH_LINE = re.compile(r"^Content hash: sha256:([0-9a-f]{64})", re.MULTILINE)


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
    """SHA-256 (hex) of the code below the header docstring of a generated module.

    !!! example
        ```python
        >>> import derive
        >>> code = derive.codegen(derive.gd(), order=0)
        >>> derive.content_hash(code.source) == code.content_hash
        True

        ```
    """
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


def seal(text: str) -> str:
    """`text` with the placeholder in its header replaced by the hash of its body.

    The text is emitted already formatted (no formatter runs afterwards), so the hash
    is the same on every machine.
    """
    header, body = _split(text)
    if HASH_PLACEHOLDER not in header:  # pragma: no cover - our own header
        raise AssertionError("the header lost its content hash line")
    digest = hashlib.sha256(body.encode()).hexdigest()
    return header.replace(HASH_PLACEHOLDER, "sha256:" + digest) + body
