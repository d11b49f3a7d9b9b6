"""Model tiers between the student and the teacher: measured on the calibration cases, kept where the
ladder with them costs less per call at the target precision.

The student (say the embedded model) answers what it is sure of; what it passes on need not go
straight to the most expensive model. Each model named in ``CompileOptions.model_tiers`` (say Claude
Haiku) answers every calibration input with the student's prompt, and its answers get signals of their
own: its probabilities where the provider gives them, the classifier's and the neighbours' view of its
label, re-asks, and ``student_agreement`` -- whether it says what the student said, free evidence for
any model, Claude included. Its confidence is chosen from them like the student's (cross-fitted, see
:mod:`skillforge.compile.confidence_fit`). Its threshold is then calibrated only on the inputs that
*reach* it -- those the tiers before it left -- so every tier's accepted answers reach the target
precision by the Wilson bound on the traffic it will actually see. Every order-preserving subset of the
configured tiers is priced per 1,000 calls (FrugalGPT's search over cascades); the cheapest ladder is
kept, ties going to fewer tiers.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from skillforge.compile.candidates import Candidate
from skillforge.compile.classifier_tier import ClassifierFit, LadderCosts, call_cost
from skillforge.compile.confidence_fit import ConfidenceChoice, choose_confidence
from skillforge.compile.ladder import TierPlan, cheaper
from skillforge.compile.measure import Answerer, CaseResult, DevCase, measure
from skillforge.compile.state import CompileState
from skillforge.format import ConfidenceSettings, LadderOption, ModelTier
from skillforge.models.base import Model
from skillforge.models.pricing import REFERENCE_STUDENT
from skillforge.models.registry import resolve_model
from skillforge.run.model_tiers import student_agreement
from skillforge.run.retrieval import NeighbourVote
from skillforge.spec import Comparator
from skillforge.stats import Calibration, choose_threshold, stored_threshold


@dataclass(frozen=True)
class TierMeasurement:
    """One model tier's answers to the calibration inputs, their confidence, and its price per call."""

    model: Model
    cases: list[CaseResult]
    choice: ConfidenceChoice
    #: Dollars per call at list price (a local model priced as the reference student); ``None``: unpriced.
    cost: float | None


def tier_model(state: CompileState, name: str) -> Model:
    """The model of tier ``name``: injected for that id, else resolved from the registry."""
    model = state.cached(state.tier_models.get(name) or resolve_model(name, name, role="tier"))
    model.check_schema(state.spec.output_schema)
    return model


def agreement_signals(cases: Sequence[CaseResult], student: Sequence[CaseResult],
                      comparators: Mapping[str, Comparator]) -> None:
    """Add ``student_agreement`` to each tier answer, as the run time computes it."""
    for case, own in zip(cases, student, strict=True):
        if case.output is not None:
            case.signals["student_agreement"] = student_agreement(own.output, case.output, comparators)


def free_signals(cases: Sequence[CaseResult], inputs: Sequence[Mapping[str, Any]], fit: ClassifierFit | None,
                 vote: NeighbourVote | None) -> None:
    """The classifier's probability of each answer's label and the neighbours' vote for it (leave-one-out:
    a calibration input drawn from the demo pool never votes for itself)."""
    for case, x in zip(cases, inputs, strict=True):
        if case.output is None:
            continue
        if fit is not None and (p := fit.probability_of(x, case.output.get(fit.weights.field))) is not None:
            case.signals["classifier_prob"] = p
        if vote is not None:
            case.signals["neighbour_vote"] = vote.agreement(x, case.output, leave_out=True)


async def measure_model_tiers(
    state: CompileState, cand: Candidate, calibration: Sequence[DevCase], student: Sequence[CaseResult],
    fit: ClassifierFit | None, vote: NeighbourVote | None, prompt_tokens: float,
) -> list[TierMeasurement]:
    """Every configured tier's answers to the calibration inputs (the student's prompt), with signals,
    a chosen confidence, and a price per call."""
    o, spec, out = state.options, state.spec, []
    inputs = [c.input for c in calibration]
    for name in o.model_tiers:
        model = tier_model(state, name)
        state.progress.stage(f"tier {model.model_id}: {cand.name} on calibration cases", len(calibration))
        answerer = Answerer(model, spec.output_schema, spec.input_schema, o.comparators, o.max_tokens, state.site,
                            1 if model.is_local else 8, state.progress, role="tier")
        m = await measure(cand, list(calibration), answerer, choice_scores=model.supports_choice_scores)
        cases = list(m.cases)
        agreement_signals(cases, student, o.comparators)
        free_signals(cases, inputs, fit, vote)
        choice = choose_confidence(cases, ConfidenceSettings(), target_precision=o.target_precision,
                                   confidence_level=o.confidence_level, seed=o.seed, min_signals=1)
        tokens = [c.prompt_tokens for c in cases if c.prompt_tokens] or [round(prompt_tokens)]
        out.append(TierMeasurement(model, cases, choice, call_cost(model, REFERENCE_STUDENT,
                                                                   sum(tokens) / len(tokens))))
    return out


