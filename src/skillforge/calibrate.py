"""Choosing the escalation threshold from the student's dev-set confidences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    #: Accept student answers with confidence >= threshold; ``None`` when there is no signal.
    threshold: float | None
    #: Share of dev inputs the student answers at that threshold.
    student_share: float
    #: Share of those accepted answers that were correct (``None`` if none accepted).
    precision: float | None


def choose_threshold(
    confidences: Sequence[float | None], correct: Sequence[bool], *, target_precision: float
) -> Calibration:
    """The lowest threshold whose accepted dev answers reach ``target_precision``.

    The lowest such threshold lets the student answer the most. Answers that failed validation carry
    ``confidence=None`` and are never accepted. When no answer has a confidence, there is no gate
    (threshold ``None``) and every valid answer is accepted. When no threshold reaches the target,
    the threshold is set above every seen confidence, so the student answers nothing and all goes to
    the teacher (the honest setting for a student that cannot meet the target).
    """
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct must have the same length")
    n = len(correct)
    if n == 0:
        return Calibration(None, 0.0, None)
    scored = [(c, ok) for c, ok in zip(confidences, correct, strict=True) if c is not None]
    if not scored:
        return Calibration(None, 0.0, None)
    for t in sorted({c for c, _ in scored}):
        accepted = [ok for c, ok in scored if c >= t]
        precision = sum(accepted) / len(accepted)
        if precision >= target_precision:
            return Calibration(t, len(accepted) / n, precision)
    return Calibration(min(1.0, max(c for c, _ in scored) + 1e-9), 0.0, None)
