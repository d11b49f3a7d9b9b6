"""``skillforge eval``: a skill measured on labelled data.

For every case the student answers (the skill's own prompt, demos and confidence method) and is
scored. At the skill's threshold an answer is *accepted* or escalated; an escalated case is answered
by the teacher -- a real model, or, with ``teacher="gold"``, simulated by the label (always right;
for measuring offline, and labelled as such everywhere it is shown).

Costs per 1,000 calls are computed from the token counts of the real prompts at list prices
(:mod:`skillforge.models.pricing`): the student as it is priced (a local model costs $0) and *as Claude
Haiku*; the teacher as it is priced, or as Claude Opus when it is local or simulated; teacher-only as
Claude Opus answering every input with the prompt an escalation sends it (``settings.escalation_prompt``,
by default instructions and input without demos); teacher-only as the teacher (Claude Opus when it is local
or simulated) answering every input with the plain prompt (:mod:`skillforge.run.teacher_only`). Prompt
caching is not credited (an upper bound on the student+teacher mix and teacher-only alike).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from skillforge.evaluate.result import GOLD, EvalCase, EvalResult
from skillforge.format import SkillDefinition
from skillforge.ledger import Ledger
from skillforge.models.base import Attempt, Model, Usage, blocking
from skillforge.models.pricing import total_cost
from skillforge.progress import NullProgress, Progress
from skillforge.run import Runner, SelfConsistentModel, ask, render_output
from skillforge.run.ask import Acceptance
from skillforge.run.teacher_only import estimate_tokens, request_text, teacher_only_request, teacher_only_usage
from skillforge.spec import Example, compare


def _token_counter(runner: Runner, count_tokens: Callable[[str], int] | None) -> Callable[[str], int] | None:
    # The student's own tokenizer (looking through a self-consistency wrapper), when it has one. Never
    # through a cassette: replay must not construct the recorded model.
    counter = count_tokens or getattr(runner.student, "count_tokens", None)
    if counter is None and isinstance(runner.student, SelfConsistentModel):
        counter = getattr(runner.student.inner, "count_tokens", None)
    return counter


async def _student_case(runner: Runner, ex: Example, counter: Callable[[str], int] | None) -> EvalCase:
    skill, s = runner.skill, runner.skill.settings
    assert ex.expected is not None
    value = skill.spec.check_input(ex.input)
    request = runner.request_for(value)
    # The student answers every case (its signals are measured on all of them); the operating point
    # then follows the skill's ladder: a classifier tier in front answers what it is sure of.
    out, consulted = await runner.ask_student(value, threshold=None, phase="eval", request=request)
    usage = sum((a.usage for a in out.attempts), Usage())
    # Scored on what the student said, even an answer the learned checks rejected (not accepted, below).
    got = compare(out.answer, ex.expected, s.comparators)
    # A skill that does not ask its student (``ask_student: false``) accepts none of its answers: they are
    # measured, never used (nor paid for, see EvalResult.student_asked).
    accepted = s.ask_student and out.output is not None and (
        s.threshold is None or (out.confidence is not None and out.confidence >= s.threshold))
    case = EvalCase(ex.input, ex.expected, out.output, out.confidence, got.correct, got.score,
                    accepted, usage, got.correct, got.score,
                    student_cost=total_cost([a.cost_usd for a in consulted + out.attempts]), signals=dict(out.signals),
                    refused=any(a.verdict == "refused" for a in out.attempts))
    tiered = await runner.classifier_answer(value)
    if tiered is not None:
        label = compare(tiered.output, ex.expected, s.comparators)
        case.tier, case.accepted, case.final_correct, case.final_score = "classifier", True, label.correct, label.score
    elif accepted:
        case.tier = "student"
    calls = s.confidence.samples if s.confidence.method == "self_consistency" else 1
    case.prompt_tokens = out.attempts[0].usage.input_tokens // calls if out.attempts else 0
    case.student_output_tokens = out.attempts[0].usage.output_tokens if out.attempts else 1
    teacher_request = runner.teacher_request_for(value)
    case.teacher_prompt_tokens = (case.prompt_tokens if teacher_request == request else estimate_tokens(
        request_text(teacher_request), request_text(request), case.prompt_tokens, counter))
    m = skill.manifest
    plain = teacher_only_request(description=m.description, output_schema=m.output_schema,
                                 input_schema=m.input_schema, input=value, max_tokens=s.max_tokens)
    case.teacher_only_usage = teacher_only_usage(plain, ex.expected, m.output_schema, measured=request,
                                                 measured_tokens=case.prompt_tokens, answer_tokens=None,
                                                 counter=counter)
    return case


async def _model_tiers(runner: Runner, case: EvalCase) -> bool:
    """The skill's model tiers on a case the student passed on (real calls, priced as their models
    are): True when one of them answered it."""
    if not runner.skill.settings.model_tiers:
        return False
    attempts: list[Attempt] = []
    # case.input was checked when the student answered it.
    answered = await runner.ask_model_tiers(case.input, case.output, attempts)
    case.tier_cost = total_cost([a.cost_usd for a in attempts])
    if answered is None:
        return False
    got = compare(answered.output, case.expected, runner.skill.settings.comparators)
    case.tier, case.accepted, case.final_correct, case.final_score = answered.tier, True, got.correct, got.score
    return True


async def _escalate(runner: Runner, case: EvalCase, *, simulated: bool, counter: Callable[[str], int] | None) -> None:
    """The teacher's answer to an escalated case: the label when simulated (always right, priced on the
    real prompt's tokens), else a real call."""
    skill, s = runner.skill, runner.skill.settings
    schema = skill.manifest.output_schema
    case.escalated = True
    if simulated:
        answer = render_output(case.expected, schema)
        n_out = counter(answer) if counter else max(1, case.student_output_tokens)
        case.teacher_usage = Usage(input_tokens=case.teacher_prompt_tokens, output_tokens=n_out)
        case.final_correct, case.final_score = True, 1.0
        return
    request = runner.teacher_request_for(case.input)
    t = await ask(runner.teacher, "teacher", request, Acceptance(schema, max_reasks=s.max_reasks), runner.site("eval"))
    final = compare(t.output, case.expected, s.comparators)
    case.teacher_usage = sum((a.usage for a in t.attempts), Usage())
    if t.attempts and t.attempts[0].usage.input_tokens:
        case.teacher_prompt_tokens = t.attempts[0].usage.input_tokens
        if s.escalation_prompt == "plain":
            # The escalation sent the teacher-only prompt (Runner.teacher_request_for): its first call *is* the
            # teacher-only call, measured instead of estimated.
            case.teacher_only_usage = t.attempts[0].usage
            case.teacher_only_cost = runner.teacher.cost_usd(t.attempts[0].usage)
    case.teacher_cost = total_cost([a.cost_usd for a in t.attempts])
    case.teacher_refused = any(a.verdict == "refused" for a in t.attempts)
    case.final_correct, case.final_score = final.correct, final.score


