"""Measuring a candidate: the student answers every case with the candidate's prompt, each answer scored.

Every candidate is run by the student on the cases, in order, so a local model's KV cache keeps the
candidate's static prefix warm (a race, :mod:`~skillforge.compile.race`, measures candidates a batch of
dev cases at a time and records how many of the planned cases each answered before it stopped). A
``memo`` shares answers between candidates:
a request asked before (a later demo draw that retrieves the same demos for an input) is not sent
again -- at temperature 0 the student would answer it the same. With ``sampling`` each valid answer
also gets the sample-agreement signals (:mod:`skillforge.run.samples`): further samples of its request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from skillforge.compile.candidates import Candidate
from skillforge.format import ConfidenceSettings
from skillforge.ledger import CallSite
from skillforge.models.base import Model, ModelRequest, ModelResponse, Role
from skillforge.progress import Progress
from skillforge.run import DemoIndex, DemoRouter, ask, build_request, demo_groups, render_input
from skillforge.run.ask import Acceptance
from skillforge.run.samples import SAMPLE_SIGNALS, ask_samples, sample_requests, sample_signals
from skillforge.run.signals import History, Signals, signals_of
from skillforge.spec import AnswerChecks, Comparator, compare


@dataclass(frozen=True)
class Answer:
    """A student answer shared between candidates (the memo of :func:`measure`)."""

    output: dict[str, Any] | None
    confidence: float | None
    signals: Signals
    prompt_tokens: int
    answer_tokens: int
    calls: int
    failed_check: bool
    #: What the student said, even an answer the learned checks rejected: what it is scored on.
    said: dict[str, Any] | None

    def result(self, case: DevCase, comparators: Mapping[str, Comparator]) -> CaseResult:
        cs = compare(self.said, case.expected, comparators)
        return CaseResult(self.output, cs.score, cs.correct, self.confidence, dict(self.signals), self.prompt_tokens,
                          self.answer_tokens, self.calls, self.failed_check)


@dataclass(frozen=True)
class DevCase:
    input: dict[str, Any]
    #: The label, or the teacher's answer where no label was given.
    expected: dict[str, Any]


@dataclass
class CaseResult:
    output: dict[str, Any] | None
    score: float
    correct: bool
    confidence: float | None
    #: Every confidence signal measured on the answer (:mod:`skillforge.run.signals`).
    signals: dict[str, float] = field(default_factory=dict)
    #: Input tokens of the first call (prices a tier at compile time).
    prompt_tokens: int = 0
    #: Output tokens of the first call.
    answer_tokens: int = 0
    #: Calls the ask made (re-asks included).
    calls: int = 1
    #: An answer broke the learned checks (re-asked: ``output`` is the repaired answer, or ``None``).
    failed_check: bool = False


@dataclass
class Measurement:
    """A candidate's answers to a list of cases, each scored against its reference."""

    candidate: Candidate
    #: One result per case, in the cases' order; a measurement stopped early holds the first cases.
    cases: list[CaseResult] = field(default_factory=list)
    #: Cases the measurement was planned on (0: as many as it has).
    planned: int = 0

    @property
    def stopped(self) -> bool:
        """Stopped early: fewer cases measured than planned (its scores are over the measured ones)."""
        return len(self.cases) < self.planned

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cases) / len(self.cases) if self.cases else 0.0

    @property
    def case_scores(self) -> list[float]:
        return [c.score for c in self.cases]

    @property
    def accuracy(self) -> float:
        return sum(c.correct for c in self.cases) / len(self.cases) if self.cases else 0.0

    @property
    def mean_confidence(self) -> float | None:
        confs = [c.confidence for c in self.cases if c.confidence is not None]
        return sum(confs) / len(confs) if confs else None


@dataclass(frozen=True)
class Answerer:
    """Who answers the cases of a measurement, and how: ``model`` in its ``role``, the task's schemas and
    comparators, the answer's token limit, the learned ``checks`` it is held to (a break re-asked once),
    where its calls are recorded (``site``), how many at once, and the progress it reports to."""

    model: Model
    output_schema: Mapping[str, Any]
    input_schema: Mapping[str, Any] | None
    comparators: Mapping[str, Comparator]
    max_tokens: int
    site: CallSite
    concurrency: int
    progress: Progress
    role: Role = "student"
    checks: AnswerChecks | None = None
    max_reasks: int = 1


