"""A scripted OpenAI-compatible server for testing the OpenAI-compatible provider offline, and the
real one: llama-cpp-python's own server on the embedded model, started once per test session.

The scripted server is the real ``openai.AsyncOpenAI`` client over an ``httpx2.MockTransport`` (the
SDK's HTTP library; respx patches ``httpx``, which the openai SDK 3 does not use). Bodies are shaped as
https://platform.openai.com/docs/api-reference/chat/object and .../api-reference/errors document them.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import openai

from skillforge.models.openai_compat.model import OpenAIModel

from anthropic_fixtures import FakeServer, SleepRecorder

#: Distinctive so a scan for it cannot match anything by accident.
FAKE_KEY = "sk-proj-test-SECRET-5d2a77c1-never-write-me"
BASE_URL = "https://vllm.test/v1"


def completion(
    content: str | None = '{"label": "pos"}',
    *,
    logprobs: list[tuple[str, float]] | None = None,
    finish_reason: str = "stop",
    usage: Mapping[str, Any] | None = None,
    refusal: str | None = None,
    request_id: str = "req-8f1c0a",
) -> httpx2.Response:
    """200 with a chat completion body."""
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason,
                              "message": {"role": "assistant", "content": content, "refusal": refusal},
                              "logprobs": None}
    if logprobs is not None:
        choice["logprobs"] = {"content": [{"token": t, "logprob": lp, "bytes": None, "top_logprobs": []}
                                          for t, lp in logprobs]}
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1795839658, "model": "m",
            "choices": [choice],
            "usage": dict(usage) if usage is not None else {"prompt_tokens": 30, "completion_tokens": 7,
                                                               "total_tokens": 37}}
    return httpx2.Response(200, json=body, headers={"x-request-id": request_id})


def failure(
    status: int, message: str, *, error_type: str | None = "invalid_request_error", request_id: str = "req-err",
    headers: Mapping[str, str] | None = None,
) -> httpx2.Response:
    """An error response: ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    return httpx2.Response(status, json=body, headers={"x-request-id": request_id, **(headers or {})})


class OpenAIServer(FakeServer):
    """Answers chat completions from a queue of replies and records each request."""

    def openai_client(self, api_key: str = FAKE_KEY) -> openai.AsyncOpenAI:
        """The real SDK client, over this server."""
        return openai.AsyncOpenAI(api_key=api_key, base_url=BASE_URL,
                                  http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(self.handler)))


def make_openai_model(server: OpenAIServer, name: str = "qwen2.5-7b", **kw: Any) -> tuple[OpenAIModel, SleepRecorder]:
    """An :class:`OpenAIModel` over ``server`` with an instant, recording sleep."""
    sleep = SleepRecorder()
    return OpenAIModel(name, client=server.openai_client(), sleep=sleep, **kw), sleep


# -- the real server -------------------------------------------------------------------------------

#: What the session's llama-cpp-python server calls the embedded model.
SERVED_NAME = "smollm2-135m"


@dataclass(frozen=True)
class LlamaServer:
    """A running ``python -m llama_cpp.server`` on localhost."""

    base_url: str
    api_key: str

    def model(self, **kw: Any) -> OpenAIModel:
        return OpenAIModel(SERVED_NAME, base_url=self.base_url, api_key=self.api_key, **kw)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str, key: str) -> bool:
    request = urllib.request.Request(f"{url}/models", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def run_llama_server(gguf: Path, log_path: Path, *, startup_seconds: float = 120.0) -> Iterator[LlamaServer]:
    """Start llama-cpp-python's OpenAI-compatible server on ``gguf`` on a free port, yield it once it
    answers, and stop it afterwards. It checks an API key (a random one), like a real deployment."""
    port, key = _free_port(), secrets.token_hex(16)
    threads = max(1, len(os.sched_getaffinity(0)))
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", SERVED_NAME,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", str(threads),
               "--verbose", "false", "--api_key", key]
    url = f"http://127.0.0.1:{port}/v1"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + startup_seconds
            while not _ready(url, key):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server did not start (needs the llama-server extra: "
                                       f"`make install`); its log:\n{log_path.read_text(errors='replace')[-3000:]}")
                time.sleep(0.25)
            yield LlamaServer(url, key)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
