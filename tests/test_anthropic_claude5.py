"""The Claude 5.5 family over the real SDK with a mocked transport: request shapes (no sampling
parameters, effort per role), thinking before the answer, refusals that escalate, self-consistency
on models without a temperature, and Message Batches that survive the process dying between submit
and collect. Nothing reaches the network (``anthropic_fixtures``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from skillforge import CompileOptions, Example, Ledger, compile_skill
from skillforge.cli import print_compile_report
from skillforge.environment import CLAUDE_STUDENT, CLAUDE_TEACHER, read_env
from skillforge.errors import ConfigurationError, EscalationFailed, ModelAPIError, SpecError
from skillforge.evaluate import STUDENT_REFERENCE, TEACHER_REFERENCE
from skillforge.format import ConfidenceOptions
from skillforge.ledger import CallSite
from skillforge.models.anthropic.batch import custom_id, read_state
from skillforge.models.anthropic.claude import takes_effort, takes_sampling_params, thinks_adaptively
from skillforge.models.anthropic.model import AnthropicModel
from skillforge.models.base import ModelRequest, Usage
from skillforge.models.batching import BatchingModel
from skillforge.models.pricing import PRICES
from skillforge.run import Runner, SelfConsistentModel
from skillforge.run.ask import Acceptance
from skillforge.testing import FunctionModel, skill_input

from anthropic_fixtures import (
    CANCELED,
    EXPIRED,
    SPEC,
    THINKING_USAGE,
    FakeBatchAPI,
    FakeServer,
    compiled_review_skill,
    effort_rejected,
    errored,
    make_model,
    make_request,
    message,
    ok,
    redacted_thinking,
    refusal,
    review_oracle,
    succeeded,
    temperature_rejected,
    text,
    thinking,
)

SAMPLING = {"temperature", "top_p", "top_k"}


def run(model: Any, request: ModelRequest | None = None) -> Any:
    return asyncio.run(model.request(request or make_request()))


# -- request shapes ----------------------------------------------------------------------------------


def test_the_defaults_are_the_current_lineup_and_price_references_follow_them() -> None:
    assert (CLAUDE_TEACHER, CLAUDE_STUDENT) == ("anthropic:claude-opus-5-5", "anthropic:claude-haiku-5-5")
    assert (TEACHER_REFERENCE, STUDENT_REFERENCE) == ("claude-opus-5-5", "claude-haiku-5-5")
    assert PRICES["claude-fable-5-1"].input_per_mtok == 10.0 and PRICES["claude-fable-5-1"].output_per_mtok == 50.0
    for name in ("claude-opus-5-5", "claude-haiku-5-5", "claude-fable-5-1", "claude-sonnet-5-5-20261001"):
        assert not takes_sampling_params(name) and takes_effort(name) and thinks_adaptively(name)
    assert takes_sampling_params("claude-haiku-4-5") and not takes_effort("claude-haiku-4-5")
    assert takes_effort("claude-opus-4-8") and not thinks_adaptively("claude-opus-4-8")


@pytest.mark.parametrize("name, role, effort", [
    ("claude-haiku-5-5", "student", "low"),
    ("claude-opus-5-5", "teacher", "high"),
    ("claude-fable-5-1", "teacher", "high"),
    ("claude-sonnet-5-5", "student", "low"),
])
def test_the_55_family_gets_no_sampling_parameters_and_the_roles_effort(name: str, role: Any, effort: str) -> None:
    server = FakeServer().push(ok(text('{"label": "pos"}')))
    base, _ = make_model(server, name=name)
    model = base.for_role(role)
    assert model is not base and base.request_effort is None  # a configured copy; the original untouched
    run(model)
    body = server.bodies[0]
    assert not SAMPLING & set(body)
    assert body["output_config"]["effort"] == effort
    assert body["output_config"]["format"]["type"] == "json_schema"  # effort and format in one object
    assert body["max_tokens"] > 256  # the answer budget plus room for thinking
    assert body["messages"][-1]["role"] == "user"  # no assistant prefill
    assert not model.supports_temperature


def test_an_explicit_effort_wins_over_the_role_and_older_models_get_none() -> None:
    server = FakeServer().push(ok(text("{}")), ok(text("{}")))
    pinned, _ = make_model(server, name="claude-haiku-5-5", effort="medium")
    assert pinned.for_role("student") is pinned
    run(pinned)
    old, _ = make_model(server, name="claude-haiku-4-5")
    assert old.for_role("student") is old
    run(old)
    assert server.bodies[0]["output_config"]["effort"] == "medium"
    assert "output_config" in server.bodies[1] and "effort" not in server.bodies[1]["output_config"]
    assert server.bodies[1]["temperature"] == 0.0 and server.bodies[1]["max_tokens"] == 256
    with pytest.raises(ConfigurationError, match="effort must be one of"):
        make_model(server, name="claude-haiku-5-5", effort="extreme")


def test_a_400_on_temperature_drops_it_for_the_instance() -> None:
    # A proxy alias the name rules do not know: the recorded 400 teaches the instance instead.
    server = FakeServer().push(temperature_rejected(), ok(text("{}")), ok(text("{}")))
    model, _ = make_model(server, name="my-gateway-haiku")
    run(model)
    run(model)
    assert [("temperature" in b) for b in server.bodies] == [True, False, False]
    assert not model.supports_temperature


def test_a_400_on_effort_drops_it_for_the_instance_not_structured_output() -> None:
    server = FakeServer().push(effort_rejected(), ok(text("{}")))
    model, _ = make_model(server, name="claude-opus-5-5", effort="high")
    run(model)
    first, second = server.bodies
    assert first["output_config"]["effort"] == "high"
    assert "effort" not in second["output_config"] and "format" in second["output_config"]
    assert model.structured_mode == "output_config" and model.request_effort is None


def test_a_conversation_ending_with_the_assistant_is_refused_before_sending() -> None:
    server = FakeServer()
    model, _ = make_model(server, name="claude-haiku-5-5")
    request = make_request(static=0).model_copy(update={"messages": make_request().messages[:2]})
    with pytest.raises(ConfigurationError, match="no assistant prefill"):
        run(model, request)
    assert server.requests == []


# -- thinking -----------------------------------------------------------------------------------------


def test_a_response_whose_first_block_is_thinking_gives_the_answer_and_counts_thinking_tokens() -> None:
    server = FakeServer().push(ok(thinking(), redacted_thinking(), text('{"label": "pos"}'),
                                  usage=THINKING_USAGE, model="claude-haiku-5-5"))
    model, _ = make_model(server, name="claude-haiku-5-5")
    response = run(model.for_role("student"))
    assert response.text == '{"label": "pos"}'
    assert response.usage == Usage(input_tokens=412, output_tokens=236, cache_read_input_tokens=1900,
                                   thinking_tokens=224)
    # Thinking is billed as output: it is inside output_tokens, not added again.
    assert model.cost_usd(response.usage) == pytest.approx((412 * 0.1 + 1900 * 0.1 * 0.1 + 236 * 0.5) / 1e6)
    assert (response.usage + response.usage).thinking_tokens == 448


# -- refusals -----------------------------------------------------------------------------------------


@pytest.fixture
def compiled_skill(tmp_path: Path) -> Any:
    return compiled_review_skill(tmp_path)


def test_a_refusal_escalates_without_a_re_ask_and_is_counted(compiled_skill: Any, tmp_path: Path) -> None:
    server = FakeServer().push(refusal(partial='{"label": "p'), ok(text('{"label": "pos"}'), model="claude-opus-5-5"))
    student, _ = make_model(server, name="claude-haiku-5-5")
    teacher, _ = make_model(server, name="claude-opus-5-5")
    ledger = Ledger(tmp_path / "ledger.jsonl")
    runner = Runner(compiled_skill, student=student, teacher=teacher, ledger=ledger,
                    escalation_log=tmp_path / "escalations.jsonl")
    result = asyncio.run(runner.arun({"text": "a good watch"}))
    assert result.escalated and result.answered_by == "anthropic:claude-opus-5-5" and result.output == {"label": "pos"}
    assert [(a.role, a.verdict) for a in result.attempts] == [("student", "refused"), ("teacher", "accepted")]
    assert "refused to answer" in result.attempts[0].errors[0]
    assert len(server.requests) == 2  # no re-ask after the refusal
    student_body, teacher_body = server.bodies
    assert student_body["output_config"]["effort"] == "low" and teacher_body["output_config"]["effort"] == "high"
    assert [e.outcome for e in ledger.read()] == ["refused", "accepted"]
    assert ledger.read()[0].cost_usd is not None and ledger.read()[0].cost_usd > 0  # a refusal is still billed
    record = json.loads((tmp_path / "escalations.jsonl").read_text())
    assert record["reason"] == "refused"


def test_when_the_teacher_refuses_too_the_run_fails_with_both_refusals(compiled_skill: Any) -> None:
    server = FakeServer().push(refusal(), refusal(model="claude-opus-5-5"))
    student, _ = make_model(server, name="claude-haiku-5-5")
    teacher, _ = make_model(server, name="claude-opus-5-5")
    with pytest.raises(EscalationFailed) as info:
        compiled_skill.run({"text": "a good watch"}, student=student, teacher=teacher, ledger=Ledger(None))
    assert [a.verdict for a in info.value.attempts] == ["refused", "refused"]


# -- self-consistency without a temperature ----------------------------------------------------------


def test_self_consistency_at_a_temperature_is_refused_for_a_model_that_takes_none() -> None:
    examples = [Example(input={"text": f"good {i}"}, expected={"label": "pos"}) for i in range(8)]
    server = FakeServer()
    student, _ = make_model(server, name="claude-haiku-5-5")
    options = CompileOptions(confidence=ConfidenceOptions(method="self_consistency", temperature=0.7))
    with pytest.raises(SpecError, match="takes no temperature") as info:
        compile_skill(SPEC, examples=examples, options=options, student=student,
                      teacher=FunctionModel(review_oracle, model_id="test:teacher"), ledger=Ledger(None))
    assert info.value.field == "confidence.temperature" and server.requests == []
    with pytest.raises(SpecError, match="takes a temperature"):
        SelfConsistentModel(FunctionModel(review_oracle), samples=3, temperature=None)


def test_self_consistency_at_the_models_own_sampling_sends_no_temperature() -> None:
    answers = ['{"label": "pos"}', '{"label": "pos"}', '{"label": "neg"}']
    server = FakeServer().push(*[ok(thinking(), text(a)) for a in answers])
    student, _ = make_model(server, name="claude-haiku-5-5")
    model = SelfConsistentModel(student.for_role("student"), samples=3, temperature=None)
    response = run(model)
    assert json.loads(response.text) == {"label": "pos"} and response.confidence == pytest.approx(2 / 3)
    assert len(server.bodies) == 3 and all(not SAMPLING & set(b) for b in server.bodies)
    assert len({json.dumps(b, sort_keys=True) for b in server.bodies}) == 1  # the same request, sampled 3 times


# -- Message Batches ----------------------------------------------------------------------------------


def _requests(*texts: str) -> list[ModelRequest]:
    base = make_request()
    return [base.model_copy(update={"messages": (*base.messages[:2], base.messages[2].model_copy(
        update={"content": json.dumps({"text": t})}))}) for t in texts]


def _by_input(cid: str, params: dict[str, Any]) -> dict[str, Any]:
    """Answer a batched request by what its input says."""
    said = json.loads(params["messages"][-1]["content"])["text"]
    if "expire" in said:
        return EXPIRED
    if "cancel" in said:
        return CANCELED
    if "broken" in said:
        return errored("invalid_request_error", "messages: text content blocks must be non-empty")
    return succeeded(message([thinking(), text(json.dumps({"label": "pos", "said": said}))],
                             usage=THINKING_USAGE, model="claude-haiku-5-5"))


class Killed(Exception):
    """The process dying while it waits (raised from the injected sleep)."""


def test_a_batch_with_mixed_outcomes_resumes_after_the_process_dies(tmp_path: Path) -> None:
    api = FakeBatchAPI(outcome=_by_input, polls_in_progress=3)
    state = tmp_path / "batches" / "compile.json"
    requests = _requests("good one", "please expire", "broken input", "good two", "good one")

    async def die(seconds: float) -> None:
        raise Killed

    first = AnthropicModel("claude-haiku-5-5", client=api.client(), sleep=die).for_role("student")
    with pytest.raises(Killed):
        asyncio.run(first.batch_request(requests, state_path=state))
    saved = read_state(state)
    assert saved is not None and len(api.batches) == 1 and saved.batch_id in api.batches
    submitted = api.batches[saved.batch_id]
    assert len(submitted) == 4  # "good one" twice is sent once
    assert all(not SAMPLING & set(it["params"]) and it["params"]["output_config"]["effort"] == "low"
               for it in submitted)
    assert {it["custom_id"] for it in submitted} == set(saved.modes)
    del first

    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    second = AnthropicModel("claude-haiku-5-5", client=api.client(), sleep=record).for_role("student")
    results = asyncio.run(second.batch_request(requests, state_path=state, poll_seconds=10, max_poll_seconds=12))
    assert len(api.calls("POST", "/v1/messages/batches")) == 1  # resumed, not submitted again
    assert waits == [10, 12]  # polling backs off, capped (one poll was spent before dying)
    assert [r.status for r in results] == ["succeeded", "expired", "errored", "succeeded", "succeeded"]
    ok1, expired, broken, ok2, again = results
    assert ok1.response is not None and json.loads(ok1.response.text)["said"] == "good one"
    assert ok2.response is not None and json.loads(ok2.response.text)["said"] == "good two"
    assert again == ok1 and ok1.custom_id == custom_id(requests[0], second.model_id)
    assert ok1.response.batch and ok1.response.usage.thinking_tokens == 224
    assert (broken.error_type, broken.response) == ("invalid_request_error", None)
    assert "non-empty" in (broken.error or "") and expired.error_type == "expired"
    full = second.cost_usd(ok1.response.usage)
    assert full is not None and second.cost_of(ok1.response) == pytest.approx(full / 2)
    assert not state.exists()  # collected: nothing left to resume


def test_a_state_file_for_other_requests_is_an_error_naming_its_batch(tmp_path: Path) -> None:
    api = FakeBatchAPI(outcome=_by_input, polls_in_progress=5)
    state = tmp_path / "b.json"
    model = AnthropicModel("claude-haiku-5-5", client=api.client(), sleep=lambda s: asyncio.sleep(0))
    with pytest.raises(ModelAPIError, match="still in_progress"):
        asyncio.run(model.batch_request(_requests("good"), state_path=state, max_wait_seconds=0))
    assert state.exists()
    with pytest.raises(ConfigurationError, match="msgbatch_"):
        asyncio.run(model.batch_request(_requests("other"), state_path=state))


def test_concurrent_calls_become_one_batch_and_unanswered_items_go_direct(tmp_path: Path) -> None:
    from skillforge.run import ask

    direct = message([text('{"label": "neg"}')], model="claude-haiku-5-5")
    api = FakeBatchAPI(outcome=_by_input, polls_in_progress=0, direct=lambda body: direct)
    model = BatchingModel(AnthropicModel("claude-haiku-5-5", client=api.client()).for_role("teacher"),
                          state_dir=tmp_path, poll_seconds=0)
    ledger = Ledger(tmp_path / "ledger.jsonl")
    schema = SPEC["output_schema"] | {"additionalProperties": True}

    async def all_of_them() -> list[Any]:
        return list(await asyncio.gather(*[
            ask(model, "teacher", r, Acceptance(schema, max_reasks=0), CallSite(ledger, "s", "compile"))
            for r in _requests("good a", "good b", "please cancel", "broken")]))

    outcomes = asyncio.run(all_of_them())
    assert len(api.calls("POST", "/v1/messages/batches")) == 1 and model.batches == 1
    assert len(api.calls("POST", "/v1/messages")) == 2 and model.fallbacks == 2  # canceled + errored, direct
    assert [o.output["label"] for o in outcomes] == ["pos", "pos", "neg", "neg"]
    entries = ledger.read()
    assert sorted(e.batch for e in entries) == [False, False, True, True]
    for e in entries:
        full = PRICES["claude-haiku-5-5"]
        expected = (e.usage.input_tokens * full.input_per_mtok + e.usage.output_tokens * full.output_per_mtok
                    + e.usage.cache_read_input_tokens * full.input_per_mtok * full.cache_read_multiplier) / 1e6
        assert e.cost_usd == pytest.approx(expected / 2 if e.batch else expected)
    assert list(tmp_path.glob("batch-*.json")) == []


def test_compiling_with_teacher_batch_sends_every_teacher_call_as_a_batch(tmp_path: Path) -> None:
    def outcome(cid: str, params: dict[str, Any]) -> dict[str, Any]:
        if "format" in params.get("output_config", {}):  # a structured answer to one input
            said = json.loads(params["messages"][-1]["content"])["text"]
            answer = json.dumps({"label": "pos" if "good" in said else "neg"})
        else:  # free text: drafting instructions
            answer = "Answer pos when the review is positive, neg otherwise."
        return succeeded(message([thinking(), text(answer)], usage=THINKING_USAGE, model="claude-opus-5-5"))

    api = FakeBatchAPI(outcome=outcome, polls_in_progress=1)
    teacher = AnthropicModel("claude-opus-5-5", client=api.client(), sleep=lambda s: asyncio.sleep(0))
    examples = [Example(input={"text": f"a {'good' if i % 2 else 'bad'} film, take {i}"},
                        expected={"label": "pos" if i % 2 else "neg"} if i < 10 else None) for i in range(14)]
    ledger = Ledger(tmp_path / "ledger.jsonl")
    skill = compile_skill(SPEC, examples=examples, options=CompileOptions(teacher_batch=True), teacher=teacher,
                          student=FunctionModel(review_oracle, model_id="test:student"), ledger=ledger)
    assert api.calls("POST", "/v1/messages") == []  # nothing sent one by one
    assert len(api.batches) == 2  # the draft, then the whole demo pool in one batch
    teacher_entries = [e for e in ledger.read() if e.role == "teacher"]
    assert teacher_entries and all(e.batch for e in teacher_entries)
    assert skill.manifest.provenance.options.teacher_batch is True
    assert isinstance(skill.default_teacher, AnthropicModel)  # escalations later are not batched
    assert list((read_env().batch_state_dir).glob("*.json")) == []
    console = Console(record=True, width=200)
    print_compile_report(console, skill, ledger)
    assert f"batched: {len(teacher_entries)} teacher call(s)" in console.export_text()


def test_teacher_batch_needs_a_teacher_with_a_batch_api() -> None:
    examples = [Example(input={"text": f"good {i}"}, expected={"label": "pos"}) for i in range(8)]
    with pytest.raises(SpecError, match="batch API") as info:
        compile_skill(SPEC, examples=examples, options=CompileOptions(teacher_batch=True),
                      teacher=FunctionModel(review_oracle), student=FunctionModel(review_oracle), ledger=Ledger(None))
    assert info.value.field == "teacher_batch"


def test_escalations_of_concurrent_runs_go_out_as_one_batch(compiled_skill: Any, tmp_path: Path) -> None:
    api = FakeBatchAPI(outcome=lambda cid, params: succeeded(message([thinking(), text('{"label": "neg"}')])),
                       polls_in_progress=1)
    teacher = BatchingModel(AnthropicModel("claude-opus-5-5", client=api.client(), sleep=lambda s: asyncio.sleep(0)),
                            state_dir=tmp_path)
    student = FunctionModel(lambda r: "no idea" if "meh" in skill_input(r)["text"] else review_oracle(r), logprob=None)
    runner = compiled_skill.runner(student=student, teacher=teacher, ledger=Ledger(None))

    async def all_of_them() -> list[Any]:
        return list(await asyncio.gather(*(runner.arun({"text": t}) for t in ("good", "meh 1", "meh 2", "bad"))))

    results = asyncio.run(all_of_them())
    assert [r.escalated for r in results] == [False, True, True, False]
    assert [r.output["label"] for r in results] == ["pos", "neg", "neg", "neg"]
    (batch,) = api.batches.values()
    assert len(batch) == 2 and all(it["params"]["output_config"]["effort"] == "high" for it in batch)
    assert all(a.cost_usd is not None for r in results for a in r.attempts)


def test_a_recording_wrapper_calls_the_roles_copy_of_its_model(tmp_path: Path) -> None:
    from skillforge.regress import CassetteModel

    server = FakeServer().push(ok(text('{"label": "pos"}')))
    claude, _ = make_model(server, name="claude-haiku-5-5")
    recorder = CassetteModel(claude, tmp_path, "record")
    assert recorder.for_role("student") is recorder and not recorder.supports_temperature
    run(recorder)
    assert server.bodies[0]["output_config"]["effort"] == "low"
    replay = CassetteModel("anthropic:claude-haiku-5-5", tmp_path, "replay")
    assert not replay.supports_temperature  # judged by the id, nothing built
