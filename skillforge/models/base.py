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
import contextlib
import functools
import hashlib
import json
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
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
    #: Ask for the probability of every allowed value of each enum/boolean output field
    #: (:attr:`ModelResponse.choices`) when the provider can score them.
    choice_scores: bool = False
    #: The structured input the last user turn renders (a skill request's input may be plain text).
    #: For test doubles and tools; never sent to a provider and not part of :meth:`cache_key`.
    input: dict[str, Any] | None = None

    def cache_key(self, model_id: str) -> str:
        """A stable hash of the model id and everything in this request."""
        # Fields added later are left out at their defaults, so requests that do not use them hash
        # exactly as before the fields existed (recorded cassettes stay valid); ``input`` always
        # (the messages already render it).
        exclude = {name for name, default in (("seed", None), ("choice_scores", False))
                   if getattr(self, name) == default} | {"input"}
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
    #: Every generated token, thinking included (what output is billed on).
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    #: The part of ``output_tokens`` spent thinking (models that think before answering); already in
    #: ``output_tokens``, never added to it again.
    thinking_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields})

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
    #: Per top-level output field of the answer, the summed log-probability of its value's tokens (the
    #: local model, which can locate them in the answer); ``None`` otherwise.
    field_logprobs: dict[str, float] | None = None
    #: Per enum/boolean output field, the probability of each allowed value (keyed by the value's JSON
    #: text), normalised over the values; when the request asked for ``choice_scores`` and the
    #: provider could score them.
    choices: dict[str, dict[str, float]] | None = None
    stop_reason: str | None = None
    request_id: str | None = None
    latency_s: float = 0.0
    #: Answered through a provider's batch API (priced at its batch discount).
    batch: bool = False
    #: Answered from the answer cache (:mod:`skillforge.models.answer_cache`): it costs nothing now.
    cached: bool = False

    @property
    def refused(self) -> bool:
        """The model declined to answer (Claude's ``stop_reason: "refusal"``, e.g. from a safety
        classifier): whatever text came with it is not an answer."""
        return self.stop_reason == "refusal"

    @property
    def confidence(self) -> float | None:
        """The joint probability of the whole answer (``exp(logprob_sum)``), in [0, 1]."""
        if self.logprob_sum is None:
            return None
        import math

        return max(0.0, min(1.0, math.exp(self.logprob_sum)))


#: The verifier's finding on one call: ``refused`` is a model declining to answer (counted apart from
#: ``invalid``, escalated like it, never re-asked).
Verdict = Literal["accepted", "invalid", "low_confidence", "refused", "error"]
#: ``second_opinion``: a call whose answer is only a confidence signal for the student's (never the answer);
#: ``tier``: a model tier behind the student, answering what the student passed on (before the teacher).
Role = Literal["teacher", "student", "second_opinion", "tier"]


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


BatchStatus = Literal["succeeded", "errored", "expired", "canceled"]


class BatchResult(BaseModel):
    """One request's outcome in a batch: a response, or why there is none."""

    model_config = ConfigDict(extra="forbid")

    custom_id: str
    status: BatchStatus
    response: ModelResponse | None = None
    #: The API's error type (``invalid_request_error``, ...) for ``errored``; else the status.
    error_type: str | None = None
    error: str | None = None


