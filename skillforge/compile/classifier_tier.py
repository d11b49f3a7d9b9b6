"""The cascade: a text-classifier tier before the student, when it lowers the expected cost per call.

For outputs that are one enum field, a multinomial logistic regression over the inputs' retrieval
features -- and, when a model that gives embeddings is at hand (the embedded local model does), each
input text's embedding -- is trained on the labelled training examples (no generation). Its threshold is calibrated
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

from skillforge.format import ClassifierWeights, EmbeddingWeights, LadderOption
from skillforge.models.base import Model, Usage
from skillforge.models.pricing import REFERENCE_STUDENT, REFERENCE_TEACHER, cost_usd, price_for
from skillforge.progress import Progress
from skillforge.run.classifier import (
    HALF,
    Classification,
    embedding_text,
    features,
    fitted_features,
    single_enum_field,
    standardised,
)
from skillforge.run.prompt import render_input
from skillforge.spec import Example
from skillforge.stats import Calibration, choose_threshold, fit_multinomial, folds

K_FOLDS = 5
MIN_TRAIN = 20
#: The regularisation of a classifier on words alone.
L2_WORDS = 1e-2
#: The regularisations tried for a classifier that also reads embeddings.
L2_GRID = (1e-3, 3e-3, 1e-2)


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
        return None if probs is None else Classification(self.weights.field, self.weights.classes, probs).predict()

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


@dataclass(frozen=True)
class Embeddings:
    """Input vectors by ``model``, keyed by rendered input (:func:`embed_inputs`)."""

    model: str
    vectors: dict[str, list[float]]

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> Any:
        """One row per input, its vector; every input must have been embedded."""
        keys = [render_input(r) for r in rows]
        missing = sum(k not in self.vectors for k in keys)
        if missing:
            raise ValueError(f"{missing} of {len(keys)} inputs have no embedding by {self.model}")
        return np.asarray([self.vectors[k] for k in keys], dtype=np.float64)


async def embed_inputs(model: Model, inputs: Sequence[Mapping[str, Any]], progress: Progress | None = None,
                       chunk: int = 32) -> Embeddings:
    """Every distinct input's text embedded by ``model``, as the classifier reads it at run time."""
    found: dict[str, str] = {}
    for value in inputs:
        found.setdefault(render_input(value), embedding_text(value))
    keys, texts = list(found), list(found.values())
    if progress is not None:
        progress.stage(f"{model.model_id}: embedding inputs for the classifier", len(texts))
    vectors: list[list[float]] = []
    for start in range(0, len(texts), chunk):
        vectors += await model.embed(texts[start:start + chunk])
        if progress is not None:
            progress.advance(len(texts[start:start + chunk]))
    if len(vectors) != len(texts) or len({len(v) for v in vectors}) > 1:
        raise ValueError(f"{model.model_id} gave {len(vectors)} embeddings of lengths "
                         f"{sorted({len(v) for v in vectors})} for {len(texts)} texts")
    return Embeddings(model.model_id, dict(zip(keys, vectors, strict=True)))


@dataclass(frozen=True)
class _Design:
    """How inputs become the classifier's feature rows: the words' vocabulary and, with embeddings,
    the center and scale that standardise them (rounded as ``classifier.json`` stores them)."""

    vocab: dict[str, int]
    embeddings: Embeddings | None = None
    center: Any = None
    scale: Any = None

    def rows(self, inputs: Sequence[Mapping[str, Any]]) -> Any:
        words = _matrix(inputs, self.vocab)
        if self.embeddings is None:
            return words
        dense = standardised(self.embeddings.matrix(inputs), self.center, self.scale)
        return np.hstack([words * HALF, dense * HALF])

    def weights(self, field_name: str, classes: list[Any], w: Any, b: Any) -> ClassifierWeights:
        n = len(self.vocab)
        table = {f: [float(v) for v in w[j]] for f, j in self.vocab.items() if float(np.abs(w[j]).max()) > 1e-6}
        dense = None
        if self.embeddings is not None:
            dense = EmbeddingWeights(model=self.embeddings.model, center=[float(v) for v in self.center],
                                     scale=[float(v) for v in self.scale],
                                     weights=[[float(v) for v in row] for row in w[n:]])
        return ClassifierWeights(field=field_name, classes=classes, bias=[float(v) for v in b], weights=table,
                                 embedding=dense)


