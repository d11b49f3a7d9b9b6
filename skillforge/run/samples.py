"""Sample agreement: how often the student says the same again, as a confidence signal.

A student that gives no token probabilities (Claude, behind its Messages API) still has one signal of
its own: ask it the same request a few more times, sampled, and count how often it gives the same
answer. Where the samples agree with the answer it is far more often right (self-consistency, Wang et al.
2023); unlike :class:`~skillforge.run.confidence.SelfConsistentModel` the answer itself stays the
student's first one, and the agreement is one more signal for the calibrated combiner.

- ``sample_agreement``: the share of the extra samples whose whole answer equals the student's;
- ``sample_field_agreement``: the lowest, over the output fields, of the share of samples agreeing with
  the student's value of that field (an absent value agrees with absence) -- for answers of several fields,
  where one uncertain field sinks a whole answer.

The samples are ``confidence.samples - 1`` calls of the student's very request, with seeds 1, 2, ... (for
providers that take one) at ``confidence.temperature``, or at the model's own sampling for a model that
takes no temperature (Claude's 5.5 family). They are evidence, never the answer: recorded in the ledger
with role ``second_opinion``, and an invalid or failed sample counts as disagreeing. Compile and run
build them here, so both measure the same thing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from skillforge.format import ConfidenceSettings
from skillforge.ledger import Ledger, Phase
from skillforge.models.base import Attempt, Model, ModelRequest, ModelResponse
from skillforge.run.second_opinion import consult
from skillforge.run.signals import Signals
from skillforge.run.verify import check_answer
from skillforge.spec import Comparator
from skillforge.spec.scoring import EXACT

#: The signals sampling gives (a combiner reading either makes the skill ask the samples).
SAMPLE_SIGNALS = ("sample_agreement", "sample_field_agreement")
#: The prefix of each field's own sample agreement in a signals dict (``sample.street_name``).
SAMPLE_FIELD = "sample."


def reads_samples(settings: ConfidenceSettings) -> bool:
    """True when ``settings``' combiner reads a sample signal: each answer then costs the extra samples."""
    return settings.combiner is not None and any(s in SAMPLE_SIGNALS for s in settings.combiner.signals)


def extra_samples(settings: ConfidenceSettings) -> int:
    """Calls per input the samples add (``samples - 1``, at least one)."""
    return max(1, settings.samples - 1)


def sample_requests(request: ModelRequest, settings: ConfidenceSettings, model: Model) -> list[ModelRequest]:
    """The extra samples' requests: ``request`` with seeds 1, 2, ..., at ``settings.temperature`` for a
    model that takes one, at its own sampling for a model that takes none. No probabilities are asked
    for: only the answers count."""
    update: dict[str, Any] = {"logprobs": False, "choice_scores": False}
    if model.supports_temperature:
        update["temperature"] = settings.temperature if settings.temperature is not None else 0.7
    return [request.model_copy(update={**update, "seed": n}) for n in range(1, extra_samples(settings) + 1)]


async def ask_samples(
    model: Model, requests: Sequence[ModelRequest], *, ledger: Ledger, skill: str, phase: Phase,
) -> tuple[list[ModelResponse | None], list[Attempt]]:
    """Every sample, one at a time (a remote model caches the shared prompt after the first; a local one
    serialises calls anyway): the responses (``None``: failed) and the attempts to account for."""
    responses: list[ModelResponse | None] = []
    attempts: list[Attempt] = []
    for request in requests:
        response, attempt = await consult(model, request, ledger=ledger, skill=skill, phase=phase)
        responses.append(response)
        attempts.append(attempt)
    return responses, attempts


def start_samples(
    model: Model, requests: Sequence[ModelRequest], *, ledger: Ledger, skill: str, phase: Phase,
) -> asyncio.Task[tuple[list[ModelResponse | None], list[Attempt]]]:
    """:func:`ask_samples` started now, to run alongside the student's own call."""
    return asyncio.ensure_future(ask_samples(model, requests, ledger=ledger, skill=skill, phase=phase))


def sample_signals(
    responses: Sequence[ModelResponse | None], answer: Mapping[str, Any], *, output_schema: Mapping[str, Any],
    comparators: Mapping[str, Comparator],
) -> Signals:
    """How much the samples in ``responses`` agree with ``answer`` (empty when there are none)."""
    if not responses:
        return {}
    outputs: list[Mapping[str, Any] | None] = []
    for r in responses:
        check = None if r is None or r.refused else check_answer(r.text, output_schema)
        outputs.append(check.output if check is not None and check.verdict == "accepted" else None)
    fields = sorted(set(output_schema.get("properties", {})) | set(answer))
    def same(o: Mapping[str, Any] | None, f: str) -> bool:
        return o is not None and comparators.get(f, EXACT).equal(o.get(f), answer.get(f))

    per_field = {f: sum(same(o, f) for o in outputs) / len(outputs) for f in fields}
    whole = sum(all(same(o, f) for f in fields) for o in outputs) / len(outputs)
    out = {"sample_agreement": whole, "sample_field_agreement": min(per_field.values(), default=whole)}
    if len(fields) >= 2:  # each field's own agreement, for per-field AUROC (no combiner reads these)
        out.update({f"{SAMPLE_FIELD}{f}": v for f, v in per_field.items()})
    return out