class Model(ABC):
    """A language model. Subclasses own their SDK client and implement :meth:`request`."""

    #: Provider-qualified id, e.g. ``local:smollm2-135m`` or ``anthropic:claude-haiku-4-5``.
    model_id: str
    #: True when responses carry ``logprob_sum`` (a confidence signal).
    supports_logprobs: bool = False
    #: True when the provider scores every allowed value of enum fields (``ModelResponse.choices``).
    supports_choice_scores: bool = False
    #: True when the provider constrains output to ``output_schema`` (still always validated).
    supports_structured_output: bool = False
    #: True for models that run on this machine (cost 0, no network).
    is_local: bool = False
    #: False for models that take no sampling temperature (every call samples the model's own way).
    supports_temperature: bool = True
    #: True when :meth:`batch_request` sends requests through a discounted batch API.
    supports_batch: bool = False
    #: True when :meth:`embed` gives a vector per text (features for a skill's classifier tier).
    supports_embeddings: bool = False

    @abstractmethod
    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send one request and return the response. Raises :class:`~skillforge.errors.ModelAPIError`."""

    def request_sync(self, request: ModelRequest) -> ModelResponse:
        """Blocking wrapper around :meth:`request`."""
        return run_sync(self.request(request))

    async def prefill(self, request: ModelRequest) -> None:  # noqa: B027 -- optional hook, no-op by default
        """Prepare the provider's cache for ``request``'s static prefix (``system`` and the first
        ``static_messages`` messages) ahead of the calls that share it; no-op for providers without
        one. The local model evaluates the prefix and stores its KV state; nothing is generated."""

    def prefill_sync(self, request: ModelRequest) -> None:
        """Blocking wrapper around :meth:`prefill`."""
        run_sync(self.prefill(request))

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, the same length for every text. Only models with
        ``supports_embeddings``; others raise ``NotImplementedError``."""
        raise NotImplementedError(f"{self.model_id} gives no embeddings")

    def check_schema(self, schema: dict[str, Any]) -> None:  # noqa: B027 -- optional hook, no-op by default
        """Raise :class:`~skillforge.errors.SpecError` if this model cannot be asked for ``schema``.

        Called by the compiler for the teacher and student, so an unusable schema fails at compile
        time, not at the first production call. Providers that adapt schemas do so in ``request``.
        """

    def cost_usd(self, usage: Usage, *, batch: bool = False) -> float | None:
        """Price of ``usage`` in US dollars, or ``None`` when unknown; ``batch``: answered through
        the provider's batch API (at its discount)."""
        return 0.0 if self.is_local else None

    def cost_of(self, response: ModelResponse) -> float | None:
        """Price of one response: its usage, at the batch discount when a batch API answered it; nothing
        when the answer cache answered it (:meth:`bought_for` is what it cost when first bought)."""
        if response.cached:
            return 0.0
        return self.bought_for(response)

    def bought_for(self, response: ModelResponse) -> float | None:
        """What ``response`` cost (or would cost) from the provider: its usage at list price, at the batch
        discount when a batch API answered it."""
        return self.cost_usd(response.usage, batch=True) if response.batch else self.cost_usd(response.usage)

    def cache_identity(self) -> dict[str, Any] | None:
        """Everything besides the request that changes this model's answers (provider, model, settings,
        weights), for the answer cache's key (:mod:`skillforge.models.answer_cache`); ``None``: its answers
        are not cached (the default: a model must say what its answers depend on to be cached)."""
        return None

    def for_role(self, role: Role) -> Model:
        """This model as ``role`` uses it: a provider with per-role request settings (Claude's
        ``effort``) returns a configured copy; the default is the model itself."""
        return self

    async def batch_request(
        self, requests: Sequence[ModelRequest], *, state_path: Path | None = None
    ) -> list[BatchResult]:
        """Answer ``requests`` through the provider's batch API, one :class:`BatchResult` per request
        in order. ``state_path`` persists the submitted batch so an interrupted process resumes it.
        Only models with ``supports_batch``; others raise ``NotImplementedError``."""
        raise NotImplementedError(f"{self.model_id} has no batch API")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r})"


def observed(model: Model, response: ModelResponse) -> ModelResponse:
    """``response`` with only the signals ``model`` declares: its ``logprob_sum`` and ``field_logprobs``
    only when the model ``supports_logprobs``, its ``choices`` only when it ``supports_choice_scores``.

    The one place the rest of skillforge learns what a model's answers carry, compile and run alike:
    a confidence fitted at compile time on a signal the model does not declare would meet another set
    of signals at run time (a student whose flags say "no logprobs" but whose engine still returns
    them would be calibrated on them, then gated without them)."""
    drop: dict[str, Any] = {}
    if response.logprob_sum is not None and not model.supports_logprobs:
        drop["logprob_sum"] = None
    if response.field_logprobs is not None and not model.supports_logprobs:
        drop["field_logprobs"] = None
    if response.choices is not None and not model.supports_choice_scores:
        drop["choices"] = None
    return response.model_copy(update=drop) if drop else response


class _ThreadLoop:
    """The event loop that sync calls on one thread run in, kept between calls.

    A fresh loop per call (``asyncio.run``) would make every sync call rebuild whatever is bound to
    its loop -- an httpx client, so a new connection (and TLS handshake) per ``skill.run`` call.
    ``asyncio.Runner.run`` is not used per call either: on the main thread it swaps the SIGINT handler
    twice per call, and each swap formats the task's repr (``signal``'s enum conversion), which cost
    more than the rest of a zero-latency ``skill.run``. Ctrl-C is handled here instead (see :meth:`run`).
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        # Closed when its thread ends (the thread-local slot is dropped) or the interpreter exits.
        weakref.finalize(self, _close_quietly, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on this thread's loop. A ``KeyboardInterrupt`` that arrives while
        the loop waits cancels the task and lets it unwind (its ``finally`` blocks run, clients close)
        before the interrupt propagates, so the loop is left clean for the next call."""
        task = self.loop.create_task(coro)
        try:
            return self.loop.run_until_complete(task)
        except KeyboardInterrupt:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    self.loop.run_until_complete(task)
            raise


def _close_quietly(loop: asyncio.AbstractEventLoop) -> None:
    # Collected while another loop runs in this thread: leave the loop to the GC.
    with contextlib.suppress(RuntimeError):
        if not loop.is_closed():
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


_thread_loops = threading.local()


def _loop_of_this_thread() -> _ThreadLoop:
    holder: _ThreadLoop | None = getattr(_thread_loops, "holder", None)
    if holder is None:
        holder = _thread_loops.holder = _ThreadLoop()
    return holder


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code. Calls on one thread share one event loop (so
    clients bound to a loop are reused across calls); when an event loop is already running in this
    thread (Jupyter, an async app calling sync API), the coroutine runs in a worker thread instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    if not running:  # run outside the except block: errors must not carry this RuntimeError as context
        return _loop_of_this_thread().run(coro)
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
