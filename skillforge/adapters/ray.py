"""Run a skill over a Ray Data dataset on as many machines as the cluster has: ``ds.map_batches(SkillMapper)``.

Needs the ``ray`` extra (``pip install 'skillforge[ray]'``); nothing else in skillforge imports it.

Each Ray worker (an actor of the map's pool) builds one :class:`SkillMapper`: it loads the skill,
resolves its student and teacher once (their HTTP clients reused for every row), and answers the rows
of each batch through one :class:`~skillforge.run.Runner`, up to ``in_flight`` rows at a time (worth
raising for a remote server such as vLLM; an in-process model answers one at a time anyway). Rows
come back in order, each with its answer or its failure as a value: one bad row never fails a batch.

Nothing is lost across workers because nothing is kept on them: every model call's ledger line and
every escalation record travel *with the row* they belong to, in the columns :data:`LEDGER_COLUMN`
and :data:`ESCALATION_COLUMN`, through Ray's object store to wherever the dataset is consumed (no
shared filesystem needed). :func:`write_records` appends them, on the driver, to a ledger file and an
escalation log, exactly as a local run would have written them. The columns added to each row:

==============================  =================================================================
``skillforge_output``           the answer, as JSON text (``null`` when the row failed)
``skillforge_error``            ``null``, or why the row failed (``EscalationFailed: ...``)
``skillforge_escalated``        whether the teacher answered
``skillforge_answered_by``      the model id that answered
``skillforge_confidence``       the answer's confidence, when there is one
``skillforge_cost_usd``         the row's cost (``null`` when a price is unknown)
``skillforge_ledger``           one ledger line (JSON text) per model call made for the row
``skillforge_escalation``       the escalation record (JSON text), when the teacher answered
==============================  =================================================================

An authentication failure (:class:`~skillforge.errors.ModelAuthError`) or a configuration error is
raised rather than recorded: every other row would fail the same way.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from skillforge.errors import ConfigurationError, ModelAuthError, SkillforgeError
from skillforge.jsonl import dumps_line
from skillforge.ledger import Ledger, LedgerEntry, utc_now
from skillforge.models.base import Model
from skillforge.run import EscalationRecord, Runner, RunResult, extract_json
from skillforge.run.escalations import append_escalation
from skillforge.skill import Skill, load_skill
from skillforge.spec import InputLimits
from skillforge.textfiles import append_line

try:
    import pyarrow as pa
    from ray.data.block import BlockAccessor
except ImportError as exc:  # the optional extra is missing
    raise ConfigurationError(
        f"skillforge.adapters.ray needs the ray extra: pip install 'skillforge[ray]' ({exc})") from None

T = TypeVar("T")
#: A model as the mapper takes it: an id, an instance (pickled to each worker), or a function that builds
#: one on the worker (for models whose clients cannot be pickled).
ModelArg = str | Model | Callable[[], Model] | None

PREFIX = "skillforge_"
LEDGER_COLUMN = PREFIX + "ledger"
ESCALATION_COLUMN = PREFIX + "escalation"
#: The columns :class:`SkillMapper` adds, with their Arrow types.
COLUMNS: dict[str, Any] = {
    PREFIX + "output": pa.string(), PREFIX + "error": pa.string(), PREFIX + "escalated": pa.bool_(),
    PREFIX + "answered_by": pa.string(), PREFIX + "confidence": pa.float64(), PREFIX + "cost_usd": pa.float64(),
    LEDGER_COLUMN: pa.list_(pa.string()), ESCALATION_COLUMN: pa.string(),
}

#: The ledger lines of the row the current task is answering (each row runs in its own asyncio task).
_ROW_LINES: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("skillforge_row_lines", default=None)


class _RowLedger(Ledger):
    """A ledger that writes no file: each entry goes, as the line a ledger file would hold, to the row
    whose task recorded it."""

    def __init__(self) -> None:
        super().__init__(None)

    def record(self, **kw: Any) -> LedgerEntry:
        entry = super().record(**kw)
        lines = _ROW_LINES.get()
        if lines is not None:
            # The very line Ledger writes to its file (without the newline).
            lines.append(dumps_line(entry.model_dump(mode="json", exclude=None if entry.batch else {"batch"}))[:-1])
        return entry


class _Loop:
    """One event loop per worker, in its own thread: the models' async clients live on it across
    batches, and batches arriving from several threads (a threaded actor) share it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="skillforge-ray", daemon=True).start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


def _model(arg: ModelArg) -> str | Model | None:
    return arg if arg is None or isinstance(arg, str | Model) else arg()


