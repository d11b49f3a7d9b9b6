"""Choosing the ladder before the teacher: which of the cheap tiers (the classifier, the student) answer
first, priced per call at the target precision; the cheapest is kept (see :mod:`skillforge.compile.classifier_tier`).

The ladders priced: the student alone; the classifier then the student; the classifier alone (what it
leaves goes straight to the teacher); and no cheap tier at all (every input straight to the teacher).
A ladder with the student is offered only when the student's threshold certifies some of its answers by
the Wilson bound: a student whose accepted answers cannot be shown to reach the target is never asked
(calling it would add its price to every escalation). Where nothing cheap is certified, or certified
tiers cost more per call than sending the input straight to the teacher, the skill routes every input
to the teacher: its expected cost per call is never above teacher-direct.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillforge.compile.classifier_tier import ClassifierFit, LadderCosts, ladder
from skillforge.compile.confidence_fit import ConfidenceChoice
from skillforge.compile.measure import CaseResult
from skillforge.format import ClassifierWeights, LadderOption, ModelTier, TierSettings
from skillforge.stats import Calibration, choose_threshold


@dataclass(frozen=True)
class TierPlan:
    """The chosen ladder: the student's calibration (on the inputs that reach it), the classifier tier
    in front of it if kept, whether the student is asked at all, and every ladder priced."""

    calibration: Calibration
    #: Share of calibration inputs answered before the teacher (every tier).
    answered_share: float
    tier: TierSettings | None
    #: The classifier's weights, written to ``classifier.json``: for its tier, or for the confidence
    #: combiner when that reads ``classifier_prob``.
    classifier: ClassifierWeights | None
    ladders: list[LadderOption]
    #: Calibration inputs (by position) the ladder passes on to what comes behind the student.
    passed_on: list[int] = field(default_factory=list)
    #: Models behind the student, before the teacher (see :mod:`skillforge.compile.model_tiers`).
    model_tiers: list[ModelTier] = field(default_factory=list)
    #: False: the student is not part of the ladder (what the classifier leaves, or every input, goes
    #: straight to the teacher).
    ask_student: bool = True


def cheaper(a: LadderOption, b: LadderOption) -> bool:
    """``b`` is strictly better than ``a``: cheaper (or, unpriced, answering more)."""
    if a.cost_per_1k is not None and b.cost_per_1k is not None:
        return b.cost_per_1k < a.cost_per_1k - 1e-12
    return b.student_share > a.student_share + 1e-12


def certified(cal: Calibration) -> bool:
    """The calibration accepts some answers whose precision reached the target (by its bound)."""
    return cal.precision is not None and cal.student_share > 0.0


def _passed_on(cal: Calibration, scores: Sequence[float | None], cases: Sequence[CaseResult],
               among: Sequence[int], *, asked: bool = True) -> list[int]:
    """The inputs of ``among`` the student does not answer at ``cal``'s threshold (without one: the
    invalid answers only; not asked: all of them)."""
    if not asked:
        return list(among)
    t = cal.threshold
    return [i for i in among
            if cases[i].output is None or (t is not None and ((s := scores[i]) is None or s < t))]


def plan_tiers(
    cases: Sequence[CaseResult], inputs: Sequence[Mapping[str, Any]], choice: ConfidenceChoice,
    fit: ClassifierFit | None, costs: LadderCosts, *, target_precision: float, confidence_level: float | None,
) -> TierPlan:
    """Price every ladder (see the module docstring) and keep the cheapest; ties go to the earlier in
    this order: the student alone, the classifier then the student, the classifier alone, the teacher."""
    correct = [c.correct for c in cases]
    n = len(cases)
    every = range(n)
    alone = choose_threshold(choice.scores, correct, target_precision=target_precision,
                             confidence_level=confidence_level)
    # A combiner that reads the classifier's probability needs the classifier at run time even when it
    # is no tier: without it the signal would sit at its mean and the threshold would no longer hold.
    combiner = choice.settings.combiner
    reads_classifier = fit is not None and combiner is not None and "classifier_prob" in combiner.signals
    plans: list[TierPlan] = []
    if certified(alone):
        option = ladder(["student"], {"student": alone.student_share}, costs, student_called=1.0)
        plans.append(TierPlan(alone, alone.student_share, None, fit.weights if reads_classifier and fit else None,
                              [option], passed_on=_passed_on(alone, choice.scores, cases, every)))
    cal_c = None if fit is None else fit.calibration
    if fit is not None and cal_c is not None and certified(cal_c) and cal_c.threshold is not None:
        taken = [(p := fit.predict(x)) is not None and p[1] >= cal_c.threshold for x in inputs]
        rest = [i for i, t in enumerate(taken) if not t]
        share_c = sum(taken) / len(taken) if taken else 0.0
        tier = TierSettings(threshold=cal_c.threshold, expected_share=round(share_c, 4))
        # The student's threshold is set on the inputs that get past the classifier: those are the ones it
        # will see behind it.
        behind = choose_threshold([choice.scores[i] for i in rest], [correct[i] for i in rest],
                                  target_precision=target_precision, confidence_level=confidence_level)
        if rest and certified(behind):
            share_s = (1.0 - share_c) * behind.student_share
            option = ladder(["classifier", "student"], {"classifier": share_c, "student": share_s}, costs,
                            student_called=1.0 - share_c)
            plans.append(TierPlan(behind, share_c + share_s, tier, fit.weights, [option],
                                  passed_on=_passed_on(behind, choice.scores, cases, rest)))
        option = ladder(["classifier"], {"classifier": share_c}, costs, student_called=0.0)
        plans.append(TierPlan(Calibration(None, 0.0, None), share_c, tier, fit.weights, [option],
                              passed_on=rest, ask_student=False))
    teacher = ladder([], {}, costs, student_called=0.0)
    plans.append(TierPlan(Calibration(None, 0.0, None), 0.0, None, None, [teacher], passed_on=list(every),
                          ask_student=False))
    best = plans[0]
    for plan in plans[1:]:
        if cheaper(best.ladders[0], plan.ladders[0]):
            best = plan
    ladders = [p.ladders[0].model_copy(update={"chosen": p is best}) for p in plans]
    # A student that is not asked needs no confidence: its classifier weights stay only for a tier.
    classifier = best.classifier if best.ask_student or best.tier is not None else None
    return TierPlan(best.calibration, best.answered_share, best.tier, classifier, ladders,
                    passed_on=best.passed_on, ask_student=best.ask_student)
