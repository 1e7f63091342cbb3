"""How to cite the toolkit and a derivation: BibTeX, a text citation, record hashes.

The citation data below are the ones of `CITATION.cff` (a test keeps the two equal).
A derivation record (`derive flow ... --format json`, and the records of `manifold`
and `ode`) carries a schema tag, the toolkit's version, its inputs and a content hash:
the SHA-256 of the record's canonical JSON without the hash itself and without the
toolkit block, so that the same derivation has the same hash under every version of
the toolkit that derives it identically.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from ._errors import DeriveError
from ._version import DISTRIBUTION, __version__

__all__ = [
    "CITATION",
    "bibtex",
    "citation_text",
    "record_hash",
    "check_record",
    "cite_record",
]

CITATION: dict[str, str] = {
    "title": "optimizer-flows: exact modified flows of optimizers, verified against "
    "the iterates",
    "authors": "The optimizer-flows developers",
    "year": "2026",
    "license": "MIT",
    "url": "https://pypi.org/project/optimizer-flows/",
}
"""The citation data (as in `CITATION.cff`); the version is the installed one."""

_NOT_HASHED = ("content_hash", "toolkit")


def bibtex() -> str:
    """A BibTeX entry for the toolkit at the installed version.

    !!! example
        ```python
        >>> from derive._citation import bibtex
        >>> bibtex().splitlines()[0].startswith("@software{optimizer_flows_")
        True

        ```
    """
    key = f"{DISTRIBUTION.replace('-', '_')}_{__version__.replace('.', '_')}"
    return (
        f"@software{{{key},\n"
        f"  title = {{{CITATION['title']}}},\n"
        f"  author = {{{{{CITATION['authors']}}}}},\n"
        f"  year = {{{CITATION['year']}}},\n"
        f"  version = {{{__version__}}},\n"
        f"  url = {{{CITATION['url']}}},\n"
        f"  license = {{{CITATION['license']}}},\n"
        f"  note = {{Python distribution {DISTRIBUTION}, packages derive and numerics}}\n"
        "}"
    )


def citation_text() -> str:
    """The citation as one line of text."""
    return (
        f"{CITATION['authors']} ({CITATION['year']}). {CITATION['title']} "
        f"(version {__version__}). {CITATION['url']}"
    )


def record_hash(record: Mapping[str, Any]) -> str:
    """The content hash of a derivation record (hex SHA-256, see the module docs).

    !!! example
        ```python
        >>> import derive
        >>> from derive._citation import record_hash
        >>> record = derive.modified_flow(derive.gd(), 1).to_dict()
        >>> record["content_hash"] == "sha256:" + record_hash(record)
        True

        ```
    """
    body = {k: v for k, v in record.items() if k not in _NOT_HASHED}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal_record(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with its `content_hash` set (the last key)."""
    record["content_hash"] = "sha256:" + record_hash(record)
    return record


def check_record(record: Mapping[str, Any]) -> str:
    """Check a derivation record's content hash; returns it (`sha256:...`).

    **Raises:** [`DeriveError`][derive.DeriveError] when the record has no hash or was
    edited after it was written.
    """
    stated = record.get("content_hash")
    if not isinstance(stated, str) or not stated.startswith("sha256:"):
        raise DeriveError(
            "the record states no content hash (it is not a derivation record of "
            "derive flow, manifold or ode, or it predates version 0.1.0's schema).",
            "Regenerate it with --format json.",
        )
    actual = "sha256:" + record_hash(record)
    if stated != actual:
        raise DeriveError(
            f"the record's content hash ({stated[:19]}...) does not match its content "
            f"({actual[:19]}...): it was edited after it was written.",
            "Regenerate it with the command in its 'inputs'.",
        )
    return actual


def cite_record(record: Mapping[str, Any]) -> str:
    """A sentence for a paper's appendix that references a checked derivation record."""
    digest = check_record(record)
    toolkit = record.get("toolkit", {})
    what = {
        "optimizer-flows.flow/1": "Modified flow",
        "optimizer-flows.manifold/1": "Invariant manifold",
        "optimizer-flows.ode/1": "High-resolution equation",
    }.get(str(record.get("schema")), "Derivation")
    command = record.get("inputs", {}).get("command")
    return (
        f"{what} of {record.get('optimizer')} through order {record.get('order')}, "
        f"derived with {toolkit.get('name', DISTRIBUTION)} "
        f"{toolkit.get('version', '?')} (record {digest}"
        + (f"; `{command}`" if command else "")
        + ")."
    )
