"""The cost ledger: one JSON line per model call, compile and run alike, append-only.

Each entry is appended as one complete line (looping over short writes until every byte is written,
or raising), so a crash can at worst leave a torn *last* line; :meth:`Ledger.read` skips such a line --
even one torn inside a multi-byte character -- and never loses earlier ones, and the next entry starts
on a new line. The default path is ``.skillforge/ledger.jsonl`` (``SKILLFORGE_LEDGER`` overrides it).

A line that cannot be written (a full disk, a revoked permission) does not fail the call it records:
that call was made, maybe paid for, and its answer matters more than its log line. The entry is kept
in memory, a :class:`~skillforge.errors.LedgerWriteWarning` says so, and the kept lines are written, in
order, before the next entry; :meth:`Ledger.flush` writes them or raises
:class:`~skillforge.errors.LedgerWriteError`.
"""

from __future__ import annotations

import threading
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field

from skillforge.errors import ConfigurationError, LedgerWriteError, LedgerWriteWarning
from skillforge.jsonl import StrictModel, dumps_line, intact_records
from skillforge.models.base import Role, Usage
from skillforge.models.pricing import total_cost
from skillforge.textfiles import append_line, read_bytes

#: Largest ledger :meth:`Ledger.read` reads (a line is ~300 bytes: millions of calls).
MAX_LEDGER_BYTES = 2**31

Clock = Callable[[], datetime]
Phase = Literal["compile", "run", "test", "eval"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CallSite:
    """Where a model call is written down: the ledger, the skill the call is for, and the phase."""

    ledger: Ledger
    skill: str
    phase: Phase


class LedgerEntry(StrictModel):
    """One model call."""

    time: str
    skill: str
    phase: Phase
    role: Role
    model_id: str
    usage: Usage
    cost_usd: float | None
    latency_s: float
    #: The verifier's verdict (``accepted``/``invalid``/``low_confidence``/``refused``), ``error``, or
    #: what the call was for during compilation (``draft``, ``refine``).
    outcome: str
    #: Answered through a batch API, and priced at its discount (written only when true).
    batch: bool = False
    #: Re-asks before this call in the same ask (0: the first call for an input; written only when
    #: positive), so a reader counts inputs, not calls, without grouping lines.
    reask: int = Field(default=0, ge=0)
    #: Answered from the answer cache (written only when true): ``cost_usd`` is 0, and
    #: ``original_cost_usd`` what the answer cost when it was first bought.
    cached: bool = False
    original_cost_usd: float | None = None


class Ledger:
    """Appends :class:`LedgerEntry` lines to ``path``. ``path=None`` keeps entries in memory only."""

    def __init__(self, path: str | Path | None, *, clock: Clock = utc_now) -> None:
        self.path = Path(path) if path is not None else None
        if self.path is not None and self.path.is_dir():
            raise ConfigurationError(f"the ledger path {self.path} is a directory; give a file path")
        self.clock = clock
        self.entries: list[LedgerEntry] = []
        self._lock = threading.Lock()
        self._unwritten: deque[str] = deque()  # lines not yet in the file, oldest first

    @property
    def unwritten(self) -> int:
        """Entries recorded but not yet written to the file (a write failed; see :meth:`flush`)."""
        return len(self._unwritten)

    def record(
        self,
        *,
        skill: str,
        phase: Phase,
        role: Role,
        model_id: str,
        usage: Usage,
        cost_usd: float | None,
        latency_s: float,
        outcome: str,
        batch: bool = False,
        reask: int = 0,
        original_cost_usd: float | None = None,
        cached: bool = False,
    ) -> LedgerEntry:
        entry = LedgerEntry(
            time=self.clock().isoformat(timespec="milliseconds"),
            skill=skill, phase=phase, role=role, model_id=model_id, usage=usage,
            cost_usd=cost_usd, latency_s=round(latency_s, 4), outcome=outcome, batch=batch, reask=reask,
            cached=cached, original_cost_usd=original_cost_usd if cached else None,
        )
        # Default-valued flags are left out: a line stays short, and readers of older lines agree.
        omit = {k for k, v in (("batch", batch), ("reask", reask), ("cached", cached),
                               ("original_cost_usd", cached)) if not v}
        line = dumps_line(entry.model_dump(mode="json", exclude=omit or None))
        line.encode("utf-8")  # text that cannot be written fails here, before anything is recorded
        with self._lock:
            self.entries.append(entry)
            if self.path is not None:
                self._unwritten.append(line)
                failure = self._write()
                if failure is not None:
                    warnings.warn(LedgerWriteWarning(
                        f"cannot append to the ledger {self.path} ({failure.strerror or failure}); "
                        f"{len(self._unwritten)} entries are kept in memory and written before the next "
                        "one (Ledger.flush() retries now)"), stacklevel=2)
        return entry

    def flush(self) -> None:
        """Write the entries a failed write left in memory; :class:`~skillforge.errors.LedgerWriteError`
        (with the ``OSError`` as its cause) if they still cannot be written. Nothing to do otherwise."""
        with self._lock:
            if self.path is None or not self._unwritten:
                return
            failure = self._write()
            if failure is not None:
                raise LedgerWriteError(
                    f"cannot append to the ledger {self.path} ({failure.strerror or failure}); "
                    f"{len(self._unwritten)} entries are still unwritten", path=self.path,
                    unwritten=len(self._unwritten)) from failure

    def _write(self) -> OSError | None:
        """Append the unwritten lines, oldest first, each removed once written; the failure that
        stopped it, if any. The caller holds the lock."""
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while self._unwritten:
                # O_APPEND: each whole-line write lands at the end even with other writers; a torn last
                # line from an earlier crash gets a newline first, so it cannot swallow this entry.
                append_line(self.path, self._unwritten[0])
                self._unwritten.popleft()
        except OSError as exc:
            return exc
        return None

    def read(self) -> list[LedgerEntry]:
        """Every complete entry in the file (a torn or foreign line is skipped)."""
        if self.path is None:
            return list(self.entries)
        try:
            return intact_records(read_bytes(self.path, max_bytes=MAX_LEDGER_BYTES), LedgerEntry)
        except FileNotFoundError:
            return []

    def totals(self) -> dict[tuple[str, str], tuple[Usage, float | None]]:
        """(role, model id) -> (usage, cost) summed over this ledger's entries in this process."""
        sums: dict[tuple[str, str], tuple[Usage, float | None]] = {}
        for e in self.entries:
            usage, cost = sums.get((e.role, e.model_id), (Usage(), 0.0))
            sums[(e.role, e.model_id)] = (usage + e.usage, total_cost([cost, e.cost_usd]))
        return sums
