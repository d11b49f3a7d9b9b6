"""``retarget``: move a committed skill to a new student (or teacher, model tiers, second opinion) without
recompiling it. The reviewed prompt, demos, schema and regression cases are kept; only what depends on
the models is fitted again.

1. **answer** -- the new student answers the skill's labelled examples with the skill's own prompt: its
   demos when it retrieves them per input (each case never sees its own demo: leave-one-out) and any
   further labelled examples given. A fixed-demo prompt shows every demo, so there only the further
   examples count. No teacher call: the demos' answers are the teacher's (or labels), reused.
2. **re-fit** -- the compile's calibrate step (:mod:`skillforge.compile.calibrate`) on those answers:
   confidence, threshold, ladder and model tiers, priced at list prices. The classifier tier is kept as
   compiled (it reads the input only, with its own embedder), and so is what an escalation sends.
3. **gate** on the regression suite, disjoint from step 1: the old skill with its student and the new
   one with the new student, each on its own answers (no escalation). Not worse = the new accuracy is at
   least the old one less one standard error of their paired difference, and the answers the new skill
   accepts reach its target precision. Cost is reported, not gated.
4. **write** when not worse (or forced, recorded as such): the skill's files with its lineage in
   provenance, then its regression cassettes recorded for the new models -- answers already recorded are
   replayed, so a teacher answer the skill has is never bought again -- and the recordings of a model it
   no longer uses removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from skillforge.compile import CompileOptions
from skillforge.compile.assemble import assemble
from skillforge.compile.calibrate import calibrate, wants_choice_scores
from skillforge.compile.candidates import Candidate, Rendering
from skillforge.compile.classifier_tier import ClassifierFit
from skillforge.compile.drafting import TeacherPool
from skillforge.compile.measure import DevCase
from skillforge.compile.pipeline import timed
from skillforge.compile.selection import Scored
from skillforge.compile.state import CompileState, Drafted, Kept, Selected
from skillforge.environment import read_env
from skillforge.errors import SpecError
from skillforge.evaluate import EvalResult, aevaluate_skill
from skillforge.format import CLASSIFIER, Lineage, Manifest
from skillforge.ledger import Clock, Ledger, utc_now
from skillforge.models.base import Model, Usage, blocking
from skillforge.models.registry import resolve_model
from skillforge.progress import NullProgress, Progress
from skillforge.regress.cassette import CASSETTE_DIR, CassetteModel, CassetteStore
from skillforge.regress.results import SkillResult
from skillforge.regress.suite import arun_skill_tests
from skillforge.run import render_input, with_confidence, without_inputs
from skillforge.run.classifier import InputClassifier, TextClassifier, embedder_for
from skillforge.skill import Skill, load_skill
from skillforge.spec import Example, check_examples
from skillforge.stats import Calibration, mean_se, wilson_lower_bound
from skillforge.update.update import file_diff

Status = Literal["written", "forced", "refused", "dry-run"]


@dataclass(frozen=True)
class SuiteSide:
    """One side of the verdict: a skill's own answers (no escalation) on the regression suite."""

    student: str
    teacher: str
    cases: int
    accuracy: float
    field_score: float
    #: Share of the cases the skill answers before the teacher (classifier tier or student).
    answered_share: float
    #: Share of those answers that were right (``None``: it answered none).
    accepted_precision: float | None
    #: Expected dollars per 1,000 calls of the skill's chosen ladder at list prices (``None``: unknown).
    cost_per_1k: float | None


@dataclass(frozen=True)
class CaseChange:
    """A regression case the old skill's student got right and the new one does not."""

    case: int
    input: dict[str, Any]
    expected: dict[str, Any]
    old: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass
class RetargetReport:
    """What :func:`retarget_skill` did to one skill: both sides, the regressions, the verdict."""

    path: Path
    status: Status
    before: SuiteSide
    after: SuiteSide
    #: Labelled cases the new student's confidence and threshold were fitted on (step 1).
    calibration_cases: int
    #: Paired difference of the suite accuracies (new - old) and its standard error.
    accuracy_change: float
    accuracy_change_se: float
    regressions: list[CaseChange] = field(default_factory=list)
    #: Cases the new student gets right and the old one did not.
    improvements: int = 0
    #: Why the gate refused (empty: not worse).
    refusals: list[str] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)
    skill: Skill | None = None
    #: The regression suite recorded for the new models after writing (``None``: nothing written).
    recorded: SkillResult | None = None


def skill_candidate(skill: Skill) -> Candidate:
    """The skill's prompt as the compiler measures candidates: its instructions, demos, strategy and rendering."""
    s = skill.settings
    pooled = s.demo_strategy in ("retrieved", "clustered")
    return Candidate(name=skill.manifest.metrics.chosen or "skill", instructions_source=s.instructions_source,
                     instructions=skill.instructions, demos=list(skill.demos), retrieve_k=s.k if pooled else None,
                     rendering=Rendering(s.input_format, s.schema_in_prompt), clustered=s.demo_strategy == "clustered")


