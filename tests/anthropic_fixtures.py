"""A scripted Messages API server for testing the Anthropic provider offline.

The real ``anthropic.AsyncAnthropic`` client talks to an ``httpx2.MockTransport`` whose handler
answers from a queue. Bodies are shaped as https://platform.claude.com/docs/en/api/messages and
https://platform.claude.com/docs/en/api/errors document them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2

from skillforge.models.anthropic.model import AnthropicModel
from skillforge.models.base import Message, ModelRequest

#: Distinctive so a scan for it cannot match anything by accident.
FAKE_KEY = "sk-ant-test-SECRET-7c1e9f04-never-write-me"
BASE_URL = "https://anthropic.test"

Reply = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["pos", "neg"]},
        "reason": {"type": "string", "minLength": 3},
    },
    "required": ["label"],
    "additionalProperties": False,
}
ANSWER = {"label": "pos", "reason": "it says good"}
#: A small skill spec for compiling offline and running on Claude.
SPEC: dict[str, Any] = {
    "name": "review-sentiment",
    "description": "Classify the sentiment of a short film review.",
    "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    "output_schema": {"type": "object", "properties": {"label": {"type": "string", "enum": ["pos", "neg"]}},
                      "required": ["label"], "additionalProperties": False},
}


def review_oracle(request: ModelRequest) -> Any:
    """A stand-in teacher and student for :data:`SPEC`: always right."""
    from skillforge.testing import skill_input

    if request.output_schema is None:
        return "Answer pos when the review is positive, neg otherwise."
    return {"label": "pos" if "good" in skill_input(request)["text"] else "neg"}


def compiled_review_skill(tmp_path: Path, threshold: float | None = None) -> Any:
    """:data:`SPEC` compiled offline by stand-in models, saved under ``tmp_path`` and loaded back. Twelve
    examples certify no student answer (the compile routes every input to the teacher), so the skill is
    edited to ask its student with no confidence gate (or gated at ``threshold``): these tests are about
    the provider's calls."""
    from skillforge import Example, compile_skill, load_skill
    from skillforge.testing import FunctionModel

    examples = [Example(input={"text": f"a {'good' if i % 2 else 'bad'} film, take {i}"},
                        expected={"label": "pos" if i % 2 else "neg"}) for i in range(12)]
    skill = compile_skill(SPEC, examples=examples, teacher=FunctionModel(review_oracle, model_id="test:teacher"),
                          student=FunctionModel(review_oracle, model_id="test:student"))
    skill.manifest.settings.ask_student, skill.manifest.settings.threshold = True, threshold
    return load_skill(skill.save(tmp_path / "skill"))


def make_request(
    schema: dict[str, Any] | None = SCHEMA, *, static: int = 2, system: str = "Classify the review."
) -> ModelRequest:
    """A skill-shaped request: system, one demo pair (static), then the input."""
    return ModelRequest(
        system=system,
        messages=(
            Message(role="user", content='{"text": "a good film"}'),
            Message(role="assistant", content='{"label": "pos"}'),
            Message(role="user", content='{"text": "good fun"}'),
        ),
        static_messages=static,
        output_schema=schema,
        max_tokens=256,
        temperature=0.0,
    )


def message(
    content: list[dict[str, Any]],
    *,
    stop_reason: str = "end_turn",
    usage: Mapping[str, Any] | None = None,
    model: str = "claude-haiku-4-5",
) -> dict[str, Any]:
    """A Messages API response body."""
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": dict(usage) if usage is not None else {
            "input_tokens": 12,
            "output_tokens": 6,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(input: dict[str, Any], name: str = "answer") -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": name, "input": input}


def ok(
    *blocks: dict[str, Any],
    request_id: str = "req_011CSHoEeqs5C35K2UUqR7Fy",
    **kw: Any,
) -> httpx2.Response:
    """200 with a message body."""
    return httpx2.Response(200, json=message(list(blocks), **kw), headers={"request-id": request_id})


