"""Confidence without logprobs: self-consistency.

Claude returns no token probabilities, so the joint-probability confidence of local models is not
available for it. Self-consistency samples the same prompt ``n`` times at a temperature and takes the
share of samples that agree with the majority answer as the confidence (Wang et al., 2023). It costs
``n`` calls per input instead of one; the wrapped model reports the summed usage, so the ledger, the
compile report and ``skillforge eval`` all show that extra cost.

**Models that take no temperature** (Claude Opus 4.7+ and the 5 generation answer one with a 400)
cannot be sampled at ``confidence.temperature``. The combination is refused when the skill is compiled
or run (:class:`SpecError` on ``confidence.temperature``) rather than silently sampling some other way.
Setting ``temperature: null`` opts in to what such a model does have: each sample is drawn at the
model's own fixed sampling settings (Claude's default temperature), with its adaptive thinking run
afresh, so what varies between samples is the model's own decoding and thinking, not a temperature
skillforge chose; the prompt is identical and served from the prompt cache after the first sample.
``null`` on a model that does take a temperature is refused too (its samples at the request's
temperature 0 would all agree).
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

    def __init__(self, inner: Model, *, samples: int = 5, temperature: float | None = 0.7) -> None:
        if samples < 1:
            raise SpecError("must be at least 1", field="confidence.samples")
        check_sampling(inner, temperature)
        self.inner = inner
        self.samples = samples
        self.temperature = temperature
        self.model_id = inner.model_id
        self.supports_structured_output = inner.supports_structured_output
        self.is_local = inner.is_local

    def check_schema(self, schema: dict[str, Any]) -> None:
        self.inner.check_schema(schema)

    def cost_usd(self, usage: Usage, *, batch: bool = False) -> float | None:
        return self.inner.cost_usd(usage, batch=batch)

    async def prefill(self, request: ModelRequest) -> None:
        await self.inner.prefill(request)

    async def request(self, request: ModelRequest) -> ModelResponse:
        # Sequential, not gathered: a local model serialises calls anyway, and a remote one gets the
        # prompt cached by the first call for the rest.
        responses = []
        for seed in range(self.samples):
            update: dict[str, Any] = {"seed": seed, "logprobs": False}
            if self.temperature is not None:
                update["temperature"] = self.temperature
            sample = request.model_copy(update=update)
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


def check_sampling(model: Model, temperature: float | None) -> None:
    """Raise :class:`SpecError` when ``model`` cannot be sampled as ``temperature`` asks (see the module
    docstring): a temperature for a model that takes none, or ``None`` for one that does."""
    if temperature is not None and not model.supports_temperature:
        raise SpecError(
            f"self-consistency samples at temperature {temperature:g}, but {model.model_id} takes no temperature "
            "(the API rejects it). Set confidence.temperature to null to sample at the model's own fixed "
            "settings (samples then differ only by the model's own decoding and adaptive thinking), use "
            "confidence method 'logprob' (no threshold for a model without logprobs: only invalid answers "
            "escalate), or pick a student that takes a temperature",
            field="confidence.temperature",
        )
    if temperature is None and model.supports_temperature:
        raise SpecError(
            f"confidence.temperature is null (the model's own sampling), but {model.model_id} takes a temperature "
            "and would answer every sample at the request's temperature 0 alike; set a temperature such as 0.7",
            field="confidence.temperature",
        )


def with_confidence(model: Model, settings: ConfidenceSettings) -> Model:
    """``model`` as the skill's confidence settings want it: as is for ``logprob``, wrapped for
    ``self_consistency``."""
    if settings.method == "self_consistency":
        return SelfConsistentModel(model, samples=settings.samples, temperature=settings.temperature)
    return model