def calibration_cases(skill: Skill, examples: Sequence[Example]) -> list[DevCase]:
    """Step 1's cases: the demos a per-input prompt can leave out, then the further examples -- never an
    input of the regression suite (the gate's) or one the prompt shows every time."""
    suite = [c.input for c in skill.tests]
    own = [Example(input=d.input, expected=d.output) for d in skill.demos] if skill.settings.k and \
        skill.settings.demo_strategy in ("retrieved", "clustered") else []
    shown = [d.input for d in skill.demos] if not own else []
    given = without_inputs(without_inputs(list(examples), suite), shown)
    seen: set[str] = set()
    out = []
    for e in [*without_inputs(own, suite), *given]:
        key = render_input(e.input)
        if key not in seen and e.expected is not None:
            seen.add(key)
            out.append(DevCase(e.input, e.expected))
    return out


async def kept_classifier(skill: Skill, cases: Sequence[DevCase], student: Model, level: float | None
                          ) -> ClassifierFit | None:
    """The skill's classifier with its view of each case, its tier's threshold kept and its precision there
    measured on the cases (``None``: the skill has no classifier)."""
    weights = skill.classifier
    if weights is None:
        return None
    classifier = InputClassifier(TextClassifier(weights), embedder_for(None, weights.embedding, student))
    views = [await classifier.classify(c.input) for c in cases]
    fit = ClassifierFit(weights, {render_input(c.input): list(v.probabilities) for c, v in zip(cases, views,
                                                                                                 strict=True)})
    tier = skill.settings.tiers[0] if skill.settings.tiers else None
    if tier is None or tier.threshold is None or not cases:
        return fit
    predicted = [(v.predict(), c) for v, c in zip(views, cases, strict=True)]
    taken = [(label, c) for (label, p), c in predicted if p >= tier.threshold]
    right = sum(c.expected.get(weights.field) == label for label, c in taken)
    fit.calibration = Calibration(
        tier.threshold, len(taken) / len(cases), right / len(taken) if taken else None,
        wilson_lower_bound(right, len(taken), confidence_level=level) if taken and level else None, level)
    return fit


def _side(skill: Skill, result: EvalResult, student: str, teacher: str) -> SuiteSide:
    chosen = [ladder for ladder in skill.manifest.metrics.ladders if ladder.chosen]
    precision = result.accepted_accuracy
    return SuiteSide(
        student=student, teacher=teacher, cases=result.n, accuracy=round(result.student_accuracy, 4),
        field_score=round(result.student_field_score, 4), answered_share=round(result.student_share, 4),
        accepted_precision=None if precision is None else round(precision, 4),
        cost_per_1k=chosen[0].cost_per_1k if chosen else None)


def paired_change(old: Sequence[bool], new: Sequence[bool]) -> tuple[float, float]:
    """Mean of new - old per case, and its standard error."""
    return mean_se([float(b) - float(a) for a, b in zip(old, new, strict=True)])


def verdict(report: RetargetReport, target: float) -> list[str]:
    """The gate (see the module docstring): why the new skill is worse, if it is."""
    out = []
    if report.accuracy_change < -report.accuracy_change_se:
        out.append(f"regression suite accuracy fell from {report.before.accuracy:.3f} to {report.after.accuracy:.3f} "
                   f"({report.accuracy_change:+.3f}, more than one standard error, {report.accuracy_change_se:.3f})")
    p = report.after.accepted_precision
    if p is not None and p < target:
        out.append(f"the answers it accepts on the regression suite are {p:.1%} right, below its target "
                   f"{target:.0%}")
    return out


def _refitted(old: Skill, state: CompileState, clock: Clock) -> Skill:
    """The re-fitted skill: the old one's prompt, demos and cases with the calibrate step's settings and
    metrics (its regression gate and lineage are set by :func:`_gated`)."""
    fitted = assemble(state)
    fm, om = fitted.manifest, old.manifest
    metrics = om.metrics.model_copy(update={
        name: getattr(fm.metrics, name) for name in (
            "accepted_precision", "precision_lower_bound", "confidence_level", "calibration_size", "signal_auroc",
            "ladders", "risk_coverage", "invalid_share", "field_auroc", "to_certify", "compile_steps")
    } | {"estimate": [], "budget": None})
    provenance = fm.provenance.model_copy(update={
        "spec_hash": om.provenance.spec_hash, "compiled_at": clock().isoformat(timespec="seconds")})
    manifest = Manifest.model_validate({**om.model_dump(), "settings": fm.settings.model_dump(),
                                        "metrics": metrics.model_dump(), "provenance": provenance.model_dump()})
    return Skill(manifest, old.instructions, list(old.demos), list(old.tests), classifier=fitted.classifier,
                 student=fitted.default_student, teacher=fitted.default_teacher, tiers=state.tier_models,
                 embedder=state.embedder)


