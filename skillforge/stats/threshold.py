"""Choosing the escalation threshold from the student's dev-set confidences.

A threshold is accepted only when the precision of the dev answers it accepts reaches the target by a
*lower confidence bound*, not by its point estimate: 3 of 3 correct is a point precision of 1.0 but
says little, and a threshold picked on the point estimate over-promises on new traffic. The bound
is Wilson's score interval (one-sided, z = 1.645 for 95% confidence by default): unlike the normal
approximation it behaves at precisions near 1 and at small counts, which is exactly the regime of a
high-precision threshold on a 40-60-case dev set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from skillforge.errors import SpecError
from skillforge.stats.intervals import DEFAULT_CONFIDENCE_LEVEL, wilson_lower_bound

#: The coverages a risk-coverage curve is reported at.
COVERAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class Calibration:
    #: Accept student answers with confidence >= threshold; ``None`` when there is no signal.
    threshold: float | None
    #: Share of dev inputs the student answers at that threshold.
    student_share: float
    #: Share of those accepted answers that were correct (``None`` if none accepted).
    precision: float | None
    #: One-sided Wilson lower bound on that precision at ``confidence_level`` (``None`` if none accepted).
    lower_bound: float | None = None
    confidence_level: float | None = None



def choose_threshold(
    confidences: Sequence[float | None],
    correct: Sequence[bool],
    *,
    target_precision: float,
    confidence_level: float | None = DEFAULT_CONFIDENCE_LEVEL,
) -> Calibration:
    """The lowest threshold whose accepted dev answers reach ``target_precision`` by their Wilson
    lower bound at ``confidence_level`` (``None``: by the point estimate, the pre-bound behaviour).

    The lowest such threshold lets the student answer the most. Answers that failed validation carry
    ``confidence=None`` and are never accepted. When no answer has a confidence, there is no gate
    (threshold ``None``) and every valid answer is accepted. When no threshold reaches the target,
    the threshold is set above every seen confidence, so the student answers nothing and all goes to
    the teacher (the honest setting for a student that cannot meet the target). With few dev cases a
    high target may be unreachable even by a perfect student (20 of 20 correct bounds at 0.88 at 95%):
    that is the bound doing its job, and the report shows it.
    """
    if len(confidences) != len(correct):
        raise SpecError("confidences and correct must have the same length", field="correct")
    n = len(correct)
    if n == 0:
        return Calibration(None, 0.0, None)
    scored = [(c, ok) for c, ok in zip(confidences, correct, strict=True) if c is not None]
    if not scored:
        return Calibration(None, 0.0, None)
    for t in sorted({c for c, _ in scored}):
        accepted = [ok for c, ok in scored if c >= t]
        hits = sum(accepted)
        precision = hits / len(accepted)
        bound = (None if confidence_level is None
                 else wilson_lower_bound(hits, len(accepted), confidence_level=confidence_level))
        if (precision if bound is None else bound) >= target_precision:
            return Calibration(t, len(accepted) / n, precision, bound, confidence_level)
    return Calibration(min(1.0, max(c for c, _ in scored) + 1e-9), 0.0, None, None, confidence_level)


@dataclass
class RiskCoverage:
    coverage: float
    answered: int
    accuracy: float | None


def confidence_order(confidences: Sequence[float | None]) -> list[int]:
    """Indices most confident first; answers without a confidence (invalid) last; ties in input order."""
    return sorted(range(len(confidences)), key=lambda i: (confidences[i] is None, -(confidences[i] or 0.0), i))


def risk_coverage(
    confidences: Sequence[float | None], correct: Sequence[bool], coverages: Sequence[float] = COVERAGES
) -> list[RiskCoverage]:
    """For each coverage x: accuracy of the ceil(x * n) most confident answers."""
    order = confidence_order(confidences)
    out = []
    for cov in coverages:
        m = min(len(order), math.ceil(cov * len(order) - 1e-9))
        top = [correct[i] for i in order[:m]]
        out.append(RiskCoverage(cov, m, sum(top) / len(top) if top else None))
    return out


def stored_threshold(cal: Calibration) -> float | None:
    """The threshold as written to skill.yaml (6 decimals), rounded in the safe direction: down when it
    sits on an accepted dev confidence (that answer stays accepted), up when it was set above every
    confidence seen (plain rounding could land below the top one and let the student answer after all)."""
    if cal.threshold is None:
        return None
    scaled = cal.threshold * 1e6
    return (math.floor(scaled) if cal.precision is not None else math.ceil(scaled)) / 1e6


@dataclass(frozen=True)
class ToCertify:
    """What more labelled data would let the bound certify: the share of answers the student would answer,
    at the precision its calibration answers showed there, given ``more_examples`` further labelled examples
    like these (``None``: no share shows a precision above the target, so more examples would not do)."""

    share: float
    precision: float
    more_examples: int | None


def examples_to_certify(
    confidences: Sequence[float | None], correct: Sequence[bool], *, target_precision: float,
    confidence_level: float | None = DEFAULT_CONFIDENCE_LEVEL, limit: int = 1_000_000,
) -> ToCertify | None:
    """The cheapest way more data would let :func:`choose_threshold` certify some answers: for each threshold
    whose accepted answers are right more often than the target, the fewest further cases (drawn like these)
    for the Wilson bound at that precision to reach it; the threshold needing the fewest wins. ``None`` when
    no answer has a confidence."""
    scored = [(c, ok) for c, ok in zip(confidences, correct, strict=True) if c is not None]
    n = len(correct)
    if not scored or n == 0:
        return None
    level = confidence_level if confidence_level is not None else DEFAULT_CONFIDENCE_LEVEL
    best: ToCertify | None = None
    top = ToCertify(0.0, 0.0, None)
    for t in sorted({c for c, _ in scored}, reverse=True):
        accepted = [ok for c, ok in scored if c >= t]
        k, hits = len(accepted), sum(accepted)
        p = hits / k
        if p > top.precision:
            top = ToCertify(round(k / n, 4), round(p, 4), None)
        if p <= target_precision:
            continue
        scale = 1.0
        while wilson_lower_bound(round(hits * scale), round(k * scale), confidence_level=level) < target_precision:
            scale *= 1.25
            if n * (scale - 1.0) > limit:
                break
        more = max(0, math.ceil(n * (scale - 1.0)))
        if more <= limit and (best is None or best.more_examples is None or more < best.more_examples):
            best = ToCertify(round(k / n, 4), round(p, 4), more)
    return best if best is not None else top
