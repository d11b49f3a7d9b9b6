"""Asking one model for one answer: call, verify, re-ask with the verifier's errors, record in the ledger.

Two retry layers are kept apart: transport retries live in the providers; here are only *semantic*
re-asks, which continue the conversation with the verifier's errors as feedback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillforge.errors import ModelAPIError, ModelAuthError
from skillforge.ledger import CallSite
from skillforge.models.base import Attempt, Model, ModelRequest, ModelResponse, Role, Usage, observed
from skillforge.models.pricing import total_cost
from skillforge.run.prompt import reask
from skillforge.run.signals import History, Signals
from skillforge.run.verify import Check, check_answer, gate, refusal
from skillforge.spec import AnswerChecks, check_errors

#: Scores a valid answer: (response, output, its history) -> (confidence, every signal measured).
#: Asynchronous: a signal may wait on another call (a second opinion made alongside the student's).
Scorer = Callable[[ModelResponse, dict[str, Any], History], Awaitable[tuple[float | None, Signals]]]


async def _default_scorer(response: ModelResponse, output: dict[str, Any], history: History
                          ) -> tuple[float | None, Signals]:
    return response.confidence, {}


@dataclass(frozen=True)
class Acceptance:
    """What an answer must pass to be accepted, and how many re-asks it gets: valid against ``schema``,
    not breaking the learned ``checks`` (a break is re-asked with what it broke only when ``repair``), and
    a confidence of at least ``threshold`` (``None``: any)."""

    schema: Mapping[str, Any]
    threshold: float | None = None
    max_reasks: int = 1
    checks: AnswerChecks | None = None
    repair: bool = True


@dataclass
class Outcome:
    """What :func:`ask` produced: every attempt, and the accepted or low-confidence output."""

    attempts: list[Attempt]
    output: dict[str, Any] | None
    accepted: bool
    confidence: float | None
    #: The signals the scorer measured on the last valid answer.
    signals: Signals = field(default_factory=dict)
    #: An answer failed the learned checks (:mod:`skillforge.spec.checks`): re-asked (repaired) or not.
    failed_checks: bool = False
    #: The last answer that matched the schema, even one the learned checks then rejected: what the model
    #: said, for measuring it (``output`` is what may be used).
    answer: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.answer is None:
            self.answer = self.output


async def ask(
    model: Model,
    role: Role,
    request: ModelRequest,
    acceptance: Acceptance,
    site: CallSite,
    *,
    scorer: Scorer = _default_scorer,
) -> Outcome:
    """Ask ``model`` until it gives an accepted answer, re-asking after *invalid* output only.

    A low-confidence answer is not re-asked: at temperature 0 the same prompt gives the same answer,
    so the caller escalates it instead. Nor is a refusal (``stop_reason: "refusal"``, verdict
    ``refused``): it is escalated like an invalid answer and counted apart. Provider errors other than
    authentication end the attempts (recorded with verdict ``error``); authentication errors
    propagate, never escalated away. ``scorer`` gives a valid answer its confidence (default: the
    response's own).

    ``acceptance.checks`` (the skill's learned answer checks) hold a schema-valid answer to more: one that
    breaks them is ``invalid``, and re-asked with what it broke (a repair) only when ``acceptance.repair``;
    the accepted answer's signals then say whether an earlier one failed them (``failed_check``). Every
    call is recorded at ``site``.
    """
    schema, threshold, max_reasks = acceptance.schema, acceptance.threshold, acceptance.max_reasks
    checks, repair = acceptance.checks, acceptance.repair
    ledger, skill, phase = site.ledger, site.skill, site.phase
    attempts: list[Attempt] = []
    failed = False
    answer: dict[str, Any] | None = None
    for n in range(max_reasks + 1):
        try:
            response = observed(model, await model.request(request))
        except ModelAuthError:
            raise
        except ModelAPIError as exc:
            attempts.append(Attempt(model_id=model.model_id, role=role, raw_text="", verdict="error",
                                    errors=[str(exc)]))
            ledger.record(skill=skill, phase=phase, role=role, model_id=model.model_id, usage=Usage(),
                          cost_usd=0.0, latency_s=0.0, outcome="error", reask=n)
            break
        check = refusal(response) or check_answer(response.text, schema)
        learned: list[str] = []
        if checks is not None and check.output is not None and check.verdict == "accepted" and request.input:
            learned = check_errors(check.output, request.input, checks)
            if learned:
                check, failed, answer = Check("invalid", output=check.output, errors=learned), True, check.output
        confidence: float | None = None
        signals: Signals = {}
        if check.output is not None and check.verdict == "accepted":
            history = History(reasks=n, failed_check=failed if checks is not None and not checks.empty else None)
            confidence, signals = await scorer(response, check.output, history)
            check = gate(check, confidence, threshold)
        cost = model.cost_of(response)
        attempts.append(Attempt(
            model_id=model.model_id, role=role, raw_text=response.text, verdict=check.verdict,
            errors=check.errors, confidence=confidence, usage=response.usage, cost_usd=cost,
            latency_s=response.latency_s,
        ))
        ledger.record(skill=skill, phase=phase, role=role, model_id=model.model_id, usage=response.usage,
                      cost_usd=cost, latency_s=response.latency_s, outcome=check.verdict, batch=response.batch,
                      reask=n, cached=response.cached,
                      original_cost_usd=model.bought_for(response) if response.cached else None)
        if check.verdict == "refused":
            # A refusal (a safety classifier, not a format slip) is not fixed by the verifier's feedback:
            # no re-ask; the caller escalates or fails with it.
            break
        if check.verdict == "accepted":
            return Outcome(attempts, check.output, True, confidence, signals, failed)
        if check.verdict == "low_confidence":
            assert check.output is not None
            return Outcome(attempts, check.output, False, confidence, signals, failed)
        if learned and not repair:
            break
        if n < max_reasks:
            request = reask(request, response.text, check.errors)
    return Outcome(attempts, None, False, None, failed_checks=failed, answer=answer)


def summarize(attempts: Sequence[Attempt]) -> tuple[dict[str, Usage], float | None]:
    """Usage per model id and total cost (``None`` if any call's price is unknown)."""
    usage: dict[str, Usage] = {}
    for a in attempts:
        usage[a.model_id] = usage.get(a.model_id, Usage()) + a.usage
    return usage, total_cost(a.cost_usd for a in attempts)
