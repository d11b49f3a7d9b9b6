"""Counting one skill's run-phase ledger entries over a span of time, in constant memory.

The ledger has one line per model call, not per input. Inputs are counted without grouping lines:
every input either is answered by the classifier tier (one ``accepted`` classifier line) or starts a
student ask (its line with ``reask`` 0). An ask ends ``accepted`` (the student answered), or in an
escalation: ``low_confidence``, ``refused`` and ``error`` lines each end one, and the asks that ended
none of those ways ended ``invalid`` after their re-asks. Ledgers written before ``reask`` was
recorded count every re-ask as an input of its own (an ``invalid`` escalation). A skill that does not
ask its student routes inputs straight to the teacher: each counts by its not-confident classifier line,
or without a classifier tier by its teacher ask.

With model tiers behind the student (role ``tier``), an input the student passed on may still be
answered before the teacher: its ``accepted`` tier line counts it as answered (:attr:`Tally.by_tiers`),
while the escalation counts stay the student's hand-offs by reason (to the tiers, then the teacher).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from skillforge.format.classifier import CLASSIFIER_ID
from skillforge.ledger import LedgerEntry
from skillforge.models.pricing import Price, cost_usd
from skillforge.run.drift import REASONS, SHARE

#: Latency histogram: bins 2% wide from 0.1 ms up, so a reported percentile is within 1% of the true one.
_BASE, _RATIO = 1e-4, 1.02
_LOG_RATIO = math.log(_RATIO)


@dataclass
class LatencyHistogram:
    """Latencies of one model in log-spaced bins: percentiles in constant memory, within 1%."""

    bins: Counter[int] = field(default_factory=Counter)
    n: int = 0

    def add(self, seconds: float) -> None:
        # Bin -1 holds latencies under 0.1 ms (a cached or local call); they read as 0.
        self.bins[-1 if seconds < _BASE else int(math.log(seconds / _BASE) / _LOG_RATIO)] += 1
        self.n += 1

    def quantile(self, q: float) -> float | None:
        """The nearest-rank ``q`` quantile: the smallest latency with at least ``q`` of calls at or below it."""
        if not self.n:
            return None
        rank, seen = max(1, math.ceil(q * self.n - 1e-9)), 0
        for b in sorted(self.bins):
            seen += self.bins[b]
            if seen >= rank:
                return 0.0 if b < 0 else _BASE * _RATIO ** (b + 0.5)
        return None  # unreachable: the bins hold n calls


@dataclass
class Tally:
    """A skill's run-phase calls over a span: inputs, who answered, why escalated, cost, latency."""

    calls: int = 0
    #: Inputs answered before the teacher: by the classifier tier or the student.
    answered: int = 0
    by_classifier: int = 0
    #: Inputs the student passed on that a model tier then answered.
    by_tiers: int = 0
    student_asks: int = 0
    student_accepted: int = 0
    #: Asks ended by a ``low_confidence``, ``refused`` or ``error`` line (``invalid``: see :attr:`escalations`).
    ended: Counter[str] = field(default_factory=Counter)
    teacher_asks: int = 0
    cost: float = 0.0
    #: Calls whose cost is unknown (no price for the model): left out of :attr:`cost`.
    unpriced_calls: int = 0
    #: What the first call of each teacher ask, and of each student ask, would cost at the teacher's price.
    teacher_first: float = 0.0
    student_first_as_teacher: float = 0.0
    latency: dict[str, LatencyHistogram] = field(default_factory=dict)
    #: What one input costs teacher-only, from the skill's compile metrics; ``None``: estimated from the
    #: ledger (see :attr:`teacher_only_per_input`).
    teacher_only_unit: float | None = None
    #: The skill does not ask its student (``settings.ask_student`` false): an input the classifier tier
    #: does not answer -- every input, when ``classifier_first`` is false -- is routed to the teacher.
    routed: bool = False
    classifier_first: bool = False
    #: Inputs routed past the student, counted by their classifier line or their teacher ask.
    routed_inputs: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, e: LedgerEntry, when: datetime, teacher_price: Price) -> int:
        """Count one run-phase entry; returns the inputs it started (0 or 1)."""
        self.calls += 1
        self.first = when if self.first is None or when < self.first else self.first
        self.last = when if self.last is None or when > self.last else self.last
        if e.cost_usd is None:
            self.unpriced_calls += 1
        else:
            self.cost += e.cost_usd
        if e.outcome != "error":  # an error line has no response, so no latency
            hist = self.latency.get(e.model_id)
            if hist is None:
                hist = self.latency[e.model_id] = LatencyHistogram()
            hist.add(e.latency_s)
        if e.role == "second_opinion":  # evidence for a student answer: its cost counts, never an input
            return 0
        if e.role == "tier":  # a later rung of an input the student's ask already counted
            if e.outcome == "accepted":
                self.answered += 1
                self.by_tiers += 1
            return 0
        if e.role == "teacher":
            if e.reask == 0:
                self.teacher_asks += 1
                self.teacher_first += cost_usd(e.usage, teacher_price)
                if self.routed and not self.classifier_first:
                    self.routed_inputs += 1
                    return 1
            return 0
        if e.model_id == CLASSIFIER_ID:
            # A classifier that is not confident hands the input to the student, whose ask counts it (or,
            # in a skill that does not ask its student, routes it to the teacher: this line counts it).
            if e.outcome == "accepted":
                self.answered += 1
                self.by_classifier += 1
                return 1
            if self.routed:
                self.routed_inputs += 1
                return 1
            return 0
        started = 0
        if e.reask == 0:
            self.student_asks += 1
            self.student_first_as_teacher += cost_usd(e.usage, teacher_price)
            started = 1
        if e.outcome == "accepted":
            self.answered += 1
            self.student_accepted += 1
        elif e.outcome in REASONS:
            self.ended[e.outcome] += 1
        return started

    @property
    def inputs(self) -> int:
        return self.by_classifier + self.student_asks + self.routed_inputs

    @property
    def escalations(self) -> dict[str, int]:
        """Inputs escalated (or failed, with escalation off), by the reason the student's ask ended."""
        out = {r: self.ended[r] for r in REASONS if r != "invalid"}
        out["invalid"] = max(0, self.student_asks - self.student_accepted - sum(out.values()))
        return {r: out[r] for r in REASONS}

    def counts(self) -> dict[str, int]:
        """Inputs per drift metric: answered before the teacher, and escalated for each reason."""
        return {SHARE: self.answered, **self.escalations}

    @property
    def student_share(self) -> float | None:
        return self.answered / self.inputs if self.inputs else None

    @property
    def teacher_only_per_input(self) -> float | None:
        """What one input costs teacher-only (:mod:`skillforge.run.teacher_only`): priced from the skill's
        compile metrics when it has them. A skill compiled before they were recorded is estimated from
        the ledger: the mean first call of its escalations when there were any, else the student's first
        calls priced as the teacher (a prompt with demos: an upper estimate)."""
        if not self.inputs:
            return None
        if self.teacher_only_unit is not None:
            return self.teacher_only_unit
        if self.teacher_asks:
            return self.teacher_first / self.teacher_asks
        if self.student_asks:
            return self.student_first_as_teacher / self.student_asks
        return None

    @property
    def teacher_only(self) -> float | None:
        unit = self.teacher_only_per_input
        return None if unit is None else unit * self.inputs

    @property
    def saving(self) -> float | None:
        counterfactual = self.teacher_only
        return None if counterfactual is None else counterfactual - self.cost

    def to_json(self) -> dict[str, Any]:
        def r(x: float | None, nd: int = 6) -> float | None:
            return None if x is None else round(x, nd)

        return {
            "first": None if self.first is None else self.first.isoformat(timespec="seconds"),
            "last": None if self.last is None else self.last.isoformat(timespec="seconds"),
            "calls": self.calls, "inputs": self.inputs, "answered_before_teacher": self.answered,
            "by_classifier": self.by_classifier, "student_share": r(self.student_share, 4),
            "escalations": self.escalations, "cost_usd": r(self.cost), "unpriced_calls": self.unpriced_calls,
            "teacher_only_usd": r(self.teacher_only), "saving_usd": r(self.saving),
            "latency_s": {m: {"calls": h.n, "p50": r(h.quantile(0.5), 4), "p95": r(h.quantile(0.95), 4)}
                          for m, h in sorted(self.latency.items())},
        }
