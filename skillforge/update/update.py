"""``update``: fold a skill's teacher-verified escalations back into it and recompile.

1. **fold** (:mod:`~skillforge.update.folding`): the escalations not folded before, valid under the
   skill's schemas and not repeating a regression case or demo, are split (seeded) into a training
   share and a held-out share.
2. **recompile** with the skill's stored options (``provenance.options``): the training escalations
   lead the training examples (so they enter the teacher-checked demo pool and the calibration cases),
   followed by the skill's current demos (as labelled examples) and any further examples given; the dev
   set is the skill's regression cases plus the held-out escalations, which become new regression cases.
   Demos that came from an escalation keep the source ``escalation``.
3. **measure** both skills on the same cases -- every new regression case -- with the same student,
   without escalation (the skill's own answers: its classifier tier and student), and gate: the update is
   refused when the pass rate or field score on the old regression cases, or on all of them, drops by
   more than ``tolerance``.
4. **write** unless refused or a dry run: the skill's files, then the folded escalations' keys
   (``escalations.folded.jsonl``; the log itself is never rewritten). Should the second write fail, the
   next update sees the folded escalations as demos or regression cases and sets them aside as duplicates.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from skillforge.compile import CompileOptions, acompile_skill
from skillforge.environment import read_env
from skillforge.errors import SpecError
from skillforge.evaluate import EvalResult, aevaluate_skill
from skillforge.format import CLASSIFIER, Demo, SkillDefinition
from skillforge.ledger import Clock, Ledger, utc_now
from skillforge.models.base import Model, blocking
from skillforge.models.registry import resolve_model
from skillforge.progress import NullProgress, Progress
from skillforge.run import render_input
from skillforge.skill import Skill, load_skill
from skillforge.spec import Example
from skillforge.update.folding import FoldPlan, mark_folded, read_plan

Status = Literal["written", "dry-run", "refused", "nothing-to-fold"]
#: Default largest drop in regression pass rate or field score an update may cause.
DEFAULT_TOLERANCE = 0.02
#: Default share of new escalations held out as new regression cases.
DEFAULT_HOLDOUT = 0.2


@dataclass(frozen=True)
class RegressionScore:
    """A skill's own answers (classifier tier and student, no escalation) on regression cases."""

    cases: int
    pass_rate: float
    field_score: float
    #: Share of the cases answered at the skill's threshold (not escalated).
    answered_share: float


@dataclass(frozen=True)
class Snapshot:
    """One side of an update: the skill's compile-time metrics and its measured regression scores."""

    dev_score: float
    dev_size: int
    expected_student_share: float | None
    #: Expected dollars per 1,000 calls of the chosen cascade, as priced at compile time (``None``: unknown).
    cost_per_1k: float | None
    demos: int
    escalation_demos: int
    regression_cases: int
    #: On the regression cases the skill had before the update, and on every case it has after.
    old_cases: RegressionScore
    all_cases: RegressionScore


@dataclass
class UpdateReport:
    """What :func:`update_skill` did (or would do): the fold, both sides' metrics, the diff, the verdict."""

    path: Path
    status: Status
    plan: FoldPlan
    tolerance: float
    before: Snapshot | None = None
    after: Snapshot | None = None
    #: Unified diff of the skill's files, old -> new.
    diff: list[str] = field(default_factory=list)
    #: Why the update was refused (the gates that failed).
    refusals: list[str] = field(default_factory=list)
    #: The recompiled skill (``None`` when there was nothing to fold).
    skill: Skill | None = None


def _score(result: EvalResult, indices: Sequence[int]) -> RegressionScore:
    cases = [result.cases[i] for i in indices]
    n = max(1, len(cases))
    return RegressionScore(cases=len(cases), pass_rate=round(sum(c.final_correct for c in cases) / n, 4),
                           field_score=round(sum(c.final_score for c in cases) / n, 4),
                           answered_share=round(sum(c.accepted for c in cases) / n, 4))


def _cost_per_1k(skill: SkillDefinition) -> float | None:
    chosen = [ladder for ladder in skill.manifest.metrics.ladders if ladder.chosen]
    return chosen[0].cost_per_1k if chosen else None


def _snapshot(skill: SkillDefinition, result: EvalResult, n_old: int) -> Snapshot:
    m = skill.manifest
    return Snapshot(
        dev_score=m.metrics.dev_score, dev_size=m.metrics.dev_size,
        expected_student_share=m.settings.expected_student_share, cost_per_1k=_cost_per_1k(skill),
        demos=len(skill.demos), escalation_demos=sum(d.source == "escalation" for d in skill.demos),
        regression_cases=len(skill.tests), old_cases=_score(result, range(n_old)),
        all_cases=_score(result, range(len(result.cases))),
    )


def gate(before: Snapshot, after: Snapshot, tolerance: float) -> list[str]:
    """The reasons to refuse an update: each regression measure that dropped by more than ``tolerance``."""
    out = []
    for what, b, a in (("old regression cases", before.old_cases, after.old_cases),
                       ("all regression cases", before.all_cases, after.all_cases)):
        for name in ("pass_rate", "field_score"):
            old, new = getattr(b, name), getattr(a, name)
            if new < old - tolerance:
                out.append(f"{name.replace('_', ' ')} on {what} fell from {old:.3f} to {new:.3f} "
                           f"(tolerance {tolerance:.3f})")
    return out


