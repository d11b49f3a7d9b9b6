"""Reading a ledger as a stream: one line at a time, in bounded memory, whatever its size.

:meth:`skillforge.ledger.Ledger.read` loads a whole ledger into a list; a production ledger of
millions of calls must not be. :func:`iter_entries` reads each file line by line (a line longer than
:data:`MAX_LINE_BYTES` is skipped in bounded chunks, never held whole) and yields every intact
:class:`~skillforge.ledger.LedgerEntry`; a torn, undecodable or foreign line is skipped, as
:meth:`Ledger.read` does. Several files (a ledger per skill, or per project) read as one stream.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from skillforge.errors import ConfigurationError
from skillforge.ledger import LedgerEntry

#: Longest ledger line read (a line is ~300 bytes).
MAX_LINE_BYTES = 64 * 1024

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_WINDOW = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")


def _lines(path: Path) -> Iterator[bytes]:
    # O_NONBLOCK: a FIFO named like a ledger is refused below, not waited on.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigurationError(f"{path}: not a regular file")
        while raw := fh.readline(MAX_LINE_BYTES + 1):
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of an over-long line
                    raw = fh.readline(MAX_LINE_BYTES + 1)
                continue
            yield raw


def iter_entries(paths: Iterable[str | Path]) -> Iterator[LedgerEntry]:
    """Every intact entry of the ledger files ``paths``, file by file, in file order. A missing file
    is a :class:`~skillforge.errors.ConfigurationError` (a typo must not read as "no traffic")."""
    for raw_path in paths:
        path = Path(raw_path)
        if not path.exists():
            raise ConfigurationError(f"no ledger at {path}")
        for raw in _lines(path):
            if not raw.strip():
                continue
            try:
                yield LedgerEntry.model_validate_json(raw)
            except ValidationError:
                continue  # torn last line, foreign line, or not UTF-8


def parse_time(text: str) -> datetime:
    """An entry's ISO time as an aware UTC datetime (a time without offset is read as UTC)."""
    t = datetime.fromisoformat(text)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def parse_window(text: str) -> timedelta:
    """``"7d"`` -> 7 days. Units: ``m`` minutes, ``h`` hours, ``d`` days, ``w`` weeks."""
    match = _WINDOW.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ConfigurationError(f"window {text!r}: expected a positive number and a unit m, h, d or w "
                                 "(e.g. 7d, 24h)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
