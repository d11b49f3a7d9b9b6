"""The contract every model provider keeps, run on each of them with the same tests.

- ``local``: the embedded SmolLM2 in-process (llama.cpp), for real.
- ``openai``: the OpenAI-compatible provider against a real server: llama-cpp-python's own
  OpenAI-compatible server on the embedded model, started on localhost for the session.
- ``anthropic``: the Anthropic provider over a scripted Messages API server that answers from the
  request (no Anthropic-compatible server runs offline here).

The contract: an answer is a :class:`ModelResponse` carrying the model's id, text, usage and latency;
a provider that says it constrains output returns JSON valid under the requested schema; one that says
it gives logprobs gives a confidence in (0, 1] when asked and none when not; free text works, and the
sync wrapper works inside a running event loop; a request the server cannot serve raises a
:class:`ModelAPIError` (never an SDK's own exception); the registry builds the provider from its id;
and a compiled skill runs on it, every call in the ledger.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import pytest

from skillforge import Ledger
from skillforge.errors import ModelAPIError
from skillforge.models.anthropic.model import AnthropicModel
from skillforge.models.base import Message, Model, ModelRequest, ModelResponse
from skillforge.models.pricing import Price
from skillforge.models.registry import get_model
from skillforge.testing import FunctionModel

from anthropic_fixtures import FAKE_KEY, FakeServer, compiled_review_skill, error, ok, review_oracle, text, tool_use
from helpers import SENTIMENT_OUT


@dataclass
class Subject:
    """A provider under test and the environment under which ``get_model(model.model_id)`` builds it."""

    model: Model
    env: dict[str, str] = field(default_factory=dict)


def _sample(schema: dict[str, Any]) -> Any:
    """The first value ``schema`` allows (enough for the flat schemas these tests use)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: _sample(v) for k, v in schema.get("properties", {}).items()}
    return {"boolean": True, "integer": 1, "number": 1.0}.get(str(kind), "text")


def _messages_server(request: httpx2.Request) -> httpx2.Response:
    """A Messages API server that answers from the request: the schema's first value in the format asked
    for, prose without a schema, and 400 for a prompt past a 4,096-word window."""
    body = json.loads(request.content)
    words = sum(len(str(m["content"]).split()) for m in body["messages"])
    if words > 4096:
        return error(400, "invalid_request_error", f"prompt is too long: {words} tokens > 4096 maximum")
    usage = {"input_tokens": words, "output_tokens": 5}
    schema = body.get("output_config", {}).get("format", {}).get("schema")
    if schema is not None:
        return ok(text(json.dumps(_sample(schema))), usage=usage)
    if body.get("tools"):
        return ok(tool_use(_sample(body["tools"][0]["input_schema"])), usage=usage, stop_reason="tool_use")
    return ok(text("Hello there."), usage=usage)


def _anthropic_subject() -> Subject:
    server = FakeServer()
    server.push(*[_messages_server] * 50)
    return Subject(AnthropicModel("claude-haiku-4-5", client=server.client()), {"ANTHROPIC_API_KEY": FAKE_KEY})


@pytest.fixture(params=[pytest.param("local", marks=pytest.mark.local_model),
                        pytest.param("openai", marks=pytest.mark.local_model),
                        "anthropic"])
def subject(request: pytest.FixtureRequest) -> Subject:
    if request.param == "local":
        return Subject(get_model("local:smollm2-135m"))
    if request.param == "openai":
        server = request.getfixturevalue("llama_server")
        # A self-hosted server bills nothing per token: priced at zero, so costs add up.
        model = server.model(price=Price(input_per_mtok=0, output_per_mtok=0))
        return Subject(model, {"SKILLFORGE_OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": server.api_key})
    return _anthropic_subject()


def request_for(text: str) -> ModelRequest:
    return ModelRequest(system="Classify the sentiment of the review. Answer in JSON.",
                        messages=(Message(role="user", content=json.dumps({"text": text})),),
                        output_schema=SENTIMENT_OUT, max_tokens=24)


def test_a_structured_request_gets_a_valid_answer_with_usage_latency_cost_and_confidence(subject: Subject) -> None:
    model = subject.model
    response = model.request_sync(request_for("I love it, works great"))
    assert response.model_id == model.model_id
    if model.supports_structured_output:
        jsonschema.validate(json.loads(response.text), SENTIMENT_OUT)
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.latency_s > 0
    cost = model.cost_of(response)
    assert cost is not None and cost >= 0
    if model.supports_logprobs:
        assert response.confidence is not None and 0.0 < response.confidence <= 1.0
    else:
        assert response.logprob_sum is None


def test_free_text_without_logprobs_works_from_inside_a_running_event_loop(subject: Subject) -> None:
    """``request_sync`` called from async code (a notebook, an async app) runs in a worker thread."""
    free_text = ModelRequest(system="You are terse.", messages=(Message(role="user", content="Say hello."),),
                             max_tokens=8, logprobs=False)

    async def from_async_code() -> ModelResponse:
        return subject.model.request_sync(free_text)

    response = asyncio.run(from_async_code())
    assert response.text.strip() and response.logprob_sum is None


def test_a_request_the_server_cannot_serve_is_a_model_api_error(subject: Subject) -> None:
    too_long = request_for("word " * 6000)
    with pytest.raises(ModelAPIError) as info:
        subject.model.request_sync(too_long)
    assert info.value.model_id == subject.model.model_id


def test_the_registry_builds_the_provider_from_its_id(subject: Subject, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in subject.env.items():
        monkeypatch.setenv(name, value)
    built = get_model(subject.model.model_id)
    assert type(built) is type(subject.model) and built.model_id == subject.model.model_id


def test_a_compiled_skill_runs_on_the_provider_and_the_ledger_has_every_call(
    subject: Subject, tmp_path: Path
) -> None:
    skill = compiled_review_skill(tmp_path)
    teacher = FunctionModel(review_oracle, model_id="test:teacher")
    ledger = Ledger(tmp_path / "ledger.jsonl")
    result = skill.run({"text": "a good film, I loved it"}, student=subject.model, teacher=teacher, ledger=ledger)
    assert result.output["label"] in ("pos", "neg")
    entries = ledger.read()
    assert [e.model_id for e in entries] == [a.model_id for a in result.attempts]
    student_calls = [e for e in entries if e.model_id == subject.model.model_id]
    assert student_calls and all(e.role == "student" and e.usage.input_tokens > 0 for e in student_calls)

