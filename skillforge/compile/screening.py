"""Screening the zero-shot candidates on part of dev, completed only where the choice could need them.

The zero-shot candidates (the template text in each rendering, the teacher's text) decide two things:
the rendering and the instruction texts the demo candidates are built with, and -- rarely -- the choice
itself, when demos do not help. The first needs a ranking, not six full measurements; on intent-router
they scored 0.18-0.28 against 0.88 with demos, and measuring all of dev took a quarter of the compile.

So each is measured on a seeded share of dev first (:func:`screen_cases`), and the rendering and texts
are ranked on those cases (the baseline, measured in full, on the same ones). Once every other
candidate is measured, a screened one is completed on the rest of dev unless it provably cannot
matter: whatever its remaining answers, the :func:`~skillforge.compile.selection.yardstick` the choice
measures candidates against would clearly beat it (:func:`~skillforge.compile.selection.can_escape`,
exact for right-or-wrong scores). The choice is then the one measuring all of them in full would make.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from skillforge.compile.candidates import Candidate
from skillforge.compile.measure import Measurement
from skillforge.compile.selection import Scored, can_escape, yardstick
from skillforge.compile.state import CompileState

#: The fewest cases a zero-shot candidate is screened on, and the fewest left aside for completing it.
MIN_SCREEN = 20


def screen_cases(n: int, seed: int) -> list[int]:
    """The dev indices (in dev order) zero-shot candidates are screened on: a seeded third of ``n``,
    at least :data:`MIN_SCREEN`; every index when fewer than ``MIN_SCREEN`` would be left aside (dev
    sets under 40 cases are measured in full)."""
    size = max(MIN_SCREEN, math.ceil(n / 3))
    if n - size < MIN_SCREEN:
        return list(range(n))
    return sorted(random.Random(seed + 3).sample(range(n), size))


def screened(sc: Scored) -> bool:
    """Measured on the screening cases only (not all of dev)."""
    return sc.draws[0].screening


def on_screen(sc: Scored, idx: Sequence[int]) -> float:
    """``sc``'s mean score on the screening cases ``idx``: what zero-shot candidates are ranked by."""
    m = sc.draws[0]
    if screened(sc) or not idx:
        return m.score
    return sum(m.cases[i].score for i in idx) / len(idx)


async def measure_screened(state: CompileState, cands: Sequence[Candidate], idx: Sequence[int]) -> list[Scored]:
    """Each candidate measured on the screening cases ``idx`` only (planned on all of dev)."""
    out = []
    part = [state.dev[i] for i in idx]
    what = "dev" if len(idx) == len(state.dev) else f"dev (screening: {len(idx)} of {len(state.dev)} cases)"
    for cand in cands:
        m = await state.measure(cand, part, what)
        m.planned, m.screening = len(state.dev), len(idx) < len(state.dev)
        state.measurements.append(m)
        out.append(Scored([m]))
    return out


async def complete_screened(state: CompileState, scored: list[Scored], idx: Sequence[int]) -> list[Scored]:
    """Complete, on the rest of dev, each screened candidate that could still matter to the choice
    (the yardstick might not clearly beat it), until none could; returns the fully measured candidates,
    in their order in ``scored`` (candidates stopped once they could no longer win left out). The
    others stay in ``scored`` (and in the report) as measured."""
    o = state.options
    need_spread = o.draws > 1
    inside = set(idx)
    rest = [i for i in range(len(state.dev)) if i not in inside]
    while True:
        full = [sc for sc in scored if not any(m.stopped for m in sc.draws)]
        top = yardstick(full, z=o.selection_z, need_spread=need_spread)
        # The yardstick's case scores in a screened measurement's order: the screening cases first.
        ordered = [top.case_scores[i] for i in (*idx, *rest)]
        open_ = [sc for sc in scored if screened(sc)
                 and can_escape(sc.draws[0].case_scores, ordered, o.selection_z, top.spread or 0.0)]
        if not open_:
            return full
        sc = open_[0]
        first = sc.draws[0]
        more = await state.measure(first.candidate, [state.dev[i] for i in rest],
                                   f"dev (the other {len(rest)} cases)")
        by_index = dict(zip(idx, first.cases, strict=True)) | dict(zip(rest, more.cases, strict=True))
        merged = Measurement(first.candidate, [by_index[i] for i in range(len(state.dev))], planned=len(state.dev))
        state.measurements[state.measurements.index(first)] = merged
        sc.draws[0] = merged
