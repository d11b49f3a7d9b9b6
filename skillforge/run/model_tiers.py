"""Model tiers behind the student (``settings.model_tiers``): what the student passes on goes to each
in order, and only what none of them is sure of reaches the teacher.

A tier answers with the student's prompt (or the lean one: instructions and input), is verified and
re-asked like the student, and its answer is accepted when its own confidence (``tier.confidence``,
fitted at compile time) reaches ``tier.threshold``. Besides its own probabilities, the signals include
``student_agreement``: the field score of the student's passed-on answer against the tier's (0 when
the student gave none). For a model without probabilities (Claude) that agreement, the classifier's
view and the neighbours' vote are what its confidence is made of. An answer whose confidence cannot be
computed (the signal it reads is missing) is passed on, never accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from skillforge.errors import SpecError
from skillforge.format import ModelTier
from skillforge.ledger import CallSite
from skillforge.models.base import Model, ModelRequest, ModelResponse
from skillforge.models.registry import resolve_model
from skillforge.run.ask import Acceptance, Outcome, ask
from skillforge.run.classifier import Classification
from skillforge.run.retrieval import NeighbourVote
from skillforge.run.signals import History, Signals, confidence, signals_of
from skillforge.spec import Comparator, compare


def student_agreement(student_output: Mapping[str, Any] | None, output: Mapping[str, Any],
                      comparators: Mapping[str, Comparator]) -> float:
    """The field score of the student's answer against a tier's (0 when the student gave none)."""
    return 0.0 if student_output is None else compare(dict(student_output), dict(output), comparators).score


class TierModels:
    """The models of a skill's tiers, each resolved on first use (a run the student answers never
    builds a tier's client). ``overrides`` maps a tier's model id to the model (or id) to use instead."""

    def __init__(self, tiers: list[ModelTier], overrides: Mapping[str, str | Model] | None) -> None:
        unknown = sorted(set(overrides or {}) - {t.model for t in tiers})
        if unknown:
            raise SpecError(f"tiers given for models that are not tiers of this skill: {unknown} "
                            f"(its tiers: {[t.model for t in tiers]})", field="tiers")
        self._overrides = dict(overrides or {})
        self._models: dict[str, Model] = {}

    def model(self, tier: ModelTier) -> Model:
        if tier.model not in self._models:
            self._models[tier.model] = resolve_model(self._overrides.get(tier.model), tier.model, role="tier")
        return self._models[tier.model]


@dataclass(frozen=True)
class TierView:
    """What a tier's confidence reads besides its own answer: the ``input``, the student's passed-on answer
    (``student_output``) and the ``comparators`` its agreement is scored with, the classifier's view of the
    input and the neighbours' vote."""

    input: Mapping[str, Any]
    student_output: Mapping[str, Any] | None
    comparators: Mapping[str, Comparator]
    classification: Classification | None
    neighbours: NeighbourVote | None


async def ask_tier(model: Model, tier: ModelTier, request: ModelRequest, view: TierView, acceptance: Acceptance,
                   site: CallSite) -> Outcome:
    """One tier's ask for ``view.input`` (role ``tier`` in the ledger), held to ``acceptance`` and gated at
    the tier's own threshold. Class probabilities are asked for where its confidence reads them and the
    model gives them."""
    input, student_output, comparators = view.input, view.student_output, view.comparators
    classification, neighbours = view.classification, view.neighbours
    wants_scores = model.supports_choice_scores and tier.confidence.method in ("distribution", "combined")
    request = request.model_copy(update={"choice_scores": wants_scores})

    async def score(response: ModelResponse, output: dict[str, Any], history: History
                    ) -> tuple[float | None, Signals]:
        signals = signals_of(response, output, input=input, history=history, classification=classification,
                             neighbours=neighbours)
        signals["student_agreement"] = student_agreement(student_output, output, comparators)
        # Unlike the student's, a tier's answer without a confidence is never accepted: its threshold was
        # certified on answers that had one (a model swapped for one without logprobs must not pass all).
        value = confidence(tier.confidence, signals)
        return (0.0 if value is None else value), signals

    return await ask(model, "tier", request, replace(acceptance, threshold=tier.threshold), site, scorer=score)
