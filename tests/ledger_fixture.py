"""A ledger whose every number is known by hand (``tests/test_observe.py`` computes them), and a
skill manifest that expects it, shared by the status and report tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from skillforge.format import Manifest, Metrics, Provenance, Settings, SkillDefinition, write_files
from skillforge.ledger import Ledger
from skillforge.models.base import Usage

from helpers import sentiment_spec

DAY1 = datetime(2026, 11, 1, 10, tzinfo=UTC)
DAY4 = datetime(2026, 11, 4, 10, tzinfo=UTC)
STUDENT = Usage(input_tokens=1000, output_tokens=10)
TEACHER = Usage(input_tokens=500, output_tokens=20)
#: One teacher call on claude-opus-5-5 ($4 / $20 per MTok): 500 * 4e-6 + 20 * 20e-6.
TEACHER_CALL = 0.0024


def manifest(name: str = "mood") -> Manifest:
    spec = sentiment_spec(name)
    return Manifest(
        format_version=1, name=name, description="d", input_schema=spec.input_schema,
        output_schema=spec.output_schema,
        settings=Settings(instructions_source="template", demo_strategy="none", k=0, threshold=0.5,
                          expected_student_share=0.8),
        provenance=Provenance(teacher="anthropic:claude-opus-5-5", student="local:smollm2-135m",
                              skillforge_version="0", spec_hash="x", content_hash="y", compiled_at="2026-10-31"),
        metrics=Metrics(dev_size=60, dev_score=0.9, zero_shot_dev_score=0.5, chosen="c", invalid_share=0.05),
    )


def save_skill(path: Path) -> None:
    unhashed = SkillDefinition(manifest(), "Say the mood.", [], [])
    write_files(path, SkillDefinition(unhashed.hashed_manifest(), "Say the mood.", [], []).file_texts())


class Clock:
    def __init__(self) -> None:
        self.now = DAY1

    def __call__(self) -> datetime:
        return self.now


def _student(ledger: Ledger, outcome: str, reask: int = 0, latency: float = 0.1) -> None:
    ledger.record(skill="mood", phase="run", role="student", model_id="local:smollm2-135m", usage=STUDENT,
                  cost_usd=0.0, latency_s=latency, outcome=outcome, reask=reask)


def _teacher(ledger: Ledger) -> None:
    ledger.record(skill="mood", phase="run", role="teacher", model_id="claude-opus-5-5", usage=TEACHER,
                  cost_usd=TEACHER_CALL, latency_s=1.0, outcome="accepted")


def write_fixture(path: Path, compile_calls: int = 10) -> None:
    """Compile: 10 calls at $0.03. Days 1-2 (as compiled): 100 inputs -- 80 answered by the student,
    5 invalid twice then escalated, 15 escalated for low confidence. Day 4 (drifted): 100 inputs --
    40 answered, 60 escalated for low confidence. Plus another skill's call, a foreign line, a torn line."""
    clock = Clock()
    ledger = Ledger(path, clock=clock)
    for _ in range(compile_calls):
        ledger.record(skill="mood", phase="compile", role="teacher", model_id="claude-opus-5-5", usage=TEACHER,
                      cost_usd=0.03, latency_s=2.0, outcome="draft")
    for i in range(100):
        clock.now = DAY1 + timedelta(minutes=20 * i)  # 10:00 on day 1 to 19:00 on day 2
        if i < 80:
            _student(ledger, "accepted")
        elif i < 85:
            _student(ledger, "invalid", 0, 0.5)
            _student(ledger, "invalid", 1, 0.5)
            _teacher(ledger)
        else:
            _student(ledger, "low_confidence", latency=0.5)
            _teacher(ledger)
    for i in range(100):
        clock.now = DAY4 + timedelta(minutes=i)
        if i < 40:
            _student(ledger, "accepted")
        else:
            _student(ledger, "low_confidence", latency=0.5)
            _teacher(ledger)
    ledger.record(skill="other", phase="run", role="student", model_id="m", usage=STUDENT, cost_usd=None,
                  latency_s=0.1, outcome="accepted")
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"not": "a ledger entry"}\n{"time": "2026-11-04T12:00:00+00:00", "skill": "mood", "pha')