def _gated(refitted: Skill, old: Skill, side: SuiteSide, lineage: Lineage) -> Skill:
    """``refitted`` with the regression gate set from the new student's suite answers (the compile's rule:
    less a margin of 0.05), its suite score as the dev score, and the lineage recorded; content hash updated."""
    m = refitted.manifest
    settings = m.settings.model_copy(update={
        "min_pass_rate": max(0.0, round(side.accuracy - 0.05, 2)),
        "min_field_score": None if old.settings.min_field_score is None
        else max(0.0, round(side.field_score - 0.05, 2)),
    })
    manifest = m.model_copy(update={
        "settings": settings, "metrics": m.metrics.model_copy(update={"dev_score": round(side.field_score, 4)}),
        "provenance": m.provenance.model_copy(
            update={"retargeted_from": [*old.manifest.provenance.retargeted_from, lineage]})})
    out = Skill(manifest, refitted.instructions, refitted.demos, refitted.tests, classifier=refitted.classifier,
                student=refitted.default_student, teacher=refitted.default_teacher, tiers=refitted.default_tiers,
                embedder=refitted.default_embedder)
    out.manifest = out.hashed_manifest()
    return out


async def aretarget_skill(
    path: str | Path,
    *,
    student: str | Model | None = None,
    teacher: str | Model | None = None,
    old_student: str | Model | None = None,
    tiers: Sequence[str] | None = None,
    second_opinion: str | None = None,
    examples: Sequence[Example] = (),
    force: bool = False,
    dry_run: bool = False,
    tier_models: Mapping[str, Model] | None = None,
    ledger: Ledger | None = None,
    clock: Clock = utc_now,
    progress: Progress | None = None,
) -> RetargetReport:
    """Retarget the skill at ``path`` (see the module docstring). ``student``/``teacher`` default to the skill's
    own; ``tiers`` replaces its model tiers and ``second_opinion`` its second opinion (model ids);
    ``examples`` are further labelled examples to fit on. Writes when not worse, or with ``force``; never
    with ``dry_run``. The old side is measured with ``old_student`` (default: the skill's student), its answers
    replayed from the skill's cassettes where recorded."""
    path = Path(path)
    old = load_skill(path)
    prov = old.manifest.provenance
    if student is None and teacher is None and tiers is None and second_opinion is None:
        raise SpecError("nothing to retarget to: give a student, teacher, model tiers or second opinion",
                        field="student")
    options = _options(prov.options or CompileOptions(), tiers, second_opinion)
    progress = progress or NullProgress()
    ledger = ledger if ledger is not None else Ledger(read_env().ledger_path, clock=clock)
    store = CassetteStore(path / CASSETTE_DIR)
    student_m = resolve_model(student, prov.student, role="student")
    # The teacher is asked nothing while fitting (it prices escalations) and, when recording the suite, only
    # what no recording answers: behind the cassettes it is constructed only then.
    teacher_arg = teacher if teacher is not None else prov.teacher
    teacher_m = CassetteModel(teacher_arg, store, "auto")
    student_m.check_schema(old.spec.output_schema)
    check_examples(old.spec, list(examples), what="examples")
    cases = calibration_cases(old, examples)
    if not cases:
        why = ("it keeps no demos" if not old.demos else "its fixed demos are in every prompt, so answering them "
               "tests nothing")
        raise SpecError(f"{path}: no labelled cases to fit the new student's confidence on ({why}; its regression "
                        "cases are kept for the verdict): pass further labelled examples (--examples FILE)",
                        field="examples")
    state = CompileState(
        spec=old.spec, options=options, teacher=teacher_m, student=student_m,
        student_eval=with_confidence(student_m, options.confidence.settings()), ledger=ledger, progress=progress,
        clock=clock, train=[], dev_examples=[Example(input=c.input, expected=c.expected) for c in cases],
        template_text=old.instructions, plain_text=old.instructions, tier_models=dict(tier_models or {}),
        checks=old.settings.checks, embedder=None, kept=await _kept(old, cases, student_m, options.confidence_level))
    await _fit(old, cases, state)
    old_m = CassetteModel(old_student if old_student is not None else prov.student, store, "auto")
    report = await _gate(old, state, (old_m, CassetteModel(student_m, store, "auto")), teacher_m.model_id, ledger,
                         progress, clock, forced=force)
    report.path = path
    new = report.skill
    assert new is not None  # set by the gate
    if report.refusals and not force:
        report.status = "refused"
        return report
    report.diff = file_diff(path, new)
    if dry_run:
        report.status = "dry-run"
        return report
    store.save(prune=False)
    new.save(path)
    if new.classifier is None and (path / CLASSIFIER).exists():
        (path / CLASSIFIER).unlink()  # a classifier the new skill does not keep would fail the hash
    # The suite through its cassettes: recorded answers replayed, the rest asked and recorded; then only what
    # this run used is kept (a model the skill no longer uses loses its file; git keeps the old ones).
    report.recorded = await arun_skill_tests(path, mode="auto", student=student_m, teacher=teacher_arg,
                                             progress=progress, prune=True)
    report.status = "forced" if report.refusals else "written"
    return report


