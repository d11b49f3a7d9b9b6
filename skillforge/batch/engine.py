"""Running a skill over a JSON Lines file of inputs, crash-safe and resumable.

:func:`run_batch` answers every input of ``IN.jsonl`` with one reused runner, a bounded number at a
time, and records each outcome in the journal (:mod:`skillforge.batch.journal`) the moment it is
known. Run it again after any interruption -- Ctrl-C, a crash, ``kill -9``, a reboot -- and it skips
what is done and runs the rest. When every input has an outcome it (re)writes, each atomically:

- ``OUT.jsonl``: exactly one line per input, in input order: ``{"id", "output", "escalated",
  "answered_by", "confidence", "cost_usd"}``, or ``{"id", "error", "error_type"}`` for a failed one;
- ``OUT.failures.jsonl``: one line per failed input: ``{"id", "line", "error", "error_type", "final"}``.

A failure that is the input's own fault (:class:`~skillforge.errors.UserError`: not JSON, not matching
the input schema) is ``final``. A run-time failure (:class:`~skillforge.errors.RunError`: a provider
still failing after its retries, an escalation without a valid answer) is retried by the next run of
the same command. An authentication or configuration error stops the batch (every later input would
meet it too); what was done is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from skillforge.batch.journal import Journal, JournalHeader, JournalRecord, record_key
from skillforge.errors import ConfigurationError, InputValidationError, ModelAuthError, UserError
from skillforge.ledger import Ledger
from skillforge.models.base import Model, blocking
from skillforge.models.pricing import total_cost
from skillforge.run import ItemResult, RunResult, run_each
from skillforge.skill import Skill
from skillforge.spec import DEFAULT_LIMITS, clip, parse_json

#: Errors that stop a batch instead of failing one input: every later input would meet them too.
STOP_ON = (ModelAuthError, ConfigurationError)


@dataclass(frozen=True)
class BatchPaths:
    """Where a batch writes: the output, its journal and its failures file."""

    output: Path
    journal: Path
    failures: Path

    @classmethod
    def beside(cls, output: str | Path) -> BatchPaths:
        """``OUT.jsonl`` -> ``OUT.jsonl.journal`` and ``OUT.failures.jsonl`` in the same directory."""
        output = Path(output)
        stem = output.name.removesuffix(".jsonl")
        return cls(output, output.with_name(output.name + ".journal"), output.with_name(stem + ".failures.jsonl"))


@dataclass
class BatchStats:
    """A batch's progress, passed to ``on_progress`` when it starts and after every input."""

    total: int
    #: Inputs finished by earlier runs of this batch (skipped now).
    done_before: int
    answered: int = 0
    failed: int = 0
    escalated: int = 0
    #: Dollars spent by this run (``None`` once a call's price is unknown).
    cost_usd: float | None = 0.0

    @property
    def done(self) -> int:
        """Inputs with an outcome, earlier runs included."""
        return self.done_before + self.answered + self.failed


@dataclass(frozen=True)
class BatchSummary:
    """What a finished batch did. ``failed`` counts every failed input in the output (earlier runs'
    final failures included)."""

    paths: BatchPaths
    total: int
    skipped: int
    answered: int
    failed: int
    escalated: int
    cost_usd: float | None


@dataclass(frozen=True)
class _Entry:
    line: int
    key: str
    id: Any


@dataclass
class _Scan:
    sha256: str
    entries: list[_Entry] = field(default_factory=list)


