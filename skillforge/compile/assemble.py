"""The last step: the compiled :class:`~skillforge.skill.Skill` from the state -- settings (threshold,
tiers, confidence), metrics (every candidate, signal AUROCs, priced ladders) and provenance (options,
content hash)."""

from __future__ import annotations

from skillforge._version import __version__
from skillforge.compile.calibrate import teacher_only_tokens
from skillforge.compile.selection import Scored
from skillforge.compile.state import CompileState
from skillforge.format import (
    FORMAT_VERSION,
    BudgetReport,
    CandidateResult,
    CoveragePoint,
    Manifest,
    Metrics,
    Provenance,
    RegressionCase,
    Settings,
    SkillDefinition,
)
from skillforge.format.manifest import TokenCounts
from skillforge.run import demo_groups
from skillforge.skill import Skill
from skillforge.stats import Calibration, risk_coverage, stored_threshold


def _r(x: float) -> float:
    return round(x, 4)


def _r_opt(x: float | None) -> float | None:
    return None if x is None else _r(x)


def _settings(state: CompileState, cal: Calibration) -> Settings:
    o, chosen, plan = state.options, state.the_choice(), state.the_plan()
    cand = chosen.candidate
    multi_field = len(state.spec.output_schema.get("properties", {})) > 1
    return Settings(
        instructions_source=cand.instructions_source, demo_strategy=cand.demo_strategy, k=cand.k,
        demo_groups=demo_groups([d.input for d in cand.demos], cand.k, [d.output for d in cand.demos])
        if cand.clustered else None,
        threshold=stored_threshold(cal), target_precision=o.target_precision,
        expected_student_share=_r(plan.answered_share),
        comparators=o.comparators,
        # Regression gate: the dev accuracy less a small margin for numeric noise across builds.
        min_pass_rate=max(0.0, round(chosen.accuracy - 0.05, 2)),
        # Multi-field answers rarely match whole; gate their partial credit too.
        min_field_score=max(0.0, round(chosen.score - 0.05, 2)) if multi_field else None,
        escalation_prompt=state.escalation_prompt(), confidence=state.confidence_settings(), max_tokens=o.max_tokens,
        tiers=[] if plan.tier is None else [plan.tier], model_tiers=plan.model_tiers, ask_student=plan.ask_student,
        checks=state.checks, repair=state.repair,
        input_format=cand.rendering.input_format, schema_in_prompt=cand.rendering.schema_in_prompt,
    )


def _candidate_result(sc: Scored) -> CandidateResult:
    c, spread = sc.candidate, sc.spread
    confs = [m.mean_confidence for m in sc.draws if m.mean_confidence is not None]
    return CandidateResult(
        name=c.name, instructions_source=c.instructions_source, demo_strategy=c.demo_strategy, k=c.k,
        dev_score=_r(sc.score), dev_accuracy=_r(sc.accuracy), mean_confidence=_r(sum(confs) / len(confs)) if confs
        else None, input_format=c.rendering.input_format, schema_in_prompt=c.rendering.schema_in_prompt,
        draw_scores=[_r(m.score) for m in sc.draws] if len(sc.draws) > 1 else [], spread=_r_opt(spread),
        cases_measured=len(sc.draws[0].cases) if any(m.stopped for m in sc.draws) else None)


def _metrics(state: CompileState, cal: Calibration) -> Metrics:
    chosen = state.the_choice()
    baseline = state.scored[0]  # the plain prompt: what every candidate is compared against
    taught = state.taught
    cases = state.calibration_cases
    return Metrics(
        dev_size=len(state.dev), dev_score=_r(chosen.score), zero_shot_dev_score=_r(baseline.score),
        chosen=chosen.candidate.name, baseline=baseline.candidate.name, selection=state.why,
        accepted_precision=_r_opt(cal.precision), precision_lower_bound=_r_opt(cal.lower_bound),
        confidence_level=state.options.confidence_level, calibration_size=len(state.calibration_cases),
        teacher_lean_score=_r_opt(taught.score if taught else None),
        candidates=[_candidate_result(sc) for sc in state.scored],
        refinement=state.rounds,
        demo_pool_size=len(state.pool), teacher_answers_replaced=None if taught is None else taught.dropped,
        signal_auroc={k: _r(v) for k, v in (state.confidence.auroc if state.confidence else {}).items()},
        ladders=state.the_plan().ladders, risk_coverage=_risk_coverage(state),
        invalid_share=_r(sum(c.output is None for c in cases) / len(cases)) if cases else None,
        compile_steps=state.step_costs, teacher_only=_teacher_only(state), to_certify=state.to_certify,
        field_auroc=state.field_auroc, estimate=state.estimate.steps() if state.estimate is not None else [],
        budget=None if state.budget is None else BudgetReport(limit_usd=state.budget.limit,
                                                              spent_usd=round(state.budget.spent, 6),
                                                              cuts=list(state.budget.cuts)),
    )


def _teacher_only(state: CompileState) -> TokenCounts | None:
    usage = teacher_only_tokens(state)
    return None if usage is None else TokenCounts(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)


def _risk_coverage(state: CompileState) -> list[CoveragePoint]:
    cases = state.calibration_cases
    scores = state.confidence.scores if state.confidence else [c.confidence for c in cases]
    return [CoveragePoint(coverage=r.coverage, answered=r.answered, accuracy=_r_opt(r.accuracy))
            for r in risk_coverage(scores, [c.correct for c in cases])]


def assemble(state: CompileState) -> Skill:
    """The compiled skill: settings, metrics and provenance (with the content hash of its files)."""
    cal = state.calibration
    if cal is None:
        raise RuntimeError("no calibration yet: run the calibrate step first")
    cand, spec = state.the_choice().candidate, state.spec
    manifest = Manifest(
        format_version=FORMAT_VERSION, name=spec.name, description=spec.description,
        input_schema=spec.input_schema, output_schema=spec.output_schema, settings=_settings(state, cal),
        provenance=Provenance(teacher=state.teacher.model_id, student=state.student.model_id,
                              skillforge_version=__version__, spec_hash=spec.spec_hash(), content_hash="",
                              compiled_at=state.clock().isoformat(timespec="seconds"),
                              options=state.options),
        metrics=_metrics(state, cal),
    )
    tests = [RegressionCase(input=c.input, expected=c.expected) for c in state.dev]
    # The content hash of the files as they will be written: the in-memory skill and a saved-and-loaded
    # one agree.
    classifier = state.the_plan().classifier
    hashed = SkillDefinition(manifest, cand.instructions, cand.demos, tests, classifier).hashed_manifest()
    return Skill(hashed, cand.instructions, cand.demos, tests, classifier=classifier, student=state.plain_student(),
                 teacher=state.plain_teacher(), tiers=state.tier_models, embedder=state.embedder)
