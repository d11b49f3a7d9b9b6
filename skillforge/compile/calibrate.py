"""The calibrate step: the answers the thresholds are set on, the signals they read, and the cheapest
ladder at the target precision.

1. **Cases.** The dev cases plus held-out labelled training examples the chosen prompt does not show as
   fixed demos (retrieval leaves each case's own input out): 60 dev cases alone cannot certify 95% by a
   lower bound. By default every such example is used, up to :data:`MAX_CALIBRATION_EXTRA`
   (``CompileOptions.calibration_extra`` sets a number instead): each is one student call, and the
   Wilson bound certifies more of the traffic the more cases it has.
2. **Signals.** Every free signal the student gives (:mod:`skillforge.run.signals`), the classifier's
   and the neighbours' view of each answer, a second opinion when configured, and -- for a student that
   gives no token probabilities, like Claude -- the agreement of further samples of each answer
   (:mod:`skillforge.run.samples`).
3. **The ladder.** Every confidence those signals allow (:func:`~skillforge.compile.confidence_fit.confidence_options`)
   is combined with every ladder (:func:`~skillforge.compile.ladder.plan_tiers`: the student alone, the
   classifier in front, the classifier alone, straight to the teacher), each priced per call at list
   prices with every call it makes (a local model at its role's reference price), and the cheapest is
   kept. A confidence that reads paid signals must save more than the noise of its own share: one
   binomial standard error of it, priced as escalations.
4. **Model tiers** behind the student, when configured (:mod:`skillforge.compile.model_tiers`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from skillforge.compile.budget import BudgetExhausted
from skillforge.compile.candidates import Candidate
from skillforge.compile.classifier_tier import LadderCosts
from skillforge.compile.confidence_fit import ConfidenceChoice, confidence_options, keep_second_opinion
from skillforge.compile.ladder import TierPlan, plan_tiers
from skillforge.compile.measure import CaseResult, DevCase
from skillforge.compile.model_tiers import add_model_tiers, free_signals
from skillforge.compile.second_opinion import measure_second_opinion
from skillforge.compile.state import Calibrated, CompileState
from skillforge.compile.steps import fit_classifier
from skillforge.format import ConfidenceSettings, LadderOption, ToCertify
from skillforge.models.base import ModelRequest, Usage
from skillforge.models.local.scoring import enum_fields
from skillforge.run import build_request, without_inputs
from skillforge.run.retrieval import neighbour_vote
from skillforge.run.samples import extra_samples
from skillforge.run.signals import field_aurocs
from skillforge.run.teacher_only import teacher_only_request, teacher_only_usage
from skillforge.stats import Calibration, examples_to_certify

#: At most this many held-out training examples join the calibration cases by default.
MAX_CALIBRATION_EXTRA = 1000


def calibration_extra(state: CompileState, cand: Candidate) -> list[DevCase]:
    """The held-out training examples calibrated on besides dev (see the module docstring), in a seeded order."""
    o = state.options
    shown = [d.input for d in cand.demos] if cand.retrieve_k is None else []
    pool = [DevCase(e.input, e.expected) for e in without_inputs(state.train, shown) if e.expected is not None]
    random.Random(o.seed + 2).shuffle(pool)
    return pool[: MAX_CALIBRATION_EXTRA if o.search.calibration_extra is None else o.search.calibration_extra]


def wants_choice_scores(state: CompileState) -> bool:
    """Whether the calibration reads the student's class probabilities (an enum output, a student that gives
    them, signal search on, no self-consistency)."""
    o = state.options
    return (o.search.signal_search and o.confidence.method != "self_consistency"
            and state.student.supports_choice_scores and bool(enum_fields(state.spec.output_schema)))


def sampling(state: CompileState) -> ConfidenceSettings | None:
    """How the student's extra samples are drawn, when they are measured: for a student that gives no
    token probabilities (nothing else of its own ranks its answers) under signal search, unless
    self-consistency is configured (that samples every answer already)."""
    o, student = state.options, state.student
    if not o.search.signal_search or o.confidence.method == "self_consistency":
        return None
    if student.supports_logprobs or student.supports_choice_scores:
        return None
    # A model that takes no temperature samples at its own settings (Claude's 5.5 family).
    base = o.confidence.settings()
    return base.model_copy(update={"temperature": None} if not student.supports_temperature else {})


def mean_usage(state: CompileState, request_for: Callable[[Mapping[str, Any]], ModelRequest]) -> Usage | None:
    """Mean tokens of the request ``request_for`` builds per dev input, answered with the expected answer:
    estimated from the plain baseline's measured prompts (zero-shot, so each is rebuilt exactly), with the
    student's tokenizer when it has one (:func:`~skillforge.run.teacher_only.estimate_tokens`)."""
    baseline = state.scored[0].draws[0] if state.scored else None
    if baseline is None or baseline.candidate.k:
        return None
    cand, spec, o = baseline.candidate, state.spec, state.options
    counter = getattr(state.student, "count_tokens", None)
    # A self-consistent student's usage sums its samples: one call's prompt is a share of it.
    calls = o.confidence.samples if state.student_eval is not state.student else 1
    usages = []
    for case, result in zip(state.dev, baseline.cases, strict=False):
        if not result.prompt_tokens:
            continue
        measured = build_request(instructions=cand.instructions, output_schema=spec.output_schema, demos=[],
                                 input=case.input, max_tokens=o.max_tokens,
                                 style=cand.rendering.style(spec.input_schema))
        usages.append(teacher_only_usage(request_for(case.input), case.expected, spec.output_schema, measured=measured,
                                         measured_tokens=result.prompt_tokens // calls, answer_tokens=None,
                                         counter=counter))
    if not usages:
        return None
    total = sum(usages, Usage())
    n = len(usages)
    return Usage(input_tokens=round(total.input_tokens / n), output_tokens=round(total.output_tokens / n))


