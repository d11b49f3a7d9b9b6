"""The escalation log: ``escalations.jsonl`` in the skill directory, one line per input the student
could not answer, with the teacher's accepted answer (later training data for the skill).

An escalation is paid for, so its log is checked *before* the teacher is called
(:func:`check_escalation_log`): a symlink in its place (which would append outside the skill), a
directory, a FIFO or an unwritable file is a :class:`~skillforge.errors.SkillFormatError` while
nothing has been spent. Records are encoded before the file is opened; each is appended as one whole
line that a torn last line (from a crash) cannot swallow, through ``O_NOFOLLOW``. Should the append
still fail (a full disk), the answer is returned anyway and the failure is a warning
(:func:`log_escalation`): a paid-for answer is never lost to its log. :func:`read_escalations`
skips a torn or foreign line.
"""

from __future__ import annotations

import logging
import os
import stat
import warnings
from pathlib import Path
from typing import Any

from skillforge.errors import SkillFormatError
from skillforge.format import ESCALATIONS
from skillforge.jsonl import StrictModel, dumps_line, intact_records
from skillforge.textfiles import append_line, read_bytes

log = logging.getLogger(__name__)


class EscalationRecord(StrictModel):
    """One line of ``escalations.jsonl``: an input the student could not answer, and the teacher's answer."""

    time: str
    input: dict[str, Any]
    output: dict[str, Any]
    answered_by: str
    reason: str
    student_output: dict[str, Any] | None = None


def check_escalation_log(path: Path) -> None:
    """Raise :class:`SkillFormatError` unless ``path`` can take an appended record: absent in an
    existing directory, or a writable regular file that is not a symlink."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise SkillFormatError(f"the skill directory {path.parent} is missing", file=ESCALATIONS) from None
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise SkillFormatError("cannot be created: the skill directory is not writable", file=ESCALATIONS) from None
        return
    if stat.S_ISLNK(info.st_mode):
        raise SkillFormatError("is a symbolic link: refusing to append outside the skill", file=ESCALATIONS)
    if not stat.S_ISREG(info.st_mode):
        raise SkillFormatError("is not a regular file (a directory?): cannot append to it", file=ESCALATIONS)
    if not os.access(path, os.W_OK):
        raise SkillFormatError("is not writable", file=ESCALATIONS)


def append_escalation(path: Path, record: EscalationRecord) -> None:
    """Append ``record`` as one whole line, never through a symlink. Raises ``OSError``."""
    append_line(path, dumps_line(record.model_dump(mode="json")), follow_symlinks=False)


def log_escalation(path: Path, record: EscalationRecord) -> bool:
    """Append ``record``; on failure warn (``RuntimeWarning``) instead of raising, so the caller
    still returns the teacher's answer. Returns whether the record was written."""
    try:
        append_escalation(path, record)
    except (OSError, UnicodeEncodeError) as exc:
        message = f"{path}: the escalation was answered but could not be logged ({exc})"
        log.warning("%s", message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        return False
    return True


def read_escalations(path: Path) -> list[EscalationRecord]:
    """Every complete record in the log at ``path`` (none when it does not exist); a torn or foreign
    line is skipped."""
    try:
        return intact_records(read_bytes(path, follow_symlinks=False), EscalationRecord)
    except FileNotFoundError:
        return []