async def aevaluate_skill(
    skill: SkillDefinition,
    data: Sequence[Example],
    *,
    student: str | Model | None = None,
    teacher: str | Model | None = None,
    escalate: bool = True,
    ledger: Ledger | None = None,
    count_tokens: Callable[[str], int] | None = None,
    progress: Progress | None = None,
    tiers: Mapping[str, str | Model] | None = None,
) -> EvalResult:
    """Run ``skill`` on labelled ``data`` (see the module docstring). ``teacher="gold"`` simulates the
    teacher by the labels; ``count_tokens`` sizes a simulated teacher's answers (default: the student's
    own tokenizer when it has one, else the student's answer length). Cases the student passes on go
    to the skill's model tiers first (``settings.model_tiers``, real calls; ``tiers`` overrides their
    models by id)."""
    simulated = teacher == GOLD
    runner = Runner(skill, student=student, teacher=None if simulated else teacher,
                    ledger=ledger if ledger is not None else Ledger(None), escalate=escalate, phase="eval",
                    tiers=tiers)
    s = skill.settings
    counter = _token_counter(runner, count_tokens)
    progress = progress or NullProgress()
    labelled = [ex for ex in data if ex.expected is not None]
    progress.stage(f"eval {skill.name}", len(labelled))
    cases: list[EvalCase] = []
    for ex in labelled:
        case = await _student_case(runner, ex, counter)
        if not case.accepted and escalate and not await _model_tiers(runner, case):
            await _escalate(runner, case, simulated=simulated, counter=counter)
        cases.append(case)
        progress.advance()
    teacher_id = "gold labels (simulated teacher)" if simulated else (
        runner.teacher.model_id if escalate else skill.manifest.provenance.teacher)
    reference = simulated or not escalate or runner.teacher.is_local
    if not reference:
        # A real teacher prices teacher-only as it prices its own calls (the escalations'), so the two compare.
        for case in cases:
            if case.teacher_only_cost is None:
                case.teacher_only_cost = runner.teacher.cost_usd(case.teacher_only_usage)
    return EvalResult(
        skill=skill.name, student=runner.student.model_id, teacher=teacher_id, teacher_simulated=simulated,
        escalate=escalate, threshold=s.threshold, target_precision=s.target_precision, cases=cases,
        student_calls_per_input=s.confidence.samples if s.confidence.method == "self_consistency" else 1,
        teacher_as_reference=reference,
        escalation_prompt=s.escalation_prompt, student_asked=s.ask_student, comparators=dict(s.comparators),
    )


evaluate_skill = blocking(aevaluate_skill)
