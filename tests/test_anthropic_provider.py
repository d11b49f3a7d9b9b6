"""The Anthropic provider, against the real SDK client over a scripted Messages API server.

Nothing here reaches the network: ``anthropic_fixtures.FakeServer`` answers through an
``httpx2.MockTransport``, and retries wait through an injected ``sleep`` that returns at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from skillforge.errors import (
    ConfigurationError,
    ModelAPIError,
    ModelAuthError,
    ModelRequestRejected,
    SpecError,
)
from skillforge.models.anthropic.model import AnthropicModel
from skillforge.models.anthropic.schema import adapt_schema, structured_output_problems, tool_schema_problems
from skillforge.models.base import ModelRequest, Usage
from skillforge.models.pricing import Price, PriceTable, reset_price_warnings
from skillforge.models.registry import get_model

from anthropic_fixtures import (
    ANSWER,
    BASE_URL,
    FAKE_KEY,
    SCHEMA,
    FakeServer,
    SleepRecorder,
    compiled_review_skill,
    error,
    make_model,
    make_request,
    ok,
    review_oracle,
    text,
    tool_use,
)


def run(model: AnthropicModel, request: ModelRequest | None = None) -> Any:
    return asyncio.run(model.request(request or make_request()))


def cache_markers(body: Any) -> int:
    """How many cache_control breakpoints a request body carries."""
    if isinstance(body, dict):
        return ("cache_control" in body) + sum(cache_markers(v) for v in body.values())
    if isinstance(body, list):
        return sum(cache_markers(v) for v in body)
    return 0


# -- what is sent ------------------------------------------------------------------------------


def test_static_prefix_is_cached_system_and_last_demo() -> None:
    server = FakeServer().push(ok(text(json.dumps(ANSWER))))
    model, _ = make_model(server)
    run(model)
    body = server.bodies[0]
    assert body["system"] == [
        {"type": "text", "text": "Classify the review.", "cache_control": {"type": "ephemeral"}}
    ]
    first, last_demo, user_input = body["messages"]
    assert first == {"role": "user", "content": '{"text": "a good film"}'}
    assert last_demo["content"] == [
        {"type": "text", "text": '{"label": "pos"}', "cache_control": {"type": "ephemeral"}}
    ]
    assert user_input == {"role": "user", "content": '{"text": "good fun"}'}
    assert cache_markers(body) == 2  # of the API's 4 breakpoints
    assert body["model"] == "claude-haiku-4-5"
    assert body["max_tokens"] == 256
    assert body["temperature"] == 0.0


def test_without_demos_only_the_system_text_is_cached() -> None:
    server = FakeServer().push(ok(text("{}")))
    model, _ = make_model(server)
    run(model, make_request(static=0))
    assert cache_markers(server.bodies[0]) == 1
    assert "cache_control" in server.bodies[0]["system"][0]


def test_auto_mode_asks_for_structured_output_with_an_adapted_schema() -> None:
    server = FakeServer().push(ok(text(json.dumps(ANSWER))))
    model, _ = make_model(server)
    run(model)
    body = server.bodies[0]
    assert "tools" not in body and "tool_choice" not in body
    fmt = body["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    assert fmt["schema"]["additionalProperties"] is False
    assert fmt["schema"]["properties"]["reason"] == {"type": "string", "description": '{minLength: 3}'}
    assert SCHEMA["properties"]["reason"] == {"type": "string", "minLength": 3}  # caller's dict untouched


def test_tool_mode_forces_the_answer_tool_with_the_full_schema() -> None:
    server = FakeServer().push(ok(tool_use(ANSWER), stop_reason="tool_use"))
    model, _ = make_model(server, structured="tool")
    response = run(model)
    body = server.bodies[0]
    assert "output_config" not in body
    assert body["tools"][0]["name"] == "answer"
    assert body["tools"][0]["input_schema"] == SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert json.loads(response.text) == ANSWER
    assert response.stop_reason == "tool_use"


@pytest.mark.parametrize("schema, structured", [(None, "auto"), (SCHEMA, "text")])
def test_free_text_and_text_mode_send_neither_output_config_nor_tools(
    schema: dict[str, Any] | None, structured: Any
) -> None:
    server = FakeServer().push(ok(text("hello")))
    model, _ = make_model(server, structured=structured)
    assert run(model, make_request(schema)).text == "hello"
    assert not {"output_config", "tools", "tool_choice"} & set(server.bodies[0])


def test_models_without_sampling_parameters_get_no_temperature() -> None:
    # Opus 4.7 onwards answer 400 "`temperature` is deprecated for this model".
    server = FakeServer().push(ok(text("{}")))
    model, _ = make_model(server, name="claude-opus-4-8")
    run(model)
    assert "temperature" not in server.bodies[0]


def test_the_sdk_itself_never_retries() -> None:
    server = FakeServer().push(ok(text("{}")))
    client = server.client(max_retries=5)  # even a client configured to retry
    model = AnthropicModel("claude-haiku-4-5", client=client, sleep=SleepRecorder())
    asyncio.run(model.request(make_request()))
    request = server.requests[0]
    assert request.headers["x-stainless-retry-count"] == "0"
    assert FAKE_KEY in (request.headers.get("x-api-key", "") + request.headers.get("authorization", ""))


# -- what comes back ---------------------------------------------------------------------------


def test_a_json_text_answer_is_returned_with_usage_and_request_id() -> None:
    usage = {"input_tokens": 20, "output_tokens": 9, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0}
    server = FakeServer().push(ok(text('{"label": "neg"}'), usage=usage, request_id="req_abc"))
    model, _ = make_model(server)
    response = run(model)
    assert response.text == '{"label": "neg"}'
    assert response.model_id == "anthropic:claude-haiku-4-5"
    assert response.usage == Usage(input_tokens=20, output_tokens=9)
    assert response.stop_reason == "end_turn"
    assert response.request_id == "req_abc"
    assert response.logprob_sum is None and response.latency_s >= 0


def test_cache_usage_is_recorded_and_priced_with_the_cache_multipliers() -> None:
    usage = {"input_tokens": 100, "output_tokens": 50, "cache_creation_input_tokens": 2000,
             "cache_read_input_tokens": 8000}
    server = FakeServer().push(ok(text("{}"), usage=usage))
    model, _ = make_model(server)
    response = run(model)
    assert response.usage == Usage(input_tokens=100, output_tokens=50, cache_creation_input_tokens=2000,
                                   cache_read_input_tokens=8000)
    # Haiku 4.5: $1 in, $5 out per MTok; cache writes 1.25x and reads 0.1x the input price.
    expected = (100 * 1.0 + 2000 * 1.25 + 8000 * 0.1 + 50 * 5.0) / 1e6
    assert model.cost_usd(response.usage) == pytest.approx(expected)


def test_missing_or_null_usage_fields_count_as_zero() -> None:
    server = FakeServer().push(ok(text("{}"), usage={"input_tokens": 5, "output_tokens": None,
                                                      "cache_read_input_tokens": None}))
    model, _ = make_model(server)
    assert run(model).usage == Usage(input_tokens=5)


def test_unknown_content_blocks_are_skipped() -> None:
    server = FakeServer().push(ok(
        {"type": "thinking", "thinking": "The review says good.", "signature": "EqQBCgIYAhIM"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
        {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "x"}},
        {"type": "a_block_type_from_the_future", "payload": [1, 2, 3]},
        text('{"label": '),
        text('"pos"}'),
    ))
    model, _ = make_model(server)
    assert run(model).text == '{"label": "pos"}'


def test_no_usable_block_gives_empty_text_for_the_runtime_to_reject() -> None:
    server = FakeServer().push(ok({"type": "a_block_type_from_the_future"}, stop_reason="refusal"))
    model, _ = make_model(server)
    response = run(model)
    assert response.text == "" and response.stop_reason == "refusal"


def test_a_server_that_ignores_structured_output_gets_its_prose_passed_through() -> None:
    # llama-server's /v1/messages ignores output_config and tools: the runtime judges the prose.
    prose = "Sure! The review is positive."
    server = FakeServer().push(ok(text(prose)), ok(text(prose)))
    for structured in ("auto", "tool"):
        model, _ = make_model(server, structured=structured)
        assert run(model).text == prose


def test_a_body_that_is_not_json_is_an_api_error_not_a_crash() -> None:
    server = FakeServer().push(httpx2.Response(200, text="<html>proxy says hi</html>"))
    model, _ = make_model(server)
    with pytest.raises(ModelAPIError, match="not JSON") as info:
        run(model)
    assert not info.value.retryable and len(server.requests) == 1


# -- graceful degradation ------------------------------------------------------------------------


def test_auto_falls_back_to_the_tool_then_remembers() -> None:
    server = FakeServer().push(
        error(400, "invalid_request_error", "output_config: Extra inputs are not permitted"),
        ok(tool_use(ANSWER)),
        ok(tool_use(ANSWER)),
    )
    model, _ = make_model(server)
    assert json.loads(run(model).text) == ANSWER
    assert json.loads(run(model).text) == ANSWER
    first, second, third = server.bodies
    assert "output_config" in first
    assert "tools" in second and "output_config" not in second
    assert "tools" in third  # remembered: no second try of output_config
    assert model.structured_mode == "tool"


def test_auto_falls_back_to_text_when_tools_are_refused_too() -> None:
    server = FakeServer().push(
        error(400, "invalid_request_error", "'claude-x' does not support structured outputs"),
        error(400, "invalid_request_error", "tool_choice: forced tool use is not supported"),
        ok(text(json.dumps(ANSWER))),
    )
    model, _ = make_model(server)
    assert json.loads(run(model).text) == ANSWER
    assert not {"output_config", "tools"} & set(server.bodies[2])
    assert model.structured_mode == "text"


def test_an_explicit_mode_is_not_degraded() -> None:
    server = FakeServer().push(error(400, "invalid_request_error", "output_config.format: not supported"))
    model, _ = make_model(server, structured="output_config")
    with pytest.raises(ModelRequestRejected):
        run(model)
    assert len(server.requests) == 1


def test_a_refused_temperature_is_dropped_and_remembered() -> None:
    server = FakeServer().push(
        error(400, "invalid_request_error", "`temperature` is deprecated for this model."),
        ok(text("{}")),
        ok(text("{}")),
    )
    model, _ = make_model(server, name="claude-sonnet-4-6")
    run(model)
    run(model)
    assert [("temperature" in b) for b in server.bodies] == [True, False, False]


def test_a_refused_cache_control_turns_caching_off_for_the_instance() -> None:
    server = FakeServer().push(
        error(400, "invalid_request_error", "system.0.cache_control: Extra inputs are not permitted"),
        ok(text("{}")),
    )
    model, _ = make_model(server)
    run(model)
    assert [cache_markers(b) for b in server.bodies] == [2, 0]


def test_a_schema_structured_outputs_cannot_express_goes_straight_to_the_tool() -> None:
    free_map = {"type": "object", "properties": {"tags": {"type": "object", "additionalProperties": {
        "type": "string"}}}, "required": ["tags"]}
    server = FakeServer().push(ok(tool_use({"tags": {"a": "b"}})), ok(text("{}")))
    model, _ = make_model(server)
    assert json.loads(run(model, make_request(free_map)).text) == {"tags": {"a": "b"}}
    assert "tools" in server.bodies[0] and "output_config" not in server.bodies[0]
    run(model)  # an expressible schema still uses structured outputs on the same instance
    assert "output_config" in server.bodies[1]


# -- errors that are not retried -----------------------------------------------------------------


@pytest.mark.parametrize("status, error_type", [
    (400, "invalid_request_error"), (404, "not_found_error"), (413, "request_too_large"),
])
def test_a_rejected_request_is_not_retried(status: int, error_type: str) -> None:
    server = FakeServer().push(error(status, error_type, "bad request", request_id="req_rej"))
    model, sleep = make_model(server)
    with pytest.raises(ModelRequestRejected) as info:
        run(model)
    exc = info.value
    assert (exc.status, exc.error_type, exc.request_id) == (status, error_type, "req_rej")
    assert not exc.retryable
    assert "bad request" in str(exc) and "req_rej" in str(exc)
    assert len(server.requests) == 1 and sleep.waits == []


@pytest.mark.parametrize("status, error_type", [
    (401, "authentication_error"), (402, "billing_error"), (403, "permission_error"),
])
def test_an_auth_failure_is_a_model_auth_error_and_not_retried(status: int, error_type: str) -> None:
    server = FakeServer().push(error(status, error_type, "invalid x-api-key", request_id="req_auth"))
    model, sleep = make_model(server)
    with pytest.raises(ModelAuthError) as info:
        run(model)
    exc = info.value
    assert (exc.status, exc.error_type, exc.request_id) == (status, error_type, "req_auth")
    assert len(server.requests) == 1 and sleep.waits == []
    assert FAKE_KEY not in str(info.value)


# -- retries ------------------------------------------------------------------------------------


def test_a_429_waits_as_long_as_retry_after_says() -> None:
    server = FakeServer().push(
        error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
              headers={"retry-after": "7"}),
        ok(text("{}")),
    )
    model, sleep = make_model(server)
    assert run(model).text == "{}"
    assert sleep.waits == [7.0]
    assert len(server.requests) == 2


def test_retry_after_ms_is_more_precise_and_wins() -> None:
    server = FakeServer().push(
        error(429, "rate_limit_error", "slow down", headers={"retry-after-ms": "1500", "retry-after": "2"}),
        ok(text("{}")),
    )
    model, sleep = make_model(server)
    run(model)
    assert sleep.waits == [1.5]


@pytest.mark.parametrize("status, error_type", [
    (500, "api_error"), (502, "api_error"), (503, "api_error"), (504, "timeout_error"),
    (529, "overloaded_error"),
])
def test_transient_server_errors_are_retried_with_backoff(status: int, error_type: str) -> None:
    server = FakeServer().push(error(status, error_type, "try again"), ok(text("{}")))
    model, sleep = make_model(server)
    assert run(model).text == "{}"
    assert len(server.requests) == 2
    assert len(sleep.waits) == 1 and 1.0 <= sleep.waits[0] <= 2.0


def test_backoff_grows_exponentially_with_jitter_and_attempts_are_capped() -> None:
    server = FakeServer().push(*[error(529, "overloaded_error", "Overloaded", request_id=f"req_{i}")
                                 for i in range(4)])
    model, sleep = make_model(server, max_attempts=4)
    with pytest.raises(ModelAPIError) as info:
        run(model)
    exc = info.value
    assert type(exc) is ModelAPIError and exc.retryable
    assert (exc.status, exc.error_type, exc.request_id) == (529, "overloaded_error", "req_3")
    assert "gave up after 4 attempts" in str(exc)
    assert len(server.requests) == 4  # one HTTP call per attempt: the SDK does not retry underneath
    for n, wait in enumerate(sleep.waits):
        assert 2.0**n <= wait <= 2.0**n + 1.0


def test_a_retry_after_beyond_the_budget_gives_up_without_waiting() -> None:
    server = FakeServer().push(error(429, "rate_limit_error", "slow down", headers={"retry-after": "600"}))
    model, sleep = make_model(server, max_retry_seconds=120)
    with pytest.raises(ModelAPIError, match="beyond the 120s retry budget") as info:
        run(model)
    assert info.value.retryable and info.value.status == 429
    assert sleep.waits == [] and len(server.requests) == 1


def test_the_total_retry_time_is_capped() -> None:
    server = FakeServer().push(*[error(429, "rate_limit_error", "slow down", headers={"retry-after": "4"})
                                 for _ in range(10)])
    model, sleep = make_model(server, max_attempts=10, max_retry_seconds=10)
    with pytest.raises(ModelAPIError):
        run(model)
    assert sleep.waits == [4.0, 4.0]  # a third wait would pass 10 s
    assert len(server.requests) == 3


def test_timeouts_are_retried_then_reported() -> None:
    def timeout(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    server = FakeServer().push(timeout, timeout, timeout)
    model, sleep = make_model(server, max_attempts=3, timeout=12.5)
    with pytest.raises(ModelAPIError) as info:
        run(model)
    exc = info.value
    assert exc.retryable and exc.status is None and exc.error_type == "timeout"
    assert "no response within 12.5s" in str(exc) and "gave up after 3 attempts" in str(exc)
    assert len(server.requests) == 3 and len(sleep.waits) == 2


def test_the_per_call_timeout_reaches_the_transport() -> None:
    server = FakeServer().push(ok(text("{}")))
    model, _ = make_model(server, timeout=12.5)
    run(model)
    assert server.requests[0].extensions["timeout"]["read"] == 12.5


def test_retry_after_may_be_an_http_date() -> None:
    server = FakeServer().push(
        error(503, "api_error", "unavailable", headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        ok(text("{}")),
    )
    model, sleep = make_model(server)
    run(model)
    assert sleep.waits == [0.0]  # a date already past: retry at once


def test_an_error_body_that_is_not_json_still_gives_a_clear_error() -> None:
    server = FakeServer().push(*[httpx2.Response(502, text="Bad Gateway from the proxy") for _ in range(2)])
    model, _ = make_model(server, max_attempts=2)
    with pytest.raises(ModelAPIError, match="Bad Gateway from the proxy") as info:
        run(model)
    assert (info.value.status, info.value.error_type, info.value.retryable) == (502, None, True)


def test_a_connection_error_is_retried() -> None:
    server = FakeServer().push(httpx2.ConnectError("connection refused"), ok(text("{}")))
    model, sleep = make_model(server)
    assert run(model).text == "{}"
    assert len(server.requests) == 2 and len(sleep.waits) == 1


def test_retries_are_logged_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeServer().push(error(529, "overloaded_error", "Overloaded", request_id="req_log"),
                               ok(text("{}")))
    model, _ = make_model(server)
    run(model)
    assert "HTTP 529 overloaded_error" in caplog.text and "req_log" in caplog.text
    assert FAKE_KEY not in caplog.text


# -- sync path, clients, construction ------------------------------------------------------------


def test_the_sync_path_works_across_event_loops() -> None:
    server = FakeServer().push(ok(text('{"label": "pos"}')), ok(text('{"label": "neg"}')))
    model, _ = make_model(server)
    assert model.request_sync(make_request()).text == '{"label": "pos"}'
    assert model.request_sync(make_request()).text == '{"label": "neg"}'


def test_a_built_client_has_no_sdk_retries_and_one_instance_per_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = FakeServer().push(*[ok(text("{}")) for _ in range(3)])
    built: list[dict[str, Any]] = []
    real = anthropic.AsyncAnthropic

    def spy(**kw: Any) -> anthropic.AsyncAnthropic:
        built.append(kw)
        return real(**kw, http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(server.handler)))

    monkeypatch.setattr(anthropic, "AsyncAnthropic", spy)
    model = AnthropicModel("claude-haiku-4-5", api_key=FAKE_KEY, base_url=BASE_URL, timeout=30.0)
    model.request_sync(make_request())
    model.request_sync(make_request())  # sync calls on one thread share one event loop, so one client

    async def two() -> None:
        await model.request(make_request())

    asyncio.run(two())  # another event loop: an httpx async client cannot follow it there
    assert len(built) == 2
    assert built[0] == {"api_key": FAKE_KEY, "base_url": BASE_URL, "max_retries": 0, "timeout": 30.0}


def test_a_missing_api_key_is_a_configuration_error_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        AnthropicModel("claude-haiku-4-5")


def test_key_and_base_url_default_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:8080")
    built: list[dict[str, Any]] = []
    monkeypatch.setattr(anthropic, "AsyncAnthropic", lambda **kw: built.append(kw))
    model = get_model("anthropic:claude-haiku-4-5")
    assert isinstance(model, AnthropicModel) and model.model_id == "anthropic:claude-haiku-4-5"

    async def make_client() -> None:
        model._client()

    asyncio.run(make_client())
    assert built == [{"api_key": FAKE_KEY, "base_url": "http://127.0.0.1:8080", "max_retries": 0,
                      "timeout": 60.0}]


def test_capabilities_and_repr() -> None:
    model, _ = make_model(FakeServer())
    assert (model.supports_logprobs, model.supports_structured_output, model.is_local) == (False, True, False)
    assert repr(model) == "AnthropicModel('anthropic:claude-haiku-4-5')"
    assert FAKE_KEY not in repr(model)
    assert all(FAKE_KEY not in repr(v) for v in vars(model).values())


def test_cost_uses_a_user_price_table_and_is_none_for_an_unknown_model() -> None:
    reset_price_warnings()
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    mine = PriceTable({"claude-haiku-4-5": Price(input_per_mtok=2.0, output_per_mtok=3.0)})
    assert make_model(FakeServer(), prices=mine)[0].cost_usd(usage) == pytest.approx(5.0)
    unknown, _ = make_model(FakeServer(), name="my-local-gguf")
    with pytest.warns(UserWarning, match="my-local-gguf"):
        assert unknown.cost_usd(usage) is None


def test_async_requests_can_run_concurrently() -> None:
    server = FakeServer().push(*[ok(text(json.dumps({"label": "pos", "n": i}))) for i in range(5)])
    model, _ = make_model(server)

    async def many() -> list[str]:
        return [r.text for r in await asyncio.gather(*[model.request(make_request()) for _ in range(5)])]

    assert sorted(json.loads(t)["n"] for t in asyncio.run(many())) == [0, 1, 2, 3, 4]


def test_error_messages_never_carry_the_key_even_if_a_server_echoes_it(tmp_path: Path) -> None:
    server = FakeServer().push(error(401, "authentication_error", f"invalid x-api-key: {FAKE_KEY}"))
    model, _ = make_model(server)
    with pytest.raises(ModelAuthError) as info:
        run(model)
    assert FAKE_KEY not in str(info.value) and "[redacted]" in str(info.value)
    (tmp_path / "error.txt").write_text(repr(info.value) + str(info.value.args))


# -- schemas -------------------------------------------------------------------------------------


def test_adapt_schema_closes_every_object_and_folds_unsupported_constraints_into_descriptions() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Full name", "maxLength": 40, "pattern": "^[A-Z]"},
            "when": {"type": "string", "format": "date"},
            "colour": {"type": "string", "format": "hex-colour"},
            "score": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 5},
            "pairs": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}},
                      "minItems": 2},
            "kind": {"oneOf": [{"type": "string"}, {"type": "null"}]},
            "level": {"type": "string", "enum": ["low", "high"]},
            "ref": {"$ref": "#/$defs/Point"},
            "maybe": {"type": ["object", "null"], "properties": {"x": {"type": "integer"}}},
        },
        "required": ["name"],
        "additionalProperties": True,
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "integer", "multipleOf": 2}}}},
    }
    original = json.dumps(schema, sort_keys=True)
    out = adapt_schema(schema)
    assert json.dumps(schema, sort_keys=True) == original  # not mutated
    p = out["properties"]
    assert out["additionalProperties"] is False and out["required"] == ["name"] and "$schema" not in out
    assert p["name"] == {"type": "string", "description": 'Full name\n\n{maxLength: 40, pattern: "^[A-Z]"}'}
    assert p["when"] == {"type": "string", "format": "date"}
    assert p["colour"] == {"type": "string", "description": '{format: "hex-colour"}'}
    assert p["score"] == {"type": "number", "description": "{minimum: 0, maximum: 1}"}  # default dropped
    assert p["tags"] == {"type": "array", "items": {"type": "string"}, "minItems": 1,
                         "description": "{maxItems: 5}"}
    assert p["pairs"]["items"]["additionalProperties"] is False
    assert p["pairs"]["description"] == "{minItems: 2}"
    assert p["kind"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert p["level"] == {"enum": ["low", "high"]}
    assert p["ref"] == {"$ref": "#/$defs/Point"}
    assert p["maybe"]["additionalProperties"] is False
    assert out["$defs"]["Point"]["additionalProperties"] is False
    assert out["$defs"]["Point"]["properties"]["x"] == {"type": "integer", "description": "{multipleOf: 2}"}


def test_structured_output_problems_names_what_cannot_be_adapted() -> None:
    assert structured_output_problems(SCHEMA) == []
    schema = {
        "type": "object",
        "properties": {
            "map": {"type": "object", "additionalProperties": {"type": "integer"}},
            "anything": {"description": "any value at all"},
            "shape": {"enum": [{"a": 1}]},
            "tree": {"$ref": "#/$defs/Node"},
            "remote": {"$ref": "https://example.com/schema.json"},
        },
        "$defs": {"Node": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}},
    }
    problems = " | ".join(structured_output_problems(schema))
    assert "$.properties.map: a free-form map" in problems
    assert "$.properties.anything: a schema without a type" in problems
    assert "$.properties.shape: enum values must be" in problems
    assert "'#/$defs/Node' is recursive" in problems
    assert "external $ref 'https://example.com/schema.json'" in problems


def test_constraints_inside_dropped_keywords_are_not_problems() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "not": {"const": ""}}},
              "if": {"required": ["a"]}, "then": {"properties": {"a": {"minLength": 1}}}}
    assert structured_output_problems(schema) == []


def test_check_schema_reports_at_compile_time_what_the_chosen_mode_cannot_carry() -> None:
    free_map = {"type": "object", "properties": {"m": {"type": "object", "additionalProperties": True}}}
    external = {"type": "object", "properties": {"r": {"$ref": "other.json#/X"}}}
    auto, _ = make_model(FakeServer())
    strict, _ = make_model(FakeServer(), structured="output_config")
    tool, _ = make_model(FakeServer(), structured="tool")
    as_text, _ = make_model(FakeServer(), structured="text")
    auto.check_schema(free_map)  # goes through the tool instead
    tool.check_schema(free_map)
    as_text.check_schema(external)
    with pytest.raises(SpecError, match=r"output_schema: .*\$\.properties\.m: a free-form map"):
        strict.check_schema(free_map)
    for model in (auto, strict, tool):
        with pytest.raises(SpecError, match="external \\$ref"):
            model.check_schema(external)
    assert tool_schema_problems(external) and not tool_schema_problems(free_map)


# -- a compiled skill, run with a Claude student -------------------------------------------------

@pytest.fixture
def compiled_skill(tmp_path: Path) -> Any:
    return compiled_review_skill(tmp_path)


def test_a_compiled_skill_runs_on_claude_through_retries_with_caching_and_cost(
    compiled_skill: Any, tmp_path: Path
) -> None:
    from skillforge import Ledger
    from skillforge.testing import FunctionModel

    usage = {"input_tokens": 14, "output_tokens": 5, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 1900}
    server = FakeServer().push(
        error(429, "rate_limit_error", "rate limited", headers={"retry-after": "3"}),
        ok(text('{"label": "pos"}'), usage=usage),
    )
    student, sleep = make_model(server)
    teacher = FunctionModel(review_oracle, model_id="test:teacher")
    ledger = Ledger(tmp_path / "ledger.jsonl")
    result = compiled_skill.run({"text": "a good watch"}, student=student, teacher=teacher, ledger=ledger)

    assert result.output == {"label": "pos"} and not result.escalated
    assert result.answered_by == "anthropic:claude-haiku-4-5"
    assert sleep.waits == [3.0] and len(server.requests) == 2 and teacher.requests == []
    body = server.bodies[-1]
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert 1 <= cache_markers(body) <= 4
    expected = (14 * 1.0 + 1900 * 0.1 + 5 * 5.0) / 1e6
    assert result.cost_usd == pytest.approx(expected)
    entry = ledger.read()[-1]
    assert entry.model_id == "anthropic:claude-haiku-4-5" and entry.cost_usd == pytest.approx(expected)
    assert entry.usage.cache_read_input_tokens == 1900


def test_answers_from_a_server_ignoring_structured_output_are_caught_and_escalated(
    compiled_skill: Any, tmp_path: Path
) -> None:
    from skillforge import Ledger
    from skillforge.testing import FunctionModel

    server = FakeServer().push(*[ok(text("I think this review is rather positive!")) for _ in range(6)])
    student, _ = make_model(server)
    teacher = FunctionModel(review_oracle, model_id="test:teacher")
    result = compiled_skill.run({"text": "a good watch"}, student=student, teacher=teacher,
                                ledger=Ledger(tmp_path / "ledger.jsonl"))
    assert result.escalated and result.answered_by == "test:teacher"
    assert result.output == {"label": "pos"}
    student_attempts = [a for a in result.attempts if a.role == "student"]
    assert student_attempts and all(a.verdict == "invalid" for a in student_attempts)


# -- secrets -------------------------------------------------------------------------------------


def test_the_api_key_is_written_nowhere(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Drive the provider through retries, fallbacks and every error kind with DEBUG logging into a
    file, then scan every file this test session wrote (skills, ledgers, logs) for the key."""
    from skillforge import Ledger

    caplog.set_level(logging.DEBUG)
    log_file = logging.FileHandler(tmp_path / "debug.log", encoding="utf-8")
    log_file.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(log_file)
    errors: list[str] = []
    try:
        server = FakeServer().push(
            error(529, "overloaded_error", "Overloaded"),
            httpx2.ConnectError("connection refused"),
            error(400, "invalid_request_error", "output_config: unsupported"),
            ok(tool_use(ANSWER), usage={"input_tokens": 3, "output_tokens": 2,
                                        "cache_creation_input_tokens": 900}),
            error(401, "authentication_error", "invalid x-api-key"),
            error(400, "invalid_request_error", "messages: roles must alternate"),
            *[error(503, "api_error", "unavailable") for _ in range(3)],
        )
        model, _ = make_model(server, max_attempts=3)
        response = run(model)
        ledger = Ledger(tmp_path / "ledger.jsonl")
        ledger.record(skill="s", phase="run", role="student", model_id=model.model_id,
                      usage=response.usage, cost_usd=model.cost_usd(response.usage),
                      latency_s=response.latency_s, outcome="accepted")
        for _ in range(3):
            with pytest.raises(ModelAPIError) as info:
                run(model)
            errors += [str(info.value), repr(info.value)]
        (tmp_path / "response.json").write_text(response.model_dump_json())
        (tmp_path / "errors.txt").write_text("\n".join(errors))
    finally:
        logging.getLogger().removeHandler(log_file)
        log_file.close()

    assert FAKE_KEY in server.requests[0].headers.get("authorization", "") + server.requests[0].headers.get(
        "x-api-key", "")  # it was really used
    assert FAKE_KEY not in caplog.text and all(FAKE_KEY not in e for e in errors)
    written = [p for p in tmp_path_factory.getbasetemp().rglob("*") if p.is_file()]
    assert tmp_path / "debug.log" in written and (tmp_path / "debug.log").stat().st_size > 0
    leaked = [str(p) for p in written if FAKE_KEY.encode() in p.read_bytes()]
    assert leaked == []