def teacher_only_tokens(state: CompileState) -> Usage | None:
    """Mean tokens of the teacher-only call (:mod:`skillforge.run.teacher_only`) over the dev inputs (a
    retarget: as measured when the skill was compiled -- the call does not depend on the student)."""
    if state.kept is not None and state.kept.teacher_only is not None:
        return state.kept.teacher_only
    spec, o = state.spec, state.options
    return mean_usage(state, lambda x: teacher_only_request(
        description=spec.description, output_schema=spec.output_schema, input_schema=spec.input_schema, input=x,
        max_tokens=o.max_tokens))


def ladder_costs(state: CompileState, cases: Sequence[CaseResult]) -> LadderCosts:
    """A student ask and an escalation, priced on the calibration answers' mean tokens; an escalation at
    what it sends (the teacher-only prompt, unless the teacher needs the student's demos)."""
    prompt = [c.prompt_tokens for c in cases if c.prompt_tokens]
    answers = [c.answer_tokens for c in cases if c.answer_tokens]
    mean_prompt = sum(prompt) / len(prompt) if prompt else 0.0
    mean_answer = round(sum(answers) / len(answers)) if answers else 16
    teacher_prompt = None
    if state.escalation_prompt() == "plain":
        plain = teacher_only_tokens(state)
        teacher_prompt = None if plain is None else float(plain.input_tokens)
    return LadderCosts.measure(state.student, state.teacher, mean_prompt, mean_answer, teacher_prompt)


@dataclass(frozen=True)
class _Priced:
    choice: ConfidenceChoice
    plan: TierPlan
    order: int
    #: The calibration cases as this option sees them, and whether check failures were repaired.
    cases: list[CaseResult]
    repair: bool

    @property
    def cost(self) -> float | None:
        return next(o.cost_per_1k for o in self.plan.ladders if o.chosen)

    def key(self) -> tuple[float, int, int]:
        cost = self.cost
        # Unpriced: the ladder answering the most (as a negative cost); ties: fewer paid signals, simpler.
        return (cost if cost is not None else -self.plan.answered_share,
                len(self.choice.paid) if self.plan.ask_student else 0, self.order)

    def best_ladder(self, *, checked: bool) -> LadderOption:
        """This option's cheapest ladder, labelled with what it was priced with (not chosen; ``checked``:
        the skill has learned checks, so whether answers breaking them were repaired is said too)."""
        ladder = next(o for o in self.plan.ladders if o.chosen)
        return ladder.model_copy(update={"chosen": False, "confidence": self.choice.label,
                                         "repair": self.repair if checked else None})


def _cheapest(priced: Sequence[_Priced], n_cases: int, teacher_cost: float | None) -> _Priced:
    """The cheapest ladder (see the module docstring); one that reads paid signals must beat the best one
    with fewer of them by more than one binomial standard error of its answered share, priced."""
    best = min(priced, key=_Priced.key)
    while best.plan.ask_student and best.choice.paid:
        fewer = [p for p in priced if not p.plan.ask_student or len(p.choice.paid) < len(best.choice.paid)]
        if not fewer:
            break
        alt = min(fewer, key=_Priced.key)
        share = best.plan.answered_share
        noise = 1000.0 * (teacher_cost or 0.0) * math.sqrt(max(share * (1 - share), 1e-12) / max(1, n_cases))
        if best.cost is not None and alt.cost is not None and alt.cost - best.cost > noise:
            break
        best = alt
    return best


def without_repair(cases: Sequence[CaseResult]) -> list[CaseResult]:
    """The calibration answers as they would be without repairs: an answer that broke a learned check
    is not asked again (no answer, one call)."""
    return [replace(c, output=None, score=0.0, correct=False, confidence=None, signals={}, calls=1)
            if c.failed_check else c for c in cases]


def _mean_calls(cases: Sequence[CaseResult]) -> float:
    return sum(c.calls for c in cases) / len(cases) if cases else 1.0


