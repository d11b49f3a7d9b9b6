"""A flaky Messages API for batch tests: the real Anthropic provider (SDK, tenacity retries) over an
``httpx2.MockTransport`` that fails a share of calls the ways production does -- 429 with
``retry-after``, 529 overloaded, 500/502/503/504, read timeouts, dropped connections, refused
connections -- and otherwise answers the review-sentiment task correctly.

Run as a script it is the ``skillforge`` command line with a ``faulty:`` provider registered, so a
test can start a real CLI process against the flaky server (and ``kill -9`` it)::

    FAULTY_STATS=calls.log python tests/faulty_server.py batch SKILL IN.jsonl -o OUT.jsonl \
        --student faulty:student --teacher faulty:teacher

Every call appends ``ok`` or ``fault <kind>`` to the file named by ``FAULTY_STATS`` (when set), so the
test can count what the server did across processes.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import anthropic
import httpx2

from skillforge.models.anthropic.model import AnthropicModel

FAULTS = ("429", "529", "500", "502", "503", "504", "timeout", "dropped", "refused")


class FaultyServer:
    """Fails each call with probability ``rate`` (at most ``max_in_a_row`` times in a row for one
    request body, so the provider's retries always get through), else answers it."""

    def __init__(self, *, rate: float = 0.38, max_in_a_row: int = 3, seed: int = 0, stats: Path | None = None) -> None:
        self.rate = rate
        self.max_in_a_row = max_in_a_row
        self.rng = random.Random(seed)
        self.stats = stats
        self.calls: Counter[str] = Counter()
        self._streak: Counter[bytes] = Counter()
        self._lock = threading.Lock()

    def _note(self, what: str) -> None:
        self.calls[what.split()[0]] += 1
        if self.stats is not None:
            with self.stats.open("a", encoding="utf-8") as fh:
                fh.write(what + "\n")

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        body = request.content
        with self._lock:
            fail = self._streak[body] < self.max_in_a_row and self.rng.random() < self.rate
            kind = self.rng.choice(FAULTS) if fail else None
            self._streak[body] = self._streak[body] + 1 if fail else 0
        if kind is None:
            self._note("ok")
            return _answer(json.loads(body))
        self._note(f"fault {kind}")
        return _fault(kind, request)

    def model(self, name: str = "claude-haiku-4-5") -> AnthropicModel:
        """The real provider over this server, with retries that do not wait."""
        client = anthropic.AsyncAnthropic(api_key="sk-ant-test-faulty", base_url="https://anthropic.test",
                                          http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self.handler)))
        return AnthropicModel(name, client=client, sleep=_no_wait, max_attempts=6)


async def _no_wait(seconds: float) -> None:
    return None


def _answer(body: dict[str, Any]) -> httpx2.Response:
    # The last user turn renders the input: JSON or plain text, a string or content blocks.
    content = body["messages"][-1]["content"]
    text = content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)
    answer = {"label": "pos" if "good" in text else "neg"}
    return httpx2.Response(200, json={
        "id": "msg_faulty", "type": "message", "role": "assistant", "model": body["model"],
        "content": [{"type": "text", "text": json.dumps(answer)}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 40, "output_tokens": 6, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0},
    }, headers={"request-id": "req_faulty"})


def _fault(kind: str, request: httpx2.Request) -> httpx2.Response:
    if kind == "timeout":
        raise httpx2.ReadTimeout("timed out", request=request)
    if kind == "dropped":
        raise httpx2.RemoteProtocolError("Server disconnected without sending a response.", request=request)
    if kind == "refused":
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)
    status = int(kind)
    error_type = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
    headers = {"request-id": "req_fault", **({"retry-after": "0"} if status == 429 else {})}
    return httpx2.Response(status, headers=headers, json={
        "type": "error", "error": {"type": error_type, "message": f"injected {kind}"}, "request_id": "req_fault"})


def main() -> None:
    from skillforge.cli import main as cli_main
    from skillforge.models.registry import register_provider

    stats = os.environ.get("FAULTY_STATS")
    server = FaultyServer(seed=os.getpid(), stats=Path(stats) if stats else None)
    register_provider("faulty", lambda name: server.model())
    cli_main()


if __name__ == "__main__":
    main()
