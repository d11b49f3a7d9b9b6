"""The cheapest tier: a linear text classifier for one enum output field, stored as plain numbers.

Features are the retrieval tokens of the input's text (lower-cased words and per-word character
4-grams, :func:`skillforge.run.retrieval.terms`), present or absent, scaled to unit length. The model is
a multinomial logistic regression fitted at compile time on the labelled training examples (see
:mod:`skillforge.compile.cascade`); answering an input costs microseconds and no model call. Its
probability of the label it picks is its confidence, gated by a threshold calibrated like the
student's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from skillforge.format.classifier import ClassifierWeights
from skillforge.run.retrieval import input_text, terms


def features(value: Mapping[str, Any]) -> list[str]:
    """The distinct feature names of an input."""
    return sorted(set(terms(input_text(value))))


class TextClassifier:
    """Answers with :class:`~skillforge.format.classifier.ClassifierWeights`."""

    def __init__(self, weights: ClassifierWeights) -> None:
        self.weights = weights
        self.field = weights.field
        self.classes = weights.classes

    def probabilities(self, value: Mapping[str, Any]) -> list[float]:
        """The probability of each class for input ``value``."""
        table = self.weights.weights
        present = [f for f in features(value) if f in table]
        norm = 1.0 / math.sqrt(len(present)) if present else 0.0
        logits = list(self.weights.bias)
        for f in present:
            for c, w in enumerate(table[f]):
                logits[c] += w * norm
        peak = max(logits)
        exps = [math.exp(x - peak) for x in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def predict(self, value: Mapping[str, Any]) -> tuple[Any, float]:
        """(the most probable class, its probability); ties go to the earlier class."""
        probs = self.probabilities(value)
        best = max(range(len(probs)), key=lambda i: (probs[i], -i))
        return self.classes[best], probs[best]

    def probability_of(self, value: Mapping[str, Any], label: Any) -> float | None:
        """The probability of ``label`` (``None`` when it is not one of the classes)."""
        for i, c in enumerate(self.classes):
            if c == label and type(c) is type(label):
                return self.probabilities(value)[i]
        return None


def single_enum_field(schema: Mapping[str, Any]) -> tuple[str, list[Any]] | None:
    """(name, values) when the output has exactly one property and it is an enum: what a classifier
    tier can answer whole."""
    props = schema.get("properties") or {}
    if len(props) != 1:
        return None
    name, prop = next(iter(props.items()))
    if isinstance(prop, dict) and isinstance(prop.get("enum"), list) and len(prop["enum"]) >= 2:
        return str(name), list(prop["enum"])
    return None


def fitted_features(rows: Sequence[Mapping[str, Any]], min_df: int = 2) -> list[str]:
    """Features seen in at least ``min_df`` of ``rows`` (rarer ones cannot generalise), sorted."""
    counts: dict[str, int] = {}
    for row in rows:
        for f in features(row):
            counts[f] = counts.get(f, 0) + 1
    return sorted(f for f, n in counts.items() if n >= min_df)
