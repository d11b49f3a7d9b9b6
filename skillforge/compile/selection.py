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
from skillforge.compile.measure import Measurement, Stop

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
    return _mean_se([x - y for x, y in zip(a, b, strict=True)])


def _mean_se(diffs: Sequence[float]) -> tuple[float, float]:
    n = len(diffs)
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n)


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


def can_clearly_beat(partial: Sequence[float], base: Sequence[float], z: float) -> bool:
    """Whether a measurement whose first cases scored ``partial`` can still end up
    :func:`clearly_better` than ``base`` (a single measurement, all its case scores known) once its
    remaining cases are measured: the sequential test that stops a losing candidate early.

    Exact for 0/1 case scores (a classification's): the best completions answer every remaining case
    right that ``base`` got wrong, and keep the others level (a case lost only lowers the gain and
    widens its error); every number of such cases put right is tried, since the standard error moves
    with it. With partial credit, only a completion that cannot gain at all is ruled out (an even gain
    on every case has no error at all)."""
    n = len(partial)
    diffs = [x - y for x, y in zip(partial, base[:n], strict=True)]
    rest = base[n:]
    if not all(x in (0.0, 1.0) for x in (*partial, *base)):
        return (sum(diffs) + sum(1.0 - y for y in rest)) / len(base) > 1e-12
    ups = sum(y == 0.0 for y in rest)
    return any(_clear(*_mean_se(diffs + [1.0] * m + [0.0] * (len(rest) - m)), z) for m in range(ups + 1))


def can_escape(partial: Sequence[float], top: Sequence[float], z: float, spread: float = 0.0) -> bool:
    """Whether a single-draw measurement whose first cases scored ``partial`` can still end up *not*
    :func:`clearly_better`-beaten by ``top`` (all its case scores known, in the same case order, any
    values; its spread over demo draws ``spread``) once its remaining cases are measured.

    Exact when ``partial`` is right-or-wrong (0/1), so that each remaining case scores 0 or 1: for a
    given number ``m`` of remaining cases answered right the mean gain is fixed, and its standard error
    is largest when they are the ``m`` on which ``top`` scored lowest (each right answer adds
    ``1 - 2t`` to the sum of squared gains); a larger error only makes the gain less clear, so those
    ``len(top) - len(partial) + 1`` completions decide. With partial credit the answer is a
    conservative yes."""
    if not all(x in (0.0, 1.0) for x in partial):
        return True
    fixed = [t - x for t, x in zip(top, partial, strict=False)]
    rest = sorted(top[len(partial):])
    for m in range(len(rest) + 1):
        mean, se = _mean_se(fixed + [t - 1.0 for t in rest[:m]] + rest[m:])
        if not _clear(mean, math.hypot(se, spread), z):
            return True
    return False


def _errors(z: float) -> str:
    return "one standard error" if z == 1 else f"{z:g} standard errors"


def _vs(new: Scored, base: Scored) -> str:
    gain, _ = paired_gain(new, base)
    return f"{gain:+.3f} \u00b1 {margin(new, base):.3f} over {base.candidate.name}"


def _eligible(scored: Sequence[Scored], z: float, need_spread: bool) -> list[Scored]:
    base = scored[0]
    return [base] + [sc for sc in scored[1:] if (sc.spread is not None or not need_spread)
                     and clearly_better(sc, base, z)]


def yardstick(scored: Sequence[Scored], *, z: float, need_spread: bool = False) -> Scored:
    """The candidate :func:`choose` measures the others against: the best-scoring one, or the best of
    those that clearly beat the baseline when it does not. A candidate that this one clearly beats is
    never chosen (nor can it become the yardstick: it scores lower)."""
    top = best(scored)
    eligible = _eligible(scored, z, need_spread)
    return top if top in eligible else best(eligible)


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


def worth_redrawing(scored: Sequence[Scored], contenders: Sequence[Scored], z: float, top: int) -> list[Scored]:
    """Which ``contenders`` (in ``scored``) to measure over more demo draws: for each of the ``top``
    best-scoring, the simplest contender it does not clearly beat on the draws so far -- itself when
    there is none. A simpler candidate within the noise would be kept by :func:`choose` anyway, so the
    draws go to it rather than to a more complex one that would need them only to lose on simplicity
    (on intent-router: two 7-retrieved-demo draws, a quarter of the compile's time, saved when the
    clustered twin scores within the noise)."""
    order = {id(sc): _simplicity(i, sc) for i, sc in enumerate(scored)}
    picked: list[Scored] = []
    for lead in sorted(contenders, key=lambda sc: -sc.score)[:top]:
        simpler = [sc for sc in contenders if order[id(sc)] < order[id(lead)] and not clearly_better(lead, sc, z)]
        pick = min(simpler, key=lambda sc: order[id(sc)]) if simpler else lead
        if pick not in picked:
            picked.append(pick)
    return picked


def stop_when_beaten(base: Sequence[float], z: float) -> Stop:
    """A measurement's stop rule: true once its results so far can no longer end up clearly better
    than ``base``'s case scores (:func:`can_clearly_beat`).

    The cases are measured in the order of ``base``'s scores, lowest first (dev order among equals):
    only there can the candidate gain. Once they are measured, the rest can only keep its gain or
    lower it, so a candidate that is not clearly ahead by then stops at once, where in dev order it
    would run on until too few of ``base``'s misses were left to make up the difference. A candidate
    that can win is measured on every case either way, and its results are kept in dev order."""
    order = tuple(sorted(range(len(base)), key=lambda i: (base[i], i)))
    ordered = [base[i] for i in order]
    return Stop(lambda done: not can_clearly_beat([c.score for c in done], ordered, z), order)
