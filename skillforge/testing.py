"""Test doubles for skillforge models, shipped with the package so users can test their own code.

- :class:`QueuedModel` answers from a queue of canned responses, in order, and records every request.
- :class:`FunctionModel` answers by calling a function of the request.
- :class:`ClaudeLike` wraps a real model (say the embedded local one) so it behaves as a Claude student
  does: no log-probabilities, no class probabilities, no embeddings, no temperature; priced as Claude.

Either embeds texts when given ``embed`` (a function of one text giving its vector), like a local
model does for a skill's classifier tier, and is cached by a compile's answer cache when given an
``identity`` (what its answers depend on; without one, never).

Both count tokens roughly (whitespace words) so ledgers and reports have numbers to show.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from skillforge.models.base import Model, ModelRequest, ModelResponse, Role, Usage
from skillforge.models.pricing import REFERENCE_STUDENT, cost_usd, price_for

Answer = str | dict[str, Any] | ModelResponse | BaseException
Embed = Callable[[str], Sequence[float]]


def _words(text: str) -> int:
    return len(text.split())


def _request_tokens(request: ModelRequest) -> int:
    return _words(request.system) + sum(_words(m.content) for m in request.messages)


class _DoubleBase(Model):
    def __init__(
        self,
        model_id: str,
        *,
        logprob: float | None,
        structured: bool,
        price_per_token: float | None,
        embed: Embed | None = None,
        identity: dict[str, Any] | None = None,
    ) -> None:
        self.model_id = model_id
        self.identity = identity
        self.embed_fn = embed
        self.supports_embeddings = embed is not None
        #: Every text embedded, in order.
        self.embedded: list[str] = []
        self.default_logprob = logprob
        self.supports_logprobs = logprob is not None
        self.supports_structured_output = structured
        self.price_per_token = price_per_token
        self.is_local = price_per_token == 0.0
        #: Every request received, in order.
        self.requests: list[ModelRequest] = []

    def _to_response(self, request: ModelRequest, answer: Answer) -> ModelResponse:
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, ModelResponse):
            return answer
        text = answer if isinstance(answer, str) else json.dumps(answer)
        return ModelResponse(
            model_id=self.model_id,
            text=text,
            usage=Usage(input_tokens=_request_tokens(request), output_tokens=max(1, _words(text))),
            logprob_sum=self.default_logprob if request.logprobs else None,
            stop_reason="end_turn",
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self.embed_fn is None:
            return await super().embed(texts)
        self.embedded += texts
        return [[float(v) for v in self.embed_fn(t)] for t in texts]

    def cache_identity(self) -> dict[str, Any] | None:
        """``identity`` as given: a double's answers are cached only when its test says what they depend on."""
        return None if self.identity is None else {"double": self.model_id, **self.identity}

    def cost_usd(self, usage: Usage, *, batch: bool = False) -> float | None:
        if self.price_per_token is None:
            return None
        return self.price_per_token * (usage.input_tokens + usage.output_tokens) * (0.5 if batch else 1.0)


class QueuedModel(_DoubleBase):
    """Returns queued answers in order: a ``str`` (raw text), a ``dict`` (sent as JSON), a full
    :class:`ModelResponse`, or an exception instance (raised). Raises ``AssertionError`` when the
    queue runs dry, so a test notices an unexpected extra call."""

    def __init__(
        self,
        answers: Iterable[Answer] = (),
        *,
        model_id: str = "test:queued",
        logprob: float | None = -0.05,
        structured: bool = True,
        price_per_token: float | None = 0.0,
        embed: Embed | None = None,
        identity: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model_id, logprob=logprob, structured=structured, price_per_token=price_per_token,
                         embed=embed, identity=identity)
        self.queue: list[Answer] = list(answers)

    def push(self, *answers: Answer) -> None:
        """Queue more answers."""
        self.queue.extend(answers)

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if not self.queue:
            raise AssertionError(f"{self.model_id}: unexpected request #{len(self.requests)} (queue empty)")
        return self._to_response(request, self.queue.pop(0))


