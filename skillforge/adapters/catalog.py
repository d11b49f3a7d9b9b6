"""The skills an agent-facing server offers: every skill under some folders, each loaded once with a
:class:`~skillforge.run.Runner` that is reused for every call. A skill that cannot be served (malformed
files, a model that cannot be set up, a name already taken) is reported and skipped; the rest are served."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillforge.environment import read_env
from skillforge.errors import SkillforgeError
from skillforge.ledger import Ledger
from skillforge.models.base import Model
from skillforge.regress import CASSETTE_DIR, CassetteModel, CassetteStore, find_skills
from skillforge.run import Runner
from skillforge.skill import Skill, load_skill
from skillforge.spec import clip


@dataclass(frozen=True)
class ServedSkill:
    """One skill as a tool: its name, description and schemas, and the runner every call goes through."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    runner: Runner
    path: Path


@dataclass
class Catalog:
    """The skills to serve, by name, and what was skipped or noted while loading them (one line each)."""

    skills: dict[str, ServedSkill] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_catalog(
    paths: Sequence[str | Path],
    *,
    student: str | Model | None = None,
    teacher: str | Model | None = None,
    ledger: Ledger | None = None,
    escalate: bool = True,
    strict: bool = False,
    replay: bool = False,
) -> Catalog:
    """Every skill at or under ``paths``, ready to run.

    ``student``/``teacher`` default to the models each skill was compiled with; ``ledger`` defaults to
    ``.skillforge/ledger.jsonl`` (``SKILLFORGE_LEDGER``). Escalations are logged in each skill's
    ``escalations.jsonl`` as :meth:`Skill.run` does. With ``replay``, every model answer comes from the
    skill's recorded cassettes (what ``skillforge test`` replays): offline, free and deterministic, and a
    call whose request was never recorded fails; nothing is written into the skill then. Raises
    :class:`~skillforge.errors.ConfigurationError` when a path does not exist or holds no skill.
    """
    catalog = Catalog()
    ledger = ledger if ledger is not None else Ledger(read_env().ledger_path)
    for path in find_skills(paths):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                skill = load_skill(path, strict=strict)
            catalog.notes += [f"{path}: {clip(str(w.message))}" for w in caught]
            taken = catalog.skills.get(skill.name)
            if taken is not None:
                catalog.skipped.append(f"{path}: a skill named {skill.name!r} is already served from {taken.path}")
                continue
            runner = _runner(skill, path, student=student, teacher=teacher, ledger=ledger, escalate=escalate,
                             replay=replay)
        except SkillforgeError as exc:
            catalog.skipped.append(f"{path}: {clip(str(exc), 500)}")
            continue
        manifest = skill.manifest
        catalog.skills[skill.name] = ServedSkill(
            name=skill.name, description=manifest.description, input_schema=manifest.input_schema,
            output_schema=manifest.output_schema, runner=runner, path=path)
    return catalog


def _runner(
    skill: Skill, path: Path, *, student: str | Model | None, teacher: str | Model | None, ledger: Ledger,
    escalate: bool, replay: bool,
) -> Runner:
    if not replay:
        return skill.runner(student=student, teacher=teacher, ledger=ledger, escalate=escalate)
    prov = skill.manifest.provenance
    store = CassetteStore(path / CASSETTE_DIR)
    student_m = CassetteModel(student if student is not None else prov.student, store, "replay")
    teacher_m = CassetteModel(teacher if teacher is not None else prov.teacher, store, "replay")
    # escalation_log=None: replayed answers are not new escalations; the committed skill stays untouched.
    return Runner(skill, student=student_m, teacher=teacher_m, ledger=ledger, escalate=escalate,
                  escalation_log=None)
