"""Claude through the official ``anthropic`` SDK: ``anthropic:<model>`` ids.

One request is one Messages API call (``POST /v1/messages``), shaped so repeated calls of a skill
are cheap and a flaky network is survivable:

- **Caching.** The system text and the last demo message carry ``cache_control: ephemeral``
  (2 of the API's 4 breakpoints), so every call after the first reads the static prefix from cache.
- **Structured output, degrading gracefully.** ``structured="auto"`` asks for
  ``output_config.format`` (constrained decoding); if the server refuses it with a 400 naming it,
  this instance switches to a forced ``answer`` tool call, and from there to plain JSON-in-text.
  Whatever comes back is returned as text for the runtime to validate -- an Anthropic-compatible
  server (e.g. llama.cpp's ``llama-server``) may ignore both and answer in prose.
- **Robust parsing.** The raw JSON body is read, not the SDK's typed ``Message``: the SDK turns an
  unknown block type into a ``TextBlock`` with ``text=None``. Unknown blocks are skipped.
- **Retries** live here, with tenacity, and nowhere else (the SDK client runs with
  ``max_retries=0``): 429 (honouring ``retry-after-ms`` / ``retry-after``), 529, 500/502/503/504,
  connection errors and timeouts, with capped exponential backoff plus jitter, capped attempts
  and a total time budget. 400/404/413 (any other 4xx) raise :class:`ModelRequestRejected`,
  401/402/403 :class:`ModelAuthError` (an account problem escalating cannot fix); every error
  carries status, error type, message and request id.
- **Sampling.** Opus 4.7+ and the 5 generation refuse ``temperature``; it is sent (through
  ``extra_body``: SDK 2.14 has no typed argument for it) only to models that take it, and dropped
  for the instance if a server refuses it anyway. A 400 naming ``cache_control`` likewise turns
  caching off for the instance.
- **Secrets.** The API key is never stored on the model, logged, or put in an error message: every
  string a server supplies (error message, type, request id, stop reason; the key is also cut out of
  answer text) is scrubbed of it, should a server echo it back (:mod:`~skillforge.models.anthropic_errors`).

API shapes: https://platform.claude.com/docs/en/api/messages, .../build-with-claude/structured-outputs,
.../build-with-claude/prompt-caching, .../api/errors, .../api/rate-limits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import anthropic
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from skillforge.environment import read_env
from skillforge.errors import ConfigurationError, ModelAPIError, ModelRequestRejected, SpecError
from skillforge.models.anthropic_errors import (
    REDACTED,
    details,
    guard_sdk_logs,
    is_retryable,
    retry_after_seconds,
    scrub,
    translate,
)
from skillforge.models.anthropic_schema import (
    ANSWER_TOOL,
    adapt_schema,
    answer_text,
    structured_output_problems,
    tool_schema_problems,
    usage_from_body,
)
from skillforge.models.base import Model, ModelRequest, ModelResponse, Usage
from skillforge.models.pricing import PriceTable, default_table

log = logging.getLogger(__name__)

StructuredMode = Literal["auto", "output_config", "tool", "text"]
Sleep = Callable[[float], Awaitable[None]]

_EPHEMERAL = {"type": "ephemeral"}
# Claude models that no longer accept sampling parameters (a 400 "`temperature` is deprecated for
# this model"): Opus 4.7 onwards and the 5 generation. Others get temperature via ``extra_body``
# (SDK 2.14 dropped the typed argument); a 400 naming it turns it off for the instance anyway.
_NO_SAMPLING = re.compile(r"^claude-(opus-4-[7-9]|(opus|sonnet|haiku|fable|mythos)-[5-9])")
_STRUCTURED_HINTS = ("output_config", "output_format", "structured output", "json_schema", "json schema")


class AnthropicModel(Model):
    """A Claude model (or any server speaking the Messages API) as a skillforge :class:`Model`.

    ``AnthropicModel("claude-haiku-4-5")`` has ``model_id == "anthropic:claude-haiku-4-5"``. Without
    ``client``, one ``anthropic.AsyncAnthropic`` is built per event loop (an httpx async client
    cannot outlive its loop, and the sync API runs each call in a fresh one) from ``api_key`` /
    ``base_url`` or their ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL`` defaults; a missing key
    raises :class:`ConfigurationError` here, at construction. An injected ``client`` is used as is
    (via ``with_options(max_retries=0)``); keep it to one event loop.
    """

    supports_logprobs = False
    supports_structured_output = True
    is_local = False

    def __init__(
        self,
        name: str,
        *,
        client: anthropic.AsyncAnthropic | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_attempts: int = 6,
        max_retry_seconds: float = 120.0,
        structured: StructuredMode = "auto",
        prices: PriceTable | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        name = name.removeprefix("anthropic:")
        if not name:
            raise ConfigurationError("an anthropic model needs a name, e.g. 'anthropic:claude-haiku-4-5'")
        if structured not in ("auto", "output_config", "tool", "text"):
            raise ConfigurationError(f"structured must be auto, output_config, tool or text: {structured!r}")
        if max_attempts < 1 or timeout <= 0 or max_retry_seconds < 0:
            raise ConfigurationError("max_attempts >= 1, timeout > 0 and max_retry_seconds >= 0 are required")
        self.name = name
        self.model_id = f"anthropic:{name}"
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.structured: StructuredMode = structured
        self.prices = prices
        self._sleep = sleep
        #: The structured mode in use; ``auto`` starts at ``output_config`` and may degrade.
        self._mode: Literal["output_config", "tool", "text"] = (
            "output_config" if structured == "auto" else structured
        )
        self._send_temperature = _NO_SAMPLING.match(name) is None
        self._cache_control = True
        self._adapted: dict[str, tuple[dict[str, Any], bool]] = {}
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anthropic.AsyncAnthropic]
        self._clients = weakref.WeakKeyDictionary()
        self._shared: anthropic.AsyncAnthropic | None = None
        self._factory: Callable[[], anthropic.AsyncAnthropic] | None = None
        if client is not None:
            # Our tenacity loop is the only retry layer: an SDK retrying too would multiply attempts.
            self._shared = client.with_options(max_retries=0)
            guard_sdk_logs(self._secrets())
        else:
            env = read_env()
            key = api_key or env.anthropic_api_key
            if not key:
                raise ConfigurationError(
                    f"{self.model_id} needs an Anthropic API key: set ANTHROPIC_API_KEY or pass api_key= "
                    "(a local Anthropic-compatible server accepts any placeholder), or pass client="
                )
            url = base_url or env.anthropic_base_url
            guard_sdk_logs([key])
            # The key lives only in this closure and the clients it builds, never on the model.
            self._factory = lambda: anthropic.AsyncAnthropic(
                api_key=key, base_url=url, max_retries=0, timeout=timeout
            )

    @property
    def structured_mode(self) -> Literal["output_config", "tool", "text"]:
        """How structured output is currently requested (``auto`` may have degraded it)."""
        return self._mode

    def _client(self) -> anthropic.AsyncAnthropic:
        if self._shared is not None:
            return self._shared
        assert self._factory is not None
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = self._factory()
        return client

    # -- schemas -------------------------------------------------------------------------------

    def check_schema(self, schema: dict[str, Any]) -> None:
        """Raise :class:`SpecError` if no request mode this model may use can carry ``schema``.

        ``output_config`` needs :func:`structured_output_problems` to be empty; ``tool`` needs
        :func:`tool_schema_problems` to be empty; ``auto`` is fine with either (a schema structured
        outputs cannot express goes through the tool); ``text`` carries anything.
        """
        mode = self.structured
        if mode == "text":
            return
        tool_problems = tool_schema_problems(schema)
        so_problems = structured_output_problems(schema) if mode in ("auto", "output_config") else []
        if mode == "output_config" and so_problems:
            problems, hint = so_problems, "simplify the schema or use structured='tool'"
        elif mode == "tool" and tool_problems:
            problems, hint = tool_problems, "fix the schema or use structured='text'"
        elif mode == "auto" and so_problems and tool_problems:
            problems, hint = so_problems + tool_problems, "fix the schema or use structured='text'"
        else:
            return
        raise SpecError(
            f"{self.model_id} cannot be asked for this output schema ({hint}): " + "; ".join(problems),
            field="output_schema",
        )

    # -- one request ---------------------------------------------------------------------------

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send ``request``; degrade the structured mode or drop ``temperature`` when the server
        refuses them with a 400 that names them, retry transient failures, parse what comes back."""
        started = time.perf_counter()
        while True:
            mode = self._mode_for(request.output_schema)
            body = self._body(request, mode)
            try:
                data, request_id = await self._send_with_retries(body)
            except ModelRequestRejected as exc:
                if not self._degrade(exc, mode, body):
                    raise
                continue
            secrets = self._secrets()
            stop = data.get("stop_reason")
            text = answer_text(data, tool=mode == "tool")
            for secret in secrets:
                text = text.replace(secret, REDACTED)
            return ModelResponse(
                model_id=self.model_id, text=text, usage=usage_from_body(data.get("usage")),
                stop_reason=scrub(stop, secrets, limit=100) if isinstance(stop, str) else None,
                request_id=scrub(request_id, secrets, limit=200) if request_id else None,
                latency_s=time.perf_counter() - started,
            )

    def _strict(self, schema: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """(the adapted schema, whether it is faithful), computed once per schema."""
        key = json.dumps(schema, sort_keys=True, default=str)
        if key not in self._adapted:
            self._adapted[key] = (adapt_schema(schema), not structured_output_problems(schema))
        return self._adapted[key]

    def _mode_for(self, schema: Mapping[str, Any] | None) -> Literal["output_config", "tool", "text"] | None:
        if schema is None:
            return None
        if self._mode == "output_config" and self.structured == "auto" and not self._strict(schema)[1]:
            # Not expressible as structured output: the forced tool carries the full schema.
            return "tool"
        return self._mode

    def _degrade(self, exc: ModelRequestRejected, mode: str | None, body: Mapping[str, Any]) -> bool:
        """After a rejected request: switch off whatever the 400 named, and say whether to resend."""
        if exc.status not in (400, 422):
            return False
        said = str(exc).lower().replace(self.model_id.lower(), "")
        if "temperature" in said and "temperature" in body.get("extra_body", {}):
            self._send_temperature = False
            log.warning("%s: the server refused temperature; sending none from now on", self.model_id)
            return True
        if "cache_control" in said and self._cache_control:
            self._cache_control = False
            log.warning("%s: the server refused cache_control; not caching the prefix", self.model_id)
            return True
        if self.structured != "auto":
            return False
        if mode == "output_config" and any(h in said for h in _STRUCTURED_HINTS):
            self._mode = "tool"
        elif mode == "tool" and "tool" in said:
            self._mode = "text"
        else:
            return False
        log.warning(
            "%s: the server refused %s structured output (%s); using %s from now on",
            self.model_id, mode, exc.error_type or f"HTTP {exc.status}", self._mode,
        )
        return True

    def _body(self, request: ModelRequest, mode: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.name,
            "max_tokens": request.max_tokens,
            "messages": _messages(request, cache=self._cache_control),
            "timeout": self.timeout,
        }
        if request.system:
            system: dict[str, Any] = {"type": "text", "text": request.system}
            if self._cache_control:
                system["cache_control"] = dict(_EPHEMERAL)
            body["system"] = [system]
        if self._send_temperature:
            body["extra_body"] = {"temperature": request.temperature}
        schema = request.output_schema
        if schema is not None and mode == "output_config":
            body["output_config"] = {"format": {"type": "json_schema", "schema": self._strict(schema)[0]}}
        elif schema is not None and mode == "tool":
            body["tools"] = [{
                "name": ANSWER_TOOL,
                "description": "Give your final answer. The tool input IS the answer: one JSON object "
                "matching the input schema.",
                "input_schema": schema,
            }]
            body["tool_choice"] = {"type": "tool", "name": ANSWER_TOOL}
        return body

    # -- transport -----------------------------------------------------------------------------

    async def _send_with_retries(self, body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        attempts = 0

        async def once() -> tuple[dict[str, Any], str | None]:
            nonlocal attempts
            attempts += 1
            raw = await self._client().messages.with_raw_response.create(**body)
            request_id = raw.request_id
            try:
                data = await raw.json()
            except ValueError as exc:
                raise self._error(f"response body is not JSON ({exc})", request_id=request_id) from None
            if not isinstance(data, dict):
                raise self._error("response body is not a JSON object", request_id=request_id)
            return data, request_id

        retrying = AsyncRetrying(
            sleep=self._sleep,
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception(is_retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return await retrying(once)
        except anthropic.AnthropicError as exc:
            error = translate(exc, attempts, model_id=self.model_id, secrets=self._secrets(), timeout=self.timeout,
                              max_retry_seconds=self.max_retry_seconds)
        # Raised outside the except block: the SDK error (which holds the server's raw, unscrubbed body)
        # must not ride along as __context__.
        raise error

    _backoff = wait_exponential_jitter(initial=1.0, max=30.0, jitter=1.0)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        server_says = retry_after_seconds(exc)
        return server_says if server_says is not None else self._backoff(state)

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.max_attempts:
            return True
        # idle_for counts the (possibly injected) sleeps; seconds_since_start the real clock.
        spent = max(state.seconds_since_start or 0.0, state.idle_for)
        return spent + state.upcoming_sleep > self.max_retry_seconds

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        d = details(exc, self._secrets())
        what = " ".join(p for p in (f"HTTP {d.status}" if d.status else None, d.error_type) if p)
        log.warning(
            "%s: %s; retrying in %.1fs (attempt %d of %d)%s",
            self.model_id,
            what or type(exc).__name__,
            state.upcoming_sleep, state.attempt_number + 1, self.max_attempts,
            f" [request id {d.request_id}]" if d.request_id else "",
        )

    def _secrets(self) -> list[str]:
        """The API key and bearer token of this model's clients: what :func:`scrub` cuts out."""
        clients = [self._shared] if self._shared is not None else list(self._clients.values())
        found = {value for c in clients for value in (c.api_key, getattr(c, "auth_token", None)) if value}
        return sorted(found, key=len, reverse=True)

    def _error(self, message: str, *, request_id: str | None) -> ModelAPIError:
        secrets = self._secrets()
        return ModelAPIError(scrub(message, secrets), model_id=self.model_id,
                             request_id=scrub(request_id, secrets, limit=200) if request_id else None)

    # -- cost ----------------------------------------------------------------------------------

    def cost_usd(self, usage: Usage) -> float | None:
        """Dollar cost of ``usage`` from ``prices`` (default: :func:`skillforge.models.pricing.default_table`),
        cache writes and reads at their multipliers; ``None`` plus one warning for an unknown model."""
        table = self.prices if self.prices is not None else default_table()
        return table.cost_usd(self.name, usage)


# -- helpers ---------------------------------------------------------------------------------------


def _messages(request: ModelRequest, *, cache: bool) -> list[dict[str, Any]]:
    """The turns, with a cache breakpoint on the last static one (the end of the demos)."""
    last_static = min(request.static_messages, len(request.messages)) - 1 if cache else -1
    out: list[dict[str, Any]] = []
    for i, message in enumerate(request.messages):
        content: Any = message.content
        if i == last_static and message.content:
            content = [{"type": "text", "text": message.content, "cache_control": dict(_EPHEMERAL)}]
        out.append({"role": message.role, "content": content})
    return out
