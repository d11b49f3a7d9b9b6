"""Confidence without logprobs: self-consistency.

Claude returns no token probabilities, so the joint-probability confidence of local models is not
available for it. Self-consistency samples the same prompt ``n`` times at a temperature and takes the
share of samples that agree with the majority answer as the confidence (Wang et al., 2023). It costs
``n`` calls per input instead of one; the wrapped model reports the summed usage, so the ledger, the
compile report and ``skillforge eval`` all show that extra cost.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

from skillforge.errors import SpecError
from skillforge.format.options import ConfidenceSettings
from skillforge.models.base import Model, ModelRequest, ModelResponse, Usage


def _canonical(text: str) -> str:
    """Answers that differ only in whitespace or key order vote together; non-JSON votes as its text."""
    try:
        return json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False)
    except (json.JSONDecodeError, ValueError):
        return text.strip()


class SelfConsistentModel(Model):
    """Wraps a model: each request is sampled ``samples`` times and answered with the majority.

    The response's ``logprob_sum`` is ``log(agreement)``, so ``response.confidence`` is the agreement
    share and the rest of skillforge (verifier, threshold, calibration) works unchanged. Samples use
    seeds ``0..n-1`` (for providers that take a seed), so a run is reproducible and recordable.
    Ties go to the answer seen first.
    """

    supports_logprobs = True

    def __init__(self, inner: Model, *, samples: int = 5, temperature: float = 0.7) -> None:
        if samples < 1:
            raise SpecError("must be at least 1", field="confidence.samples")
        self.inner = inner
        self.samples = samples
        self.temperature = temperature
        self.model_id = inner.model_id
        self.supports_structured_output = inner.supports_structured_output
        self.is_local = inner.is_local

    def check_schema(self, schema: dict[str, Any]) -> None:
        self.inner.check_schema(schema)

    def cost_usd(self, usage: Usage) -> float | None:
        return self.inner.cost_usd(usage)

    async def request(self, request: ModelRequest) -> ModelResponse:
        # Sequential, not gathered: a local model serialises calls anyway, and a remote one gets the
        # prompt cached by the first call for the rest.
        responses = []
        for seed in range(self.samples):
            sample = request.model_copy(update={"temperature": self.temperature, "seed": seed, "logprobs": False})
            responses.append(await self.inner.request(sample))
        votes = Counter(_canonical(r.text) for r in responses)
        top = max(votes.values())
        winner = next(r for r in responses if votes[_canonical(r.text)] == top)
        usage = Usage()
        for r in responses:
            usage = usage + r.usage
        agreement = top / len(responses)
        return ModelResponse(
            model_id=self.model_id, text=winner.text, usage=usage, logprob_sum=math.log(agreement),
            stop_reason=winner.stop_reason, request_id=winner.request_id,
            latency_s=sum(r.latency_s for r in responses),
        )


def with_confidence(model: Model, settings: ConfidenceSettings) -> Model:
    """``model`` as the skill's confidence settings want it: as is for ``logprob``, wrapped for
    ``self_consistency``."""
    if settings.method == "self_consistency":
        return SelfConsistentModel(model, samples=settings.samples, temperature=settings.temperature)
    return model
