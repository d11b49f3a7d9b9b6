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

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from skillforge.compile.measure import CaseResult
from skillforge.format import Combiner, ConfidenceSettings, SecondOpinion, Signal
from skillforge.run.signals import combine, feature
from skillforge.stats import auroc, choose_threshold, fit_binary, folds

SIGNALS: tuple[Signal, ...] = ("class_prob", "class_margin", "value_prob", "field_min_prob", "classifier_prob",
                               "neighbour_vote", "reasked", "second_prob", "second_agreement", "student_agreement",
                               "sample_agreement", "sample_field_agreement")
#: Signals that cost calls per input, by what makes them: a second opinion (one call) and the student's
#: extra samples (``confidence.samples - 1`` calls). A combination using them must earn its calls.
PAID_GROUPS: dict[str, frozenset[Signal]] = {
    "second opinion": frozenset({"second_prob", "second_agreement"}),
    "samples": frozenset({"sample_agreement", "sample_field_agreement"}),
}
PAID: frozenset[Signal] = frozenset().union(*PAID_GROUPS.values())
MIN_CASES = 30
K_FOLDS = 5


@dataclass(frozen=True)
class ConfidenceChoice:
    settings: ConfidenceSettings
    #: The confidence of each calibration case under ``settings`` (cross-fitted for ``combined``).
    scores: list[float | None]
    #: AUROC of each signal and of the cross-fitted combination.
    auroc: dict[str, float]
    #: What the method is called in the report (``logprob``, ``combined``, ``combined with samples``, ...).
    label: str = ""

    @property
    def paid(self) -> frozenset[str]:
        """The paid signal groups (:data:`PAID_GROUPS`) this confidence reads."""
        signals = set(self.settings.combiner.signals) if self.settings.combiner is not None else set()
        return frozenset(g for g, names in PAID_GROUPS.items() if names & signals)


def _column(cases: Sequence[CaseResult], name: str) -> list[float | None]:
    return [c.signals.get(name) if c.output is not None else None for c in cases]


def _usable(cases: Sequence[CaseResult]) -> list[Signal]:
    """The signals every valid case has and that vary; a signal equal to an earlier one on every case
    (one output field: the whole answer's sample agreement is its only field's) is left out."""
    valid = [c for c in cases if c.output is not None]
    out: list[Signal] = []
    seen: list[list[float]] = []
    for name in SIGNALS:
        values = [c.signals[name] for c in valid if name in c.signals]
        if len(values) == len(valid) and valid and float(np.std(values)) > 1e-9 and values not in seen:
            out.append(name)
            seen.append(values)
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


def confidence_options(
    cases: Sequence[CaseResult], base: ConfidenceSettings, *, seed: int, min_signals: int = 2,
) -> list[ConfidenceChoice]:
    """Every confidence the measured signals allow, simplest first: the value-token probability
    (``logprob``; with self-consistency configured, the samples' agreement), the class probability
    (``distribution``), a cross-fitted combination of the free signals, and of the free signals with each
    set of paid ones measured (a second opinion, the student's samples). Each holds its scores on
    ``cases``; every one shares the AUROC table of every signal and combination."""
    correct = [c.correct for c in cases]
    measured = {n for c in cases for n in c.signals}
    aurocs: dict[str, float] = {n: a for n in SIGNALS
                                if n in measured and (a := auroc(_column(cases, n), correct)) is not None}
    consistency = base.method == "self_consistency"
    if consistency:  # value_prob is the samples' agreement here: the paid signal
        options: list[tuple[str, ConfidenceSettings, list[float | None]]] = [
            ("self_consistency", base, [c.confidence for c in cases])]
        aurocs["self_consistency"] = aurocs.pop("value_prob", 0.0)
        free = base.model_copy(update={"method": "combined", "samples": 1})
    else:
        options = [("logprob", base.model_copy(update={"method": "logprob", "combiner": None}),
                    _column(cases, "value_prob"))]
        free = base.model_copy(update={"method": "combined"})
    if "class_prob" in aurocs and not consistency:
        options.append(("distribution", base.model_copy(update={"method": "distribution", "combiner": None}),
                        _column(cases, "class_prob")))
    names = [n for n in _usable(cases) if not (consistency and n == "value_prob")]
    free_names = [n for n in names if n not in PAID]
    groups = [g for g, group in PAID_GROUPS.items() if group & set(names)]
    subsets: list[tuple[str, list[Signal]]] = [("combined", free_names)]
    for size in range(1, len(groups) + 1):
        for chosen in itertools.combinations(groups, size):
            subsets.append((f"combined with {' and '.join(chosen)}",
                            [n for n in names if n not in PAID or any(n in PAID_GROUPS[g] for g in chosen)]))
    for label, subset in subsets:
        # One signal with a method of its own (value_prob: logprob, class_prob: distribution) needs no combiner.
        enough = len(subset) >= (1 if consistency else min_signals) or (
            len(subset) == 1 and subset[0] not in ("value_prob", "class_prob"))
        if enough and len(cases) >= MIN_CASES:
            oof = cross_fitted(cases, subset, seed)
            if (a := auroc(oof, correct)) is not None:
                aurocs[label] = a
                options.append((label, free.model_copy(update={"combiner": fit_combiner(cases, subset)}), oof))
    return [ConfidenceChoice(settings, scores, aurocs, label) for label, settings, scores in options]


def choose_confidence(
    cases: Sequence[CaseResult], base: ConfidenceSettings, *, target_precision: float,
    confidence_level: float | None, seed: int, min_signals: int = 2,
) -> ConfidenceChoice:
    """The confidence that lets the answers be accepted the most at the target precision, among
    :func:`confidence_options` (see the module docstring). With self-consistency configured (``samples``
    calls per input), the free signals measured on the same answers compete with it, and win ties: the
    cheaper signal is kept when it does as well."""
    correct = [c.correct for c in cases]
    options = confidence_options(cases, base, seed=seed, min_signals=min_signals)
    consistency = base.method == "self_consistency"

    def rank(i: int) -> tuple[float, bool, float, int]:
        option = options[i]
        share = choose_threshold(option.scores, correct, target_precision=target_precision,
                                 confidence_level=confidence_level).student_share
        # Ties: no paid signal, then the higher AUROC, then the cheaper method (free signals after
        # self-consistency in the list), else the simpler one (earlier in the list).
        order = i if consistency else -i
        return (round(share, 9), not option.paid, round(auroc(option.scores, correct) or 0.0, 9), order)

    ranks = [rank(i) for i in range(len(options))]  # each a threshold search: computed once
    best = max(range(len(options)), key=ranks.__getitem__)
    free_options = [i for i in range(len(options)) if not options[i].paid]
    if options[best].paid and free_options:
        # A paid signal must earn its calls by more than the noise of the share itself (one binomial
        # standard error on these cases): on intents a chance-level second opinion answered a few more
        # calibration cases by luck, and fewer out of sample.
        runner_up = max(free_options, key=ranks.__getitem__)
        paid_share, free_share = ranks[best][0], ranks[runner_up][0]
        noise = math.sqrt(max(paid_share * (1 - paid_share), 1e-12) / max(1, len(cases)))
        if paid_share - free_share <= noise:
            best = runner_up
    return options[best]


def keep_second_opinion(choice: ConfidenceChoice, second: SecondOpinion | None) -> ConfidenceChoice:
    """``choice`` with the second opinion attached when its combiner reads the second opinion's signals
    (the skill then makes that call per input); otherwise unchanged, and no call is made."""
    if second is None or "second opinion" not in choice.paid:
        return choice
    return replace(choice, settings=choice.settings.model_copy(update={"second_opinion": second}))