class FunctionModel(_DoubleBase):
    """Answers with ``fn(request)``; ``fn`` may be sync or async and returns any :data:`Answer`."""

    def __init__(
        self,
        fn: Callable[[ModelRequest], Answer | Awaitable[Answer]],
        *,
        model_id: str = "test:function",
        logprob: float | None = -0.05,
        structured: bool = True,
        price_per_token: float | None = 0.0,
        embed: Embed | None = None,
        identity: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model_id, logprob=logprob, structured=structured, price_per_token=price_per_token,
                         embed=embed, identity=identity)
        self.fn = fn

    async def request(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        result = self.fn(request)
        if inspect.isawaitable(result):
            result = await result
        return self._to_response(request, result)


#: Claude's sampling temperature when a request sets none (the Messages API's documented default), and
#: the only one the 5.5 family samples at: it rejects ``temperature``.
CLAUDE_DEFAULT_TEMPERATURE = 1.0


class ClaudeLike(Model):
    """``inner`` as a Claude student behaves, to measure what a Claude student really gets offline.

    Claude's Messages API returns no token probabilities, scores no choices and gives no embeddings,
    and the 5.5 family takes no ``temperature``: every call samples at the model's default. So this
    wrapper declares none of those capabilities *and* strips them from what ``inner`` returns (the
    declaration alone is not enough: a local engine still hands back logprobs unless the request stops
    it), and sends every request at ``temperature`` (Claude's default, 1.0) whatever it asked for.
    Its calls are priced as ``price_as`` (Claude Haiku 5.5 by default) on ``inner``'s token counts, so
    every call its confidence needs is on the bill.

    Claude takes no seed, yet a benchmark must be repeatable: a request without a seed is sampled with
    one derived from its own content (the same request, the same draw); requests that set seeds (the
    samples of a confidence measurement) keep theirs, so they still differ from each other.
    """

    supports_logprobs = False
    supports_choice_scores = False
    supports_embeddings = False
    supports_temperature = False
    is_local = False

    def __init__(self, inner: Model, *, temperature: float = CLAUDE_DEFAULT_TEMPERATURE,
                 price_as: str = REFERENCE_STUDENT, model_id: str | None = None) -> None:
        price = price_for(price_as)
        if price is None:
            raise ValueError(f"ClaudeLike: no price known for {price_as!r}")
        self.inner = inner
        self.temperature = temperature
        self.price_as = price_as
        self.price = price
        self.model_id = model_id or f"claude-like:{inner.model_id}"
        self.supports_structured_output = inner.supports_structured_output

    async def request(self, request: ModelRequest) -> ModelResponse:
        seed = request.seed if request.seed is not None else _content_seed(request)
        sent = request.model_copy(update={"temperature": self.temperature, "logprobs": False,
                                          "choice_scores": False, "seed": seed})
        response = await self.inner.request(sent)
        return response.model_copy(update={"model_id": self.model_id, "logprob_sum": None, "field_logprobs": None,
                                           "choices": None})

    async def prefill(self, request: ModelRequest) -> None:
        await self.inner.prefill(request)

    def check_schema(self, schema: dict[str, Any]) -> None:
        self.inner.check_schema(schema)

    def cost_usd(self, usage: Usage, *, batch: bool = False) -> float | None:
        return cost_usd(usage, self.price, batch=batch)

    def for_role(self, role: Role) -> Model:
        return self

    def cache_identity(self) -> dict[str, Any] | None:
        inner = self.inner.cache_identity()
        return None if inner is None else {"wrapper": "claude-like", "model_id": self.model_id,
                                           "temperature": self.temperature, "inner": inner}


def _content_seed(request: ModelRequest) -> int:
    return int(hashlib.sha256(request.cache_key("claude-like").encode()).hexdigest()[:8], 16)


def skill_input(request: ModelRequest) -> dict[str, Any]:
    """The input of a skill request (handy inside a FunctionModel): ``request.input`` when the request
    carries it (every skill request does, whatever its rendering: plain text, ``field: value`` lines or
    JSON), else the last user turn that is a JSON object. Demos (fixed or retrieved per input) come
    before it; re-asks append an answer and plain-text feedback after it."""
    if request.input is not None:
        return dict(request.input)
    for msg in reversed(request.messages):
        if msg.role != "user":
            continue
        try:
            value = json.loads(msg.content)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("no user message of this request is a JSON object")
