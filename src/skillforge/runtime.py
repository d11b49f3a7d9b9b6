"""Running a skill: student -> verify -> (re-ask) -> escalate to the teacher -> ledger.

Two retry layers are kept apart: transport retries live in the providers; here are only *semantic*
re-asks, which continue the conversation with the verifier's errors as feedback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from skillforge.errors import EscalationFailed, ModelAPIError, ModelAuthError
from skillforge.ledger import Clock, Ledger, Phase, utc_now
from skillforge.models.base import Attempt, Model, ModelRequest, Role, Usage
from skillforge.models.registry import resolve_model
from skillforge.prompt import build_request, reask
from skillforge.retrieval import DemoIndex, retrieve
from skillforge.settings import read_env
from skillforge.verify import check_answer

if TYPE_CHECKING:
    from skillforge.skill import Skill


class RunResult(BaseModel):
    """The accepted answer to one input, and how it was reached."""

    model_config = ConfigDict(extra="forbid")

    output: dict[str, Any]
    escalated: bool
    answered_by: str
    confidence: float | None
    attempts: list[Attempt]
    usage: dict[str, Usage] = Field(default_factory=dict)
    cost_usd: float | None = 0.0


class EscalationRecord(BaseModel):
    """One line of ``escalations.jsonl``: an input the student could not answer, and the teacher's answer."""

    model_config = ConfigDict(extra="forbid")

    time: str
    input: dict[str, Any]
    output: dict[str, Any]
    answered_by: str
    reason: str
    student_output: dict[str, Any] | None = None


@dataclass
class Outcome:
    """What :func:`ask` produced: every attempt, and the accepted or low-confidence output."""

    attempts: list[Attempt]
    output: dict[str, Any] | None
    accepted: bool
    confidence: float | None


async def ask(
    model: Model,
    role: Role,
    request: ModelRequest,
    *,
    schema: Mapping[str, Any],
    threshold: float | None,
    max_reasks: int,
    ledger: Ledger,
    skill: str,
    phase: Phase,
) -> Outcome:
    """Ask ``model`` until it gives an accepted answer, re-asking after *invalid* output only.

    A low-confidence answer is not re-asked: at temperature 0 the same prompt gives the same answer,
    so the caller escalates it instead. Provider errors other than authentication end the attempts
    (recorded with verdict ``error``); authentication errors propagate, never escalated away.
    """
    attempts: list[Attempt] = []
    for n in range(max_reasks + 1):
        try:
            response = await model.request(request)
        except ModelAuthError:
            raise
        except ModelAPIError as exc:
            attempts.append(Attempt(model_id=model.model_id, role=role, raw_text="", verdict="error",
                                    errors=[str(exc)]))
            ledger.record(skill=skill, phase=phase, role=role, model_id=model.model_id, usage=Usage(),
                          cost_usd=0.0, latency_s=0.0, outcome="error")
            break
        confidence = response.confidence
        check = check_answer(response.text, schema, confidence=confidence, threshold=threshold)
        cost = model.cost_usd(response.usage)
        attempts.append(Attempt(
            model_id=model.model_id, role=role, raw_text=response.text, verdict=check.verdict,
            errors=check.errors, confidence=confidence, usage=response.usage, cost_usd=cost,
            latency_s=response.latency_s,
        ))
        ledger.record(skill=skill, phase=phase, role=role, model_id=model.model_id, usage=response.usage,
                      cost_usd=cost, latency_s=response.latency_s, outcome=check.verdict)
        if check.verdict == "accepted":
            return Outcome(attempts, check.output, True, confidence)
        if check.verdict == "low_confidence":
            assert check.output is not None
            return Outcome(attempts, check.output, False, confidence)
        if n < max_reasks:
            request = reask(request, response.text, check.errors)
    return Outcome(attempts, None, False, None)


def summarize(attempts: Sequence[Attempt]) -> tuple[dict[str, Usage], float | None]:
    """Usage per model id and total cost (``None`` if any call's price is unknown)."""
    usage: dict[str, Usage] = {}
    cost: float | None = 0.0
    for a in attempts:
        usage[a.model_id] = usage.get(a.model_id, Usage()) + a.usage
        cost = None if cost is None or a.cost_usd is None else cost + a.cost_usd
    return usage, cost