async def measure(
    candidate: Candidate,
    dev: Sequence[DevCase],
    answerer: Answerer,
    *,
    choice_scores: bool = False,
    memo: dict[str, Answer] | None = None,
    sampling: ConfidenceSettings | None = None,
) -> Measurement:
    """Run ``answerer`` on every case with this candidate and score it. A retrieval (or clustered)
    candidate never shows a demo whose input equals the case's own (leave-one-out), so cases drawn from
    the demo pool itself (calibration) are measured honestly. ``choice_scores`` asks the student for the
    probability of every allowed enum value (the ``class_prob`` signal); ``memo`` (request -> answer)
    reuses identical requests' answers; ``sampling`` adds the sample-agreement signals to each valid
    answer (``sampling.samples - 1`` further calls of its request, :mod:`skillforge.run.samples`);
    ``answerer.checks`` holds every answer to the learned checks, repairing one that breaks them (a re-ask)."""
    a = answerer
    student, output_schema, comparators, progress = a.model, a.output_schema, a.comparators, a.progress
    ledger, skill = a.site.ledger, a.site.skill
    concurrency = a.concurrency
    acceptance = Acceptance(output_schema, max_reasks=a.max_reasks, checks=a.checks)
    request_for = candidate_requests(candidate, output_schema=output_schema, input_schema=a.input_schema,
                                     max_tokens=a.max_tokens)
    sem = asyncio.Semaphore(concurrency)

    async def sampled(request: ModelRequest, output: dict[str, Any] | None, signals: Signals) -> Signals:
        if sampling is None or output is None or any(k in signals for k in SAMPLE_SIGNALS):
            return signals
        responses, _ = await ask_samples(student, sample_requests(request, sampling, student), ledger=ledger,
                                         skill=skill, phase="compile")
        return {**signals, **sample_signals(responses, output, output_schema=output_schema, comparators=comparators)}

    async def one(case: DevCase) -> CaseResult:
        request = request_for(case).model_copy(update={"choice_scores": choice_scores})
        key = request.model_dump_json() if memo is not None else ""
        if memo is not None and key in memo:
            answer = memo[key]
            if sampling is not None:
                async with sem:
                    answer = replace(answer, signals=await sampled(request, answer.output, answer.signals))
                memo[key] = answer
            progress.advance()
            return answer.result(case, comparators)

        async def scorer(response: ModelResponse, output: dict[str, Any], history: History
                         ) -> tuple[float | None, Signals]:
            return response.confidence, signals_of(response, output, input=case.input, history=history)

        async with sem:
            outcome = await ask(student, a.role, request, acceptance, a.site, scorer=scorer)
            signals = await sampled(request, outcome.output, dict(outcome.signals))
        progress.advance()
        first = outcome.attempts[0].usage if outcome.attempts else None
        answer = Answer(outcome.output, outcome.confidence, signals, first.input_tokens if first else 0,
                        first.output_tokens if first else 0, max(1, len(outcome.attempts)), outcome.failed_checks,
                        outcome.answer)
        if memo is not None:
            memo[key] = answer
        return answer.result(case, comparators)

    return Measurement(candidate, await _run(one, dev, concurrency), planned=len(dev))


def candidate_requests(
    candidate: Candidate, *, output_schema: Mapping[str, Any], input_schema: Mapping[str, Any] | None,
    max_tokens: int,
) -> Callable[[DevCase], ModelRequest]:
    """How ``candidate`` asks the student about a case: its instructions and rendering, its fixed demos,
    or -- retrieved or clustered -- the demos chosen for the case, never one whose input is the case's own."""
    pairs = [(d.input, d.output) for d in candidate.demos]
    pooled = candidate.retrieve_k is not None
    index = DemoIndex([d.input for d in candidate.demos]) if pooled else None
    groups = (demo_groups([d.input for d in candidate.demos], candidate.k, [d.output for d in candidate.demos])
              if candidate.clustered else [])
    router = DemoRouter(index, groups) if index is not None and candidate.clustered else None
    r = candidate.rendering

    def request_for(case: DevCase) -> ModelRequest:
        fixed, shown = pairs, []
        if router is not None:
            own = render_input(case.input)
            fixed = [pairs[i] for i in groups[router.route(case.input, leave_out=True)]
                     if render_input(pairs[i][0]) != own]
        elif index is not None:
            near = index.nearest(case.input, candidate.k, leave_out=True)
            fixed, shown = [], [pairs[i] for i, _ in reversed(near)]
        return build_request(instructions=candidate.instructions, output_schema=output_schema, demos=fixed,
                             retrieved=shown, input=case.input, max_tokens=max_tokens, style=r.style(input_schema))

    return request_for


async def _run(one: Callable[[DevCase], Awaitable[CaseResult]], dev: Sequence[DevCase], concurrency: int
               ) -> list[CaseResult]:
    """Every case's result in case order: one at a time, strictly in order, for a student that serves one
    call at a time (keeps a local KV cache warm); concurrently otherwise."""
    if concurrency <= 1:
        return [await one(case) for case in dev]
    return list(await asyncio.gather(*(one(case) for case in dev)))
