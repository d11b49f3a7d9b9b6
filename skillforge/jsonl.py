"""Persisted data: the strict pydantic base of every file format, and JSON Lines reading and writing.

Every skillforge file (skill files, cassettes, the ledger, the escalation log) is text. JSON Lines are
split on ``\\n`` only: ``str.splitlines()`` also splits on U+2028, U+2029, U+0085 and other characters
that ``json.dumps(..., ensure_ascii=False)`` writes raw inside strings, so a reader using it would
reject a file its own writer produced.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of persisted models: unknown fields are errors, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


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


def round_or_none(value: float | None, digits: int) -> float | None:
    """``value`` rounded for a stable file (``-0.0`` written as ``0.0``); ``None`` stays ``None``."""
    return None if value is None else round(value, digits) + 0.0
