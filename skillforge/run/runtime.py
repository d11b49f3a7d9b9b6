"""Running a skill: student -> verify -> (re-ask) -> escalate to the teacher -> ledger."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from skillforge.environment import read_env
from skillforge.errors import EscalationFailed
from skillforge.format import SkillDefinition
from skillforge.format.classifier import CLASSIFIER_ID
from skillforge.jsonl import StrictModel
from skillforge.ledger import CallSite, Clock, Ledger, Phase, utc_now
from skillforge.models.base import Attempt, Message, Model, ModelRequest, ModelResponse, Usage
from skillforge.models.registry import resolve_model
from skillforge.run.ask import Acceptance, Outcome, Scorer, ask, summarize
from skillforge.run.classifier import Classification, InputClassifier, TextClassifier, embedder_for
from skillforge.run.confidence import with_confidence
from skillforge.run.drift import SHARE, DriftMonitor, expectations
from skillforge.run.escalations import EscalationRecord, check_escalation_log, log_escalation
from skillforge.run.evidence import Evidence, start_evidence
from skillforge.run.model_tiers import TierModels, TierView, ask_tier
from skillforge.run.pinned import pinned_models, warn_pinned
from skillforge.run.prompt import PromptStyle, assemble, demo_messages, lean_request, skill_style, system_text
from skillforge.run.retrieval import DemoIndex, DemoRouter, neighbour_vote
from skillforge.run.signals import History, Signals, confidence, signals_of
from skillforge.run.teacher_only import teacher_only_request
from skillforge.spec import DEFAULT_LIMITS, InputLimits


class RunResult(StrictModel):
    """The accepted answer to one input, and how it was reached."""

    output: dict[str, Any]
    escalated: bool
    answered_by: str
    confidence: float | None
    attempts: list[Attempt]
    usage: dict[str, Usage] = Field(default_factory=dict)
    cost_usd: float | None = 0.0
    #: The tier that answered: ``classifier``, ``student``, a model tier's model id, or ``teacher``.
    tier: str = "student"
    #: The signals measured on the student's answer (what its confidence was computed from).
    signals: dict[str, float] = Field(default_factory=dict)


@dataclass(frozen=True)
class _PromptParts:
    """What a runner's requests share, rendered once: the system text, the fixed demos' turns, each
    pool demo's (user, assistant) turns for retrieval to pick from, and each demo group's turns."""

    key: tuple[object, ...]
    system: str
    static: tuple[Message, ...]
    turns: list[tuple[Message, ...]]
    groups: list[tuple[Message, ...]]


class Runner:
    """Runs one skill with a resolved student, teacher and ledger. Reuse it for many inputs.

    ``escalation_log`` is the file accepted escalations are appended to (``None``: not logged; a
    regression run must not write into the committed skill). ``limits`` bound each input's size and
    depth (default :data:`~skillforge.spec.DEFAULT_LIMITS`: 1 MB of JSON, 64 levels).
    ``second_opinion`` overrides the model of the skill's second opinion
    (``settings.confidence.second_opinion``; default: its ``model``, else the student's own model).
    ``tiers`` maps the model id of any of the skill's model tiers (``settings.model_tiers``) to the model
    (or id) to ask instead. ``embedder`` overrides the model that embeds inputs for the skill's
    classifier, when it reads embeddings (default: the model its weights name; the student itself when
    that is the student's model).
    """

    def __init__(
        self,
        skill: SkillDefinition,
        *,
        student: str | Model | None = None,
        teacher: str | Model | None = None,
        ledger: Ledger | None = None,
        escalate: bool = True,
        clock: Clock = utc_now,
        phase: Phase = "run",
        escalation_log: Path | None = None,
        limits: InputLimits | None = None,
        second_opinion: str | Model | None = None,
        tiers: Mapping[str, str | Model] | None = None,
        embedder: str | Model | None = None,
    ) -> None:
        prov = skill.manifest.provenance
        self.skill = skill
        student_model = resolve_model(student, prov.student, role="student")
        # Self-consistency (settings.confidence) wraps the student: n samples, agreement as confidence.
        self.student = with_confidence(student_model, skill.settings.confidence)
        second = skill.settings.confidence.second_opinion
        self.second_opinion: Model | None = None
        if second is not None:
            self.second_opinion = (student_model if second_opinion is None and second.model is None else
                                   resolve_model(second_opinion, second.model or prov.student, role="second_opinion"))
        self._teacher_arg = teacher
        self._teacher: Model | None = None
        self.ledger = ledger if ledger is not None else Ledger(read_env().ledger_path, clock=clock)
        self.escalate = escalate
        self.clock = clock
        self.phase = phase
        self.escalation_log = escalation_log
        self.limits = limits or DEFAULT_LIMITS
        self._index: DemoIndex | None = None
        self._router: DemoRouter | None = None
        self._parts: _PromptParts | None = None
        self._pairs = [(d.input, d.output) for d in skill.demos]
        self.classifier = (None if skill.classifier is None else
                           InputClassifier(TextClassifier(skill.classifier),
                                           embedder_for(embedder, skill.classifier.embedding, student_model)))
        confidence = skill.settings.confidence
        self.tier_models = TierModels(skill.settings.model_tiers, tiers)
        # The neighbours' vote costs a BM25 query per input: computed only where a confidence reads it.
        reads_vote = any(c.combiner is not None and "neighbour_vote" in c.combiner.signals
                         for c in [confidence, *(t.confidence for t in skill.settings.model_tiers)])
        self.neighbours = (neighbour_vote(skill.demos, skill.manifest.output_schema, self._demo_index())
                           if reads_vote and skill.demos else None)
        #: The student's model itself (unwrapped): what the extra samples of an answer are asked of.
        self.student_model = student_model
        # Class probabilities are asked for only where the confidence uses them (they cost a little
        # prompt processing, and change the request's recording key).
        self._choice_scores = (self.student.supports_choice_scores
                               and confidence.method in ("distribution", "combined"))
        #: The last inputs' outcomes against the compiled expectations: one logged warning on drift.
        #: Production traffic only: a regression or eval run measures on purpose-picked cases.
        self.drift = DriftMonitor(skill.name, expectations(skill.manifest) if phase == "run" else {})
        if phase == "run":
            # Production only warns about a deprecated or retired model (once per model per process): a date
            # passing must never stop a skill from answering. The skill's directory holds its escalation log.
            pins = pinned_models(skill.manifest, student=student_model, teacher=teacher, tiers=tiers,
                                 second_opinion=second_opinion)
            warn_pinned(skill.manifest, pins, today=clock().date(),
                        skill_dir=None if escalation_log is None else str(escalation_log.parent))

    @property
    def teacher(self) -> Model:
        # Resolved on first escalation: a run the student answers never needs the teacher's client.
        if self._teacher is None:
            self._teacher = resolve_model(self._teacher_arg, self.skill.manifest.provenance.teacher, role="teacher")
        return self._teacher

    def request_for(self, input: Mapping[str, Any]) -> ModelRequest:
        """The student's request for ``input`` in the skill's rendering (``settings.input_format``,
        ``settings.schema_in_prompt``): fixed demos in the static prefix; with
        ``demo_strategy: retrieved``, the ``k`` most similar demos after it; with ``clustered``, the
        demos of the input's group as the static prefix. The system text and the demo turns are
        rendered once per runner (the same bytes :func:`build_request` gives)."""
        s = self.skill.settings
        parts = self._prompt_parts()
        retrieved: tuple[Message, ...] = ()
        static = parts.static
        if s.demo_strategy == "clustered":
            if self._router is None:
                self._router = DemoRouter(self._demo_index(), s.demo_groups or [])
            static = parts.groups[self._router.route(input)]
        elif s.demo_strategy == "retrieved":
            turns = parts.turns
            retrieved = tuple(m for i in reversed(self._demo_index().top(input, s.k)) for m in turns[i])
        request = assemble(
            system=parts.system, static=static, retrieved=retrieved, input=input,
            output_schema=self.skill.manifest.output_schema, max_tokens=s.max_tokens, temperature=s.temperature,
            style=self.style(),
        )
        return request.model_copy(update={"choice_scores": True}) if self._choice_scores else request

    def _demo_index(self) -> DemoIndex:
        # One BM25 index over the demos, shared by retrieval, group routing and the neighbours' vote.
        if self._index is None:
            self._index = DemoIndex([d.input for d in self.skill.demos])
        return self._index

    def _prompt_parts(self) -> _PromptParts:
        # Keyed on the settings the texts depend on, so editing them on a live skill still takes effect.
        skill, s = self.skill, self.skill.settings
        key = (skill.instructions, s.schema_in_prompt, s.input_format, s.demo_strategy, s.demo_groups)
        parts = self._parts
        if parts is None or parts.key != key:
            # The key keeps a copy of the groups: compared element by element per call (no serialising),
            # an edit in place still shows.
            key = (*key[:-1], None if s.demo_groups is None else [list(g) for g in s.demo_groups])
            schema, input_schema = skill.manifest.output_schema, skill.manifest.input_schema
            turns = [demo_messages([p], schema, s.input_format, input_schema) for p in self._pairs]
            fixed = tuple(m for t in turns for m in t) if s.demo_strategy == "fixed" else ()
            groups = [tuple(m for i in g for m in turns[i]) for g in s.demo_groups or []]
            parts = self._parts = _PromptParts(key, system_text(skill.instructions, schema, s.schema_in_prompt),
                                               fixed, turns, groups)
            self._router = None
        return parts

    async def warm(self) -> int:
        """Prepare the student's cache for every static prompt prefix the skill uses (each demo group
        of a ``clustered`` skill, else the one prefix) -- for a local model, their KV states, so that
        first calls cost what later ones do. Returns the number of prefixes prepared."""
        s, parts, manifest = self.skill.settings, self._prompt_parts(), self.skill.manifest
        prefixes = parts.groups if s.demo_strategy == "clustered" else [parts.static]
        for static in prefixes:
            await self.student.prefill(assemble(
                system=parts.system, static=static, retrieved=(), input={}, output_schema=manifest.output_schema,
                max_tokens=s.max_tokens, temperature=s.temperature, style=self.style()))
        return len(prefixes)

    def scorer(self, input: Mapping[str, Any], evidence: Evidence | None = None) -> Scorer:
        """How the student's valid answers to ``input`` get their confidence (``settings.confidence``),
        with the signals of the ``evidence`` calls (:meth:`start_evidence`): a second opinion, samples."""
        settings = self.skill.settings.confidence
        schema, comparators = self.skill.manifest.output_schema, self.skill.settings.comparators

        async def score(response: ModelResponse, output: dict[str, Any], history: History
                        ) -> tuple[float | None, Signals]:
            signals = signals_of(response, output, input=input, history=history,
                                 classification=await self.classify(input), neighbours=self.neighbours)
            if evidence is not None:
                signals.update(await evidence.signals(output, output_schema=schema, comparators=comparators))
            return confidence(settings, signals), signals

        return score

    def site(self, phase: Phase | None = None) -> CallSite:
        """Where this runner's calls are written down (``phase``: this runner's unless given)."""
        return CallSite(self.ledger, self.skill.name, phase or self.phase)

    def start_evidence(self, value: Mapping[str, Any], request: ModelRequest, phase: Phase) -> Evidence:
        """The calls the skill's confidence reads besides the student's answer to ``value`` (a second
        opinion, further samples of ``request``), started now to run alongside it."""
        return start_evidence(self.skill.settings.confidence, student=self.student_model, second=self.second_opinion,
                              value=value, request=request, manifest=self.skill.manifest, site=self.site(phase))

    async def ask_student(self, value: Mapping[str, Any], *, threshold: float | None, phase: Phase,
                          request: ModelRequest | None = None) -> tuple[Outcome, list[Attempt]]:
        """The student's ask for ``value`` (gated at ``threshold``; ``request`` defaults to
        :meth:`request_for`), with the evidence its confidence reads alongside it (:meth:`start_evidence`):
        the outcome, and the evidence calls' attempts (none without any)."""
        skill = self.skill
        request = request or self.request_for(value)
        evidence = self.start_evidence(value, request, phase)
        try:
            acceptance = Acceptance(skill.manifest.output_schema, threshold, skill.settings.max_reasks,
                                    skill.settings.checks, skill.settings.repair)
            outcome = await ask(self.student, "student", request, acceptance, self.site(phase),
                                scorer=self.scorer(value, evidence))
        except BaseException:
            await evidence.finish(quiet=True)
            raise
        return outcome, await evidence.finish()

    async def classify(self, value: Mapping[str, Any]) -> Classification | None:
        """The skill's classifier's view of ``value`` (``None`` without a classifier)."""
        return None if self.classifier is None else await self.classifier.classify(value)

    async def classifier_answer(self, value: Mapping[str, Any]) -> RunResult | None:
        """The classifier tier's answer when it is confident enough (no generation; one embedding
        call when the classifier reads embeddings), else ``None``."""
        view = await self.classify(value) if self.skill.settings.tiers else None
        if view is None:
            return None
        label, p = view.predict()
        for tier in self.skill.settings.tiers:
            if tier.threshold is not None and p >= tier.threshold:
                output = {view.field: label}
                attempt = Attempt(model_id=CLASSIFIER_ID, role="student", raw_text=json.dumps(output),
                                  verdict="accepted", confidence=p, cost_usd=0.0)
                return RunResult(output=output, escalated=False, answered_by=CLASSIFIER_ID, confidence=p,
                                 attempts=[attempt], tier="classifier")
        return None

    async def _classifier_tier(self, value: dict[str, Any]) -> RunResult | None:
        if self.classifier is None or not self.skill.settings.tiers or not self.escalate:
            return None
        start = time.perf_counter()
        answered = await self.classifier_answer(value)
        self.ledger.record(skill=self.skill.name, phase=self.phase, role="student", model_id=CLASSIFIER_ID,
                           usage=Usage(), cost_usd=0.0, latency_s=round(time.perf_counter() - start, 6),
                           outcome="accepted" if answered is not None else "low_confidence")
        return answered

    def teacher_request_for(self, input: Mapping[str, Any]) -> ModelRequest:
        """An escalation's request for ``input`` (``settings.escalation_prompt``): the teacher-only prompt
        (``plain``), the instructions and the input only (``lean``), or the student's own (``student``).
        The demos are there to teach a small student the format and label conventions; sending them to
        the teacher on every escalation would multiply the cost of the calls that dominate the bill."""
        prompt, m = self.skill.settings.escalation_prompt, self.skill.manifest
        if prompt == "student":
            return self.request_for(input)
        if prompt == "plain":
            return teacher_only_request(description=m.description, output_schema=m.output_schema,
                                        input_schema=m.input_schema, input=input, max_tokens=m.settings.max_tokens)
        return self.lean_request_for(input)

    def lean_request_for(self, input: Mapping[str, Any]) -> ModelRequest:
        """The instructions and ``input`` only, in the skill's rendering (no demos)."""
        return lean_request(self.skill, input)

    def style(self) -> PromptStyle:
        """How the skill's requests are laid out (its settings' rendering, its input schema)."""
        return skill_style(self.skill)

    async def arun(self, input: dict[str, Any]) -> RunResult:
        """Answer one input. Raises InputValidationError or, for an escalation log that cannot be
        appended to, SkillFormatError (both before any model is called), or EscalationFailed."""
        skill, s = self.skill, self.skill.settings
        value = skill.spec.check_input(input, self.limits)
        if self.escalate and self.escalation_log is not None:
            check_escalation_log(self.escalation_log)
        answered = await self._classifier_tier(value)
        if answered is not None:
            self.drift.observe(SHARE)
            return answered
        if not s.ask_student and self.escalate:
            # The compile found the student not worth asking: straight on to the tiers behind it, the teacher.
            return await self._past_the_student(value, None, [], None, "routed")
        threshold = s.threshold if self.escalate else None
        student, consulted = await self.ask_student(value, threshold=threshold, phase=self.phase)
        last = student.attempts[-1].verdict if student.attempts else "error"
        if student.accepted:
            self.drift.observe(SHARE)
            return _result(student.output, False, self.student.model_id, student.confidence,
                           consulted + student.attempts, tier="student", signals=student.signals)
        if not self.escalate:
            self.drift.observe(last)
            raise EscalationFailed(
                f"skill {skill.name!r}: the student gave no valid answer and escalation is off",
                attempts=student.attempts, input=value,
            )
        return await self._past_the_student(value, student, consulted + student.attempts, student.output, last)

    async def _past_the_student(self, value: dict[str, Any], student: Outcome | None, passed: list[Attempt],
                                student_output: dict[str, Any] | None, reason: str) -> RunResult:
        """What the student passed on (or was not asked): the model tiers behind it, then the teacher."""
        skill, s = self.skill, self.skill.settings
        tiered = await self.ask_model_tiers(value, student_output, passed)
        # Drift compares the share answered before the teacher (tiers included) with the compiled one.
        self.drift.observe(SHARE if tiered is not None else reason)
        if tiered is not None:
            return tiered
        teacher = await ask(self.teacher, "teacher", self.teacher_request_for(value),
                            Acceptance(skill.manifest.output_schema, max_reasks=s.max_reasks), self.site())
        attempts = passed + teacher.attempts
        if not teacher.accepted or teacher.output is None:
            asked = f"neither the student ({self.student.model_id}) nor" if student is not None else "not even"
            raise EscalationFailed(
                f"skill {skill.name!r}: {asked} the teacher ({self.teacher.model_id}) gave a valid answer; "
                "see .attempts", attempts=attempts, input=value,
            )
        self._log_escalation(value, teacher.output, student, reason)
        return _result(teacher.output, True, self.teacher.model_id, teacher.confidence, attempts, tier="teacher",
                       signals={} if student is None else student.signals)

    async def ask_model_tiers(self, value: dict[str, Any], student_output: dict[str, Any] | None,
                              passed: list[Attempt]) -> RunResult | None:
        """The answer of the first model tier (``settings.model_tiers``) sure of its answer to ``value``
        (``student_output``: what the student passed on), else ``None``; every tier's attempts are
        appended to ``passed``, and the result's attempts are ``passed``."""
        skill, s = self.skill, self.skill.settings
        for tier in s.model_tiers:
            if tier.threshold is None:
                continue
            model = self.tier_models.model(tier)
            request = self.request_for(value) if tier.prompt == "student" else self.lean_request_for(value)
            view = TierView(value, student_output, s.comparators, await self.classify(value), self.neighbours)
            out = await ask_tier(model, tier, request, view,
                                 Acceptance(skill.manifest.output_schema, max_reasks=s.max_reasks), self.site())
            passed += out.attempts
            if out.accepted:
                return _result(out.output, False, model.model_id, out.confidence, passed, tier=model.model_id,
                               signals=out.signals)
        return None

    def _log_escalation(self, input: dict[str, Any], output: dict[str, Any], student: Outcome | None,
                        reason: str) -> None:
        if self.escalation_log is None:
            return
        record = EscalationRecord(
            time=self.clock().isoformat(timespec="milliseconds"), input=input, output=output,
            answered_by=self.teacher.model_id, reason=reason,
            student_output=None if student is None else student.output,
        )
        log_escalation(self.escalation_log, record)


def _result(
    output: dict[str, Any] | None, escalated: bool, by: str, confidence: float | None, attempts: list[Attempt],
    *, tier: str, signals: dict[str, float],
) -> RunResult:
    assert output is not None
    usage, cost = summarize(attempts)
    return RunResult(output=output, escalated=escalated, answered_by=by, confidence=confidence,
                     attempts=attempts, usage=usage, cost_usd=cost, tier=tier, signals=signals)
