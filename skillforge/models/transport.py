"""The one transport-retry layer of every HTTP provider (Anthropic, OpenAI-compatible servers).

Retries live here, with tenacity, and nowhere else (each SDK client runs with ``max_retries=0``): 429
(honouring ``retry-after-ms`` / ``retry-after``), 529, 500/502/503/504, connection errors and
timeouts, with capped exponential backoff plus jitter, capped attempts and a total time budget.
400/404/413 (any other 4xx) raise :class:`~skillforge.errors.ModelRequestRejected`, 401/402/403
:class:`~skillforge.errors.ModelAuthError`; every error carries status, error type, message and
request id, and never the API key (:mod:`skillforge.models.http_errors`).

A provider subclasses :class:`RetryingTransport` for its SDK's client type, names the SDK's errors
(:class:`~skillforge.models.http_errors.SdkErrors`) and calls :meth:`RetryingTransport._init_clients`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from skillforge.errors import ConfigurationError, ModelAPIError
from skillforge.models.http_errors import (
    SdkErrors,
    details,
    guard_sdk_logs,
    is_retryable,
    retry_after_seconds,
    scrub,
    translate,
)

T = TypeVar("T")
#: An SDK's async client (``anthropic.AsyncAnthropic``, ``openai.AsyncOpenAI``).
C = TypeVar("C")
Sleep = Callable[[float], Awaitable[None]]


class RetryingTransport(Generic[C]):
    """Clients per event loop (or one injected client) and :meth:`_call` with retries.

    Subclasses set the class attributes ``sdk_errors`` and ``retry_log`` and the instance attribute
    ``model_id``, and call :meth:`_init_retries` and :meth:`_init_clients` from their constructor.
    """

    #: The SDK's exception classes.
    sdk_errors: ClassVar[SdkErrors]
    #: Where retries are logged.
    retry_log: ClassVar[logging.Logger]

    model_id: str
    timeout: float
    max_attempts: int
    max_retry_seconds: float
    _sleep: Sleep

    def _init_retries(self, *, timeout: float, max_attempts: int, max_retry_seconds: float, sleep: Sleep) -> None:
        """Check and keep the retry settings: per-call ``timeout`` (seconds), attempts per call, and the
        time budget of one call's retries."""
        if max_attempts < 1 or timeout <= 0 or max_retry_seconds < 0:
            raise ConfigurationError("max_attempts >= 1, timeout > 0 and max_retry_seconds >= 0 are required")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self._sleep = sleep

    def _init_clients(self, client: C | None, factory: Callable[[], C] | None) -> None:
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, C] = weakref.WeakKeyDictionary()
        # Our tenacity loop is the only retry layer: an SDK retrying too would multiply attempts.
        self._shared: C | None = None if client is None else _without_retries(client)
        self._factory = factory
        if self._shared is not None:
            guard_sdk_logs(self._secrets())

    def _client(self) -> C:
        """The injected client, else one built for the running event loop (an httpx async client
        cannot outlive its loop, and the sync API runs each call in a fresh one)."""
        if self._shared is not None:
            return self._shared
        assert self._factory is not None
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = self._factory()
        return client

    def _retryable(self, exc: BaseException) -> bool:
        return is_retryable(exc, self.sdk_errors)

    async def _call(self, fn: Callable[[C], Awaitable[T]]) -> T:
        """``fn(client)`` with retries; an SDK error that is not retried (or retried in vain)
        becomes the skillforge error for it."""
        attempts = 0

        async def once() -> T:
            nonlocal attempts
            attempts += 1
            return await fn(self._client())

        retrying = AsyncRetrying(
            sleep=self._sleep,
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception(self._retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return await retrying(once)
        except self.sdk_errors.base as exc:
            error = translate(exc, attempts, sdk=self.sdk_errors, model_id=self.model_id, secrets=self._secrets(),
                              timeout=self.timeout, max_retry_seconds=self.max_retry_seconds)
        # Raised outside the except block: the SDK error (which holds the server's raw, unscrubbed body)
        # must not ride along as __context__.
        raise error

    async def _json(self, raw: Any) -> tuple[dict[str, Any], str | None]:
        """The JSON object of a raw SDK response, and its request id. Anthropic's raw response has an async
        ``json()``; OpenAI's (``LegacyAPIResponse``) has none, but its ``http_response`` has a sync one."""
        request_id = raw.request_id
        load = getattr(raw, "json", None) or raw.http_response.json
        try:
            data = load()
            if inspect.isawaitable(data):
                data = await data
        except ValueError as exc:
            raise self._error(f"response body is not JSON ({exc})", request_id=request_id) from None
        if not isinstance(data, dict):
            raise self._error("response body is not a JSON object", request_id=request_id)
        return data, request_id

    _backoff = wait_exponential_jitter(initial=1.0, max=30.0, jitter=1.0)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        server_says = retry_after_seconds(exc, self.sdk_errors)
        return server_says if server_says is not None else self._backoff(state)

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.max_attempts:
            return True
        # idle_for counts the (possibly injected) sleeps; seconds_since_start the real clock.
        spent = max(state.seconds_since_start or 0.0, state.idle_for)
        return spent + state.upcoming_sleep > self.max_retry_seconds

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        d = details(exc, self._secrets(), self.sdk_errors)
        what = " ".join(p for p in (f"HTTP {d.status}" if d.status else None, d.error_type) if p)
        self.retry_log.warning(
            "%s: %s; retrying in %.1fs (attempt %d of %d)%s",
            self.model_id,
            what or type(exc).__name__,
            state.upcoming_sleep, state.attempt_number + 1, self.max_attempts,
            f" [request id {d.request_id}]" if d.request_id else "",
        )

    def _secrets(self) -> list[str]:
        """The API key and bearer token of this model's clients: what :func:`scrub` cuts out."""
        clients = [self._shared] if self._shared is not None else list(self._clients.values())
        found = {value for c in clients for value in (getattr(c, "api_key", None), getattr(c, "auth_token", None))
                 if isinstance(value, str) and value}
        return sorted(found, key=len, reverse=True)

    def _error(self, message: str, *, request_id: str | None) -> ModelAPIError:
        secrets = self._secrets()
        return ModelAPIError(scrub(message, secrets), model_id=self.model_id,
                             request_id=scrub(request_id, secrets, limit=200) if request_id else None)


def _without_retries(client: Any) -> Any:
    return client.with_options(max_retries=0)
