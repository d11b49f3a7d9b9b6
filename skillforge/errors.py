"""Every error skillforge raises, split by who is to blame.

The hierarchy::

    SkillforgeError                    -- base of everything below
    ├── UserError                      -- the caller's mistake; fix the input, do not retry
    │   ├── SpecError                  -- a bad SkillSpec / spec file (name, schemas, examples)
    │   ├── SkillFormatError           -- a skill directory whose files are malformed or inconsistent
    │   │   └── SkillIntegrityError    -- a file changed since compile (hash mismatch), strict mode only
    │   ├── InputValidationError       -- run input does not match the skill's input schema
    │   ├── ConfigurationError         -- unknown model id, missing weights, missing API key, ...
    │   ├── RetiredModelError          -- a skill pins a model past its retirement date (test, status)
    │   └── BatchJournalError          -- a batch journal of another skill/input file, or in use
    └── RunError                       -- something failed while running; may succeed on a later try
        ├── ModelAPIError              -- a provider call failed (status, error type, request id)
        │   ├── ModelAuthError         -- 401/402/403: never retried, never escalated away
        │   └── ModelRequestRejected   -- 400/404/413: the request itself was refused
        ├── EscalationFailed           -- student and teacher both failed; carries every attempt
        ├── ReplayMissError            -- replay mode met a request with no recording
        └── LedgerWriteError           -- ledger entries still cannot be written when flushed

Warnings: ``SkillIntegrityWarning`` (a changed file, non-strict mode), ``UnknownPriceWarning``,
``LedgerWriteWarning`` (a ledger line could not be written; the entry is kept and written later),
``CacheWarning`` (an answer-cache entry could not be read or written; the model is asked instead) and
``DeprecatedModelWarning`` (a run uses a deprecated or retired model; once per model per process).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skillforge.models.base import Attempt


class SkillforgeError(Exception):
    """Base class of every skillforge error."""


class UserError(SkillforgeError):
    """The caller supplied something wrong. Retrying the same call will fail the same way."""


class SpecError(UserError):
    """A skill spec (or spec file) is invalid. ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class SkillFormatError(UserError):
    """A file in a skill directory is malformed. Names the file, the line (JSONL) and the field."""

    def __init__(
        self, message: str, *, file: str, field: str | None = None, line: int | None = None
    ) -> None:
        self.file = file
        self.field = field
        self.line = line
        where = file if line is None else f"{file}:{line}"
        if field:
            where += f" [{field}]"
        super().__init__(f"{where}: {message}")


class SkillIntegrityError(SkillFormatError):
    """A skill file's content hash differs from the one recorded at compile time (strict mode)."""


class InputValidationError(UserError):
    """The input given to a skill does not match its input schema. No model was called."""

    def __init__(self, message: str, *, errors: Sequence[str] = ()) -> None:
        self.errors = list(errors)
        super().__init__(message)


class ConfigurationError(UserError):
    """A model id, provider setting, path or credential is wrong or missing."""


class RetiredModelError(UserError):
    """A skill pins a model whose retirement date has passed: requests to it fail. ``skillforge test`` and
    ``skillforge status`` fail with it; the message names the date and the ``successor`` to retarget to
    (``None`` when the source names none). ``role`` is what the skill uses the model as."""

    def __init__(self, message: str, *, model: str, role: str, retired_on: date, successor: str | None) -> None:
        self.model = model
        self.role = role
        self.retired_on = retired_on
        self.successor = successor
        super().__init__(message)


class BatchJournalError(UserError):
    """A batch's journal cannot be used: it belongs to another skill, input file or id field, or
    another running batch holds it. ``path`` is the journal."""

    def __init__(self, message: str, *, path: Path) -> None:
        self.path = path
        super().__init__(message)


class RunError(SkillforgeError):
    """A failure while running models. Unlike a UserError, a later try may succeed."""


class ModelAPIError(RunError):
    """A model provider call failed. Carries what the provider told us (never the API key)."""

    def __init__(
        self,
        message: str,
        *,
        model_id: str,
        status: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        retryable: bool = False,
    ) -> None:
        self.model_id = model_id
        self.status = status
        self.error_type = error_type
        self.request_id = request_id
        self.retryable = retryable
        parts = [f"{model_id}:"]
        if status is not None:
            parts.append(f"HTTP {status}")
        if error_type:
            parts.append(f"({error_type})")
        parts.append(message)
        if request_id:
            parts.append(f"[request id {request_id}]")
        super().__init__(" ".join(parts))


class ModelAuthError(ModelAPIError):
    """Authentication, billing or permission failed (401/402/403). Never retried, never escalated away."""


class ModelRequestRejected(ModelAPIError):
    """The provider refused the request itself (400/404/413): retrying it unchanged cannot help."""


class EscalationFailed(RunError):
    """No accepted answer: neither the student nor the teacher (or, with escalation off, the student)
    gave valid output. Nothing is dropped: ``attempts`` holds every attempt with its raw text, verdict
    and the verifier's errors."""

    def __init__(self, message: str, *, attempts: Sequence[Attempt], input: Any = None) -> None:
        self.attempts = list(attempts)
        self.input = input
        super().__init__(message)


class ReplayMissError(RunError):
    """Replay mode met a model request that has no recording. No model was called."""

    def __init__(self, message: str, *, model_id: str, key: str) -> None:
        self.model_id = model_id
        self.key = key
        super().__init__(message)


class LedgerWriteError(RunError):
    """Ledger entries could not be written to the ledger file when :meth:`~skillforge.Ledger.flush`
    was asked to write them. They stay in memory (``Ledger.entries``) and a later flush retries;
    ``unwritten`` counts them, ``path`` is the file and ``__cause__`` the ``OSError``."""

    def __init__(self, message: str, *, path: Path, unwritten: int) -> None:
        self.path = path
        self.unwritten = unwritten
        super().__init__(message)


class LedgerWriteWarning(UserWarning):
    """A ledger line could not be written (disk full, permissions, ...). The call it records was made
    and its answer is returned; the entry is kept in memory and written before the next one."""


class SkillIntegrityWarning(UserWarning):
    """A skill file changed since it was compiled (its hash no longer matches the provenance)."""


class UnknownPriceWarning(UserWarning):
    """No price is known for a model id; its cost is reported as None."""


class CacheWarning(UserWarning):
    """The answer cache could not read or write an entry (damaged, locked, full disk). The model is asked
    instead; nothing is answered wrongly."""


class DeprecatedModelWarning(UserWarning):
    """A skill runs a model that is deprecated (or already retired): it still runs -- a date passing never
    stops a production run -- but should be retargeted to ``successor`` (``None``: none named) before
    ``retired_on``. Issued once per model per process."""

    def __init__(self, message: str, *, model: str, deprecated_on: date | None, retired_on: date | None,
                 successor: str | None) -> None:
        self.model = model
        self.deprecated_on = deprecated_on
        self.retired_on = retired_on
        self.successor = successor
        super().__init__(message)