def error(
    status: int,
    error_type: str,
    msg: str,
    *,
    request_id: str = "req_011CSHoEeqs5C35K2UUqR7Fy",
    headers: Mapping[str, str] | None = None,
) -> httpx2.Response:
    """An error response: ``{"type": "error", "error": {...}, "request_id": ...}``."""
    body = {"type": "error", "error": {"type": error_type, "message": msg}, "request_id": request_id}
    return httpx2.Response(status, json=body, headers={"request-id": request_id, **(headers or {})})


@dataclass
class FakeServer:
    """Answers requests from ``replies`` in order and records each request it receives."""

    replies: list[Reply] = field(default_factory=list)
    requests: list[httpx2.Request] = field(default_factory=list)

    def push(self, *replies: Reply) -> FakeServer:
        self.replies.extend(replies)
        return self

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies sent, in order."""
        return [json.loads(r.content) for r in self.requests]

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if not self.replies:
            # A non-retryable status, so an unexpected extra call fails the test loudly.
            return error(418, "test_queue_empty", f"unexpected request #{len(self.requests)}")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    def client(self, api_key: str = FAKE_KEY, **kw: Any) -> anthropic.AsyncAnthropic:
        """The real SDK client, over this server."""
        return anthropic.AsyncAnthropic(
            api_key=api_key, base_url=BASE_URL,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self.handler)), **kw,
        )


class SleepRecorder:
    """An injectable ``sleep`` that returns at once and remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_model(
    server: FakeServer, name: str = "claude-haiku-4-5", **kw: Any
) -> tuple[AnthropicModel, SleepRecorder]:
    """An :class:`AnthropicModel` over ``server`` with an instant, recording sleep."""
    sleep = SleepRecorder()
    client_kw = kw.pop("client_kw", {})
    model = AnthropicModel(name, client=server.client(**client_kw), sleep=sleep, **kw)
    return model, sleep


# -- recorded shapes of the Claude 5.5 family ------------------------------------------------------
# Drawn from the API reference (https://platform.claude.com/docs/en/api/messages, .../api/messages/batches,
# .../build-with-claude/adaptive-thinking, .../test-and-evaluate/strengthen-guardrails/handle-streaming-refusals)
# as of November 2026: thinking before the answer, thinking tokens in usage, refusals, the 400s for
# sampling parameters and effort, and Message Batches with mixed outcomes.

#: A response of a model that thought first: thinking, then the answer; thinking tokens in ``usage``.
THINKING_USAGE: dict[str, Any] = {
    "input_tokens": 412,
    "output_tokens": 236,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 1900,
    "output_tokens_details": {"thinking_tokens": 224},
    "service_tier": "standard",
}


def thinking(text: str = "The review praises the film, so the label is pos.") -> dict[str, Any]:
    return {"type": "thinking", "thinking": text,
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds2rqoTwRkCEaOiKRXZ1gKXPmHKC"}


def redacted_thinking() -> dict[str, Any]:
    return {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"}


def refusal(
    *, partial: str = "", category: str | None = "cyber", request_id: str = "req_011CSHoEeqs5C35K2UUqR7Fy",
    model: str = "claude-haiku-5-5",
) -> httpx2.Response:
    """200 with ``stop_reason: "refusal"`` (a safety classifier stopped the answer; ``partial`` is what
    was streamed before it, often nothing)."""
    body = message([text(partial)] if partial else [], stop_reason="refusal", model=model,
                   usage={"input_tokens": 412, "output_tokens": 3, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0})
    body["stop_details"] = {"type": "refusal", "category": category,
                            "explanation": "This request was declined by a safety classifier."}
    return httpx2.Response(200, json=body, headers={"request-id": request_id})


def temperature_rejected() -> httpx2.Response:
    """What the 5.5 family answers to ``temperature`` (likewise ``top_p`` / ``top_k``)."""
    return error(400, "invalid_request_error",
                 "temperature: This model does not support sampling parameters; remove temperature, top_p and top_k.")


def effort_rejected() -> httpx2.Response:
    """What a model without effort support (or an older server) answers to ``output_config.effort``."""
    return error(400, "invalid_request_error", "output_config.effort: Extra inputs are not permitted")


def batch_body(batch_id: str, status: str, counts: Mapping[str, int], *, base_url: str = BASE_URL) -> dict[str, Any]:
    """A ``message_batch`` object (``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``)."""
    ended = status == "ended"
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0, **counts},
        "ended_at": "2026-11-27T19:04:11.540142Z" if ended else None,
        "created_at": "2026-11-27T18:37:24.100435Z",
        "expires_at": "2026-11-28T18:37:24.100435Z",
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": f"{base_url}/v1/messages/batches/{batch_id}/results" if ended else None,
    }


