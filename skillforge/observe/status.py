"""``skillforge status``: what each skill does in production, from the ledger alone.

:func:`compute_status` streams the ledger once (:func:`~skillforge.observe.stream.iter_entries`) and
keeps, per skill, two :class:`~skillforge.observe.tally.Tally` (all time, and the recent window),
hourly buckets (inputs, answered, cost) for the break-even date and the report's charts, and the
compile calls' cost. Memory grows with skills, models and hours of traffic, never with lines.

The teacher-only counterfactual (:mod:`skillforge.run.teacher_only`) prices every input as one call to the
skill's teacher with the plain prompt, at the teacher's list price, or as
:data:`~skillforge.models.pricing.REFERENCE_TEACHER` when the teacher has no price (a local or test model):
the mean tokens of that call over the dev inputs are in the skill's compile metrics
(``metrics.teacher_only``). A skill compiled before they were recorded is priced from the ledger instead
(see :attr:`~skillforge.observe.tally.Tally.teacher_only_per_input`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from skillforge.format import Manifest
from skillforge.models.base import Usage
from skillforge.models.pricing import Price, cost_usd, teacher_only_price
from skillforge.observe.stream import iter_entries, parse_time
from skillforge.observe.tally import Tally
from skillforge.run.drift import expectations
from skillforge.stats import DriftTest, drift_tests
from skillforge.stats.drift import DEFAULT_LEVEL, DEFAULT_MIN_EFFECT, DEFAULT_MIN_INPUTS

HOUR = 3600


def teacher_pricing(manifest: Manifest | None) -> tuple[str, Price]:
    """The model the teacher-only counterfactual is priced as, and its price."""
    return teacher_only_price(manifest.provenance.teacher if manifest is not None else None)


def teacher_only_unit(manifest: Manifest | None, price: Price) -> float | None:
    """What one input costs teacher-only, from the skill's compile metrics (``None`` for a skill compiled
    before they recorded it)."""
    tokens = manifest.metrics.teacher_only if manifest is not None else None
    if tokens is None:
        return None
    return cost_usd(Usage(input_tokens=round(tokens.input_tokens), output_tokens=round(tokens.output_tokens)), price)


@dataclass
class BreakEven:
    """Has the saving against teacher-only paid back what compiling the skill cost?"""

    compile_cost: float | None
    #: The saving per input the projection uses (the window's, else all time's).
    saving_per_input: float | None = None
    #: The day (UTC) the cumulative saving first reached the compile cost.
    paid_back_on: str | None = None
    #: Inputs still needed at ``saving_per_input`` (``None`` when paid back or never).
    inputs_to_go: int | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"compile_cost_usd": None if self.compile_cost is None else round(self.compile_cost, 6),
                "saving_per_input_usd": None if self.saving_per_input is None else round(self.saving_per_input, 8),
                "paid_back_on": self.paid_back_on, "inputs_to_go": self.inputs_to_go, "note": self.note}


@dataclass
class SkillStatus:
    """One skill's production picture: all time, the recent window, drift and break-even."""

    skill: str
    manifest: Manifest | None
    teacher_priced_as: str
    teacher_price: Price
    window: str
    since: datetime
    until: datetime
    all_time: Tally = field(default_factory=Tally)
    recent: Tally = field(default_factory=Tally)
    #: Hour (seconds since the epoch // 3600) -> [inputs, answered before the teacher, cost].
    hourly: dict[int, list[float]] = field(default_factory=dict)
    compile_calls: int = 0
    compile_cost: float = 0.0
    drift: list[DriftTest] = field(default_factory=list)

    @property
    def expected_student_share(self) -> float | None:
        return None if self.manifest is None else self.manifest.settings.expected_student_share

    @property
    def drifting(self) -> list[DriftTest]:
        return [t for t in self.drift if t.drifting]

    def break_even(self) -> BreakEven:
        if not self.compile_calls:
            return BreakEven(None, note="no compile calls of this skill in the ledger")
        out = BreakEven(self.compile_cost)
        unit = self.all_time.teacher_only_per_input
        if unit is None:
            out.note = "no run calls yet"
            return out
        cumulative = 0.0
        for hour in sorted(self.hourly):
            inputs, _, cost = self.hourly[hour]
            cumulative += inputs * unit - cost
            if cumulative >= self.compile_cost:
                out.paid_back_on = datetime.fromtimestamp(hour * HOUR, UTC).date().isoformat()
                return out
        tally = self.recent if self.recent.inputs and self.recent.saving is not None else self.all_time
        saving = tally.saving or 0.0
        out.saving_per_input = saving / tally.inputs if tally.inputs else None
        if not out.saving_per_input or out.saving_per_input <= 0:
            out.note = "not at the current rate: the skill saves nothing against teacher-only"
            return out
        out.inputs_to_go = math.ceil((self.compile_cost - cumulative) / out.saving_per_input)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "skill": self.skill, "expected_student_share": self.expected_student_share,
            "teacher_priced_as": self.teacher_priced_as,
            "window": {"length": self.window, "since": self.since.isoformat(timespec="seconds"),
                       "until": self.until.isoformat(timespec="seconds")},
            "all_time": self.all_time.to_json(), "recent": self.recent.to_json(),
            "compile": {"calls": self.compile_calls, "cost_usd": round(self.compile_cost, 6)},
            "break_even": self.break_even().to_json(),
            "drifting": bool(self.drifting), "drift_tests": [t.to_json() for t in self.drift],
        }


