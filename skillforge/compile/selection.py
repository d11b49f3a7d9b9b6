"""Choosing among measured candidates: the plain prompt unless a candidate clearly beats it, then the
simplest candidate the best-scoring one does not clearly beat.

"Clearly" means by more than ``z`` times the combined noise of the comparison: the standard error of
the paired per-case gain on the same dev cases (which dev cases happened to be drawn) and the spread of
each side's score over demo draws (which demos happened to be drawn). A candidate measured over several
draws is scored by its mean over them, so one lucky draw does not carry it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from skillforge.compile.candidates import Candidate
from skillforge.compile.measure import Measurement
from skillforge.stats import mean_se

_SOURCE_RANK = {"plain": 0, "template": 1, "teacher": 2}


@dataclass
class Scored:
    """One candidate measured on the same dev cases over one or more demo draws (draw 0 first)."""

    draws: list[Measurement] = field(default_factory=list)

    @property
    def candidate(self) -> Candidate:
        return self.draws[0].candidate

    @property
    def score(self) -> float:
        """Mean dev score over the draws."""
        return statistics.fmean(m.score for m in self.draws)

    @property
    def accuracy(self) -> float:
        return statistics.fmean(m.accuracy for m in self.draws)

    @property
    def spread(self) -> float | None:
        """Standard deviation of the dev score over the draws; 0 without demos (nothing is drawn);
        ``None`` for a candidate with demos measured on one draw only (spread unknown)."""
        if len(self.draws) > 1:
            return statistics.stdev(m.score for m in self.draws)
        return 0.0 if self.draws[0].candidate.k == 0 else None

    @property
    def case_scores(self) -> list[float]:
        """Each dev case's score, averaged over the draws."""
        return [statistics.fmean(col) for col in zip(*(m.case_scores for m in self.draws), strict=True)]

    @property
    def committed(self) -> Measurement:
        """The draw a skill keeps: the best-scoring one (the earliest on ties)."""
        return max(self.draws, key=lambda m: round(m.score, 9))

    def describe(self) -> str:
        s = self.spread
        noise = "" if s is None or len(self.draws) < 2 else f" (spread {s:.3f} over {len(self.draws)} draws)"
        return f"{self.candidate.name} {self.score:.3f}{noise}"


def _simplicity(index: int, sc: Scored) -> tuple[int, int, int, int]:
    # Fewer demos (cheaper prompts), then fixed demos before clustered before retrieved (one cacheable
    # prefix, one per demo group, none), then plain before template before teacher instructions, then
    # the earlier candidate.
    c = sc.candidate
    sharing = 0 if c.retrieve_k is None else 1 if c.clustered else 2
    return (c.k, sharing, _SOURCE_RANK.get(c.instructions_source, 3), index)


def best(scored: Sequence[Scored], score: Callable[[Scored], float] | None = None) -> Scored:
    """Highest (mean) dev score (or ``score``); ties go to the simpler candidate."""
    value = score or (lambda sc: sc.score)
    ranked = sorted(enumerate(scored), key=lambda ie: (-round(value(ie[1]), 9), *_simplicity(*ie)))
    return ranked[0][1]


def paired_gain(new: Scored | Measurement, base: Scored | Measurement) -> tuple[float, float]:
    """Mean per-case score gain of ``new`` over ``base`` on the same dev cases, and its standard error.

    Pairing matters: two candidates share most of their right and wrong answers, so the gain is far
    better determined than the difference of two independent accuracies."""
    a, b = new.case_scores, base.case_scores
    if len(a) != len(b) or not a:
        # A programming error (measurements of different case lists), not a user mistake.
        raise ValueError("paired_gain needs measurements on the same, non-empty dev cases")
    return mean_se([x - y for x, y in zip(a, b, strict=True)])


def _clear(gain: float, noise: float, z: float) -> bool:
    return gain > 1e-12 and gain > z * noise * (1 + 1e-9)


def _spread(x: Scored | Measurement) -> float:
    return (x.spread or 0.0) if isinstance(x, Scored) else 0.0


def margin(new: Scored | Measurement, base: Scored | Measurement) -> float:
    """The noise of ``new``'s gain over ``base``: the paired standard error and both sides' spreads over
    demo draws, combined in quadrature. At least ``new``'s spread."""
    _, se = paired_gain(new, base)
    return math.sqrt(se**2 + _spread(new) ** 2 + _spread(base) ** 2)


def clearly_better(new: Scored | Measurement, base: Scored | Measurement, z: float) -> bool:
    """``new`` beats ``base`` by more than ``z`` times :func:`margin` (``z = 0``: by anything). At
    ``z = 1`` one case fixed and none broken is not enough (the gain equals its standard error), nor is a
    gain within the spread of ``new``'s score over demo draws."""
    gain, _ = paired_gain(new, base)
    return _clear(gain, margin(new, base), z)


def _errors(z: float) -> str:
    return "one standard error" if z == 1 else f"{z:g} standard errors"


def _vs(new: Scored, base: Scored) -> str:
    gain, _ = paired_gain(new, base)
    return f"{gain:+.3f} \u00b1 {margin(new, base):.3f} over {base.candidate.name}"


def _eligible(scored: Sequence[Scored], z: float, need_spread: bool) -> list[Scored]:
    base = scored[0]
    return [base] + [sc for sc in scored[1:] if (sc.spread is not None or not need_spread)
                     and clearly_better(sc, base, z)]


def choose(scored: Sequence[Scored], *, z: float, need_spread: bool = False) -> tuple[Scored, str]:
    """The choice among ``scored`` (``scored[0]`` is the baseline, the plain prompt), and a line saying why.

    1. Only candidates that clearly beat the baseline (:func:`clearly_better`: by more than their
       spread over demo draws and the paired standard error) may replace it. With ``need_spread``, a
       candidate with demos whose spread was not measured (one draw) may not.
    2. Among those and the baseline: the simplest candidate the best-scoring one does not clearly beat
       (the one-standard-error rule at ``z = 1``).

    With a 60-case dev set and a dozen candidates, the top dev score is partly luck -- of the dev cases
    and of the demos drawn (measured here: a candidate chosen on 83% dev fell to 77% out of sample,
    below the plain prompt's 89%). Complexity has to earn its place by more than the noise."""
    base = scored[0]
    eligible = _eligible(scored, z, need_spread)
    top = best(scored)
    if top not in eligible:
        why = "not measured over several demo draws" if need_spread and top.spread is None else \
            f"{_vs(top, base)}, within {_errors(z)} of the noise"
        lead = f"best on dev: {top.describe()}, {why}"
        top = best(eligible)
        if top is base:
            return base, f"{lead}: the baseline {base.candidate.name} {base.score:.3f} is kept"
        lead += f"; best of those that clearly beat the baseline: {top.describe()}"
    else:
        lead = f"best on dev: {top.describe()}" + ("" if top is base else f", {_vs(top, base)}")
    ordered = [sc for _, sc in sorted(enumerate(eligible), key=lambda ie: _simplicity(*ie))]
    for sc in ordered:
        if sc is top:
            break
        if not clearly_better(top, sc, z):
            return sc, f"{lead}; {_vs(top, sc)} is within {_errors(z)}: the simpler {sc.candidate.name} is kept"
    if top is base:
        return top, f"{lead}: the baseline is kept"
    return top, f"{lead}: clearly ahead of the baseline and every simpler candidate (z={z:g})"
