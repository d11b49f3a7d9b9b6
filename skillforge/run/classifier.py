"""The cheapest tier: a linear text classifier for one enum output field, stored as plain numbers.

Features are the retrieval tokens of the input's text (lower-cased words and per-word character
4-grams, :func:`skillforge.run.retrieval.terms`), present or absent, scaled to unit length; and, when
the weights have an ``embedding`` part, the text's vector from a local model (mean of its last hidden
states: what the words mean in context, which word features miss), standardised and scaled to unit
length, each half then weighted 1/sqrt(2). The model is a multinomial logistic regression fitted at
compile time on the labelled training examples (see :mod:`skillforge.compile.classifier_tier`); answering an
input costs microseconds without an embedding, one forward pass of the embedding model (no generation)
with one. Its probability of the label it picks is its confidence, gated by a threshold calibrated
like the student's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skillforge.errors import ConfigurationError
from skillforge.format.classifier import ClassifierWeights, EmbeddingWeights
from skillforge.models.base import Model
from skillforge.models.registry import resolve_model
from skillforge.run.prompt import render_input
from skillforge.run.retrieval import input_text, terms

#: Each half of the features (words, embedding) is scaled to this length, so together they have unit length.
HALF = 1.0 / math.sqrt(2.0)


def features(value: Mapping[str, Any]) -> list[str]:
    """The distinct feature names of an input."""
    return sorted(set(terms(input_text(value))))


def embedding_text(value: Mapping[str, Any]) -> str:
    """The text of an input that the classifier's embedding model embeds."""
    return input_text(value)


def standardised(vectors: Any, center: Any, scale: Any) -> NDArray[np.float64]:
    """Each row of ``vectors`` standardised (``(v - center) / scale``) and scaled to unit length (a row
    of zeros stays so): how the classifier reads embeddings, at compile time and at run time alike."""
    z = (np.asarray(vectors, dtype=np.float64) - np.asarray(center, dtype=np.float64)) / np.asarray(scale)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    unit: NDArray[np.float64] = np.divide(z, norm, out=np.zeros_like(z), where=norm > 0)
    return unit


def dense_features(vector: Sequence[float], e: EmbeddingWeights) -> NDArray[np.float64]:
    """``vector`` as the classifier's weights ``e`` read it (:func:`standardised`)."""
    if len(vector) != len(e.center):
        raise ValueError(f"the embedding has {len(vector)} numbers, the classifier was fitted on {len(e.center)} "
                         f"(from {e.model})")
    row: NDArray[np.float64] = standardised([vector], e.center, e.scale)[0]
    return row


@dataclass(frozen=True)
class Classification:
    """The classifier's view of one input: a probability per class."""

    field: str
    classes: list[Any]
    probabilities: list[float]

    def predict(self) -> tuple[Any, float]:
        """(the most probable class, its probability); ties go to the earlier class."""
        probs = self.probabilities
        best = max(range(len(probs)), key=lambda i: (probs[i], -i))
        return self.classes[best], probs[best]

    def probability_of(self, label: Any) -> float | None:
        """The probability of ``label`` (``None`` when it is not one of the classes)."""
        for i, c in enumerate(self.classes):
            if c == label and type(c) is type(label):
                return self.probabilities[i]
        return None


class TextClassifier:
    """Answers with :class:`~skillforge.format.classifier.ClassifierWeights`."""

    def __init__(self, weights: ClassifierWeights) -> None:
        self.weights = weights
        self.field = weights.field
        self.classes = weights.classes
        # The embedding's weights as one matrix (dimensions x classes), converted once.
        self._dense = None if weights.embedding is None else np.asarray(weights.embedding.weights, dtype=np.float64)

    @property
    def embedding_model(self) -> str | None:
        """The id of the model whose embedding of the input the classifier reads, if any."""
        return None if self.weights.embedding is None else self.weights.embedding.model

    def probabilities(self, value: Mapping[str, Any], embedding: Sequence[float] | None = None) -> list[float]:
        """The probability of each class for input ``value``; ``embedding`` is its text's vector
        (:func:`embedding_text`) from :attr:`embedding_model`, required when there is one."""
        table, dense = self.weights.weights, self.weights.embedding
        if dense is not None and embedding is None:
            raise ValueError(f"this classifier reads the input's embedding by {dense.model}: pass it")
        present = [f for f in features(value) if f in table]
        norm = (HALF if dense is not None else 1.0) / math.sqrt(len(present)) if present else 0.0
        logits = list(self.weights.bias)
        for f in present:
            for c, w in enumerate(table[f]):
                logits[c] += w * norm
        if dense is not None and embedding is not None and self._dense is not None:
            for c, w in enumerate(dense_features(embedding, dense) @ self._dense):
                logits[c] += float(w) * HALF
        peak = max(logits)
        exps = [math.exp(x - peak) for x in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def classify(self, value: Mapping[str, Any], embedding: Sequence[float] | None = None) -> Classification:
        """The probability of each class for ``value`` (see :meth:`probabilities`)."""
        return Classification(self.field, self.classes, self.probabilities(value, embedding))

    def predict(self, value: Mapping[str, Any], embedding: Sequence[float] | None = None) -> tuple[Any, float]:
        """(the most probable class, its probability); ties go to the earlier class."""
        return self.classify(value, embedding).predict()

    def probability_of(self, value: Mapping[str, Any], label: Any,
                       embedding: Sequence[float] | None = None) -> float | None:
        """The probability of ``label`` (``None`` when it is not one of the classes)."""
        return self.classify(value, embedding).probability_of(label)


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


class InputClassifier:
    """A skill's classifier at run time, with the model that embeds its inputs when it reads
    embeddings. The last inputs' views are kept, so the classifier tier, the student's
    ``classifier_prob`` signal and the model tiers' embed an input once."""

    #: Inputs whose view is kept.
    KEEP = 64

    def __init__(self, classifier: TextClassifier, embedder: Model | None) -> None:
        wanted = classifier.embedding_model
        if wanted is not None and (embedder is None or not embedder.supports_embeddings):
            raise ConfigurationError(
                f"the skill's classifier reads input embeddings by {wanted}, and "
                f"{'no model was given' if embedder is None else embedder.model_id + ' gives none'}: "
                f"pass embedder= a model that gives them (its weights were fitted on {wanted}'s vectors)")
        self.classifier = classifier
        self.embedder = embedder if wanted is not None else None
        self._kept: dict[str, Classification] = {}

    async def classify(self, value: Mapping[str, Any]) -> Classification:
        """The classifier's view of ``value``: one embedding call when it reads embeddings."""
        key = render_input(value)
        kept = self._kept.get(key)
        if kept is not None:
            return kept
        vector = None
        if self.embedder is not None:
            vector = (await self.embedder.embed([embedding_text(value)]))[0]
        view = self.classifier.classify(value, vector)
        if len(self._kept) >= self.KEEP:
            del self._kept[next(iter(self._kept))]
        self._kept[key] = view
        return view


def embedder_for(given: str | Model | None, embedding: EmbeddingWeights | None, student: Model) -> Model | None:
    """The model that embeds inputs for a classifier that reads embeddings (``None`` for one that does
    not): ``given``, else the model the weights name (the ``student`` itself when it is that model)."""
    if embedding is None:
        return None
    if given is None and embedding.model == student.model_id:
        return student
    return resolve_model(given, embedding.model)
