"""Choosing among measured candidates: the simplest one the best-scoring one does not clearly beat.

A more complex candidate (more demos, retrieval, a teacher's draft) or a revision has to beat a simpler
one by more than ``z`` standard errors of their paired per-case gain on the same dev cases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from skillforge.compile.measure import Measurement


def _simplicity(index: int, ev: Measurement) -> tuple[int, bool, bool, int]:
    # Fewer demos (cheaper prompts), then fixed demos before retrieved (a fixed prefix is cacheable),
    # then template instructions (no dependence on a teacher's draft), then the earlier candidate.
    c = ev.candidate
    return (c.k, c.retrieve_k is not None, c.instructions_source != "template", index)


def best(measurements: Sequence[Measurement]) -> Measurement:
    """Highest dev score; ties go to the simpler candidate."""
    ranked = sorted(enumerate(measurements), key=lambda ie: (-round(ie[1].score, 9), *_simplicity(*ie)))
    return ranked[0][1]


def paired_gain(new: Measurement, base: Measurement) -> tuple[float, float]:
    """Mean per-case score gain of ``new`` over ``base`` on the same dev cases, and its standard error.

    Pairing matters: two candidates share most of their right and wrong answers, so the gain is far
    better determined than the difference of two independent accuracies."""
    if len(new.cases) != len(base.cases) or not new.cases:
        # A programming error (measurements of different case lists), not a user mistake.
        raise ValueError("paired_gain needs measurements on the same, non-empty dev cases")
    diffs = [a.score - b.score for a, b in zip(new.cases, base.cases, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n)


def clearly_better(new: Measurement, base: Measurement, z: float) -> bool:
    """``new`` beats ``base`` by more than ``z`` standard errors of the paired gain (``z = 0``: by anything).
    At ``z = 1`` one case fixed and none broken is not enough (the gain equals its standard error)."""
    gain, se = paired_gain(new, base)
    return gain > 1e-12 and gain > z * se * (1 + 1e-9)


def _errors(z: float) -> str:
    return "one standard error" if z == 1 else f"{z:g} standard errors"


def choose(measurements: Sequence[Measurement], *, z: float) -> tuple[Measurement, str]:
    """The simplest candidate that the best-scoring one does not clearly beat (the one-standard-error
    rule at ``z = 1``), and a line saying why.

    With a 60-case dev set and a dozen candidates, the top dev score is partly luck: the winner's
    edge over plain zero-shot is often a few cases that do not recur on new inputs (measured here: a
    sentiment skill chosen for +3 dev cases lost 7 points on the test split). Complexity -- demos,
    retrieval, a teacher's draft -- has to earn its place by more than the noise."""
    top = best(measurements)
    ordered = [ev for _, ev in sorted(enumerate(measurements), key=lambda ie: _simplicity(*ie))]
    if ordered[0] is top:
        return top, f"best on dev: {top.candidate.name} {top.score:.3f}, also the simplest candidate"
    for ev in ordered:
        if ev is top:
            break
        if not clearly_better(top, ev, z):
            gain, se = paired_gain(top, ev)
            return ev, (f"best on dev: {top.candidate.name} {top.score:.3f}, {gain:+.3f} \u00b1 {se:.3f} over "
                        f"{ev.candidate.name}, within {_errors(z)}: the simpler {ev.candidate.name} is kept")
    return top, f"best on dev: {top.candidate.name} {top.score:.3f}, clearly ahead of every simpler candidate (z={z:g})"