def _design(rows: Sequence[Mapping[str, Any]], embeddings: Embeddings | None) -> _Design:
    vocab = {f: j for j, f in enumerate(fitted_features(rows))}
    if embeddings is None:
        return _Design(vocab)
    raw = embeddings.matrix(rows)
    center = np.round(raw.mean(axis=0), 6)
    scale = np.round(np.maximum(raw.std(axis=0), 1e-4), 6)
    return _Design(vocab, embeddings, center, scale)


def _softmax(logits: Any) -> Any:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _cross_fitted(x: Any, y: Sequence[int], n_classes: int, held_out: Sequence[Any], l2: float) -> Any:
    """Each row's class probabilities from a model fitted without its fold."""
    probs = np.zeros((len(y), n_classes))
    for held in held_out:
        keep = np.setdiff1d(np.arange(len(y)), held)
        w, b = fit_multinomial(x[keep], [y[i] for i in keep], n_classes, l2=l2)
        probs[held] = _softmax(x[held] @ w + b)
    return probs


def train_classifier(
    schema: Mapping[str, Any], train: Sequence[Example], others: Sequence[Example], *, target_precision: float,
    confidence_level: float | None, seed: int, embeddings: Embeddings | None = None,
) -> ClassifierFit | None:
    """The classifier tier for a single-enum output (``None`` when the output is not one, or too few
    labelled examples). ``others`` (dev cases) are predicted by the full model and join the
    calibration of its threshold. With ``embeddings`` (of every input of ``train`` and ``others``) the
    classifier also reads each input's vector; its regularisation is then chosen among
    :data:`L2_GRID` by the cross-fitted log-loss (dense features need less of it than sparse words)."""
    found = single_enum_field(schema)
    if found is None:
        return None
    name, classes = found
    rows = [(e.input, classes.index(e.expected[name])) for e in train
            if e.expected is not None and e.expected.get(name) in classes]
    if len(rows) < MIN_TRAIN or len({y for _, y in rows}) < 2:
        return None
    design = _design([r for r, _ in rows], embeddings)
    x, y = design.rows([r for r, _ in rows]), [c for _, c in rows]
    held_out = folds(len(rows), K_FOLDS, seed)
    grid = L2_GRID if embeddings is not None else (L2_WORDS,)
    crossed = {l2: _cross_fitted(x, y, len(classes), held_out, l2) for l2 in grid}
    l2 = min(grid, key=lambda v: -float(np.log(np.maximum(crossed[v][np.arange(len(y)), y], 1e-12)).mean()))
    w, b = fit_multinomial(x, y, len(classes), l2=l2)
    fit = ClassifierFit(design.weights(name, classes, w, b))
    for (row, _), probs in zip(rows, crossed[l2], strict=True):
        fit.predictions[render_input(row)] = [float(p) for p in probs]
    rest = [e for e in others if render_input(e.input) not in fit.predictions]
    if rest:
        for e, probs in zip(rest, _softmax(design.rows([e.input for e in rest]) @ w + b), strict=True):
            fit.predictions.setdefault(render_input(e.input), [float(p) for p in probs])
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
    """What one call costs at each rung, for pricing ladders: a student ask (with every evidence call its
    confidence makes: a second opinion, extra samples) and an escalation (the teacher's call, priced at
    what it sends)."""

    student: float | None
    teacher: float | None

    @classmethod
    def measure(cls, student: Model, teacher: Model, prompt_tokens: float, answer_tokens: int = 16,
                teacher_prompt_tokens: float | None = None) -> LadderCosts:
        """Each model's price on a call of ``prompt_tokens`` in and ``answer_tokens`` out (the teacher's
        prompt ``teacher_prompt_tokens`` when it differs); a local model at its role's reference price."""
        usage = Usage(input_tokens=round(prompt_tokens), output_tokens=answer_tokens)
        sent = usage if teacher_prompt_tokens is None else Usage(input_tokens=round(teacher_prompt_tokens),
                                                                 output_tokens=answer_tokens)
        return cls(_price(student, REFERENCE_STUDENT, usage), _price(teacher, REFERENCE_TEACHER, sent))

    def plus_student(self, extra: float | None) -> LadderCosts:
        """Costs with ``extra`` dollars added to every student ask (its evidence calls; ``None``: unknown)."""
        if not extra:
            return self
        return LadderCosts(None if self.student is None else self.student + extra, self.teacher)


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
