"""``classifier.json``: the weights of a skill's text-classifier tier, plain numbers (no pickles).

Present only in skills whose compile kept a classifier tier; covered by the content hash when present.
:class:`skillforge.run.classifier.TextClassifier` answers with them. Features are the words and
character 4-grams of the input's text and, when ``embedding`` is present, the input text's vector
from that model (:meth:`skillforge.models.base.Model.embed`), standardised by the stored center and
scale.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, model_validator

from skillforge.jsonl import StrictModel

#: How the classifier tier (no model call) is named in results and the ledger.
CLASSIFIER_ID = "skillforge:classifier"


def _numbers(values: list[float]) -> list[float]:
    # + 0.0 turns -0.0 into 0.0: the same weights always give the same text.
    return [round(v, 6) + 0.0 for v in values]


class EmbeddingWeights(StrictModel):
    """The dense half of the classifier: the input text's vector from ``model``, standardised
    (``(v - center) / scale``) and scaled to unit length, times one weight per class per dimension."""

    #: The id of the model that embeds the input (e.g. ``local:smollm2-135m``).
    model: str = Field(min_length=1)
    center: list[float]
    scale: list[float]
    #: One row per dimension, one weight per class.
    weights: list[list[float]]

    @model_validator(mode="after")
    def _dimensions_agree(self) -> EmbeddingWeights:
        d = len(self.center)
        if d == 0 or len(self.scale) != d or len(self.weights) != d:
            raise ValueError(f"center, scale and weights need one entry per dimension ({d} in center)")
        if any(s <= 0 for s in self.scale):
            raise ValueError("every scale must be positive")
        return self


class ClassifierWeights(StrictModel):
    """A multinomial logistic model over input features: one bias and one weight per class for each
    feature. ``classes`` are the enum values of the output ``field``."""

    field: str
    classes: list[Any]
    bias: list[float]
    #: feature -> one weight per class (features absent here carry no weight).
    weights: dict[str, list[float]] = Field(default_factory=dict)
    #: The input embedding's weights, when the classifier reads one.
    embedding: EmbeddingWeights | None = None

    @model_validator(mode="after")
    def _shapes_agree(self) -> ClassifierWeights:
        n = len(self.classes)
        rows = [*self.weights.values(), *(self.embedding.weights if self.embedding is not None else [])]
        if n < 2 or len(self.bias) != n or any(len(w) != n for w in rows):
            raise ValueError(f"every weight row and the bias need one number per class ({n} classes)")
        return self

    def to_text(self) -> str:
        """Stable text: sorted features, 6 decimals, one number per line."""
        data: dict[str, Any] = {"field": self.field, "classes": self.classes, "bias": _numbers(self.bias),
                                "weights": {f: _numbers(ws) for f, ws in sorted(self.weights.items())}}
        if self.embedding is not None:
            e = self.embedding
            data["embedding"] = {"model": e.model, "center": _numbers(e.center), "scale": _numbers(e.scale),
                                 "weights": [_numbers(row) for row in e.weights]}
        return json.dumps(data, ensure_ascii=False, indent=0, sort_keys=True) + "\n"