def succeeded(body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "succeeded", "message": body}


def errored(error_type: str = "invalid_request_error", msg: str = "messages.0.content: empty") -> dict[str, Any]:
    return {"type": "errored", "error": {"type": "error", "error": {"type": error_type, "message": msg}}}


EXPIRED: dict[str, Any] = {"type": "expired"}
CANCELED: dict[str, Any] = {"type": "canceled"}

#: How a batched request is answered: (custom_id, params) -> its ``result`` object.
Outcome = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass
class FakeBatchAPI(FakeServer):
    """The Messages API with Message Batches: batches are created, stay ``in_progress`` for
    ``polls_in_progress`` polls, then end; results (in reverse submission order, to prove the mapping
    by ``custom_id``) come from ``outcome``. Direct ``POST /v1/messages`` calls are answered from the
    queue, else by ``direct`` (a body for the request body)."""

    outcome: Outcome = field(default=lambda cid, params: succeeded(message([text("{}")])))
    direct: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    polls_in_progress: int = 1
    batches: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _polls: dict[str, int] = field(default_factory=dict)

    def calls(self, method: str, suffix: str = "") -> list[httpx2.Request]:
        return [r for r in self.requests if r.method == method and r.url.path.endswith(suffix)]

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if not path.startswith("/v1/messages/batches"):
            if self.replies or self.direct is None:
                return super().handler(request)
            self.requests.append(request)
            return httpx2.Response(200, json=self.direct(json.loads(request.content)),
                                   headers={"request-id": "req_direct"})
        self.requests.append(request)
        if request.method == "POST" and path == "/v1/messages/batches":
            batch_id = f"msgbatch_013Zva2CMHLNnXjNJJKqJ2E{len(self.batches)}"
            self.batches[batch_id] = json.loads(request.content)["requests"]
            self._polls[batch_id] = self.polls_in_progress
            n = len(self.batches[batch_id])
            return httpx2.Response(200, json=batch_body(batch_id, "in_progress", {"processing": n}),
                                   headers={"request-id": "req_batch_create"})
        batch_id = path.split("/")[4]
        if batch_id not in self.batches:
            return error(404, "not_found_error", f"batch {batch_id} not found")
        items = self.batches[batch_id]
        if path.endswith("/results"):
            lines = [{"custom_id": it["custom_id"], "result": self.outcome(it["custom_id"], it["params"])}
                     for it in reversed(items)]
            return httpx2.Response(200, text="".join(json.dumps(x) + "\n" for x in lines),
                                   headers={"content-type": "application/binary"})
        if self._polls[batch_id] > 0:
            self._polls[batch_id] -= 1
            return httpx2.Response(200, json=batch_body(batch_id, "in_progress", {"processing": len(items)}))
        counts: dict[str, int] = {}
        for it in items:
            kind = self.outcome(it["custom_id"], it["params"])["type"]
            counts[kind] = counts.get(kind, 0) + 1
        return httpx2.Response(200, json=batch_body(batch_id, "ended", counts))