async def arun_batch(
    skill: Skill,
    inputs: str | Path,
    output: str | Path,
    *,
    concurrency: int = 4,
    id_field: str | None = None,
    student: str | Model | None = None,
    teacher: str | Model | None = None,
    ledger: Ledger | None = None,
    escalate: bool = True,
    on_progress: Callable[[BatchStats], None] | None = None,
) -> BatchSummary:
    """Answer every input line of ``inputs`` (JSON Lines) and write ``output`` (see the module doc).
    Resumes from the journal beside ``output``; raises :class:`~skillforge.errors.BatchJournalError`
    when that journal belongs to another skill, input file or ``id_field``.

    Each input's id is its line number, or with ``id_field`` that field's value (a string or an
    integer, unique in the file; removed from the input unless the input schema declares it)."""
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}")
    source, paths = Path(inputs), BatchPaths.beside(output)
    if source.resolve() in {p.resolve() for p in (paths.output, paths.journal, paths.failures)}:
        raise ConfigurationError(f"{source} is the input file: write the output somewhere else")
    scan = _scan(source, id_field)
    header = JournalHeader(skill=skill.name, skill_sha256=_skill_sha256(skill), input_sha256=scan.sha256,
                           id_field=id_field)
    paths.output.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal.open(paths.journal, header)
    commit = _GroupCommit(journal)
    try:
        pending = {e.line: e for e in scan.entries if _pending(journal, e.key)}
        stats = BatchStats(total=len(scan.entries), done_before=len(scan.entries) - len(pending))
        if on_progress is not None:
            on_progress(stats)

        def record(entry: _Entry, item: ItemResult[Any]) -> JournalRecord:
            if item.result is not None:
                line = _result_line(entry.id, item.result)
                return JournalRecord(key=entry.key, line=entry.line, ok=True, result=line)
            assert item.error is not None
            return _failure(entry, item.error)

        async def on_item(item: ItemResult[_Entry]) -> None:
            await commit.append(record(item.key, item))
            _count(stats, item)
            if on_progress is not None:
                on_progress(stats)

        def broken(entry: _Entry, error: InputValidationError) -> None:
            journal.append(_failure(entry, error))
            _count(stats, ItemResult(entry, None, error=error))
            if on_progress is not None:
                on_progress(stats)

        if pending:
            runner = skill.runner(student=student, teacher=teacher, ledger=ledger, escalate=escalate)
            schema_fields = set(skill.manifest.input_schema.get("properties", {}))
            items = _inputs(source, pending, id_field, schema_fields, broken)
            await run_each(runner, items, concurrency=concurrency, on_item=on_item, stop_on=STOP_ON)
        failed = _write_outputs(journal, scan.entries, paths)
    finally:
        await commit.drain()  # a write still running in its thread must not outlive the journal's fd
        journal.close()
    return BatchSummary(paths=paths, total=stats.total, skipped=stats.done_before, answered=stats.answered,
                        failed=failed, escalated=stats.escalated, cost_usd=stats.cost_usd)


run_batch = blocking(arun_batch)


