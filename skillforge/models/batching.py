"""Concurrent calls of one model, sent as batches: :class:`BatchingModel`.

Code written for one request at a time (``ask``, the compiler's teacher passes, ``Runner.arun``) gets
a provider's batch API without changing: wrap the model, and every ``request()`` made concurrently
(``asyncio.gather``) is collected into one :meth:`~skillforge.models.base.Model.batch_request`.
Re-asks that follow the answers form the next batch. What the batch does not answer (``errored``,
``expired``, ``canceled``) is sent again one by one at the full price (``fallback=True``), so an item
fails only the way a direct call would.

Each batch is recorded in ``state_dir`` (``batch-<hash of its requests>.json``) from submission until
its results are in: a process killed while waiting and started again with the same requests (a
compile with the same spec, examples and options builds the same ones) resumes the batch instead of
paying for a new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillforge.errors import ConfigurationError, ModelAPIError
from skillforge.models.base import BatchResult, Model, ModelRequest, ModelResponse, Role, Usage

log = logging.getLogger(__name__)

_Pending = tuple[ModelRequest, "asyncio.Future[ModelResponse]"]


class BatchingModel(Model):
    """``inner`` (a model with ``supports_batch``), its concurrent requests sent as batches.

    ``linger_s`` is how long a batch waits for more requests after the last one joined;
    ``batch_options`` go to ``inner.batch_request`` (e.g. ``poll_seconds``, ``max_wait_seconds``).
    """

    def __init__(
        self,
        inner: Model,
        *,
        state_dir: str | Path | None = None,
        linger_s: float = 0.05,
        fallback: bool = True,
        **batch_options: Any,
    ) -> None:
        if not inner.supports_batch:
            raise ConfigurationError(f"{inner.model_id} has no batch API; batching needs e.g. an anthropic: model")
        self.inner = inner
        self.model_id = inner.model_id
        self.supports_logprobs = inner.supports_logprobs
        self.supports_structured_output = inner.supports_structured_output
        self.is_local = inner.is_local
        self.supports_temperature = inner.supports_temperature
        self.supports_batch = True
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.linger_s = linger_s
        self.fallback = fallback
        self.batch_options = batch_options
        #: Batches sent, and requests answered one by one after their batch did not answer them.
        self.batches = 0
        self.fallbacks = 0
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def for_role(self, role: Role) -> Model:
        inner = self.inner.for_role(role)
        if inner is self.inner:
            return self
        return BatchingModel(inner, state_dir=self.state_dir, linger_s=self.linger_s, fallback=self.fallback,
                             **self.batch_options)

    def check_schema(self, schema: dict[str, Any]) -> None:
        self.inner.check_schema(schema)

    def cache_identity(self) -> dict[str, Any] | None:
        return self.inner.cache_identity()  # a batch answers as the model does, at a discount

    def cost_usd(self, usage: Usage, *, batch: bool = False) -> float | None:
        return self.inner.cost_usd(usage, batch=batch)

    async def batch_request(
        self, requests: Sequence[ModelRequest], *, state_path: Path | None = None
    ) -> list[BatchResult]:
        return await self.inner.batch_request(requests, state_path=state_path)

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Join the next batch and wait for its answer."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ModelResponse] = loop.create_future()
        self._pending.append((request, future))
        if self._flusher is None or self._flusher.done() or self._flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush())
        return await future

    def state_path(self, requests: Sequence[ModelRequest]) -> Path | None:
        """Where the batch of ``requests`` is recorded: named by a hash of their contents."""
        if self.state_dir is None:
            return None
        keys = sorted({r.cache_key(self.model_id) for r in requests})
        digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:20]
        return self.state_dir / f"batch-{digest}.json"

    async def _settle(self) -> None:
        """Let every caller started alongside the first one join before the batch goes out."""
        seen = -1
        while seen != len(self._pending):
            seen = len(self._pending)
            for _ in range(3):
                await asyncio.sleep(0)
            if self.linger_s > 0:
                await asyncio.sleep(self.linger_s)

    async def _flush(self) -> None:
        await self._settle()
        while self._pending:
            group, self._pending = self._pending, []
            requests = [r for r, _ in group]
            try:
                self.batches += 1
                results = await self.inner.batch_request(requests, state_path=self.state_path(requests),
                                                         **self.batch_options)
            except Exception as exc:  # every caller gets the failure of its batch
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (request, future), result in zip(group, results, strict=True):
                if result.response is not None:
                    future.set_result(result.response)
                else:
                    task = asyncio.get_running_loop().create_task(self._unanswered(request, future, result))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            await self._settle()

    async def _unanswered(
        self, request: ModelRequest, future: asyncio.Future[ModelResponse], result: BatchResult
    ) -> None:
        """A request its batch did not answer: sent again directly, or failed with the batch's reason."""
        log.warning("%s: batch request %s %s (%s)%s", self.model_id, result.custom_id, result.status,
                    result.error_type, "; sending it directly" if self.fallback else "")
        try:
            if not self.fallback:
                raise ModelAPIError(f"batch request {result.status}: {result.error or result.error_type}",
                                    model_id=self.model_id, error_type=result.error_type,
                                    retryable=result.status in ("expired", "canceled"))
            self.fallbacks += 1
            response = await self.inner.request(request)
        except Exception as exc:  # handed to the caller, who decides
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(response)

    def __repr__(self) -> str:
        return f"BatchingModel({self.inner!r})"