class SkillMapper:
    """A callable class for ``ds.map_batches(SkillMapper, fn_constructor_kwargs={...}, compute=...)``.

    ``skill``: a skill directory (present on every node: in the image, on a shared filesystem, or in the
    job's ``runtime_env`` working directory) or a :class:`~skillforge.skill.Skill` (pickled to each
    worker). ``student``/``teacher``: see :data:`ModelArg`; default the skill's own. ``input_column``:
    a column holding each row's whole input (a struct or JSON text); by default the input is the row's
    columns named by the skill's input schema (a null counts as absent). ``in_flight``: rows answered at
    once per worker.
    """

    def __init__(
        self,
        skill: str | Path | Skill,
        *,
        student: ModelArg = None,
        teacher: ModelArg = None,
        escalate: bool = True,
        input_column: str | None = None,
        in_flight: int = 8,
        limits: InputLimits | None = None,
    ) -> None:
        if in_flight < 1:
            raise ConfigurationError(f"in_flight must be at least 1: {in_flight}")
        self.skill = skill if isinstance(skill, Skill) else load_skill(skill)
        self.runner = Runner(self.skill, student=_model(student), teacher=_model(teacher), ledger=_RowLedger(),
                             escalate=escalate, escalation_log=None, limits=limits)
        self.input_column = input_column
        self.in_flight = in_flight
        self._loop = _Loop()
        self._fields = list((self.skill.manifest.input_schema.get("properties") or {}).keys())

    def __call__(self, batch: Any) -> Any:
        """Answer every row of ``batch`` (any Ray batch format); return it as an Arrow table with
        :data:`COLUMNS` added."""
        table = BlockAccessor.for_block(BlockAccessor.batch_to_block(batch)).to_arrow()
        rows = [self._input(row) for row in table.to_pylist()]
        answers = self._loop.run(self._answer_all(rows))
        self.runner.ledger.entries.clear()  # the rows carry the entries; keep the worker's memory flat
        for name, kind in COLUMNS.items():
            table = table.append_column(name, pa.array([a[name] for a in answers], type=kind))
        return table

    def _input(self, row: dict[str, Any]) -> Any:
        if self.input_column is not None:
            value = row.get(self.input_column)
            return json.loads(value) if isinstance(value, str) else value
        names = self._fields or list(row)
        return {k: row[k] for k in names if row.get(k) is not None}

    async def _answer_all(self, inputs: list[Any]) -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(self.in_flight)

        async def one(value: Any) -> dict[str, Any]:
            async with gate:
                return await self._answer(value)

        # gather runs each row in its own task, so each has its own ledger-line context.
        return await asyncio.gather(*(one(v) for v in inputs))

    async def _answer(self, value: Any) -> dict[str, Any]:
        lines: list[str] = []
        _ROW_LINES.set(lines)
        row: dict[str, Any] = dict.fromkeys(COLUMNS)
        row[PREFIX + "escalated"] = False
        try:
            result = await self.runner.arun(value)
        except (ModelAuthError, ConfigurationError):
            raise  # every row would fail the same way: stop the job
        except SkillforgeError as exc:
            row[PREFIX + "error"] = f"{type(exc).__name__}: {exc}"
        else:
            row.update(_result_columns(result))
            if result.escalated:
                row[ESCALATION_COLUMN] = _escalation(value, result).model_dump_json()
        row[LEDGER_COLUMN] = lines
        return row


def _result_columns(result: RunResult) -> dict[str, Any]:
    return {PREFIX + "output": json.dumps(result.output, ensure_ascii=False), PREFIX + "escalated": result.escalated,
            PREFIX + "answered_by": result.answered_by, PREFIX + "confidence": result.confidence,
            PREFIX + "cost_usd": result.cost_usd}


def _escalation(value: dict[str, Any], result: RunResult) -> EscalationRecord:
    """The record a local run appends to ``escalations.jsonl`` for this answer: why the student's last
    attempt was not accepted, and its answer when it was merely not confident enough."""
    student = [a for a in result.attempts if a.role == "student"]
    last = student[-1] if student else None
    output = None
    if last is not None and last.verdict == "low_confidence":  # a valid answer, merely not confident enough
        try:
            output = extract_json(last.raw_text)
        except ValueError:
            output = None
    return EscalationRecord(time=utc_now().isoformat(timespec="milliseconds"), input=value, output=result.output,
                            answered_by=result.answered_by, reason=last.verdict if last else "error",
                            student_output=output if isinstance(output, dict) else None)


def write_records(
    rows: Iterable[Mapping[str, Any]], *, ledger: str | Path | None = None, escalations: str | Path | None = None
) -> tuple[int, int]:
    """Append the ledger lines and escalation records that rows of a :class:`SkillMapper` map carry to
    the ``ledger`` file and the ``escalations`` log (e.g. the skill's ``escalations.jsonl``), each row's
    lines in one append. Every line is checked against its record type first. Returns (ledger lines,
    escalation records) written."""
    ledger_path = Path(ledger) if ledger is not None else None
    log_path = Path(escalations) if escalations is not None else None
    n_lines = n_escalations = 0
    for row in rows:
        lines = list(row.get(LEDGER_COLUMN) or ())
        for line in lines:
            LedgerEntry.model_validate_json(line)  # a damaged or foreign line fails here, before any write
        if ledger_path is not None and lines:
            ledger_path.parent.mkdir(parents=True, exist_ok=True)
            append_line(ledger_path, "".join(f"{line}\n" for line in lines))
            n_lines += len(lines)
        record = row.get(ESCALATION_COLUMN)
        if log_path is not None and record:
            append_escalation(log_path, EscalationRecord.model_validate_json(record))
            n_escalations += 1
    return n_lines, n_escalations