@dataclass(frozen=True)
class _Rung:
    measured: TierMeasurement
    calibration: Calibration
    #: Shares of all calibration inputs: reaching this tier, and answered by it.
    reached: float
    answered: float


def _walk(tiers: Sequence[TierMeasurement], left: list[int], n: int, *, target_precision: float,
          confidence_level: float | None) -> list[_Rung]:
    rungs = []
    for t in tiers:
        scores = [t.choice.scores[i] for i in left]
        cal = choose_threshold(scores, [t.cases[i].correct for i in left], target_precision=target_precision,
                               confidence_level=confidence_level)
        cut = cal.threshold
        if cut is None:  # no answer has a confidence: the tier's answers cannot be gated, so it answers none
            cut, cal = 1.0, Calibration(1.0, 0.0, None)
        took = {i for i, s in zip(left, scores, strict=True)
                if t.cases[i].output is not None and s is not None and s >= cut}
        rungs.append(_Rung(t, cal, len(left) / n, len(took) / n))
        left = [i for i in left if i not in took]
    return rungs


def _priced(base: LadderOption, rungs: Sequence[_Rung], costs: LadderCosts) -> LadderOption:
    shares = {**base.tier_shares, **{r.measured.model.model_id: r.answered for r in rungs}}
    answered = base.student_share + sum(r.answered for r in rungs)
    cost = base.cost_per_1k
    if cost is not None and costs.teacher is not None and all(r.measured.cost is not None for r in rungs):
        extra = sum(r.reached * (r.measured.cost or 0.0) - r.answered * costs.teacher for r in rungs)
        cost = round(cost + 1000.0 * extra, 6)
    else:
        cost = None
    return LadderOption(tiers=[*base.tiers, *(r.measured.model.model_id for r in rungs)],
                        student_share=round(answered, 4), tier_shares={k: round(v, 4) for k, v in shares.items()},
                        cost_per_1k=cost)


def plan_model_tiers(
    plan: TierPlan, left: list[int], n: int, measured: Sequence[TierMeasurement], costs: LadderCosts, *,
    target_precision: float, confidence_level: float | None,
) -> TierPlan:
    """``plan`` with the cheapest order-preserving subset of ``measured`` behind its student (``left``:
    the calibration inputs reaching them, of ``n``); every ladder tried is added to ``plan.ladders``."""
    if not measured or n == 0:
        return plan
    base_i = next(i for i, o in enumerate(plan.ladders) if o.chosen)
    base = plan.ladders[base_i].model_copy(update={"chosen": False})
    best: tuple[LadderOption, list[_Rung]] = (base, [])
    tried = []
    for size in range(1, len(measured) + 1):
        for subset in itertools.combinations(measured, size):
            rungs = _walk(subset, left, n, target_precision=target_precision, confidence_level=confidence_level)
            option = _priced(base, rungs, costs)
            tried.append(option)
            if cheaper(best[0], option):
                best = (option, rungs)
    option, rungs = best
    ladders = [o.model_copy(update={"chosen": o is option}) for o in [base, *tried]]
    ladders = [*plan.ladders[:base_i], *ladders, *plan.ladders[base_i + 1:]]
    tiers = [ModelTier(model=r.measured.model.model_id, confidence=r.measured.choice.settings,
                       threshold=stored_threshold(r.calibration), expected_share=round(r.answered, 4)) for r in rungs]
    return replace(plan, ladders=ladders, model_tiers=tiers,
                   answered_share=plan.answered_share + sum(r.answered for r in rungs))



async def add_model_tiers(
    state: CompileState, cand: Candidate, calibration: Sequence[DevCase], fit: ClassifierFit | None,
    vote: NeighbourVote | None, costs: LadderCosts, prompt_tokens: float,
) -> None:
    """The calibrate step's last part: measure ``options.model_tiers`` on the ``calibration`` cases
    (whose student answers are ``state.calibration_cases``) and keep the cheapest ladder behind the
    student in the calibrate step's result. Nothing is called when no tier is configured."""
    o = state.options
    if not o.model_tiers:
        return
    plan, student = state.the_plan(), state.calibration_cases
    measured = await measure_model_tiers(state, cand, calibration, student, fit, vote, prompt_tokens)
    tiered = plan_model_tiers(plan, plan.passed_on, len(student), measured, costs,
                              target_precision=o.target_precision, confidence_level=o.confidence_level)
    state.calibrated = replace(state.the_calibration(), plan=tiered)
