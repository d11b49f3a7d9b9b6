"""Smoke tests against the real Anthropic API. Skipped unless ``--live`` and ANTHROPIC_API_KEY are
given (see conftest); each costs well under a cent, the compile test a few cents. They cover the paths
the offline tests pin with recorded fixtures (test_anthropic_claude5.py): the 5.5 family's request
shape per role, thinking before the answer, a refusal that escalates (to the real teacher), self-
consistency without a temperature, and a Message Batch resumed by a second process. The batch test
waits for the batch to end: usually minutes, at most ``BATCH_WAIT_S``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from skillforge.environment import CLAUDE_STUDENT, CLAUDE_TEACHER, read_env
from skillforge.models.anthropic.model import AnthropicModel
from skillforge.models.base import Message, ModelRequest, ModelResponse, Usage
from skillforge.run import SelfConsistentModel
from skillforge.testing import QueuedModel

pytestmark = pytest.mark.live

STUDENT = CLAUDE_STUDENT.removeprefix("anthropic:")
TEACHER = CLAUDE_TEACHER.removeprefix("anthropic:")
BATCH_WAIT_S = 3600.0

CAPITAL = {
    "type": "object",
    "properties": {"capital": {"type": "string"}, "population_millions": {"type": "number", "minimum": 0}},
    "required": ["capital"],
    "additionalProperties": False,
}


def capital_request(country: str = "France") -> ModelRequest:
    return ModelRequest(
        system="You answer questions about countries with one JSON object.",
        messages=(Message(role="user", content=json.dumps({"country": country})),),
        output_schema=CAPITAL,
        max_tokens=100,
    )


def _check_capital(response: ModelResponse, city: str) -> None:
    value = json.loads(response.text)
    jsonschema.validate(value, CAPITAL)
    assert city in value["capital"].lower()
    assert not response.refused
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert 0 <= response.usage.thinking_tokens <= response.usage.output_tokens


@pytest.mark.parametrize("structured", ["auto", "tool"])
def test_the_student_answers_with_valid_json_at_low_effort(structured: str) -> None:
    model = AnthropicModel(STUDENT, structured=structured).for_role("student")  # type: ignore[arg-type]
    assert model.request_effort == "low" and not model.supports_temperature
    response = model.request_sync(capital_request())
    _check_capital(response, "paris")  # no 400: no sampling parameters were sent, effort was accepted
    assert response.request_id and response.request_id.startswith("req_")
    cost = model.cost_usd(response.usage)
    assert cost is not None and 0 < cost < 0.01


def test_the_teacher_thinks_and_the_answer_is_still_found() -> None:
    model = AnthropicModel(TEACHER).for_role("teacher")
    assert model.request_effort == "high"
    response = model.request_sync(capital_request("Australia"))
    _check_capital(response, "canberra")  # whatever thinking blocks came first were skipped


def test_a_refusal_escalates_to_the_real_teacher(tmp_path: Path) -> None:
    """A refusal cannot be provoked on purpose: the student here replays the recorded refusal shape;
    the escalation goes to the real teacher."""
    from skillforge import Example, Ledger, SkillSpec, compile_skill
    from skillforge.testing import FunctionModel

    spec = SkillSpec(name="capital", description="Name the capital of the country.",
                     input_schema={"type": "object", "properties": {"country": {"type": "string"}},
                                   "required": ["country"]}, output_schema=CAPITAL)
    examples = [Example(input={"country": c}, expected={"capital": k}) for c, k in
                [("France", "Paris"), ("Spain", "Madrid"), ("Italy", "Rome"), ("Peru", "Lima"), ("Japan", "Tokyo"),
                 ("Chile", "Santiago")]]
    oracle = FunctionModel(lambda r: {"capital": "Paris"} if r.output_schema else "Name the capital.")
    skill = compile_skill(spec, examples=examples, teacher=oracle, student=oracle, ledger=Ledger(None))
    refuser = QueuedModel([ModelResponse(model_id="test:refuser", text="", stop_reason="refusal", usage=Usage())],
                          model_id="test:refuser")
    ledger = Ledger(tmp_path / "ledger.jsonl")
    result = skill.run({"country": "Norway"}, student=refuser, teacher=f"anthropic:{TEACHER}", ledger=ledger)
    assert result.escalated and "oslo" in result.output["capital"].lower()
    assert [a.verdict for a in result.attempts] == ["refused", "accepted"]
    assert [e.outcome for e in ledger.read()] == ["refused", "accepted"]


def test_self_consistency_samples_the_student_at_its_own_settings() -> None:
    model = SelfConsistentModel(AnthropicModel(STUDENT).for_role("student"), samples=3, temperature=None)
    response = model.request_sync(capital_request())
    assert "paris" in json.loads(response.text)["capital"].lower()
    assert response.confidence is not None and response.confidence >= 1 / 3


def test_a_message_batch_resumes_in_a_new_process(tmp_path: Path) -> None:
    state = tmp_path / "batch.json"
    requests = [capital_request("France"), capital_request("Japan"),
                # errored, per item: beyond the model's output limit (params are validated when processed)
                capital_request("Peru").model_copy(update={"max_tokens": 10_000_000})]

    class Killed(Exception):
        pass

    async def die(seconds: float) -> None:
        raise Killed

    first = AnthropicModel(STUDENT, sleep=die).for_role("student")
    with pytest.raises(Killed):
        asyncio.run(first.batch_request(requests, state_path=state, poll_seconds=1))
    assert state.exists()
    del first
    second = AnthropicModel(STUDENT).for_role("student")
    results: list[Any] = asyncio.run(second.batch_request(requests, state_path=state, poll_seconds=30,
                                                          max_poll_seconds=120, max_wait_seconds=BATCH_WAIT_S))
    france, japan, peru = results
    assert france.status == japan.status == "succeeded" and peru.status == "errored"
    _check_capital(france.response, "paris")
    _check_capital(japan.response, "tokyo")
    assert france.response.batch
    full = second.cost_usd(france.response.usage)
    assert full is not None and second.cost_of(france.response) == pytest.approx(full / 2)
    assert not state.exists()


def test_compile_and_run_a_small_skill(tmp_path: Path) -> None:
    from skillforge import Example, Ledger, SkillSpec, compile_skill

    spec = SkillSpec(
        name="ticket-priority",
        description="Decide the priority of a customer support ticket.",
        input_schema={"type": "object", "properties": {"ticket": {"type": "string"}}, "required": ["ticket"]},
        output_schema={
            "type": "object",
            "properties": {"priority": {"type": "string", "enum": ["low", "high"]}},
            "required": ["priority"],
            "additionalProperties": False,
        },
    )
    high = ["The whole site is down for all customers", "Payments fail for everyone since 9am",
            "Data breach: customer emails are exposed", "Production database is unreachable"]
    low = ["Please change the font on the invoice", "Typo on the about page",
           "Can you add a dark mode some day?", "The logo looks a bit blurry on my phone"]
    examples = [Example(input={"ticket": t}, expected={"priority": "high"}) for t in high]
    examples += [Example(input={"ticket": t}, expected={"priority": "low"}) for t in low]
    ledger = Ledger(tmp_path / "ledger.jsonl")
    skill = compile_skill(spec, examples=examples, teacher=CLAUDE_TEACHER, student=CLAUDE_STUDENT, ledger=ledger)
    skill.save(tmp_path / "skill")
    result = skill.run({"ticket": "Nobody can log in, the login page returns 500"}, ledger=ledger)
    assert result.output["priority"] == "high"
    assert result.cost_usd is not None and result.cost_usd > 0

    key = read_env().anthropic_api_key
    assert key
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    assert leaked == []


def test_claude_haiku_answers_as_a_model_tier_behind_the_student(tmp_path: Path) -> None:
    from skillforge import Example, Ledger, SkillSpec, compile_skill
    from skillforge.format import Combiner, ConfidenceSettings, ModelTier
    from skillforge.run import Runner
    from skillforge.testing import FunctionModel

    spec = SkillSpec(name="capital", description="Name the capital of the country.",
                     input_schema={"type": "object", "properties": {"country": {"type": "string"}},
                                   "required": ["country"]},
                     output_schema={"type": "object", "properties": {"capital": {"type": "string"}},
                                    "required": ["capital"], "additionalProperties": False})
    examples = [Example(input={"country": c}, expected={"capital": k}) for c, k in
                [("France", "Paris"), ("Spain", "Madrid"), ("Italy", "Rome"), ("Peru", "Lima")]]
    oracle = FunctionModel(lambda r: {"capital": "Paris"} if r.output_schema else "Name the capital.")
    skill = compile_skill(spec, examples=examples, teacher=oracle, student=oracle, ledger=Ledger(None))
    # The tier is trusted where it says what the student said (no logprobs from Claude).
    agreement = Combiner(signals=("student_agreement",), mean=(0.5,), scale=(0.5,), weights=(5.0,), bias=0.0)
    skill.settings.model_tiers = [ModelTier(model=CLAUDE_STUDENT, threshold=0.9,
                                            confidence=ConfidenceSettings(method="combined", combiner=agreement))]
    skill.settings.threshold = 1.0  # the student (value_prob 0.95) passes every answer on
    ledger = Ledger(tmp_path / "ledger.jsonl")
    runner = Runner(skill, student=FunctionModel(lambda r: {"capital": "Oslo"}, model_id="test:student"),
                    teacher=oracle, ledger=ledger)
    result = asyncio.run(runner.arun({"country": "Norway"}))
    assert result.tier == CLAUDE_STUDENT and not result.escalated and "oslo" in result.output["capital"].lower()
    assert [a.role for a in result.attempts] == ["student", "tier"] and result.signals["student_agreement"] == 1.0
    assert [e.role for e in ledger.read()] == ["student", "tier"]
