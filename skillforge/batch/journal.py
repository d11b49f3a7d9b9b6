"""The batch journal: an append-only JSON Lines file beside the output, one line per finished input.

Its first line is a header naming what the journal belongs to (the skill's content hash, the input
file's hash, the id field); a later run against a different skill or input file is refused rather
than mixed in. Every later line is one input's outcome, written as one whole line with ``O_APPEND``
and ``fsync``'d before the input counts as done, so a crash -- ``kill -9`` included -- loses at most
the inputs in flight. A crash inside a write leaves a torn last line (no final newline): opening the
journal cuts it off, and that input simply runs again. An exclusive lock keeps a second process from
writing the same journal at the same time.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from skillforge.errors import BatchJournalError
from skillforge.jsonl import StrictModel, dumps_line
from skillforge.textfiles import write_all

try:  # POSIX; elsewhere a second writer is not detected
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

JOURNAL_VERSION = 1


class JournalHeader(StrictModel):
    """What a journal belongs to: a re-run must present the same skill, input file and id field."""

    format: Literal["skillforge-batch-journal"] = "skillforge-batch-journal"
    version: int = JOURNAL_VERSION
    skill: str
    skill_sha256: str
    input_sha256: str
    id_field: str | None


class JournalRecord(StrictModel):
    """One input's outcome. ``ok`` with ``result`` (the output line's fields), or a failure with its
    ``error``; ``final`` failures (the input's own fault) are not retried by a later run."""

    key: str
    line: int
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None
    final: bool = False


class Journal:
    """An open, locked journal. :meth:`open` reads (and repairs) what a previous run left."""

    def __init__(self, path: Path, fd: int, records: dict[str, tuple[JournalRecord, int, int]]) -> None:
        self.path = path
        self._fd = fd
        self._lock = threading.Lock()
        #: key -> (its latest record, byte offset of that line, its length): what the output is built from.
        self.latest = records

    @classmethod
    def open(cls, path: Path, header: JournalHeader) -> Journal:
        """Open the journal at ``path`` for ``header``'s batch, creating it if absent. Raises
        :class:`BatchJournalError` when it belongs to another batch or another process holds it."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        try:
            _lock(fd, path)
            data = _read_all(fd)
            end = data.rfind(b"\n") + 1
            if end < len(data):  # a torn last line from a crash mid-write: that input runs again
                os.ftruncate(fd, end)
                data = data[:end]
            if not data:
                write_all(fd, dumps_line(header.model_dump(mode="json")).encode("utf-8"))
                os.fsync(fd)
                _sync_dir(path.parent)
                return cls(path, fd, {})
            _check_header(path, data, header)
            return cls(path, fd, _records(data))
        except BaseException:
            os.close(fd)
            raise

    def append(self, *records: JournalRecord) -> None:
        """Write ``records`` as whole lines in one write and ``fsync`` them: once this returns, their
        inputs are done. (Several records per call is a group commit: one ``fsync`` for all.)"""
        lines = [dumps_line(r.model_dump(mode="json", exclude_defaults=True)).encode("utf-8") for r in records]
        with self._lock:
            offset = os.lseek(self._fd, 0, os.SEEK_END)
            write_all(self._fd, b"".join(lines))
            for record, line in zip(records, lines, strict=True):
                self.latest[record.key] = (record, offset, len(line))
                offset += len(line)
            os.fsync(self._fd)

    def read_line(self, key: str) -> bytes:
        """The bytes of ``key``'s latest record line."""
        _, offset, length = self.latest[key]
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _lock(fd: int, path: Path) -> None:
    if fcntl is None:  # pragma: no cover
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BatchJournalError(f"{path} is in use by another running batch", path=path) from None


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, min(1 << 20, size - offset), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _sync_dir(path: Path) -> None:
    """Make a new file's directory entry durable too (POSIX; a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_header(path: Path, data: bytes, header: JournalHeader) -> None:
    first = data[: data.find(b"\n")]
    try:
        found = JournalHeader.model_validate_json(first)
    except ValidationError:
        raise BatchJournalError(f"{path} is not a skillforge batch journal (delete it to start over)",
                                path=path) from None
    differs = [name for name in ("skill", "skill_sha256", "input_sha256", "id_field")
               if getattr(found, name) != getattr(header, name)]
    if found.version != header.version or differs:
        what = {"skill": "another skill", "skill_sha256": "another version of the skill",
                "input_sha256": "another input file (or this one before it changed)",
                "id_field": "another --id-field"}
        reason = what[differs[0]] if differs else f"journal format version {found.version}"
        raise BatchJournalError(
            f"{path} belongs to a batch of {reason}: use another output path, or delete the journal to "
            "start this batch over", path=path)


def _records(data: bytes) -> dict[str, tuple[JournalRecord, int, int]]:
    """Every intact record after the header, the latest per key (with its line's offset and length)."""
    out: dict[str, tuple[JournalRecord, int, int]] = {}
    for offset, line in _lines(data):
        try:
            record = JournalRecord.model_validate_json(line)
        except (ValidationError, ValueError):
            continue  # a foreign or damaged line: its input runs again
        out[record.key] = (record, offset, len(line))
    return out


def _lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, line with its newline) of every line but the header."""
    offset = data.find(b"\n") + 1
    while offset < len(data):
        end = data.find(b"\n", offset) + 1
        if end == 0:  # no newline left (the caller cut any torn tail; this is only a guard)
            return
        yield offset, data[offset:end]
        offset = end


def record_key(value: Any) -> str:
    """The journal key of an input id: its compact JSON, so ``7`` and ``"7"`` stay apart."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
