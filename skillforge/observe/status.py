"""``skillforge status``: what each skill does in production, from the ledger alone.

:func:`compute_status` streams the ledger once (:func:`~skillforge.observe.stream.iter_entries`) and
keeps, per skill, two :class:`~skillforge.observe.tally.Tally` (all time, and the recent window),
hourly buckets (inputs, answered, cost) for the break-even date and the report's charts, and the
compile calls' cost. Memory grows with skills, models and hours of traffic, never with lines.

The teacher-only counterfactual prices every input as one call to the skill's teacher at its list
price (:mod:`skillforge.models.pricing`), or as :data:`~skillforge.models.pricing.REFERENCE_TEACHER`
when the teacher has no price (a local or test model).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from skillforge.format import Manifest
from skillforge.models.pricing import REFERENCE_TEACHER, Price, canonical_model_name, price_for
from skillforge.observe.drift import (
    DEFAULT_LEVEL,
    DEFAULT_MIN_EFFECT,
    DEFAULT_MIN_INPUTS,
    DriftTest,
    drift_tests,
    expectations,
)
from skillforge.observe.stream import iter_entries, parse_time
from skillforge.observe.tally import Tally

HOUR = 3600


def teacher_pricing(manifest: Manifest | None) -> tuple[str, Price]:
    """The model the teacher-only counterfactual is priced as, and its price."""
    teacher = manifest.provenance.teacher if manifest is not None else None
    price = price_for(teacher, warn=False) if teacher else None
    if teacher and price is not None:
        return canonical_model_name(teacher), price
    reference = price_for(REFERENCE_TEACHER, warn=False)
    assert reference is not None  # the reference is in the built-in table
    return REFERENCE_TEACHER, reference


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
        return SkillStatus(name, manifest, priced_as, price, window_text, since, until)

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