class _GroupCommit:
    """Journal appends from many concurrent inputs, written and ``fsync``'d together: while one
    ``fsync`` runs (milliseconds on a disk), the records finished meanwhile queue up for the next."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._queue: list[tuple[JournalRecord, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, record: JournalRecord) -> None:
        """Return once ``record`` is durable."""
        done = asyncio.get_running_loop().create_future()
        self._queue.append((record, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await done

    async def drain(self) -> None:
        """Wait for the write in progress, if any (its failure was handed to its waiters)."""
        if self._writer is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._writer)

    async def _write(self) -> None:
        while self._queue:
            group, self._queue = self._queue, []
            try:
                await asyncio.to_thread(self.journal.append, *(r for r, _ in group))
            except BaseException as exc:  # every waiter fails with the write (the batch then stops)
                for _, done in group:
                    if not done.done():
                        done.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for _, done in group:
                if not done.done():
                    done.set_result(None)


def _pending(journal: Journal, key: str) -> bool:
    found = journal.latest.get(key)
    return found is None or not (found[0].ok or found[0].final)


def _count(stats: BatchStats, item: ItemResult[Any]) -> None:
    if item.result is None:
        stats.failed += 1
        return
    stats.answered += 1
    stats.escalated += item.result.escalated
    stats.cost_usd = total_cost([stats.cost_usd, item.result.cost_usd])


def _failure(entry: _Entry, error: Exception) -> JournalRecord:
    return JournalRecord(key=entry.key, line=entry.line, ok=False, error=clip(str(error), 2000),
                         error_type=type(error).__name__, final=isinstance(error, UserError))


def _result_line(id: Any, result: RunResult) -> dict[str, Any]:
    return {"id": id, "output": result.output, "escalated": result.escalated, "answered_by": result.answered_by,
            "confidence": None if result.confidence is None else round(result.confidence, 4),
            "cost_usd": result.cost_usd}


def _skill_sha256(skill: Skill) -> str:
    digest = hashlib.sha256()
    for name, text in sorted(skill.file_texts().items()):
        digest.update(f"{name}\0{len(text)}\0".encode())
        digest.update(text.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _raw_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` of every line of ``path`` (blank lines too; they count as lines)."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputValidationError(f"cannot read the input file {path}: {exc.strerror or exc}") from None
    with fh:
        yield from enumerate(fh, start=1)


def _scan(path: Path, id_field: str | None) -> _Scan:
    """The input file's hash and its inputs' line numbers and ids; duplicate ids are refused here,
    before anything is spent."""
    digest = hashlib.sha256()
    scan = _Scan(sha256="")
    seen: dict[str, int] = {}
    for n, raw in _raw_lines(path):
        digest.update(raw)
        if not raw.strip():
            continue
        id_value = _id_of(raw, id_field) if id_field is not None else n
        if id_value is None:  # unreadable, or no id: identified by its line; fails as an input later
            id_value = {"line": n}
        key = record_key(id_value)
        if key in seen:
            raise InputValidationError(f"{path}: the id {clip(key, 80)} is on line {seen[key]} and line {n} "
                                       "(ids must be unique)")
        seen[key] = n
        scan.entries.append(_Entry(n, key, id_value))
    scan.sha256 = digest.hexdigest()
    return scan


def _id_of(raw: bytes, id_field: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    found = value.get(id_field) if isinstance(value, dict) else None
    return found if isinstance(found, str | int) and not isinstance(found, bool) else None


def _inputs(
    path: Path, pending: dict[int, _Entry], id_field: str | None, schema_fields: set[str],
    broken: Callable[[_Entry, InputValidationError], None],
) -> Iterator[tuple[_Entry, dict[str, Any]]]:
    """The pending inputs, read lazily; a line that is not an input is journalled as failed by ``broken``."""
    for n, raw in _raw_lines(path):
        entry = pending.get(n)
        if entry is None:
            continue
        try:
            value = _parse(raw, n, entry, id_field)
        except InputValidationError as exc:
            broken(entry, exc)
            continue
        if id_field is not None and id_field not in schema_fields:
            value.pop(id_field, None)
        yield entry, value


def _parse(raw: bytes, n: int, entry: _Entry, id_field: str | None) -> dict[str, Any]:
    where = f"line {n}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputValidationError(f"{where} is not UTF-8 text") from None
    try:
        value = parse_json(text, limits=DEFAULT_LIMITS)
    except ValueError as exc:
        raise InputValidationError(f"{where}: {exc}") from None
    if not isinstance(value, dict):
        raise InputValidationError(f"{where} must be a JSON object, got {type(value).__name__}")
    if id_field is not None and isinstance(entry.id, dict):
        raise InputValidationError(f"{where} has no {id_field!r} field holding a string or an integer")
    return value


def _write_outputs(journal: Journal, entries: list[_Entry], paths: BatchPaths) -> int:
    """(Re)write the output and the failures file from the journal, in input order; returns how many
    inputs failed."""
    out_tmp, fail_tmp = _temp(paths.output), _temp(paths.failures)
    failed = 0
    with _create(out_tmp) as out, _create(fail_tmp) as fails:
        for entry in entries:
            record = JournalRecord.model_validate_json(journal.read_line(entry.key))
            if record.ok:
                line: dict[str, Any] = record.result or {}
            else:
                failed += 1
                line = {"id": entry.id, "error": record.error, "error_type": record.error_type}
                fails.write(_jsonl({**line, "line": entry.line, "final": record.final}))
            out.write(_jsonl(line))
        for fh in (out, fails):
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(out_tmp, paths.output)
    if failed:
        os.replace(fail_tmp, paths.failures)
    else:  # no failures: no failures file (an old one would describe inputs that have since succeeded)
        fail_tmp.unlink()
        with contextlib.suppress(FileNotFoundError):
            paths.failures.unlink()
    return failed


def _temp(path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    return tmp


def _create(path: Path) -> BinaryIO:
    """A new file for writing, never through a symlink planted at its name."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb")


def _jsonl(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")


__all__ = ["STOP_ON", "BatchPaths", "BatchStats", "BatchSummary", "arun_batch", "run_batch"]
