"""Which escalations an update folds into a skill, and the record that they were folded.

An escalation is the teacher's accepted answer to an input the student could not answer
(``escalations.jsonl``, appended by the runtime). :func:`plan_fold` sorts the log's records into:

- **skipped**: already folded by an earlier update (listed in ``escalations.folded.jsonl``), answered by
  no teacher, or no longer valid against the skill's schemas;
- **duplicates**: the input is a regression case, a demo already in the skill, or a repeat of a later
  escalation (the latest answer is kept) -- the overfitting guard: a regression input never becomes a demo;
- **holdout**: a seeded share of the rest, which becomes new regression cases (and dev cases for the
  recompile), so the update is measured on escalations it did not learn from;
- **train**: the rest, which become demo-pool candidates and calibration cases.

The log itself is never rewritten (it is the audit trail of paid-for answers): folded records are
listed, by the hash of their line, in ``escalations.folded.jsonl`` next to it (:func:`mark_folded`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from skillforge.format import ESCALATIONS, SkillDefinition
from skillforge.jsonl import StrictModel, dumps_line, intact_records
from skillforge.run import EscalationRecord, read_escalations, render_input
from skillforge.spec import validation_errors
from skillforge.spec.schema import sha256_text
from skillforge.textfiles import append_line, read_bytes

#: The list of escalations already folded into the skill (one :class:`FoldedRecord` per line).
FOLDED = "escalations.folded.jsonl"
#: The model ids of the runtime's non-teacher answerers: their records are not teacher-verified.
NOT_TEACHER = frozenset({"classifier"})

Use = Literal["demo", "regression", "duplicate"]


class FoldedRecord(StrictModel):
    """One line of ``escalations.folded.jsonl``: an escalation an update has used (or set aside as a
    duplicate), so no later update folds it again."""

    #: SHA-256 of the escalation's line as the runtime wrote it (:func:`escalation_key`).
    key: str
    #: The escalation's own timestamp, to find it in the log by eye.
    time: str
    used_as: Use
    folded_at: str


def escalation_key(record: EscalationRecord) -> str:
    """The identity of an escalation: the hash of its line in the log."""
    return sha256_text(dumps_line(record.model_dump(mode="json")))


@dataclass
class FoldPlan:
    """The escalations of one update, sorted (see the module docstring)."""

    train: list[EscalationRecord] = field(default_factory=list)
    holdout: list[EscalationRecord] = field(default_factory=list)
    duplicates: list[EscalationRecord] = field(default_factory=list)
    #: Already folded, not from a teacher, or invalid under the skill's schemas: left as they are.
    skipped: int = 0

    @property
    def used(self) -> list[tuple[EscalationRecord, Use]]:
        """Every escalation this update consumes, with how."""
        return ([(r, "demo") for r in self.train] + [(r, "regression") for r in self.holdout]
                + [(r, "duplicate") for r in self.duplicates])


def folded_keys(skill_dir: Path) -> set[str]:
    """The keys of every escalation already folded into the skill at ``skill_dir``."""
    try:
        data = read_bytes(skill_dir / FOLDED, follow_symlinks=False)
    except FileNotFoundError:
        return set()
    return {r.key for r in intact_records(data, FoldedRecord)}


def _valid(skill: SkillDefinition, record: EscalationRecord) -> bool:
    m = skill.manifest
    return (record.answered_by not in NOT_TEACHER and not validation_errors(m.input_schema, record.input)
            and not validation_errors(m.output_schema, record.output))


def plan_fold(skill: SkillDefinition, records: Sequence[EscalationRecord], done: set[str], *,
              holdout_fraction: float, seed: int) -> FoldPlan:
    """Sort ``records`` (the escalation log, in order) for an update of ``skill``; ``done``: the keys
    already folded. The holdout is a seeded ``holdout_fraction`` of the new escalations (at least one
    when there are two or more, so every update adds a regression case it did not train on)."""
    plan = FoldPlan()
    fresh = []
    for r in records:
        if escalation_key(r) in done or not _valid(skill, r):
            plan.skipped += 1
        else:
            fresh.append(r)
    banned = {render_input(c.input) for c in skill.tests} | {render_input(d.input) for d in skill.demos}
    latest: dict[str, EscalationRecord] = {}
    for r in fresh:  # a repeated input: the latest answer wins, the earlier ones are duplicates
        rendered = render_input(r.input)
        if rendered in banned:
            plan.duplicates.append(r)
            continue
        if rendered in latest:
            plan.duplicates.append(latest[rendered])
        latest[rendered] = r
    unique = list(latest.values())
    random.Random(seed).shuffle(unique)
    n_holdout = round(len(unique) * holdout_fraction)
    if len(unique) >= 2 and holdout_fraction > 0:
        n_holdout = max(1, n_holdout)
    plan.holdout, plan.train = unique[:n_holdout], unique[n_holdout:]
    return plan


def read_plan(skill: SkillDefinition, skill_dir: Path, *, holdout_fraction: float, seed: int) -> FoldPlan:
    """:func:`plan_fold` over the skill directory's escalation log and folded list."""
    return plan_fold(skill, read_escalations(skill_dir / ESCALATIONS), folded_keys(skill_dir),
                     holdout_fraction=holdout_fraction, seed=seed)


def mark_folded(skill_dir: Path, plan: FoldPlan, folded_at: str) -> None:
    """Append every escalation ``plan`` consumed to ``escalations.folded.jsonl`` (never rewritten)."""
    for record, use in plan.used:
        line = FoldedRecord(key=escalation_key(record), time=record.time, used_as=use, folded_at=folded_at)
        append_line(skill_dir / FOLDED, dumps_line(line.model_dump(mode="json")), follow_symlinks=False)
