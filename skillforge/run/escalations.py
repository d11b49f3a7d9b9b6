"""The escalation log: ``escalations.jsonl`` in the skill directory, one line per input the student
could not answer, with the teacher's accepted answer (later training data for the skill)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skillforge.jsonl import StrictModel, dumps_line


class EscalationRecord(StrictModel):
    """One line of ``escalations.jsonl``: an input the student could not answer, and the teacher's answer."""

    time: str
    input: dict[str, Any]
    output: dict[str, Any]
    answered_by: str
    reason: str
    student_output: dict[str, Any] | None = None


def append_escalation(path: Path, record: EscalationRecord) -> None:
    """Append ``record`` as one whole line."""
    line = dumps_line(record.model_dump(mode="json"))
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
