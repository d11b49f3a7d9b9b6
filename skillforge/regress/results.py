"""Regression results: per skill, per suite, and against a baseline. Pydantic models with paths relative
to the run's root and no timings, so ``--json`` output of the same run is byte-identical and diffs well."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from skillforge.jsonl import StrictModel
from skillforge.regress.cassette import Mode
from skillforge.spec import FieldDiff

REPORT_FORMAT = 1
#: Default allowed drop in pass rate against a baseline before the run fails.
DEFAULT_TOLERANCE = 0.02
#: Slack for float comparisons of rates (0.85 stored in YAML vs 17/20 computed).
RATE_EPSILON = 1e-9


def meets(value: float, minimum: float | None) -> bool:
    """A gate: ``value`` reaches ``minimum`` (float noise forgiven); no minimum always passes."""
    return minimum is None or value + RATE_EPSILON >= minimum


class CaseFailure(StrictModel):
    """A regression case that failed at least one of its runs (the first failing run is shown)."""

    #: 1-based case number: the line of ``tests.jsonl``.
    case: int
    input: dict[str, Any]
    expected: dict[str, Any]
    got: dict[str, Any] | None = None
    diffs: list[FieldDiff] = Field(default_factory=list)
    #: Why there is no answer (escalation failed, provider error, missing recording).
    error: str | None = None
    #: The model whose answer was not recorded, when that is why the case failed (replay mode).
    missing_recording: str | None = None
    failed_runs: int = 1
    runs: int = 1


class SkillResult(StrictModel):
    """The regression result of one skill. Counts are over all ``cases x repeat`` runs."""

    name: str
    #: The skill directory, relative to the run's root (never absolute).
    path: str
    mode: Mode
    student: str | None = None
    teacher: str | None = None
    escalate: bool = True
    cases: int = 0
    repeat: int = 1
    #: Passing runs (out of ``cases * repeat``).
    passed: int = 0
    #: Mean pass rate over all runs; this is what the gate compares with ``min_pass_rate``.
    pass_rate: float = 0.0
    #: pass^K: the share of cases that passed all ``repeat`` runs (``None`` when ``repeat`` is 1).
    pass_k: float | None = None
    min_pass_rate: float = 0.0
    #: Mean field score (partial credit per output field) over all runs.
    field_score: float = 0.0
    #: Gate on ``field_score`` as well, when the skill sets ``min_field_score``.
    min_field_score: float | None = None
    #: Share of runs answered by the student without escalation.
    student_share: float = 0.0
    escalations: int = 0
    #: Runs answered by each tier (``classifier``, ``student``, ``teacher``).
    tiers: dict[str, int] = Field(default_factory=dict)
    #: Model calls refused (``stop_reason: "refusal"``): escalated like invalid answers, counted apart.
    refusals: int = 0
    #: Total cost of all runs; ``None`` when some model's price is unknown.
    cost_usd: float | None = 0.0
    tokens: int = 0
    failures: list[CaseFailure] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    #: Set when the skill could not be run at all (unreadable files, missing credentials, ...).
    error: str | None = None
    ok: bool = False


#: The SkillResult fields reported as properties (JUnit XML, pytest user_properties).
SUMMARY_FIELDS = ("pass_rate", "min_pass_rate", "field_score", "min_field_score", "pass_k", "student_share",
                  "escalations", "tiers", "cost_usd", "tokens")


class SkillDelta(StrictModel):
    """One skill compared with a baseline run."""

    name: str
    pass_rate_before: float | None = None
    pass_rate_after: float | None = None
    pass_rate_delta: float | None = None
    #: Cost of one pass over the cases (total / repeat), before and after.
    cost_before: float | None = None
    cost_after: float | None = None
    cost_delta: float | None = None
    ok: bool = True
    note: str | None = None


class SuiteReport(StrictModel):
    """Everything one ``skillforge test`` run found; what ``--json`` writes and ``--baseline`` reads."""

    format: int = REPORT_FORMAT
    mode: Mode
    escalate: bool = True
    repeat: int = 1
    skills: list[SkillResult]
    tolerance: float | None = None
    baseline: list[SkillDelta] | None = None
    ok: bool

    def to_json(self) -> str:
        """Stable JSON text (same results -> same bytes)."""
        return self.model_dump_json(indent=2) + "\n"

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8", newline="\n")
        return path

    def delta(self, name: str) -> SkillDelta | None:
        return next((d for d in self.baseline or [] if d.name == name), None)