def compute_status(
    ledgers: Iterable[str | Path],
    manifests: Mapping[str, Manifest | None] | None = None,
    *,
    only_given: bool = True,
    window: timedelta = timedelta(days=7),
    window_text: str = "7d",
    now: datetime | None = None,
    level: float = DEFAULT_LEVEL,
    min_inputs: int = DEFAULT_MIN_INPUTS,
    min_effect: float = DEFAULT_MIN_EFFECT,
) -> list[SkillStatus]:
    """Per-skill status over the ledger files ``ledgers``, read once as a stream. ``manifests``: the
    skills known (name -> manifest, or ``None`` when only the name is known); with ``only_given`` only
    they are reported, else every skill in the ledger too. The recent window is the ``window`` up to
    ``now`` (default: the current time)."""
    until = now or datetime.now(UTC)
    since = until - window
    statuses: dict[str, SkillStatus] = {}

    known = dict(manifests or {})
    only = only_given and manifests is not None

    def status_of(name: str) -> SkillStatus:
        manifest = known.get(name)
        priced_as, price = teacher_pricing(manifest)
        unit = teacher_only_unit(manifest, price)
        routed = manifest is not None and not manifest.settings.ask_student
        first = manifest is not None and bool(manifest.settings.tiers)

        def tally() -> Tally:
            return Tally(teacher_only_unit=unit, routed=routed, classifier_first=first)

        return SkillStatus(name, manifest, priced_as, price, window_text, since, until, all_time=tally(),
                           recent=tally())

    for name in known:
        statuses[name] = status_of(name)
    for e in iter_entries(ledgers):
        s = statuses.get(e.skill)
        if s is None:
            if only:
                continue
            s = statuses[e.skill] = status_of(e.skill)
        if e.phase == "compile":
            s.compile_calls += 1
            s.compile_cost += e.cost_usd or 0.0
            continue
        if e.phase != "run":
            continue
        when = parse_time(e.time)
        started = s.all_time.add(e, when, s.teacher_price)
        bucket = s.hourly.setdefault(int(when.timestamp()) // HOUR, [0, 0, 0.0])
        bucket[0] += started
        bucket[1] += e.outcome == "accepted" and e.role in ("student", "tier")
        bucket[2] += e.cost_usd or 0.0
        if since < when <= until:
            s.recent.add(e, when, s.teacher_price)
    for s in statuses.values():
        s.drift = drift_tests(s.recent.inputs, s.recent.counts(), expectations(s.manifest), level=level,
                              min_inputs=min_inputs, min_effect=min_effect)
    return [statuses[k] for k in sorted(statuses)]
