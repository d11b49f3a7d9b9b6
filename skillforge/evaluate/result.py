"""What ``skillforge eval`` measures: per-case answers, the risk-coverage curve, AUROC, and cost per
1,000 calls at list prices (see :mod:`skillforge.evaluate.evaluate`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from skillforge.environment import CLAUDE_STUDENT, CLAUDE_TEACHER
from skillforge.models.base import Usage
from skillforge.models.pricing import cost_usd, price_for, total_cost
from skillforge.run.signals import field_aurocs
from skillforge.run.teacher_only import teacher_only_cost
from skillforge.spec import Comparator
from skillforge.stats import COVERAGES, RiskCoverage, auroc, risk_coverage

#: The models costs are also shown as (and a local or simulated teacher is priced as): the Claude defaults.
STUDENT_REFERENCE = CLAUDE_STUDENT.removeprefix("anthropic:")
TEACHER_REFERENCE = CLAUDE_TEACHER.removeprefix("anthropic:")
GOLD = "gold"


@dataclass
class EvalCase:
    """One labelled case: the student's answer, and the answer after escalation."""

    input: dict[str, Any]
    expected: dict[str, Any]
    output: dict[str, Any] | None
    confidence: float | None
    correct: bool
    score: float
    accepted: bool
    student_usage: Usage
    final_correct: bool
    final_score: float
    escalated: bool = False
    teacher_usage: Usage = field(default_factory=Usage)
    #: Input tokens of one call with the skill's prompt for this input (the first attempt).
    prompt_tokens: int = 0
    #: Input tokens of the teacher's prompt for this input (the escalation prompt), measured or estimated.
    teacher_prompt_tokens: int = 0
    #: What the teacher-only call for this input would use (:mod:`skillforge.run.teacher_only`): the plain
    #: prompt's tokens (estimated from the student's measured prompt) and the expected answer's.
    teacher_only_usage: Usage = field(default_factory=Usage)
    #: What the student's and the teacher's calls cost as priced by their models (``None``: unknown).
    student_cost: float | None = 0.0
    teacher_cost: float | None = 0.0
    #: The teacher-only call for this case as the teacher prices its own calls (``None``: unknown); used for a
    #: real teacher, whose escalations are priced the same way.
    teacher_only_cost: float | None = None
    #: What the model tiers behind the student cost on this case, as priced by their models.
    tier_cost: float | None = 0.0
    #: Output tokens of the student's first answer (sizes a simulated teacher's answer without a tokenizer).
    student_output_tokens: int = 1
    #: Who answers in the skill's ladder: ``classifier``, ``student``, a model tier's model id, or
    #: ``teacher`` (escalated).
    tier: str = "teacher"
    #: The confidence signals measured on the student's answer.
    signals: dict[str, float] = field(default_factory=dict)
    #: The student, or the teacher it escalated to, declined to answer (``stop_reason: "refusal"``).
    refused: bool = False
    teacher_refused: bool = False


