"""Running a skill: the student answers, the verifier checks, re-asks and escalation follow."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from skillforge import (
    CompileOptions,
    EscalationFailed,
    InputValidationError,
    Ledger,
    ModelAPIError,
    ModelAuthError,
    Skill,
    compile_skill,
    load_skill,
)
from skillforge.compile import SearchConfig
from skillforge.models.base import ModelResponse
from skillforge.testing import FunctionModel, QueuedModel, skill_input

from helpers import keyword_model, sentiment_examples, sentiment_spec

POS = {"sentiment": "positive"}
NEG = {"sentiment": "negative"}


@pytest.fixture
def skill(tmp_path: Path) -> Skill:
    model = keyword_model()
    compiled = compile_skill(sentiment_spec(), sentiment_examples(), teacher=model, student=model,
                             options=CompileOptions(search=SearchConfig(ks=[2])))
    compiled.manifest.settings.threshold = 0.5
    compiled.manifest.settings.ask_student = True  # a threshold set by hand: the student is asked
    compiled.save(tmp_path / "sentiment")
    return load_skill(tmp_path / "sentiment")


def test_a_confident_valid_student_answer_is_accepted(skill: Skill) -> None:
    student, teacher = QueuedModel([POS], logprob=-0.1), QueuedModel([])
    result = skill.run({"text": "good"}, student=student, teacher=teacher, ledger=Ledger(None))
    assert result.output == POS
    assert not result.escalated
    assert result.answered_by == "test:queued"
    assert result.confidence == pytest.approx(0.905, abs=1e-3)
    assert [a.verdict for a in result.attempts] == ["accepted"]
    assert result.cost_usd == 0.0
    assert result.usage["test:queued"].output_tokens > 0
    assert teacher.requests == []


def test_invalid_output_is_re_asked_with_the_validation_errors(skill: Skill) -> None:
    student = QueuedModel(['{"sentiment": "meh"}', POS])
    result = skill.run({"text": "good"}, student=student, teacher=QueuedModel([]), ledger=Ledger(None))
    assert result.output == POS and not result.escalated
    assert [a.verdict for a in result.attempts] == ["invalid", "accepted"]
    reask = student.requests[1].messages
    assert reask[-2].role == "assistant" and reask[-2].content == '{"sentiment": "meh"}'
    assert "'meh' is not one of" in reask[-1].content


def test_prose_instead_of_json_is_caught(skill: Skill) -> None:
    student = QueuedModel(["I think it is positive!", "Still prose."])
    teacher = QueuedModel([POS], model_id="test:teacher")
    result = skill.run({"text": "good"}, student=student, teacher=teacher, ledger=Ledger(None))
    assert result.escalated and result.answered_by == "test:teacher"
    assert "not JSON" in result.attempts[0].errors[0]


def test_a_low_confidence_answer_escalates_without_a_pointless_re_ask(skill: Skill) -> None:
    student = QueuedModel([NEG], logprob=-3.0)  # confidence 0.05 < threshold 0.5
    teacher = QueuedModel([POS], model_id="test:teacher", logprob=None)
    result = skill.run({"text": "good"}, student=student, teacher=teacher, ledger=Ledger(None))
    assert result.escalated and result.output == POS
    assert [a.verdict for a in result.attempts] == ["low_confidence", "accepted"]
    assert len(student.requests) == 1
    assert result.confidence is None


def test_escalations_are_logged_next_to_the_skill(skill: Skill) -> None:
    assert skill.path is not None
    student = QueuedModel(["nope", "nope"])
    teacher = QueuedModel([POS], model_id="test:teacher")
    skill.run({"text": "good {{ 7*7 }}"}, student=student, teacher=teacher, ledger=Ledger(None))
    lines = (skill.path / "escalations.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    assert record["input"] == {"text": "good {{ 7*7 }}"}
    assert record["output"] == POS and record["answered_by"] == "test:teacher" and record["reason"] == "invalid"


def test_when_the_teacher_fails_too_every_attempt_is_kept(skill: Skill) -> None:
    student = QueuedModel(["bad", "bad"])
    teacher = QueuedModel(["worse", '{"sentiment": 3}'], model_id="test:teacher")
    with pytest.raises(EscalationFailed) as info:
        skill.run({"text": "good"}, student=student, teacher=teacher, ledger=Ledger(None))
    attempts = info.value.attempts
    assert [(a.role, a.raw_text) for a in attempts] == [
        ("student", "bad"), ("student", "bad"), ("teacher", "worse"), ("teacher", '{"sentiment": 3}')
    ]
    assert info.value.input == {"text": "good"}


def test_invalid_input_costs_zero_tokens(skill: Skill) -> None:
    student, ledger = QueuedModel([]), Ledger(None)
    with pytest.raises(InputValidationError, match="text"):
        skill.run({"body": "good"}, student=student, teacher=student, ledger=ledger)
    assert student.requests == [] and ledger.entries == []


def test_input_is_data_never_template_source(skill: Skill) -> None:
    student = QueuedModel([POS])
    skill.run({"text": "{{ 7*7 }} {% if x %}"}, student=student, teacher=student, ledger=Ledger(None))
    assert skill_input(student.requests[0]) == {"text": "{{ 7*7 }} {% if x %}"}
    assert "49" not in student.requests[0].messages[-1].content


def test_a_student_outage_escalates_but_an_auth_error_never_does(skill: Skill) -> None:
    outage = ModelAPIError("overloaded", model_id="test:queued", status=529, retryable=True)
    teacher = QueuedModel([POS], model_id="test:teacher")
    result = skill.run({"text": "good"}, student=QueuedModel([outage]), teacher=teacher, ledger=Ledger(None))
    assert result.escalated and result.attempts[0].verdict == "error"
    auth = ModelAuthError("invalid x-api-key", model_id="test:queued", status=401)
    untouched = QueuedModel([POS], model_id="test:teacher")
    with pytest.raises(ModelAuthError):
        skill.run({"text": "good"}, student=QueuedModel([auth]), teacher=untouched, ledger=Ledger(None))
    assert untouched.requests == []


def test_without_escalation_the_student_answer_stands_or_the_run_fails(skill: Skill) -> None:
    unsure = QueuedModel([NEG], logprob=-3.0)
    result = skill.run({"text": "good"}, student=unsure, teacher=QueuedModel([]), escalate=False,
                       ledger=Ledger(None))
    assert result.output == NEG and not result.escalated
    with pytest.raises(EscalationFailed, match="escalation is off"):
        skill.run({"text": "good"}, student=QueuedModel(["x", "y"]), teacher=QueuedModel([]), escalate=False,
                  ledger=Ledger(None))


def test_every_call_lands_in_the_ledger(skill: Skill, tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    student = QueuedModel(["bad", "bad"], price_per_token=None)
    teacher = QueuedModel([POS], model_id="test:teacher", price_per_token=1e-6)
    result = skill.run({"text": "good"}, student=student, teacher=teacher, ledger=ledger)
    entries = ledger.read()
    assert [(e.role, e.outcome) for e in entries] == [
        ("student", "invalid"), ("student", "invalid"), ("teacher", "accepted")
    ]
    assert all(e.skill == "sentiment" and e.phase == "run" for e in entries)
    assert entries[2].cost_usd is not None and entries[2].cost_usd > 0
    assert result.cost_usd is None  # the student's price is unknown, so the total is too


def test_arun_is_the_async_core_and_run_works_inside_a_running_loop(skill: Skill) -> None:
    async def main() -> None:
        student = FunctionModel(lambda r: POS)
        result = await skill.arun({"text": "good"}, student=student, teacher=student, ledger=Ledger(None))
        assert result.output == POS
        # The blocking wrapper still works when called from async code.
        again = skill.run({"text": "good"}, student=student, teacher=student, ledger=Ledger(None))
        assert again.output == POS

    asyncio.run(main())


def test_a_full_model_response_can_be_queued(skill: Skill) -> None:
    response = ModelResponse(model_id="test:queued", text=json.dumps(POS), logprob_sum=-0.01)
    result = skill.run({"text": "good"}, student=QueuedModel([response]), teacher=QueuedModel([]),
                       ledger=Ledger(None))
    assert result.confidence == pytest.approx(0.99, abs=1e-2)


def test_a_skill_reuses_its_runner_for_the_same_models_and_ledger(tmp_path: Path) -> None:
    model = keyword_model()
    skill = compile_skill(sentiment_spec(), sentiment_examples(), teacher=model, student=model,
                          options=CompileOptions(search=SearchConfig(ks=[2], classifier_tier=False)))
    ledger = Ledger(tmp_path / "l.jsonl")
    first = skill.runner(ledger=ledger)
    assert skill.runner(ledger=ledger) is first
    assert skill.runner(ledger=Ledger(None)) is not first
    assert skill.runner(ledger=ledger, escalate=False) is not first
