"""Persisted data: the strict pydantic base of every file format, JSON Lines reading and writing, and
resolving a JSON pointer.

Every skillforge file (skill files, cassettes, the ledger, the escalation log) is text. JSON Lines are
split on ``\\n`` only: ``str.splitlines()`` also splits on U+2028, U+2029, U+0085 and other characters
that ``json.dumps(..., ensure_ascii=False)`` writes raw inside strings, so a reader using it would
reject a file its own writer produced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of persisted models: unknown fields are errors, never silently dropped, and a float is
    never NaN or infinite (JSON has neither)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def dumps_line(data: Any) -> str:
    """One JSON Lines record: compact JSON (non-ASCII kept readable) and a newline."""
    return json.dumps(data, ensure_ascii=False) + "\n"


def dump_rows(rows: Iterable[BaseModel]) -> str:
    """JSON Lines text of pydantic rows, one per line, in order."""
    return "".join(dumps_line(r.model_dump(mode="json")) for r in rows)


def lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of JSON Lines text, split on ``\\n`` only; a final newline ends the last
    line rather than starting an empty one."""
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    for n, line in enumerate(parts, start=1):
        yield n, line.removesuffix("\r")


def intact_lines(data: bytes) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of JSON Lines bytes (split by :func:`lines`), leaving out lines that
    are not valid UTF-8 -- a last line torn inside a multi-byte character by a crash, or a foreign
    line -- so one bad line never makes the rest unreadable."""
    for n, line in lines(data.decode("utf-8", "surrogateescape")):
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            continue
        yield n, line


def intact_records(data: bytes, model: type[M]) -> list[M]:
    """The ``model`` records of an append-only JSON Lines log (the ledger, the escalation log): every
    intact line that validates, in order; a torn, undecodable or foreign line is skipped."""
    out = []
    for _, line in intact_lines(data):
        try:
            out.append(model.model_validate_json(line))
        except ValidationError:
            continue
    return out


def resolve_pointer(root: Any, ref: str) -> Any:
    """The node the local ``$ref`` ``ref`` (``#`` or a ``#/...`` JSON pointer) points to in ``root``,
    or ``None`` when it points nowhere."""
    node: Any = root
    for raw in ref[1:].split("/")[1:] if ref != "#" else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def round_or_none(value: float | None, digits: int) -> float | None:
    """``value`` rounded for a stable file (``-0.0`` written as ``0.0``); ``None`` stays ``None``."""
    return None if value is None else round(value, digits) + 0.0
