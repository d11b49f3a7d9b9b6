"""Choosing the ladder of tiers before the teacher: the student alone, or the classifier then the
student -- whichever costs less per call at the target precision (see :mod:`skillforge.compile.cascade`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillforge.compile.calibrate import Calibration, choose_threshold
from skillforge.compile.cascade import ClassifierFit, LadderCosts, ladder
from skillforge.compile.confidence_fit import ConfidenceChoice
from skillforge.compile.measure import CaseResult
from skillforge.format import ClassifierWeights, LadderOption, ModelTier, TierSettings


@dataclass(frozen=True)
class TierPlan:
    """The chosen ladder: the student's calibration (on the inputs that reach it), the classifier tier
    in front of it if kept, and every ladder priced."""

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


def _student_share(cal: Calibration, cases: Sequence[CaseResult]) -> float:
    # Without a confidence gate every valid answer is accepted.
    if cal.threshold is not None:
        return cal.student_share
    return sum(c.output is not None for c in cases) / len(cases) if cases else 0.0


def cheaper(a: LadderOption, b: LadderOption) -> bool:
    """``b`` is strictly better than ``a``: cheaper (or, unpriced, answering more)."""
    if a.cost_per_1k is not None and b.cost_per_1k is not None:
        return b.cost_per_1k < a.cost_per_1k - 1e-12
    return b.student_share > a.student_share + 1e-12


def _passed_on(cal: Calibration, scores: Sequence[float | None], cases: Sequence[CaseResult],
               among: Sequence[int]) -> list[int]:
    """The inputs of ``among`` the student does not answer at ``cal``'s threshold (without one: the
    invalid answers only)."""
    t = cal.threshold
    return [i for i in among
            if cases[i].output is None or (t is not None and ((s := scores[i]) is None or s < t))]


def plan_tiers(
    cases: Sequence[CaseResult], inputs: Sequence[Mapping[str, Any]], choice: ConfidenceChoice,
    fit: ClassifierFit | None, costs: LadderCosts, *, target_precision: float, confidence_level: float | None,
) -> TierPlan:
    """Price the student alone and, when a classifier reached the target, the classifier then the
    student; keep the cheaper (ties: fewer tiers)."""
    correct = [c.correct for c in cases]
    alone = choose_threshold(choice.scores, correct, target_precision=target_precision,
                             confidence_level=confidence_level)
    share = _student_share(alone, cases)
    options = [ladder(["student"], {"student": share}, costs, student_called=1.0)]
    # A combiner that reads the classifier's probability needs the classifier at run time even when it
    # is no tier: without it the signal would sit at its mean and the threshold would no longer hold.
    combiner = choice.settings.combiner
    signal_only = fit.weights if fit is not None and combiner is not None and "classifier_prob" in combiner.signals \
        else None
    plan = TierPlan(alone, share, None, signal_only, options,
                    passed_on=_passed_on(alone, choice.scores, cases, range(len(cases))))
    cal_c = None if fit is None else fit.calibration
    if fit is None or cal_c is None or cal_c.threshold is None or cal_c.precision is None:
        options[0] = options[0].model_copy(update={"chosen": True})
        return plan
    taken = [(p := fit.predict(x)) is not None and p[1] >= cal_c.threshold for x in inputs]
    rest = [i for i, t in enumerate(taken) if not t]
    # The student's threshold is set on the inputs that get past the classifier; with none left to
    # measure, the student alone's threshold stands (never "no gate" for want of cases).
    behind = alone if not rest else choose_threshold(
        [choice.scores[i] for i in rest], [correct[i] for i in rest], target_precision=target_precision,
        confidence_level=confidence_level)
    share_c = sum(taken) / len(taken) if taken else 0.0
    share_s = (1.0 - share_c) * _student_share(behind, [cases[i] for i in rest])
    options.append(ladder(["classifier", "student"], {"classifier": share_c, "student": share_s}, costs,
                          student_called=1.0 - share_c))
    if cheaper(options[0], options[1]):
        options[1] = options[1].model_copy(update={"chosen": True})
        tier = TierSettings(threshold=cal_c.threshold, expected_share=round(share_c, 4))
        return TierPlan(behind, share_c + share_s, tier, fit.weights, options,
                        passed_on=_passed_on(behind, choice.scores, cases, rest))
    options[0] = options[0].model_copy(update={"chosen": True})
    return plan