def with_escalation_sources(skill: Skill, escalation_inputs: set[str]) -> Skill:
    """``skill`` with every demo whose input came from an escalation marked ``source: escalation``
    (the compiler marks demos by who answered them at compile time), content hash updated."""
    demos = [Demo(input=d.input, output=d.output, source="escalation")
             if render_input(d.input) in escalation_inputs else d for d in skill.demos]
    out = Skill(skill.manifest, skill.instructions, demos, skill.tests, skill.path, classifier=skill.classifier,
                student=skill.default_student, teacher=skill.default_teacher)
    out.manifest = out.hashed_manifest()
    return out


def file_diff(path: Path, new: SkillDefinition) -> list[str]:
    """Unified diff (lines) of the skill files on disk at ``path`` against ``new``'s files."""
    texts = new.file_texts()
    names = sorted(set(texts) | ({CLASSIFIER} if (path / CLASSIFIER).exists() else set()))
    out: list[str] = []
    for name in names:
        old = (path / name).read_text(encoding="utf-8") if (path / name).exists() else ""
        out += difflib.unified_diff(old.splitlines(keepends=True), texts.get(name, "").splitlines(keepends=True),
                                    f"a/{name}", f"b/{name}")
    return [line if line.endswith("\n") else line + "\n" for line in out]


def _examples(old: Skill, plan: FoldPlan, extra: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """(training examples, dev examples) of the recompile."""
    train = [Example(input=r.input, expected=r.output) for r in plan.train]
    train += [Example(input=d.input, expected=d.output) for d in old.demos]
    train += list(extra)
    dev = [Example(input=c.input, expected=c.expected) for c in old.tests]
    dev += [Example(input=r.input, expected=r.output) for r in plan.holdout]
    return train, dev


def _write(path: Path, skill: Skill, plan: FoldPlan, folded_at: str) -> None:
    skill.save(path)
    if skill.classifier is None and (path / CLASSIFIER).exists():
        # A classifier from the previous compile that the new one did not keep: it would fail the hash.
        (path / CLASSIFIER).unlink()
    mark_folded(path, plan, folded_at)


async def aupdate_skill(
    path: str | Path,
    *,
    teacher: str | Model | None = None,
    student: str | Model | None = None,
    examples: Sequence[Example] = (),
    options: CompileOptions | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    holdout_fraction: float = DEFAULT_HOLDOUT,
    dry_run: bool = False,
    ledger: Ledger | None = None,
    clock: Clock = utc_now,
    progress: Progress | None = None,
) -> UpdateReport:
    """Fold the teacher-verified escalations of the skill at ``path`` into it and recompile (see the
    module docstring). ``teacher``/``student`` default to the models in the skill's provenance,
    ``options`` to the options it was compiled with; ``examples`` are further labelled training
    examples (the skill keeps only its demos, not its original training set). Writes nothing when
    ``dry_run``, when the gate refuses (``report.status == "refused"``), or when there is nothing to fold."""
    path = Path(path)
    if not 0.0 <= holdout_fraction < 1.0:
        raise SpecError("must be in [0, 1)", field="holdout_fraction")
    if tolerance < 0.0:
        raise SpecError("must be >= 0", field="tolerance")
    old = load_skill(path)
    prov = old.manifest.provenance
    options = options or prov.options or CompileOptions()
    plan = read_plan(old, path, holdout_fraction=holdout_fraction, seed=options.seed)
    report = UpdateReport(path=path, status="nothing-to-fold", plan=plan, tolerance=tolerance)
    if not plan.train and not plan.holdout:
        return report
    progress = progress or NullProgress()
    student_m = resolve_model(student, prov.student, role="student")
    teacher_m = resolve_model(teacher, prov.teacher, role="teacher")
    ledger = ledger if ledger is not None else Ledger(read_env().ledger_path, clock=clock)
    train, dev = _examples(old, plan, examples)
    new = await acompile_skill(old.spec, train, options, dev_examples=dev, teacher=teacher_m, student=student_m,
                               ledger=ledger, clock=clock, progress=progress)
    escalated = {render_input(r.input) for r in plan.train}
    escalated |= {render_input(d.input) for d in old.demos if d.source == "escalation"}
    new = with_escalation_sources(new, escalated)
    report.skill = new
    before, after = await _measure(old, new, dev, student_m, ledger, progress)
    report.before, report.after = before, after
    report.diff = file_diff(path, new)
    report.refusals = gate(before, after, tolerance)
    if report.refusals:
        report.status = "refused"
    elif dry_run:
        report.status = "dry-run"
    else:
        _write(path, new, plan, clock().isoformat(timespec="seconds"))
        report.status = "written"
    return report


async def _measure(old: Skill, new: Skill, cases: list[Example], student: Model, ledger: Ledger,
                   progress: Progress) -> tuple[Snapshot, Snapshot]:
    """Both skills' snapshots, measured on the same regression cases with the same student."""
    results: list[Any] = []
    for skill in (old, new):
        results.append(await aevaluate_skill(skill, cases, student=student, escalate=False, ledger=ledger,
                                             progress=progress))
    return _snapshot(old, results[0], len(old.tests)), _snapshot(new, results[1], len(old.tests))


update_skill = blocking(aupdate_skill)
