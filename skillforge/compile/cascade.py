"""The cascade: a text-classifier tier before the student, when it lowers the expected cost per call.

For outputs that are one enum field, a multinomial logistic regression over the inputs' retrieval
features is trained on the labelled training examples (no model call). Its threshold is calibrated
like the student's, on cross-fitted predictions (each training example predicted by a model trained
without its fold) plus the dev cases; the student's threshold is then calibrated on the calibration
cases the classifier would *not* answer, since those are the inputs the student will see behind it.
Each ladder (student alone, classifier then student) is priced per 1,000 calls at list prices -- a local
model priced as the reference Claude model of its role -- and the cheaper one at the target precision
is kept (FrugalGPT's cascade optimisation, on two cheap tiers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skillforge.compile.calibrate import Calibration, choose_threshold
from skillforge.compile.fitting import fit_multinomial, folds
from skillforge.format import ClassifierWeights, LadderOption
from skillforge.models.base import Model, Usage
from skillforge.models.pricing import REFERENCE_STUDENT, REFERENCE_TEACHER, cost_usd, price_for
from skillforge.run.classifier import TextClassifier, features, fitted_features, single_enum_field
from skillforge.run.prompt import render_input
from skillforge.spec import Example

K_FOLDS = 5
MIN_TRAIN = 20


@dataclass
class ClassifierFit:
    """The fitted tier and its predictions on every calibration input (keyed by rendered input):
    cross-fitted for training inputs, from the full model for the rest."""

    weights: ClassifierWeights
    #: rendered input -> the probability of each class.
    predictions: dict[str, list[float]] = field(default_factory=dict)
    calibration: Calibration | None = None

    def predict(self, input: Mapping[str, Any]) -> tuple[Any, float] | None:
        """(label, probability) for a calibration input, ``None`` if it was not predicted."""
        probs = self.predictions.get(render_input(input))
        if probs is None:
            return None
        best = max(range(len(probs)), key=lambda i: (probs[i], -i))
        return self.weights.classes[best], probs[best]

    def probability_of(self, input: Mapping[str, Any], label: Any) -> float | None:
        probs = self.predictions.get(render_input(input))
        classes = self.weights.classes
        if probs is None or label not in classes:
            return None
        return probs[classes.index(label)]


def _matrix(rows: Sequence[Mapping[str, Any]], vocab: Mapping[str, int]) -> Any:
    x = np.zeros((len(rows), len(vocab)))
    for i, row in enumerate(rows):
        cols = [vocab[f] for f in features(row) if f in vocab]
        if cols:
            x[i, cols] = 1.0 / np.sqrt(len(cols))
    return x


def _weights(field_name: str, classes: list[Any], vocab: Mapping[str, int], w: Any, b: Any) -> ClassifierWeights:
    table = {f: [float(v) for v in w[j]] for f, j in vocab.items() if float(np.abs(w[j]).max()) > 1e-6}
    return ClassifierWeights(field=field_name, classes=classes, bias=[float(v) for v in b], weights=table)


def train_classifier(
    schema: Mapping[str, Any], train: Sequence[Example], others: Sequence[Example], *, target_precision: float,
    confidence_level: float | None, seed: int,
) -> ClassifierFit | None:
    """The classifier tier for a single-enum output (``None`` when the output is not one, or too few
    labelled examples). ``others`` (dev cases) are predicted by the full model and join the
    calibration of its threshold."""
    found = single_enum_field(schema)
    if found is None:
        return None
    name, classes = found
    rows = [(e.input, classes.index(e.expected[name])) for e in train
            if e.expected is not None and e.expected.get(name) in classes]
    if len(rows) < MIN_TRAIN or len({y for _, y in rows}) < 2:
        return None
    vocab = {f: j for j, f in enumerate(fitted_features([x for x, _ in rows]))}
    x, y = _matrix([r for r, _ in rows], vocab), [c for _, c in rows]
    fit = ClassifierFit(_weights(name, classes, vocab, *fit_multinomial(x, y, len(classes))))
    for held in folds(len(rows), K_FOLDS, seed):
        keep = np.setdiff1d(np.arange(len(rows)), held)
        part = TextClassifier(_weights(name, classes, vocab, *fit_multinomial(x[keep], [y[i] for i in keep],
                                                                                len(classes))))
        for i in held:
            fit.predictions[render_input(rows[int(i)][0])] = part.probabilities(rows[int(i)][0])
    full = TextClassifier(fit.weights)
    for e in others:
        fit.predictions.setdefault(render_input(e.input), full.probabilities(e.input))
    scored = [(p, e.expected.get(name)) for e in [*train, *others]
              if e.expected is not None and (p := fit.predict(e.input)) is not None]
    fit.calibration = choose_threshold([p for (_, p), _ in scored], [label == want for (label, _), want in scored],
                                       target_precision=target_precision, confidence_level=confidence_level)
    return fit


def _price(model: Model, reference: str, usage: Usage) -> float | None:
    """The model's own price for ``usage``; a model that bills nothing (local) at the reference price."""
    cost = model.cost_usd(usage)
    if cost is not None and cost > 0:
        return cost
    price = price_for(reference, warn=False)
    return None if price is None else cost_usd(usage, price)


def call_cost(model: Model, reference: str, prompt_tokens: float, answer_tokens: int = 16) -> float | None:
    """What one call of ``model`` costs at list price (a local model at ``reference``'s)."""
    return _price(model, reference, Usage(input_tokens=round(prompt_tokens), output_tokens=answer_tokens))


@dataclass(frozen=True)
class LadderCosts:
    """What one call costs at each rung, for pricing ladders."""

    student: float | None
    teacher: float | None

    @classmethod
    def measure(cls, student: Model, teacher: Model, prompt_tokens: float, answer_tokens: int = 16) -> LadderCosts:
        usage = Usage(input_tokens=round(prompt_tokens), output_tokens=answer_tokens)
        return cls(_price(student, REFERENCE_STUDENT, usage), _price(teacher, REFERENCE_TEACHER, usage))

    def with_second_opinion(self, model: Model, prompt_tokens: float, answer_tokens: int = 16) -> LadderCosts:
        """Costs when every student call comes with a second opinion by ``model``: its own price (a
        local model's is nothing) added to the student's."""
        extra = model.cost_usd(Usage(input_tokens=round(prompt_tokens), output_tokens=answer_tokens))
        if not extra or self.student is None:
            return self
        return LadderCosts(self.student + extra, self.teacher)


def ladder(
    tiers: list[str], shares: dict[str, float], costs: LadderCosts, *, student_called: float
) -> LadderOption:
    """One priced ladder: ``shares`` answered per tier; ``student_called`` the share reaching the student."""
    answered = sum(shares.values())
    cost = (None if costs.student is None or costs.teacher is None
            else 1000.0 * (student_called * costs.student + (1.0 - answered) * costs.teacher))
    return LadderOption(tiers=tiers, student_share=round(answered, 4),
                        tier_shares={k: round(v, 4) for k, v in shares.items()},
                        cost_per_1k=None if cost is None else round(cost, 6))
