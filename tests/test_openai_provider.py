"""The OpenAI-compatible provider: what it sends, how it reads answers, how it maps errors and retries
(against the real SDK client over a scripted server), and a few checks against the real local server.

Retries wait through an injected ``sleep`` that returns at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from typing import Any

import httpx2
import pytest

from skillforge.errors import (
    ConfigurationError,
    ModelAPIError,
    ModelAuthError,
    ModelRequestRejected,
    UnknownPriceWarning,
)
from skillforge.models.base import Message, ModelRequest, Usage
from skillforge.models.openai_compat.model import NO_KEY, OpenAIModel
from skillforge.models.pricing import Price, reset_price_warnings
from skillforge.models.registry import get_model

from anthropic_fixtures import SCHEMA, make_request
from openai_fixtures import FAKE_KEY, OpenAIServer, completion, failure, make_openai_model


def run(model: OpenAIModel, request: ModelRequest | None = None) -> Any:
    return asyncio.run(model.request(request or make_request()))


# -- what is sent ----------------------------------------------------------------------------------


def test_the_request_is_system_first_with_the_schema_as_response_format_and_logprobs() -> None:
    server = OpenAIServer().push(completion())
    model, _ = make_openai_model(server)
    run(model, make_request().model_copy(update={"seed": 7}))
    body = server.bodies[0]
    assert body["model"] == "qwen2.5-7b"
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][0]["content"] == "Classify the review."
    assert body["messages"][-1]["content"] == '{"text": "good fun"}'
    assert (body["max_tokens"], body["temperature"], body["seed"]) == (256, 0.0, 7)
    assert (body["logprobs"], body["top_logprobs"]) == (True, 0)
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}
    assert server.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"


def test_free_text_sends_no_response_format_and_no_seed_unless_given() -> None:
    server = OpenAIServer().push(completion("hello"))
    model, _ = make_openai_model(server)
    run(model, make_request(schema=None).model_copy(update={"logprobs": False}))
    body = server.bodies[0]
    assert not {"response_format", "seed", "logprobs", "top_logprobs"} & set(body)


def test_json_object_mode_carries_the_schema_the_way_llama_cpp_python_reads_it() -> None:
    server = OpenAIServer().push(completion())
    model, _ = make_openai_model(server, structured="json_object")
    run(model)
    assert server.bodies[0]["response_format"] == {"type": "json_object", "schema": SCHEMA}


# -- what is read ----------------------------------------------------------------------------------


def test_the_answer_usage_request_id_and_value_token_confidence_are_read() -> None:
    tokens = [('{"', -0.5), ("label", -3.0), ('": "', -0.2), ("po", -0.25), ('s"}', -0.5)]
    usage = {"prompt_tokens": 1200, "completion_tokens": 40, "prompt_tokens_details": {"cached_tokens": 1024},
             "completion_tokens_details": {"reasoning_tokens": 30}}
    server = OpenAIServer().push(completion('{"label": "pos"}', logprobs=tokens, usage=usage, request_id="req-77"))
    model, _ = make_openai_model(server)
    response = run(model)
    assert response.text == '{"label": "pos"}' and response.stop_reason == "stop"
    assert response.request_id == "req-77"
    assert response.usage == Usage(input_tokens=176, cache_read_input_tokens=1024, output_tokens=40,
                                   thinking_tokens=30)
    # Only the value's tokens count (the key and punctuation are forced by the schema), as locally.
    assert response.logprob_sum == pytest.approx(-0.25 - 0.5)


@pytest.mark.parametrize("logprobs", [
    [("{", float("-inf"))],  # a server's way to say "impossible": no finite confidence
    [("{", 0.5)],  # not a log-probability
])
def test_logprobs_that_are_not_usable_give_no_confidence(logprobs: list[tuple[str, float]]) -> None:
    server = OpenAIServer().push(completion(logprobs=None))
    server.replies[0] = httpx2.Response(200, json={
        "choices": [{"message": {"content": "{}"}, "finish_reason": "stop",
                     "logprobs": {"content": [{"token": t, "logprob": lp if lp != float("-inf") else None}
                                              for t, lp in logprobs]}}]})
    model, _ = make_openai_model(server)
    response = run(model)
    assert response.logprob_sum is None and response.usage == Usage()


def test_a_refusal_is_a_refused_response() -> None:
    server = OpenAIServer().push(completion(None, refusal="I can't help with that."))
    model, _ = make_openai_model(server)
    response = run(model)
    assert response.refused and response.text == ""


@pytest.mark.parametrize("body", [{"choices": []}, {"object": "chat.completion"}, ["not", "an", "object"]])
def test_a_body_without_an_answer_is_an_api_error(body: Any) -> None:
    server = OpenAIServer().push(httpx2.Response(200, json=body, headers={"x-request-id": "req-odd"}))
    model, _ = make_openai_model(server)
    with pytest.raises(ModelAPIError) as info:
        run(model)
    assert info.value.request_id == "req-odd"


# -- errors and retries ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_a_rejected_request_is_not_retried(status: int) -> None:
    server = OpenAIServer().push(failure(status, "model 'nope' does not exist", request_id="req-rej"))
    model, sleep = make_openai_model(server)
    with pytest.raises(ModelRequestRejected) as info:
        run(model)
    exc = info.value
    assert (exc.status, exc.error_type, exc.request_id, exc.retryable) == (
        status, "invalid_request_error", "req-rej", False)
    assert "does not exist" in str(exc) and len(server.requests) == 1 and sleep.waits == []


@pytest.mark.parametrize("status", [401, 403])
def test_an_auth_failure_is_a_model_auth_error_and_not_retried(status: int) -> None:
    server = OpenAIServer().push(failure(status, f"Incorrect API key provided: {FAKE_KEY}"))
    model, sleep = make_openai_model(server)
    with pytest.raises(ModelAuthError) as info:
        run(model)
    assert info.value.status == status and len(server.requests) == 1 and sleep.waits == []
    assert FAKE_KEY not in str(info.value)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_with_backoff(status: int) -> None:
    server = OpenAIServer().push(failure(status, "try again", error_type="server_error"), completion())
    model, sleep = make_openai_model(server)
    assert run(model).text == '{"label": "pos"}'
    assert len(server.requests) == 2 and len(sleep.waits) == 1 and 1.0 <= sleep.waits[0] <= 2.0


def test_a_429_waits_as_long_as_retry_after_says() -> None:
    server = OpenAIServer().push(failure(429, "Rate limit reached", headers={"retry-after-ms": "2500"}), completion())
    model, sleep = make_openai_model(server)
    run(model)
    assert sleep.waits == [2.5]


def test_dropped_connections_and_timeouts_are_retried_then_reported() -> None:
    def timeout(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    server = OpenAIServer().push(httpx2.ConnectError("connection reset"), httpx2.RemoteProtocolError("dropped"),
                                 completion())
    model, sleep = make_openai_model(server)
    assert run(model).text == '{"label": "pos"}' and len(sleep.waits) == 2

    server = OpenAIServer().push(timeout, timeout, timeout)
    model, sleep = make_openai_model(server, max_attempts=3, timeout=9.5)
    with pytest.raises(ModelAPIError) as info:
        run(model)
    exc = info.value
    assert exc.retryable and exc.status is None and exc.error_type == "timeout"
    assert "no response within 9.5s" in str(exc) and "gave up after 3 attempts" in str(exc)
    assert len(server.requests) == 3 and server.requests[0].extensions["timeout"]["read"] == 9.5


def test_attempts_are_capped_and_the_last_error_is_reported() -> None:
    server = OpenAIServer().push(*[failure(503, "overloaded", error_type="server_error", request_id=f"req-{i}")
                                   for i in range(4)])
    model, sleep = make_openai_model(server, max_attempts=4)
    with pytest.raises(ModelAPIError) as info:
        run(model)
    exc = info.value
    assert type(exc) is ModelAPIError and exc.retryable and (exc.status, exc.request_id) == (503, "req-3")
    assert "gave up after 4 attempts" in str(exc) and len(server.requests) == 4
    for n, wait in enumerate(sleep.waits):
        assert 2.0**n <= wait <= 2.0**n + 1.0


def test_retries_are_logged_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = OpenAIServer().push(failure(502, f"bad gateway for {FAKE_KEY}", request_id="req-log"), completion())
    model, _ = make_openai_model(server)
    run(model)
    assert "HTTP 502" in caplog.text and "req-log" in caplog.text and FAKE_KEY not in caplog.text


# -- what a server refuses is not sent again -----------------------------------------------------------


def test_auto_structured_output_falls_back_to_json_object_then_text_and_remembers() -> None:
    server = OpenAIServer().push(
        failure(400, "response_format json_schema is not supported"),
        failure(400, "response_format json_object is not supported"),
        completion(), completion())
    model, _ = make_openai_model(server)
    run(model)
    run(model)
    formats = [b.get("response_format", {}).get("type") for b in server.bodies]
    assert formats == ["json_schema", "json_object", None, None]
    assert model.structured_mode == "text" and not model.supports_structured_output


def test_llama_cpp_pythons_500_validation_error_is_not_retried_but_degrades() -> None:
    message = ("1 validation error:\n {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
               "'msg': \"Input should be 'text' or 'json_object'\"}")
    server = OpenAIServer().push(failure(500, message, error_type="internal_server_error"), completion())
    model, sleep = make_openai_model(server)
    run(model)
    assert sleep.waits == [] and model.structured_mode == "json_object"


@pytest.mark.parametrize("refusal, dropped, instead", [
    ("Unsupported parameter: 'logprobs' is not supported with this model.", "logprobs", None),
    ("Unsupported value: 'temperature' does not support 0 with this model.", "temperature", None),
    ("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
     "max_tokens", "max_completion_tokens"),
])
def test_a_refused_parameter_is_dropped_and_remembered(refusal: str, dropped: str, instead: str | None) -> None:
    server = OpenAIServer().push(failure(400, refusal), completion(), completion())
    model, _ = make_openai_model(server)
    run(model)
    run(model)
    assert dropped in server.bodies[0] and all(dropped not in b for b in server.bodies[1:])
    assert instead is None or all(b[instead] == 256 for b in server.bodies[1:])


def test_an_explicit_mode_is_not_degraded() -> None:
    server = OpenAIServer().push(failure(400, "response_format json_schema is not supported"))
    model, _ = make_openai_model(server, structured="json_schema")
    with pytest.raises(ModelRequestRejected):
        run(model)
    assert len(server.requests) == 1


# -- configuration, clients, cost ------------------------------------------------------------------------


def test_base_url_and_key_default_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://other:1/v1")
    monkeypatch.setenv("SKILLFORGE_OPENAI_BASE_URL", "http://gpu-box:8000/v1/")
    model = get_model("openai:Qwen/Qwen2.5-7B-Instruct")
    assert isinstance(model, OpenAIModel) and model.model_id == "openai:Qwen/Qwen2.5-7B-Instruct"
    assert model.base_url == "http://gpu-box:8000/v1" and model.name == "Qwen/Qwen2.5-7B-Instruct"
    assert OpenAIModel("m", base_url="http://explicit:9/v1").base_url == "http://explicit:9/v1"


def test_the_openai_api_needs_a_key_and_a_self_hosted_server_gets_a_placeholder() -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAIModel("gpt-5-mini")
    model = OpenAIModel("llama3", base_url="http://localhost:11434/v1")

    async def key() -> str:
        return model._client().api_key

    assert asyncio.run(key()) == NO_KEY


def test_one_client_serves_every_call_on_a_loop_without_sdk_retries() -> None:
    model = OpenAIModel("m", base_url="http://localhost:9/v1")

    async def clients() -> tuple[Any, Any]:
        return model._client(), model._client()

    first, second = asyncio.run(clients())
    assert first is second and first.max_retries == 0


def test_cost_is_the_given_price_or_none_with_one_warning() -> None:
    server = OpenAIServer().push(completion(usage={"prompt_tokens": 2000, "completion_tokens": 100,
                                                   "prompt_tokens_details": {"cached_tokens": 1000}}))
    model, _ = make_openai_model(server, price={"input_per_mtok": 0.5, "output_per_mtok": 2.0,
                                                "cache_read_multiplier": 0.5})
    response = run(model)
    assert model.cost_of(response) == pytest.approx((1000 * 0.5 + 1000 * 0.25 + 100 * 2.0) / 1e6)

    reset_price_warnings()
    unpriced = OpenAIModel("m", base_url="http://localhost:9/v1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert unpriced.cost_usd(Usage(input_tokens=5)) is None
        assert unpriced.cost_usd(Usage(input_tokens=5)) is None
    assert [w.category for w in caught] == [UnknownPriceWarning] and "price=Price(" in str(caught[0].message)
    assert OpenAIModel("m", base_url="http://x/v1", price=Price(input_per_mtok=0, output_per_mtok=0)).cost_usd(
        Usage(input_tokens=10**6)) == 0.0


@pytest.mark.parametrize("kw", [{"structured": "tool"}, {"max_attempts": 0}, {"timeout": 0}])
def test_bad_settings_are_configuration_errors(kw: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        OpenAIModel("m", base_url="http://localhost:9/v1", **kw)


# -- against the real local server -------------------------------------------------------------------


@pytest.mark.local_model
def test_on_llama_cpp_python_the_confidence_is_the_local_providers(llama_server: Any) -> None:
    """The same request, served by llama-cpp-python's server and run in-process, gives the same answer
    and the same value-token confidence; auto mode settles on the server's json_object."""
    request = ModelRequest(system="Classify the sentiment. Answer in JSON.",
                           messages=(Message(role="user", content='{"text": "Awful. Broke in a day."}'),),
                           output_schema={"type": "object", "properties": {"sentiment": {
                               "type": "string", "enum": ["positive", "negative"]}}, "required": ["sentiment"]},
                           max_tokens=24)
    served = llama_server.model().request_sync(request)
    local = get_model("local:smollm2-135m").request_sync(request)
    assert json.loads(served.text) == json.loads(local.text)
    assert served.logprob_sum is not None and local.logprob_sum is not None
    assert served.logprob_sum == pytest.approx(local.logprob_sum, rel=1e-3, abs=1e-3)


@pytest.mark.local_model
def test_on_the_real_server_a_wrong_key_is_an_auth_error(llama_server: Any) -> None:
    model = OpenAIModel("smollm2-135m", base_url=llama_server.base_url, api_key="not-the-key")
    with pytest.raises(ModelAuthError) as info:
        model.request_sync(make_request())
    assert info.value.status == 401
