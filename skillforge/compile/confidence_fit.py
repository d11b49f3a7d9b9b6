"""Choosing how the student's confidence is computed, from the calibration cases.

Candidates: the value-token probability (``logprob``), the class probability (``distribution``), and a
logistic combination of every signal measured (``combined``). A combination is judged on cross-fitted
predictions: each case is scored by a combiner fitted on the other folds, so the threshold is never
chosen on predictions from the data the combiner was fitted on. The method that lets the student
answer the most at the target precision (by the Wilson bound) wins; ties go to the higher AUROC, then to
the simpler method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skillforge.compile.calibrate import choose_threshold
from skillforge.compile.fitting import auroc, fit_binary, folds
from skillforge.compile.measure import CaseResult
from skillforge.format import Combiner, ConfidenceSettings, Signal
from skillforge.run.signals import combine, feature

SIGNALS: tuple[Signal, ...] = ("class_prob", "class_margin", "value_prob", "classifier_prob", "reasked")
MIN_CASES = 30
K_FOLDS = 5


@dataclass(frozen=True)
class ConfidenceChoice:
    settings: ConfidenceSettings
    #: The confidence of each calibration case under ``settings`` (cross-fitted for ``combined``).
    scores: list[float | None]
    #: AUROC of each signal and of the cross-fitted combination.
    auroc: dict[str, float]


def _column(cases: Sequence[CaseResult], name: str) -> list[float | None]:
    return [c.signals.get(name) if c.output is not None else None for c in cases]


def _usable(cases: Sequence[CaseResult]) -> list[Signal]:
    valid = [c for c in cases if c.output is not None]
    out: list[Signal] = []
    for name in SIGNALS:
        values = [c.signals[name] for c in valid if name in c.signals]
        if len(values) == len(valid) and valid and float(np.std(values)) > 1e-9:
            out.append(name)
    return out


def fit_combiner(cases: Sequence[CaseResult], names: Sequence[Signal]) -> Combiner:
    """A combiner over ``names`` fitted on the valid ``cases``."""
    valid = [c for c in cases if c.output is not None]
    x = np.asarray([[feature(n, c.signals[n]) for n in names] for c in valid], dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    weights, bias = fit_binary((x - mean) / scale, [c.correct for c in valid])
    return Combiner(signals=tuple(names), mean=tuple(float(m) for m in mean), scale=tuple(float(s) for s in scale),
                    weights=tuple(float(w) for w in weights), bias=bias)


def cross_fitted(cases: Sequence[CaseResult], names: Sequence[Signal], seed: int) -> list[float | None]:
    """Each case's combined confidence from a combiner fitted without its fold."""
    scores: list[float | None] = [None] * len(cases)
    for held in folds(len(cases), K_FOLDS, seed):
        held_set = set(int(i) for i in held)
        train = [c for i, c in enumerate(cases) if i not in held_set]
        if len({c.correct for c in train if c.output is not None}) < 2:
            return [None] * len(cases)
        combiner = fit_combiner(train, names)
        for i in held_set:
            if cases[i].output is not None:
                scores[i] = combine(combiner, cases[i].signals)
    return scores


def choose_confidence(
    cases: Sequence[CaseResult], base: ConfidenceSettings, *, target_precision: float,
    confidence_level: float | None, seed: int,
) -> ConfidenceChoice:
    """The confidence method for the skill (see the module docstring). Self-consistency is kept as
    configured: it is the user's choice of signal for students without token probabilities."""
    correct = [c.correct for c in cases]
    aurocs: dict[str, float] = {n: a for n in SIGNALS if (a := auroc(_column(cases, n), correct)) is not None}
    if base.method == "self_consistency":
        return ConfidenceChoice(base, [c.confidence for c in cases], aurocs)
    options: list[tuple[ConfidenceSettings, list[float | None]]] = [
        (base.model_copy(update={"method": "logprob", "combiner": None}), _column(cases, "value_prob"))]
    if "class_prob" in aurocs:
        options.append((base.model_copy(update={"method": "distribution", "combiner": None}),
                        _column(cases, "class_prob")))
    names = _usable(cases)
    if len(names) >= 2 and len(cases) >= MIN_CASES:
        oof = cross_fitted(cases, names, seed)
        if (a := auroc(oof, correct)) is not None:
            aurocs["combined"] = a
            options.append((base.model_copy(update={"method": "combined", "combiner": fit_combiner(cases, names)}),
                            oof))

    def rank(i: int) -> tuple[float, float, int]:
        scores = options[i][1]
        share = choose_threshold(scores, correct, target_precision=target_precision,
                                 confidence_level=confidence_level).student_share
        return (round(share, 9), round(auroc(scores, correct) or 0.0, 9), -i)

    best = max(range(len(options)), key=rank)
    return ConfidenceChoice(options[best][0], options[best][1], aurocs)