@dataclass
class EvalResult:
    """Everything ``skillforge eval`` reports; :meth:`to_json` for ``--json``."""

    skill: str
    student: str
    teacher: str
    teacher_simulated: bool
    escalate: bool
    threshold: float | None
    target_precision: float
    cases: list[EvalCase]
    #: Student calls per input (> 1 with self-consistency).
    student_calls_per_input: int = 1
    #: True when the teacher is simulated or local: its calls are then priced as TEACHER_REFERENCE.
    teacher_as_reference: bool = True
    #: The prompt escalations send the teacher: ``lean`` or ``student`` (teacher-only always sends the
    #: plain prompt, :mod:`skillforge.run.teacher_only`).
    escalation_prompt: str = "lean"
    #: False for a skill that does not ask its student (``settings.ask_student``): its answers are measured
    #: here but cost nothing in the skill's mix.
    student_asked: bool = True
    #: How answers are compared per field (the skill's ``settings.comparators``).
    comparators: dict[str, Comparator] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.cases)

    @property
    def student_accuracy(self) -> float:
        return _mean([c.correct for c in self.cases])

    @property
    def student_field_score(self) -> float:
        return _mean([c.score for c in self.cases])

    @property
    def student_share(self) -> float:
        return _mean([c.accepted for c in self.cases])

    @property
    def accepted_accuracy(self) -> float | None:
        # The accepted answer is the one given before the teacher (the classifier's or the student's).
        acc = [c.final_correct for c in self.cases if c.accepted]
        return _mean(acc) if acc else None

    @property
    def refusals(self) -> dict[str, int]:
        """Cases the student refused (and escalated), and escalations the teacher refused."""
        return {"student": sum(c.refused for c in self.cases), "teacher": sum(c.teacher_refused for c in self.cases)}

    @property
    def final_accuracy(self) -> float:
        return _mean([c.final_correct for c in self.cases])

    @property
    def final_field_score(self) -> float:
        return _mean([c.final_score for c in self.cases])

    def risk_coverage(self, coverages: Sequence[float] = COVERAGES) -> list[RiskCoverage]:
        """Accuracy of the student's answers when only the most confident share is accepted."""
        return risk_coverage([c.confidence for c in self.cases], [c.correct for c in self.cases], coverages)

    def tier_shares(self) -> dict[str, float]:
        """Share of the cases each tier answers (``teacher``: escalated)."""
        tiers = [c.tier if c.accepted or not self.escalate else "teacher" for c in self.cases]
        models = sorted(set(tiers) - {"classifier", "student", "teacher"})
        return {t: _mean([x == t for x in tiers]) for t in ("classifier", "student", *models, "teacher") if t in tiers}

    def signal_auroc(self) -> dict[str, float]:
        """AUROC of each confidence signal measured on the student's answers, and of the skill's confidence."""
        out: dict[str, float] = {}
        names = sorted({k for c in self.cases for k in c.signals if "." not in k})  # per-field ones: field_auroc
        for name in names:
            value = auroc([c.signals.get(name) for c in self.cases], [c.correct for c in self.cases])
            if value is not None:
                out[name] = value
        if (a := self.auroc) is not None:
            out["confidence"] = a
        return out

    def field_auroc(self) -> dict[str, dict[str, float]]:
        """Per-field signals' AUROC by field: each field's own signal against whether that field is right
        (answers of several fields; :func:`~skillforge.run.signals.field_aurocs`)."""
        return field_aurocs([(c.signals, c.output, c.expected) for c in self.cases], self.comparators)

    @property
    def auroc(self) -> float | None:
        """How well confidence separates right from wrong answers (0.5: not at all)."""
        return auroc([c.confidence for c in self.cases], [c.correct for c in self.cases])

    def costs_per_1k(self) -> dict[str, float | None]:
        """Dollars per 1,000 calls: the student alone, the student+escalation mix (each with the
        student as priced and as Claude Haiku), and teacher-only (:mod:`skillforge.run.teacher_only`)."""
        return costs_per_1k(self)

    def to_json(self) -> dict[str, Any]:
        rc = [{"coverage": r.coverage, "answered": r.answered, "accuracy": _round(r.accuracy)}
              for r in self.risk_coverage()]
        return {
            "skill": self.skill, "student": self.student, "teacher": self.teacher,
            "teacher_simulated_by_labels": self.teacher_simulated, "escalate": self.escalate, "cases": self.n,
            "threshold": self.threshold, "target_precision": self.target_precision,
            "student_calls_per_input": self.student_calls_per_input, "escalation_prompt": self.escalation_prompt,
            "student_accuracy": _round(self.student_accuracy), "student_field_score": _round(self.student_field_score),
            "auroc": _round(self.auroc), "risk_coverage": rc,
            "signal_auroc": {k: _round(v) for k, v in self.signal_auroc().items()},
            "field_auroc": self.field_auroc(),
            "tier_shares": {k: _round(v) for k, v in self.tier_shares().items()},
            "at_threshold": {
                "student_share": _round(self.student_share), "accepted_accuracy": _round(self.accepted_accuracy),
                "accuracy_after_escalation": _round(self.final_accuracy) if self.escalate else None,
                "field_score_after_escalation": _round(self.final_field_score) if self.escalate else None,
            },
            "refusals": self.refusals,
            "cost_per_1k_calls_usd": {k: _round(v, 6) for k, v in self.costs_per_1k().items()},
            "prices": {"student_reference": STUDENT_REFERENCE, "teacher_reference": TEACHER_REFERENCE},
        }


def _mean(xs: Sequence[float | bool]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def _price(model: str, usage: Usage) -> float | None:
    p = price_for(model, warn=False)
    return None if p is None else cost_usd(usage, p)


def costs_per_1k(result: EvalResult) -> dict[str, float | None]:
    n = max(1, result.n)
    # A case a classifier tier answered never reaches the student; nor does any in a skill that does not ask it.
    reached = [c for c in result.cases if c.tier != "classifier" and result.student_asked]
    student_usage = sum((c.student_usage for c in reached), Usage())
    teacher_usage = sum((c.teacher_usage for c in result.cases), Usage())
    # Teacher-only: the teacher answers every input with the plain prompt, one call each.
    one_call = sum((c.teacher_only_usage for c in result.cases), Usage())
    student_local = total_cost([c.student_cost for c in reached])
    student_haiku = _price(STUDENT_REFERENCE, student_usage)
    # Model tiers behind the student are priced as they are (a local one at $0), in both mixes.
    tier_cost = total_cost([c.tier_cost for c in result.cases])
    if not result.escalate:
        teacher_cost: float | None = 0.0
    elif result.teacher_as_reference:
        teacher_cost = _price(TEACHER_REFERENCE, teacher_usage)
    else:
        teacher_cost = total_cost([c.teacher_cost for c in result.cases])
    own = [c.teacher_only_cost for c in result.cases]
    if not result.teacher_as_reference and result.escalate and all(x is not None for x in own):
        # A real teacher: teacher-only at the teacher's own prices, as its escalations are priced.
        teacher_only: float | None = total_cost(own)
    else:
        teacher_only = teacher_only_cost(one_call, None if result.teacher_as_reference else result.teacher)

    def per_1k(x: float | None) -> float | None:
        return None if x is None else 1000.0 * x / n

    return {
        "student_only": per_1k(student_local),
        "student_only_as_haiku": per_1k(student_haiku),
        "mix": per_1k(plus(plus(student_local, tier_cost), teacher_cost)),
        "mix_student_as_haiku": per_1k(plus(plus(student_haiku, tier_cost), teacher_cost)),
        "teacher_only": per_1k(teacher_only),
    }


def plus(a: float | None, b: float | None) -> float | None:
    """``a + b``, unknown (``None``) when either is."""
    return None if a is None or b is None else a + b