class Runner:
    """Runs one skill with a resolved student, teacher and ledger. Reuse it for many inputs."""

    def __init__(
        self,
        skill: Skill,
        *,
        student: str | Model | None = None,
        teacher: str | Model | None = None,
        ledger: Ledger | None = None,
        escalate: bool = True,
        clock: Clock = utc_now,
        phase: Phase = "run",
    ) -> None:
        from skillforge.confidence import with_confidence

        prov = skill.manifest.provenance
        self.skill = skill
        # Self-consistency (settings.confidence) wraps the student: n samples, agreement as confidence.
        self.student = with_confidence(resolve_model(student, prov.student), skill.settings.confidence)
        self._teacher_arg = teacher
        self._teacher: Model | None = None
        self.ledger = ledger if ledger is not None else Ledger(read_env().ledger_path, clock=clock)
        self.escalate = escalate
        self.clock = clock
        self.phase = phase
        self._index: DemoIndex | None = None

    @property
    def teacher(self) -> Model:
        # Resolved on first escalation: a run the student answers never needs the teacher's client.
        if self._teacher is None:
            self._teacher = resolve_model(self._teacher_arg, self.skill.manifest.provenance.teacher)
        return self._teacher

    def request_for(self, input: Mapping[str, Any]) -> ModelRequest:
        """The student's request for ``input``: fixed demos in the static prefix; with
        ``demo_strategy: retrieved``, the ``k`` most similar demos after it."""
        skill = self.skill
        s = skill.settings
        pairs = [(d.input, d.output) for d in skill.demos]
        demos = pairs if s.demo_strategy == "fixed" else []
        retrieved: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []
        if s.demo_strategy == "retrieved":
            if self._index is None:
                self._index = DemoIndex([d.input for d in skill.demos])
            retrieved = retrieve(self._index, pairs, input, s.k)
        return build_request(
            instructions=skill.instructions, output_schema=skill.manifest.output_schema, demos=demos,
            input=input, max_tokens=s.max_tokens, temperature=s.temperature, retrieved=retrieved,
        )

    def teacher_request_for(self, input: Mapping[str, Any]) -> ModelRequest:
        """An escalation's request for ``input`` (``settings.escalation_prompt``): by default the
        instructions and the input only. The demos are there to teach a small student the format and
        label conventions; sending them to the teacher on every escalation would multiply the cost of
        the calls that dominate the bill."""
        s = self.skill.settings
        if s.escalation_prompt == "student":
            return self.request_for(input)
        return build_request(instructions=self.skill.instructions, output_schema=self.skill.manifest.output_schema,
                             demos=[], input=input, max_tokens=s.max_tokens, temperature=s.temperature)

    async def arun(self, input: dict[str, Any]) -> RunResult:
        """Answer one input. Raises InputValidationError (no model called) or EscalationFailed."""
        skill, s = self.skill, self.skill.settings
        value = skill.spec.check_input(input)
        request = self.request_for(value)
        schema = skill.manifest.output_schema
        threshold = s.threshold if self.escalate else None
        student = await ask(self.student, "student", request, schema=schema, threshold=threshold,
                            max_reasks=s.max_reasks, ledger=self.ledger, skill=skill.name, phase=self.phase)
        if student.accepted:
            return self._result(student.output, False, self.student.model_id, student.confidence,
                                student.attempts)
        if not self.escalate:
            raise EscalationFailed(
                f"skill {skill.name!r}: the student gave no valid answer and escalation is off",
                attempts=student.attempts, input=value,
            )
        teacher = await ask(self.teacher, "teacher", self.teacher_request_for(value), schema=schema, threshold=None,
                            max_reasks=s.max_reasks, ledger=self.ledger, skill=skill.name, phase=self.phase)
        attempts = student.attempts + teacher.attempts
        if not teacher.accepted or teacher.output is None:
            raise EscalationFailed(
                f"skill {skill.name!r}: neither the student ({self.student.model_id}) nor the teacher "
                f"({self.teacher.model_id}) gave a valid answer; see .attempts",
                attempts=attempts, input=value,
            )
        self._log_escalation(value, teacher.output, student)
        return self._result(teacher.output, True, self.teacher.model_id, teacher.confidence, attempts)

    def _result(
        self, output: dict[str, Any] | None, escalated: bool, by: str, confidence: float | None,
        attempts: list[Attempt],
    ) -> RunResult:
        assert output is not None
        usage, cost = summarize(attempts)
        return RunResult(output=output, escalated=escalated, answered_by=by, confidence=confidence,
                         attempts=attempts, usage=usage, cost_usd=cost)

    def _log_escalation(self, input: dict[str, Any], output: dict[str, Any], student: Outcome) -> None:
        if self.skill.path is None:
            return
        from skillforge.skill import ESCALATIONS

        last = student.attempts[-1] if student.attempts else None
        record = EscalationRecord(
            time=self.clock().isoformat(timespec="milliseconds"), input=input, output=output,
            answered_by=self.teacher.model_id,
            reason=last.verdict if last else "error",
            student_output=student.output,
        )
        line = json.dumps(record.model_dump(mode="json"), ensure_ascii=False) + "\n"
        with open(self.skill.path / ESCALATIONS, "a", encoding="utf-8") as fh:
            fh.write(line)
