"""One selection rule: candidates raced on the dev cases.

The candidates of a race answer the dev cases in lockstep, a batch of :data:`BATCH` cases at a time, in
dev order. After each batch, a candidate that some other candidate **clearly beats on the cases both have
answered** -- a paired gain above :data:`Z_RACE` standard errors -- stops: it can no longer be chosen,
and its further calls would be wasted. The baseline (the plain prompt), and any candidate the caller
needs measured in full, never stop; every candidate that does not stop is measured on every dev case,
and :func:`~skillforge.compile.selection.choose` picks among those with the one-standard-error rule.

The error bound: each look is a one-sided paired test at ``Z_RACE`` (3: a 0.13% chance of a gain that
large from a candidate no worse than the one ahead of it). A candidate is looked at once per batch, at
most ``ceil(dev / BATCH)`` times, so one as good as its best rival is stopped with a probability of at
most that many times 0.13% (0.8% on a 60-case dev set) -- and a stopped candidate only loses where the
paired comparison already put it well behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from skillforge.compile.budget import BudgetExhausted
from skillforge.compile.candidates import Candidate
from skillforge.compile.measure import CaseResult, DevCase, Measurement
from skillforge.compile.selection import paired_gain

if TYPE_CHECKING:  # the state holds the plan, which sizes races by these constants
    from skillforge.compile.state import CompileState

#: Dev cases each racing candidate answers between two looks.
BATCH = 10
#: Standard errors by which a rival's paired gain must exceed zero to stop a candidate.
Z_RACE = 3.0


@dataclass
class Entrant:
    """A candidate in a race and its answers so far (dev order)."""

    candidate: Candidate
    cases: list[CaseResult] = field(default_factory=list)
    #: Never stopped: measured on every dev case.
    finish: bool = False
    stopped: bool = False

    def measurement(self, planned: int) -> Measurement:
        return Measurement(self.candidate, list(self.cases), planned=planned)


def beaten(entrant: Entrant, rivals: Sequence[Entrant | Measurement]) -> bool:
    """Some rival clearly beats ``entrant`` on the cases both have answered (:data:`Z_RACE`)."""
    n = len(entrant.cases)
    if n < 2:
        return False
    mine = Measurement(entrant.candidate, entrant.cases)
    for rival in rivals:
        if rival is entrant or len(rival.cases) < n:
            continue
        theirs = Measurement(rival.candidate, list(rival.cases[:n]))
        gain, se = paired_gain(theirs, mine)
        if gain > 1e-12 and gain > Z_RACE * se * (1 + 1e-9):
            return True
    return False


async def race(
    state: CompileState, candidates: Sequence[Candidate], *, what: str, finish: Sequence[int] = (),
    rivals: Sequence[Measurement] = (),
) -> list[Measurement]:
    """Race ``candidates`` on the dev cases (see the module docstring): one measurement each, in order,
    every dev case answered unless it stopped. ``finish`` are the positions never stopped; ``rivals``
    are measurements made before, against which the candidates are held too."""
    dev: list[DevCase] = state.dev
    entrants = [Entrant(c, finish=i in finish) for i, c in enumerate(candidates)]
    state.progress.stage(f"student: racing {len(entrants)} {what} candidates on dev", len(entrants) * len(dev))
    for start in range(0, len(dev), BATCH):
        batch = dev[start:start + BATCH]
        alive = [e for e in entrants if not e.stopped]
        for e in alive:
            try:
                e.cases += (await state.measure(e.candidate, batch, None)).cases
            except BudgetExhausted:
                if e.finish:
                    raise
                e.stopped = True
                if state.budget is not None:
                    state.budget.cut(f"{what} candidates stopped by the budget before they finished")
        everyone: list[Entrant | Measurement] = [*alive, *rivals]
        for e in alive:
            if not e.finish and len(e.cases) < len(dev) and beaten(e, everyone):
                e.stopped = True
                state.progress.advance(len(dev) - len(e.cases))
    out = [e.measurement(len(dev)) for e in entrants]
    state.measurements.extend(out)
    return out
