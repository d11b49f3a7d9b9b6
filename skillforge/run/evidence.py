"""Evidence: the calls a student answer's confidence reads besides the answer itself -- a second opinion
(:mod:`skillforge.run.second_opinion`) and further samples of the student's request
(:mod:`skillforge.run.samples`) -- started alongside the student's call, read once it has answered."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skillforge.format import ConfidenceSettings, Manifest
from skillforge.ledger import CallSite
from skillforge.models.base import Attempt, Model, ModelRequest, ModelResponse
from skillforge.run.samples import reads_samples, sample_requests, sample_signals, start_samples
from skillforge.run.second_opinion import consult, second_request, second_signals
from skillforge.run.signals import Signals
from skillforge.spec import Comparator

#: A second opinion under way: its response (``None``: failed) and the attempt to account for.
SecondCall = asyncio.Task[tuple[ModelResponse | None, Attempt]]
#: The student's extra samples under way: their responses and attempts.
SampleCalls = asyncio.Task[tuple[list[ModelResponse | None], list[Attempt]]]


@dataclass
class Evidence:
    """The evidence calls under way for one student answer (none: nothing to wait for)."""

    second: SecondCall | None = None
    samples: SampleCalls | None = None

    async def signals(self, output: Mapping[str, Any], *, output_schema: Mapping[str, Any],
                      comparators: Mapping[str, Comparator]) -> Signals:
        """The signals the evidence gives about ``output`` (waits for the calls)."""
        out: Signals = {}
        if self.second is not None:
            opinion, _ = await self.second
            out.update(second_signals(opinion, output, output_schema=output_schema, comparators=comparators))
        if self.samples is not None:
            samples, _ = await self.samples
            out.update(sample_signals(samples, output, output_schema=output_schema, comparators=comparators))
        return out

    async def finish(self, *, quiet: bool = False) -> list[Attempt]:
        """Every evidence attempt, once done (their cost is the input's). ``quiet``: the student's call
        raised, and that error is the one to propagate, not these."""
        attempts: list[Attempt] = []
        for task in (self.second, self.samples):
            if task is None:
                continue
            try:
                done = await task
            except Exception:
                if quiet:
                    continue
                raise
            attempts += done[1] if isinstance(done[1], list) else [done[1]]
        return attempts


def start_evidence(
    settings: ConfidenceSettings, *, student: Model, second: Model | None, value: Mapping[str, Any],
    request: ModelRequest, manifest: Manifest, site: CallSite,
) -> Evidence:
    """Start the evidence ``settings`` reads for the student's answer to ``value`` (its request
    ``request``): the second opinion by ``second`` when the settings have one, the samples of ``request``
    by ``student`` when the combiner reads them. The second opinion is asked in ``manifest``'s schemas, with
    ``request``'s token limit; every call is recorded at ``site``."""
    ledger, skill, phase = site.ledger, site.skill, site.phase
    out = Evidence()
    opinion = settings.second_opinion
    if opinion is not None and second is not None:
        asked = second_request(opinion, second, input=value, output_schema=manifest.output_schema,
                               input_schema=manifest.input_schema, max_tokens=request.max_tokens)
        out.second = asyncio.ensure_future(consult(second, asked, ledger=ledger, skill=skill, phase=phase))
    if reads_samples(settings):
        out.samples = start_samples(student, sample_requests(request, settings, student), ledger=ledger, skill=skill,
                                    phase=phase)
    return out
