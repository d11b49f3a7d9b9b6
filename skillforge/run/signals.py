"""Signals of a student answer's correctness, free to compute once the student has answered.

- ``value_prob``: the joint probability of the answer's value tokens (logprob providers).
- ``field_min_prob``: the weakest field's value probability, for answers of two or more fields (providers
  that give per-field log-probabilities: the local model); each field's own is kept as
  ``field_prob.<field>`` (for per-field AUROC; no combiner reads those).
- ``class_prob``: the probability of the chosen value among every allowed value, multiplied over the
  enum/boolean fields (providers that score choices: the local llama.cpp model).
- ``class_margin``: the smallest, over those fields, of the chosen value's probability minus the best
  other value's.
- ``classifier_prob``: the probability the skill's text classifier gives the student's label (any
  student, Claude included, when the skill has a classifier).
- ``neighbour_vote``: the share of the BM25 similarity of the input's 7 nearest demos whose label is the
  answer's (skills with demos and an enum or boolean output field; no call).
- ``reasked``: 1 when the first answer was invalid and a re-ask was needed, else 0.
- ``failed_check``: 1 when an earlier answer broke the skill's learned checks and was repaired, else 0
  (skills with learned checks, :mod:`skillforge.spec.checks`).
- ``second_prob`` / ``second_agreement``: how much a second opinion backs the answer (the probability it
  gives the student's values, and the field score of its own answer against the student's); see
  :mod:`skillforge.run.second_opinion`.

:func:`confidence` turns them into the one number the threshold gates, as the skill's
``settings.confidence`` says.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skillforge.format import ConfidenceSettings
from skillforge.format.options import Combiner
from skillforge.models.base import ModelResponse
from skillforge.run.classifier import Classification
from skillforge.run.retrieval import NeighbourVote
from skillforge.spec.scoring import EXACT, Comparator
from skillforge.stats import auroc

Signals = dict[str, float]


@dataclass(frozen=True)
class History:
    """What came before a valid answer in its ask: the re-asks, and whether an earlier answer failed the
    learned checks (``None``: the ask had none)."""

    reasks: int = 0
    failed_check: bool | None = None

#: The prefix of each field's own value probability in a signals dict (``field_prob.street_name``).
FIELD_PROB = "field_prob."


def signals_of(
    response: ModelResponse,
    output: Mapping[str, Any],
    *,
    input: Mapping[str, Any],
    history: History,
    classification: Classification | None = None,
    neighbours: NeighbourVote | None = None,
) -> Signals:
    """Every signal available for ``output`` (the validated answer in ``response``); ``classification``
    is the skill's classifier's view of ``input``, when it has one."""
    out: Signals = {"reasked": 1.0 if history.reasks else 0.0}
    if history.failed_check is not None:
        out["failed_check"] = 1.0 if history.failed_check else 0.0
    if response.logprob_sum is not None:
        out["value_prob"] = math.exp(min(0.0, response.logprob_sum))
    fields = {f: lp for f, lp in (response.field_logprobs or {}).items() if f in output}
    if len(fields) >= 2:
        for f, lp in fields.items():
            out[f"{FIELD_PROB}{f}"] = math.exp(min(0.0, lp))
        out["field_min_prob"] = math.exp(min(0.0, min(fields.values())))
    if response.choices:
        probs, margins = chosen_probabilities(response.choices, output)
        out["class_prob"] = math.prod(probs)
        out["class_margin"] = min(margins)
    if classification is not None and classification.field in output:
        p = classification.probability_of(output[classification.field])
        if p is not None:
            out["classifier_prob"] = p
    if neighbours is not None:
        out["neighbour_vote"] = neighbours.agreement(input, output)
    return out


def chosen_probabilities(
    choices: Mapping[str, Mapping[str, float]], output: Mapping[str, Any]
) -> tuple[list[float], list[float]]:
    """Per scored field: the probability of ``output``'s value, and its margin over the best other value."""
    probs, margins = [], []
    for field, dist in choices.items():
        key = json.dumps(output.get(field), ensure_ascii=False)
        chosen = dist.get(key, 0.0)
        probs.append(chosen)
        margins.append(chosen - max((p for k, p in dist.items() if k != key), default=0.0))
    return probs, margins


def feature(name: str, value: float) -> float:
    """A signal as the combiner sees it: probabilities on the log-odds scale (the difference between
    0.99 and 0.999 matters as much as between 0.5 and 0.9), others as they are."""
    if name.endswith("_prob"):
        p = min(1.0 - 1e-6, max(1e-6, value))
        return math.log(p / (1.0 - p))
    return value


def combine(combiner: Combiner, signals: Mapping[str, float]) -> float:
    """The combiner's probability that the answer is right (a missing signal counts as its mean)."""
    z = combiner.bias
    for name, mean, scale, w in zip(combiner.signals, combiner.mean, combiner.scale, combiner.weights, strict=True):
        x = feature(name, signals[name]) if name in signals else mean
        z += w * (x - mean) / scale
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def confidence(settings: ConfidenceSettings, signals: Mapping[str, float]) -> float | None:
    """The confidence the threshold gates: by ``settings.method``; ``None`` when the signal it needs is
    missing (no gate can be applied)."""
    if settings.method == "combined" and settings.combiner is not None:
        return combine(settings.combiner, signals)
    if settings.method == "distribution" and "class_prob" in signals:
        return signals["class_prob"]
    return signals.get("value_prob")


#: The per-field signals (each field's own, keyed ``<prefix><field>``), and what they are called.
FIELD_SIGNALS = {"field_prob.": "field_prob", "sample.": "sample", "second.": "second"}


def field_aurocs(rows: Sequence[tuple[Mapping[str, float], Mapping[str, Any] | None, Mapping[str, Any]]],
                 comparators: Mapping[str, Comparator]) -> dict[str, dict[str, float]]:
    """For each per-field signal (:data:`FIELD_SIGNALS`) and field, the AUROC of the field's own signal
    against whether that field of the answer is right; ``rows`` are (signals, answer, expected)."""
    scores: dict[tuple[str, str], list[tuple[float | None, bool]]] = {}
    keys = {(name, key[len(prefix):]) for signals, _, _ in rows for key in signals
            for prefix, name in FIELD_SIGNALS.items() if key.startswith(prefix)}
    for signals, output, expected in rows:
        if output is None:
            continue
        for name, f in keys:
            prefix = next(p for p, n in FIELD_SIGNALS.items() if n == name)
            right = comparators.get(f, EXACT).equal(output.get(f), expected.get(f))
            scores.setdefault((name, f), []).append((signals.get(prefix + f), right))
    out: dict[str, dict[str, float]] = {}
    for (name, f), pairs in sorted(scores.items()):
        a = auroc([s for s, _ in pairs], [ok for _, ok in pairs])
        if a is not None:
            out.setdefault(name, {})[f] = round(a, 4)
    return out
