"""The one model protocol every provider implements.

A provider subclasses :class:`Model` and implements the async :meth:`Model.request`; the sync
:meth:`Model.request_sync` is a thin wrapper. Capabilities are attributes, so the runtime asks
``model.supports_logprobs`` instead of checking provider types.

A :class:`ModelRequest` is laid out static-first: ``system`` and the first ``static_messages``
messages (instructions and demos) never change between calls of one skill, so providers can cache
them (llama.cpp's KV-cache prefix reuse, Anthropic's ``cache_control``). The input comes last.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine
from typing import Any, Literal, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
P = ParamSpec("P")


class Message(BaseModel):
    """One chat turn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: str


class ModelRequest(BaseModel):
    """Everything that determines a model's answer. Hash it with :meth:`cache_key`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str
    messages: tuple[Message, ...]
    #: Number of leading ``messages`` that are static across calls (demos); cacheable with ``system``.
    static_messages: int = 0
    #: JSON Schema the answer must satisfy; ``None`` asks for free text.
    output_schema: dict[str, Any] | None = None
    max_tokens: int = 512
    temperature: float = 0.0
    #: Ask for per-token log-probabilities when the provider has them.
    logprobs: bool = True
    #: Sampling seed for providers that take one (llama.cpp); varied to draw distinct samples at
    #: temperature > 0 (self-consistency). ``None``: the provider's default.
    seed: int | None = None

    def cache_key(self, model_id: str) -> str:
        """A stable hash of the model id and everything in this request."""
        # ``seed`` is left out when unset, so requests without one hash exactly as before the field
        # existed (recorded cassettes stay valid).
        exclude = {"seed"} if self.seed is None else None
        payload = json.dumps(
            {"model": model_id, **self.model_dump(mode="json", exclude=exclude)},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class Usage(BaseModel):
    """Token counts of one or more calls."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )


class ModelResponse(BaseModel):
    """What one provider call returned."""

    model_config = ConfigDict(extra="forbid")

    model_id: str
    text: str
    usage: Usage = Field(default_factory=Usage)
    #: Sum of the answer tokens' log-probabilities, when the provider reports them.
    logprob_sum: float | None = None
    stop_reason: str | None = None
    request_id: str | None = None
    latency_s: float = 0.0

    @property
    def confidence(self) -> float | None:
        """The joint probability of the whole answer (``exp(logprob_sum)``), in [0, 1]."""
        if self.logprob_sum is None:
            return None
        import math

        return max(0.0, min(1.0, math.exp(self.logprob_sum)))


Verdict = Literal["accepted", "invalid", "low_confidence", "error"]
Role = Literal["teacher", "student"]


class Attempt(BaseModel):
    """One model call made while answering one input, with the verifier's verdict."""

    model_config = ConfigDict(extra="forbid")

    model_id: str
    role: Role
    raw_text: str
    verdict: Verdict
    errors: list[str] = Field(default_factory=list)
    confidence: float | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    latency_s: float = 0.0


class Model(ABC):
    """A language model. Subclasses own their SDK client and implement :meth:`request`."""

    #: Provider-qualified id, e.g. ``local:smollm2-135m`` or ``anthropic:claude-haiku-4-5``.
    model_id: str
    #: True when responses carry ``logprob_sum`` (a confidence signal).
    supports_logprobs: bool = False
    #: True when the provider constrains output to ``output_schema`` (still always validated).
    supports_structured_output: bool = False
    #: True for models that run on this machine (cost 0, no network).
    is_local: bool = False

    @abstractmethod
    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send one request and return the response. Raises :class:`~skillforge.errors.ModelAPIError`."""

    def request_sync(self, request: ModelRequest) -> ModelResponse:
        """Blocking wrapper around :meth:`request`."""
        return run_sync(self.request(request))

    def check_schema(self, schema: dict[str, Any]) -> None:  # noqa: B027 -- optional hook, no-op by default
        """Raise :class:`~skillforge.errors.SpecError` if this model cannot be asked for ``schema``.

        Called by the compiler for the teacher and student, so an unusable schema fails at compile
        time, not at the first production call. Providers that adapt schemas do so in ``request``.
        """

    def cost_usd(self, usage: Usage) -> float | None:
        """Price of ``usage`` in US dollars, or ``None`` when unknown."""
        return 0.0 if self.is_local else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r})"


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already running
    in this thread (Jupyter, an async app calling sync API): then it runs in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    if not running:  # run outside the except block: errors must not carry this RuntimeError as context
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def blocking(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The blocking twin of an async function, with the same typed signature: ``compile_skill =
    blocking(acompile_skill)``. Runs it with :func:`run_sync`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(fn(*args, **kwargs))

    wrapper.__name__ = wrapper.__qualname__ = fn.__name__.removeprefix("a")
    wrapper.__doc__ = f"Blocking :func:`{fn.__name__}` (same arguments).\n\n{fn.__doc__ or ''}"
    return wrapper
