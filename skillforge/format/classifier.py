"""``classifier.json``: the weights of a skill's text-classifier tier, plain numbers (no pickles).

Present only in skills whose compile kept a classifier tier; covered by the content hash when present.
:class:`skillforge.run.classifier.TextClassifier` answers with them.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, model_validator

from skillforge.jsonl import StrictModel


class ClassifierWeights(StrictModel):
    """A multinomial logistic model over input features: one bias and one weight per class for each
    feature. ``classes`` are the enum values of the output ``field``."""

    field: str
    classes: list[Any]
    bias: list[float]
    #: feature -> one weight per class (features absent here carry no weight).
    weights: dict[str, list[float]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shapes_agree(self) -> ClassifierWeights:
        n = len(self.classes)
        if n < 2 or len(self.bias) != n or any(len(w) != n for w in self.weights.values()):
            raise ValueError(f"every weight row and the bias need one number per class ({n} classes)")
        return self

    def to_text(self) -> str:
        """Stable text: sorted features, 6 decimals, one feature per line."""
        data = {"field": self.field, "classes": self.classes, "bias": [round(b, 6) for b in self.bias],
                "weights": {f: [round(w, 6) + 0.0 for w in ws] for f, ws in sorted(self.weights.items())}}
        return json.dumps(data, ensure_ascii=False, indent=0, sort_keys=True) + "\n"
