"""Choosing how the student's confidence is computed, from the calibration cases.

Candidates: the value-token probability (``logprob``), the class probability (``distribution``), and a
logistic combination of every signal measured (``combined``). A combination is judged on cross-fitted
predictions: each case is scored by a combiner fitted on the other folds, so the threshold is never
chosen on predictions from the data the combiner was fitted on. The method that lets the student
answer the most at the target precision (by the Wilson bound) wins; ties go to the method without a
second opinion (it costs a call per input), then to the higher AUROC, then to the simpler method. A method
reading a second opinion must answer more than the best one without it by over one binomial standard
error of its share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from skillforge.compile.calibrate import choose_threshold
from skillforge.compile.fitting import auroc, fit_binary, folds
from skillforge.compile.measure import CaseResult
from skillforge.format import Combiner, ConfidenceSettings, SecondOpinion, Signal
from skillforge.run.signals import combine, feature

SIGNALS: tuple[Signal, ...] = ("class_prob", "class_margin", "value_prob", "classifier_prob", "neighbour_vote",
                               "reasked", "second_prob", "second_agreement", "student_agreement")
#: Signals that cost a call per input (a second opinion): a combination using them must let the student
#: answer more than one without them, by over the noise of the share.
PAID: frozenset[Signal] = frozenset({"second_prob", "second_agreement"})
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
    confidence_level: float | None, seed: int, min_signals: int = 2,
) -> ConfidenceChoice:
    """The confidence method for the skill (see the module docstring). With self-consistency
    configured (``samples`` calls per input), the free signals measured on the same answers compete
    with it, and win ties: the cheaper signal is kept when it does as well."""
    correct = [c.correct for c in cases]
    aurocs: dict[str, float] = {n: a for n in SIGNALS if (a := auroc(_column(cases, n), correct)) is not None}
    consistency = base.method == "self_consistency"
    if consistency:  # value_prob is the samples' agreement here: the paid signal
        options: list[tuple[ConfidenceSettings, list[float | None]]] = [(base, [c.confidence for c in cases])]
        aurocs["self_consistency"] = aurocs.pop("value_prob", 0.0)
        free = base.model_copy(update={"method": "combined", "samples": 1})
    else:
        options = [(base.model_copy(update={"method": "logprob", "combiner": None}), _column(cases, "value_prob"))]
        free = base.model_copy(update={"method": "combined"})
    if "class_prob" in aurocs and not consistency:
        options.append((base.model_copy(update={"method": "distribution", "combiner": None}),
                        _column(cases, "class_prob")))
    names = [n for n in _usable(cases) if not (consistency and n == "value_prob")]
    free_names = [n for n in names if n not in PAID]
    for label, subset in (("combined", free_names), ("combined with second opinion", names)):
        if label != "combined" and subset == free_names:
            continue
        if len(subset) >= (1 if consistency else min_signals) and len(cases) >= MIN_CASES:
            oof = cross_fitted(cases, subset, seed)
            if (a := auroc(oof, correct)) is not None:
                aurocs[label] = a
                options.append((free.model_copy(update={"combiner": fit_combiner(cases, subset)}), oof))

    def rank(i: int) -> tuple[float, bool, float, int]:
        settings, scores = options[i]
        share = choose_threshold(scores, correct, target_precision=target_precision,
                                 confidence_level=confidence_level).student_share
        # Ties: no paid second opinion, then the higher AUROC, then the cheaper method (free signals after
        # self-consistency in the list), else the simpler one (earlier in the list).
        order = i if consistency else -i
        return (round(share, 9), not _paid(settings), round(auroc(scores, correct) or 0.0, 9), order)

    ranks = [rank(i) for i in range(len(options))]  # each a threshold search: computed once
    best = max(range(len(options)), key=ranks.__getitem__)
    free_options = [i for i in range(len(options)) if not _paid(options[i][0])]
    if _paid(options[best][0]) and free_options:
        # A paid signal must earn its call per input by more than the noise of the share itself (one
        # binomial standard error on these cases): on intents a chance-level second opinion answered a
        # few more calibration cases by luck, and fewer out of sample.
        runner_up = max(free_options, key=ranks.__getitem__)
        paid_share, free_share = ranks[best][0], ranks[runner_up][0]
        noise = math.sqrt(max(paid_share * (1 - paid_share), 1e-12) / max(1, len(cases)))
        if paid_share - free_share <= noise:
            best = runner_up
    return ConfidenceChoice(options[best][0], options[best][1], aurocs)


def _paid(settings: ConfidenceSettings) -> bool:
    return settings.combiner is not None and bool(PAID & set(settings.combiner.signals))


def keep_second_opinion(choice: ConfidenceChoice, second: SecondOpinion | None) -> ConfidenceChoice:
    """``choice`` with the second opinion attached when its combiner reads the second opinion's signals
    (the skill then makes that call per input); otherwise unchanged, and no call is made."""
    if second is None or not _paid(choice.settings):
        return choice
    return ConfidenceChoice(choice.settings.model_copy(update={"second_opinion": second}), choice.scores, choice.auroc)