def _options(options: CompileOptions, tiers: Sequence[str] | None, second_opinion: str | None) -> CompileOptions:
    """The skill's options with the model tiers and second opinion asked for, and the signal search on: the
    confidence is fitted for a model whose signals the skill was not compiled with (a student without token
    probabilities has none to read without it; a skill compiled before the search recorded it off)."""
    updates: dict[str, Any] = {"search": options.search.model_copy(update={"signal_search": True})}
    if tiers is not None:
        updates["model_tiers"] = tuple(tiers)
    if second_opinion is not None:
        updates["second_opinion"] = second_opinion
    return options.model_copy(update=updates)


async def _kept(old: Skill, cases: Sequence[DevCase], student: Model, level: float | None) -> Kept:
    """What the re-fit keeps from the skill: its classifier, its escalation prompt, its teacher-only tokens."""
    measured = old.manifest.metrics.teacher_only
    teacher_only = None if measured is None else Usage(input_tokens=round(measured.input_tokens),
                                                       output_tokens=round(measured.output_tokens))
    return Kept(classifier=await kept_classifier(old, cases, student, level),
                escalation_prompt=old.settings.escalation_prompt, teacher_only=teacher_only)


async def _fit(old: Skill, cases: list[DevCase], state: CompileState) -> CompileState:
    """Steps 1 and 2 over ``state`` (the new models, the skill's kept parts): the new student's answers on
    ``cases`` and the calibrate step over them."""
    async def answer(state: CompileState) -> None:
        """Step 1 (named for the skill's ``compile_steps``): the skill's prompt, answered by the new student."""
        measured = await state.measure(skill_candidate(old), cases, "calibration cases",
                                       choice_scores=wants_choice_scores(state))
        state.drafted = Drafted(teacher_text=None, dev=cases, taught=TeacherPool(list(old.demos), 0, None))
        state.selected = Selected(scored=[Scored([measured])], chosen=measured,
                                  why="retarget: the reviewed prompt kept")

    await timed(state, answer)
    await timed(state, calibrate)
    return state


async def _gate(old: Skill, state: CompileState, students: tuple[Model, Model], teacher: str, ledger: Ledger,
                progress: Progress, clock: Clock, *, forced: bool) -> RetargetReport:
    """Step 3: both skills on the regression suite, each with its own student (old, new), and the re-fitted
    skill as it would be written (``report.skill``)."""
    prov = old.manifest.provenance
    suite = [Example(input=c.input, expected=c.expected) for c in old.tests]
    before = await aevaluate_skill(old, suite, student=students[0], escalate=False, ledger=ledger, progress=progress)
    # The suite's answers do not depend on the gate the skill will carry: measured before it is set.
    draft = _refitted(old, state, clock)
    after = await aevaluate_skill(draft, suite, student=students[1], escalate=False, ledger=ledger,
                                  progress=progress)
    change, se = paired_change([c.correct for c in before.cases], [c.correct for c in after.cases])
    report = RetargetReport(path=Path(old.path or "."), status="refused",
                            before=_side(old, before, prov.student, prov.teacher),
                            after=_side(draft, after, students[1].model_id, teacher),
                            calibration_cases=len(state.dev), accuracy_change=round(change, 4),
                            accuracy_change_se=round(se, 4))
    for n, (b, a) in enumerate(zip(before.cases, after.cases, strict=True), start=1):
        if b.correct and not a.correct:
            report.regressions.append(CaseChange(n, a.input, a.expected, b.output, a.output))
        report.improvements += a.correct and not b.correct
    report.refusals = verdict(report, old.settings.target_precision)
    lineage = _lineage(old, report.refusals if forced else [])
    report.skill = _gated(draft, old, report.after, lineage)
    return report


def _lineage(old: Skill, refusals: list[str]) -> Lineage:
    p = old.manifest.provenance
    return Lineage(student=p.student, teacher=p.teacher, compiled_at=p.compiled_at, content_hash=p.content_hash,
                   forced=bool(refusals), refusals=refusals)


retarget_skill = blocking(aretarget_skill)