async def calibrate(state: CompileState) -> None:
    """The calibrate step (see the module docstring): fills ``calibration_cases``, ``confidence``,
    ``plan``, ``calibration`` and ``repair``."""
    o, chosen, spec = state.options, state.the_choice(), state.spec
    if state.budget is not None:
        state.budget.release()  # what was held back for this step
    cand = chosen.candidate
    extra = calibration_extra(state, cand)
    scores = wants_choice_scores(state)
    samples = sampling(state)
    dev_cases = chosen.cases
    needs_scores = scores and not all("class_prob" in c.signals for c in dev_cases if c.output is not None)
    if needs_scores or samples is not None:
        # What selection did not ask for: the class probabilities, the samples.
        what = "dev (class probabilities)" if samples is None else "dev (samples)"
        dev_cases = (await state.measure(cand, state.dev, what, choice_scores=scores, sampling=samples)).cases
    extra_cases = (await state.measure(cand, extra, "calibration cases", choice_scores=scores, sampling=samples)
                   ).cases if extra else []
    measured = list(dev_cases) + list(extra_cases)
    inputs = [c.input for c in state.dev] + [c.input for c in extra]
    if state.kept is not None:
        fit = state.kept.classifier
    else:
        fit = await fit_classifier(state) if o.search.classifier_tier else None
    # The classifier's view of each student answer and the neighbours' vote: free signals for any student.
    vote = neighbour_vote(cand.demos, spec.output_schema)
    free_signals(measured, inputs, fit, vote)
    second = None
    if o.search.signal_search and o.second_opinion is not None:
        second = await measure_second_opinion(state, cand, measured, inputs)
    base = samples if samples is not None else o.confidence.settings()
    costs = ladder_costs(state, measured)
    second_cost = None
    if second is not None:
        # The student's own model is priced as the student is; another model at its own price (the embedded
        # model as a second opinion for a Claude student is free), on the plain prompt it is sent.
        model = second[1]
        second_cost = costs.student if model is state.student else model.cost_usd(
            teacher_only_tokens(state) or Usage(output_tokens=16))
    # Repairs are priced by the calls they add; without them an answer that broke a check escalates. The
    # variant without is tried first: on a tie it is kept (a repair must earn its call).
    variants = [(True, measured)]
    if state.checks is not None and any(c.failed_check for c in measured):
        variants.insert(0, (False, without_repair(measured)))
    priced: list[_Priced] = []
    for repair, cases in variants:
        per_ask = costs.plus_student(None if costs.student is None else (_mean_calls(cases) - 1.0) * costs.student)
        choices = (confidence_options(cases, base, seed=o.seed) if o.search.signal_search
                   else [ConfidenceChoice(o.confidence.settings(), [c.confidence for c in cases], {},
                                          o.confidence.method)])
        for choice in choices:
            plan = plan_tiers(cases, inputs, choice, fit, per_ask.plus_student(_evidence_cost(choice, costs,
                              second_cost)), target_precision=o.target_precision, confidence_level=o.confidence_level)
            priced.append(_Priced(choice, plan, len(priced), cases, repair))
    best = _cheapest(priced, len(measured), costs.teacher)
    simplest = next(p for p in priced if p.repair == best.repair)
    choice = best.choice if best.plan.ask_student else simplest.choice
    confidence = keep_second_opinion(choice, second and second[0])
    others = [p.best_ladder(checked=state.checks is not None) for p in priced if p is not best]
    plan = replace(best.plan, ladders=[*best.plan.ladders, *others])
    expected = [c.expected for c in [*state.dev, *extra]]
    field_auroc = field_aurocs([(c.signals, c.output, x) for c, x in zip(best.cases, expected, strict=True)],
                               o.comparators)
    uncertified = not best.plan.ask_student or best.plan.calibration.student_share == 0.0
    state.calibrated = Calibrated(
        cases=best.cases, repair=best.repair, confidence=confidence, plan=plan,
        calibration=best.plan.calibration if best.plan.ask_student else Calibration(None, 0.0, None),
        costs=costs.plus_student(_evidence_cost(confidence, costs, second_cost)), field_auroc=field_auroc,
        to_certify=_to_certify(priced, o.target_precision, o.confidence_level) if uncertified else None,
    )
    if plan.ask_student:
        try:
            await add_model_tiers(state, cand, [*state.dev, *extra], fit, vote, state.calibrated.costs,
                                  sum(c.prompt_tokens for c in best.cases) / max(1, len(best.cases)))
        except BudgetExhausted:
            if state.budget is not None:
                state.budget.cut("the model tiers behind the student")


def _to_certify(priced: Sequence[_Priced], target: float, level: float | None) -> ToCertify | None:
    """The fewest further labelled examples any confidence would need to certify some student answers."""
    found = [h for p in priced if (h := examples_to_certify(p.choice.scores, [c.correct for c in p.cases],
                                                             target_precision=target, confidence_level=level))]
    if not found:
        return None
    hint = min(found, key=lambda h: (h.more_examples is None, h.more_examples or 0, -h.share))
    return ToCertify(share=hint.share, precision=hint.precision, more_examples=hint.more_examples)


def _evidence_cost(choice: ConfidenceChoice, costs: LadderCosts, second_cost: float | None) -> float | None:
    """What the evidence calls ``choice`` reads cost per student ask (``None``: unknown)."""
    extra = 0.0
    if "samples" in choice.paid and costs.student is not None:
        extra += extra_samples(choice.settings) * costs.student
    if "second opinion" in choice.paid:
        return None if second_cost is None else extra + second_cost
    return extra

