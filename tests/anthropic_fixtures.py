"""A scripted Messages API server for testing the Anthropic provider offline.

The real ``anthropic.AsyncAnthropic`` client talks to an ``httpx2.MockTransport`` whose handler
answers from a queue. Bodies are shaped as https://platform.claude.com/docs/en/api/messages and
https://platform.claude.com/docs/en/api/errors document them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2

from skillforge.models.anthropic import AnthropicModel

#: Distinctive so a scan for it cannot match anything by accident.
FAKE_KEY = "sk-ant-test-SECRET-7c1e9f04-never-write-me"
BASE_URL = "https://anthropic.test"

Reply = httpx2.Response | Exception | Callable[[httpx2.Request], httpx2.Response]


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
