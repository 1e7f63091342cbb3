"""What every JSON record of a derivation starts with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .._version import DISTRIBUTION, __version__

if TYPE_CHECKING:
    from .._recurrence import Recurrence

__all__ = ["toolkit", "describe_loss", "inputs", "finish"]


def toolkit() -> dict[str, str]:
    """`{"name": distribution, "version": ...}`, the producer of a record."""
    return {"name": DISTRIBUTION, "version": __version__}


def describe_loss(loss: object, variables: Iterable[object]) -> dict[str, Any]:
    """The `loss` entry of a record on a concrete loss."""
    return {"expression": str(loss), "variables": [str(v) for v in variables]}


def inputs(
    sub: str,
    recurrence: Recurrence,
    order: int,
    loss: object = None,
    variables: object = None,
    *,
    words: Sequence[str] = (),
    **recorded: object,
) -> dict[str, Any]:
    """What a derivation was made from: the optimizer's definition, its parameters,
    the order, the loss (and `recorded` facts), and the command that rebuilds it when
    there is one (`words` are its extra options)."""
    from .._optimizers import builtin_name, command_words

    name = builtin_name(recurrence)
    definition = (
        {"kind": "spec", "text": recurrence.source}
        if recurrence.source
        else {"kind": "built-in", "name": name}
        if name is not None
        else {"kind": "program", "text": recurrence.pretty()}
    )
    command = command_words(sub, recurrence, order)
    if command is not None:
        command += list(words)
        if loss is not None:
            shown = (
                ",".join(str(v) for v in variables)
                if isinstance(variables, list | tuple)
                else str(variables)
            )
            command += [f"--loss '{loss}'", f"--vars {shown}"]
        command.append("--format json")
    return {
        "definition": definition,
        "parameters": recurrence.parameter_texts,
        "order": order,
        "loss": None if loss is None else str(loss),
        **recorded,
        "command": None if command is None else " ".join(command),
    }


def finish(
    record: dict[str, Any], schema: str, made_from: dict[str, Any]
) -> dict[str, Any]:
    """A record with its schema tag first, its inputs and its content hash last."""
    from .._citation import seal_record

    out = {"schema": schema, **record, "inputs": made_from}
    return seal_record(out)
