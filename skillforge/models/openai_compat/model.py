"""OpenAI-compatible chat servers through the official ``openai`` SDK: ``openai:<model>`` ids.

vLLM, SGLang, Ollama, llama.cpp's servers and the OpenAI API itself all speak
``POST /v1/chat/completions``; this provider serves a student (or a teacher) from any of them. It
needs the ``openai`` extra (``pip install 'skillforge[openai]'``); nothing else in skillforge
imports it.

- **Where.** ``base_url`` (default ``SKILLFORGE_OPENAI_BASE_URL``, else ``OPENAI_BASE_URL``, else the
  OpenAI API) and ``api_key`` (default ``OPENAI_API_KEY``; a self-hosted server that checks no key
  gets the placeholder ``EMPTY``). The key is never stored on the model, logged, or put in an error.
- **One client, reused.** One ``openai.AsyncOpenAI`` per event loop (its connection pool serves every
  call on that loop), with ``max_retries=0``: retries are the shared tenacity policy of
  :mod:`skillforge.models.transport` (429, 5xx, dropped connections, timeouts; backoff honouring
  ``retry-after``; capped attempts and time), errors mapped into :mod:`skillforge.errors` with status,
  error type and request id.
- **Structured output, never trusted.** ``structured="auto"`` asks for ``response_format``
  ``{"type": "json_schema"}`` (vLLM, SGLang, Ollama, llama.cpp's ``llama-server``, the OpenAI API);
  a server that refuses it (a 400/422 naming it) gets ``{"type": "json_object", "schema": ...}``
  (llama-cpp-python's server constrains output with it), and one that refuses that, plain text.
  Whatever comes back is text the runtime's verifier checks.
- **Confidence.** ``logprobs`` are asked for (``top_logprobs: 0``) and, when the server returns them
  (vLLM, llama.cpp, the OpenAI API do), summed over the tokens of the answer's JSON values: the same
  signal the local provider gives. A server that refuses ``logprobs``, ``temperature`` or ``seed``
  (a 400 naming it) is no longer sent it.
- **Cost.** Self-hosted servers have no price list, and OpenAI's changes: the cost is known only when
  ``price=`` is given (:class:`~skillforge.models.pricing.Price`, per million tokens; cached prompt
  tokens at its ``cache_read_multiplier``). Otherwise it is ``None`` -- never a guess -- with one
  :class:`~skillforge.errors.UnknownPriceWarning` per model. ``Price(input_per_mtok=0,
  output_per_mtok=0)`` counts a server as free.

API shapes: https://platform.openai.com/docs/api-reference/chat/create, .../guides/structured-outputs,
https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from skillforge.environment import read_env
from skillforge.errors import ConfigurationError, ModelAPIError
from skillforge.models.base import Model, ModelRequest, ModelResponse, Usage
from skillforge.models.http_errors import REDACTED, SdkErrors, guard_sdk_logs, is_retryable, scrub
from skillforge.models.openai_compat.body import first_choice, message_text, refusal_text, usage_from, value_logprob
from skillforge.models.pricing import Price, cost_usd, warn_unknown_price
from skillforge.models.transport import RetryingTransport, Sleep

try:
    import openai
except ImportError as exc:  # the optional extra is missing
    raise ConfigurationError(
        f"openai: models need the openai extra: pip install 'skillforge[openai]' ({exc})") from None

log = logging.getLogger("skillforge.models.openai")

StructuredMode = Literal["auto", "json_schema", "json_object", "text"]
Mode = Literal["json_schema", "json_object", "text"]

#: The OpenAI API, used when neither ``base_url`` nor the environment names a server.
OPENAI_API = "https://api.openai.com/v1"
#: The key sent to a self-hosted server when none is configured (vLLM's convention).
NO_KEY = "EMPTY"
OPENAI_ERRORS = SdkErrors(base=openai.OpenAIError, status=openai.APIStatusError,
                          connection=openai.APIConnectionError, timeout=openai.APITimeoutError)
_STRUCTURED_HINTS = ("response_format", "json_schema", "json_object", "structured output")


class OpenAIModel(RetryingTransport[openai.AsyncOpenAI], Model):
    """A model behind an OpenAI-compatible chat completions endpoint as a skillforge :class:`Model`.

    ``OpenAIModel("Qwen/Qwen2.5-7B-Instruct", base_url="http://gpu-box:8000/v1")`` has ``model_id ==
    "openai:Qwen/Qwen2.5-7B-Instruct"``; ``name`` is what the server calls the model. An injected
    ``client`` (``openai.AsyncOpenAI``) is used as is (via ``with_options(max_retries=0)``); keep it to
    one event loop. ``price``: see the module's notes on cost.
    """

    sdk_errors: ClassVar[SdkErrors] = OPENAI_ERRORS
    retry_log: ClassVar[logging.Logger] = log
    supports_logprobs = True
    supports_structured_output = True
    is_local = False

    def __init__(
        self,
        name: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client: openai.AsyncOpenAI | None = None,
        timeout: float = 60.0,
        max_attempts: int = 6,
        max_retry_seconds: float = 120.0,
        structured: StructuredMode = "auto",
        price: Price | Mapping[str, Any] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        name = name.removeprefix("openai:")
        if not name:
            raise ConfigurationError("an openai model needs a name, e.g. 'openai:Qwen/Qwen2.5-7B-Instruct'")
        if structured not in ("auto", "json_schema", "json_object", "text"):
            raise ConfigurationError(f"structured must be auto, json_schema, json_object or text: {structured!r}")
        self._init_retries(timeout=timeout, max_attempts=max_attempts, max_retry_seconds=max_retry_seconds, sleep=sleep)
        self.name = name
        self.model_id = f"openai:{name}"
        self.structured: StructuredMode = structured
        self.price = price if price is None or isinstance(price, Price) else Price.model_validate(price)
        #: The structured mode in use; ``auto`` starts at ``json_schema`` and may degrade.
        self._mode: Mode = "json_schema" if structured == "auto" else structured
        self.supports_structured_output = self._mode != "text"
        self._send_seed = True
        self._max_tokens_key = "max_tokens"
        if client is not None:
            self.base_url = str(client.base_url)
            self._init_clients(client, None)
            return
        env = read_env()
        self.base_url = (base_url or env.openai_base_url or OPENAI_API).rstrip("/")
        key = api_key or env.openai_api_key
        if not key and self.base_url == OPENAI_API:
            raise ConfigurationError(
                f"{self.model_id} needs an API key for the OpenAI API: set OPENAI_API_KEY or pass api_key=, "
                "or point it at your own server with base_url= (or SKILLFORGE_OPENAI_BASE_URL)")
        key = key or NO_KEY
        guard_sdk_logs([key])
        url = self.base_url
        # The key lives only in this closure and the clients it builds, never on the model.
        self._init_clients(None, lambda: openai.AsyncOpenAI(
            api_key=key, base_url=url, max_retries=0, timeout=timeout))

    @property
    def structured_mode(self) -> Mode:
        """How structured output is currently requested (``auto`` may have degraded it)."""
        return self._mode

    # -- one request ---------------------------------------------------------------------------

    def cache_identity(self) -> dict[str, Any] | None:
        """The model and the server asked: what its answers depend on besides the request (never the key)."""
        return {"provider": "openai-compatible", "model_id": self.model_id, "server": self.base_url}

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send ``request``; stop sending what the server refuses with a 400 that names it (structured
        mode, ``logprobs``, ``temperature``, ``seed``, ``max_tokens``), retry transient failures, and
        read what comes back."""
        started = time.perf_counter()
        while True:
            mode = self._mode
            body = self._body(request, mode)
            try:
                data, request_id = await self._call(functools.partial(self._create, body))
            except ModelAPIError as exc:
                if not self._degrade(exc, mode, body):
                    raise
                continue
            return self._response(data, request_id, time.perf_counter() - started)

    async def _create(self, body: dict[str, Any], client: openai.AsyncOpenAI) -> tuple[dict[str, Any], str | None]:
        return await self._json(await client.chat.completions.with_raw_response.create(**body))

    def _body(self, request: ModelRequest, mode: Mode) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` (``timeout`` included)."""
        messages: list[dict[str, str]] = [{"role": "system", "content": request.system}] if request.system else []
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        body: dict[str, Any] = {"model": self.name, "messages": messages, self._max_tokens_key: request.max_tokens,
                                "timeout": self.timeout}
        if self.supports_temperature:
            body["temperature"] = request.temperature
        if request.seed is not None and self._send_seed:
            body["seed"] = request.seed
        if request.logprobs and self.supports_logprobs:
            # top_logprobs 0: only the chosen tokens' (llama-cpp-python's server sends none without it).
            body["logprobs"], body["top_logprobs"] = True, 0
        schema = request.output_schema
        if schema is not None and mode == "json_schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
        elif schema is not None and mode == "json_object":
            body["response_format"] = {"type": "json_object", "schema": schema}
        return body

    def _response(self, data: Mapping[str, Any], request_id: str | None, latency: float) -> ModelResponse:
        choice = first_choice(data)
        if choice is None:
            raise self._error("the response has no choices", request_id=request_id)
        secrets = self._secrets()
        text, refusal, finish = message_text(choice), refusal_text(choice), choice.get("finish_reason")
        stop = "refusal" if refusal is not None and not text.strip() else finish if isinstance(finish, str) else None
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return ModelResponse(
            model_id=self.model_id, text=text, usage=usage_from(data.get("usage")), logprob_sum=value_logprob(choice),
            stop_reason=scrub(stop, secrets, limit=100) if stop else None,
            request_id=scrub(request_id, secrets, limit=200) if request_id else None, latency_s=latency,
        )

    # -- what the server refuses ---------------------------------------------------------------

    def _retryable(self, exc: BaseException) -> bool:
        # llama-cpp-python's server answers a request it cannot parse with HTTP 500 and a pydantic
        # "validation error": the same request fails the same way however often it is sent.
        return is_retryable(exc, self.sdk_errors) and not _validation_error(exc)

    def _degrade(self, exc: ModelAPIError, mode: Mode, body: Mapping[str, Any]) -> bool:
        """After a refused request: stop sending whatever the refusal named, and say whether to resend."""
        if not (exc.status in (400, 422) or (exc.status == 500 and "validation error" in str(exc).lower())):
            return False
        said = str(exc).lower().replace(self.model_id.lower(), "")
        if "max_completion_tokens" in said and self._max_tokens_key == "max_tokens":
            self._max_tokens_key = "max_completion_tokens"
            what = "max_tokens (sending max_completion_tokens)"
        elif "logprobs" in said and "logprobs" in body:
            self.supports_logprobs = False
            what = "logprobs"
        elif "temperature" in said and "temperature" in body:
            self.supports_temperature = False
            what = "temperature"
        elif "seed" in said and "seed" in body:
            self._send_seed = False
            what = "seed"
        elif self.structured == "auto" and "response_format" in body and any(h in said for h in _STRUCTURED_HINTS):
            self._mode = "json_object" if mode == "json_schema" else "text"
            self.supports_structured_output = self._mode != "text"
            what = f"{mode} structured output (using {self._mode})"
        else:
            return False
        log.warning("%s: the server refused %s; not sending it from now on (%s)", self.model_id, what,
                    exc.error_type or f"HTTP {exc.status}")
        return True

    # -- cost ----------------------------------------------------------------------------------

    def cost_usd(self, usage: Usage, *, batch: bool = False) -> float | None:
        """Dollar cost of ``usage`` at ``price``; ``None`` (one warning) when no price was given."""
        if self.price is None:
            warn_unknown_price(self.model_id, hint="Pass price=Price(input_per_mtok=..., output_per_mtok=...) to "
                               "OpenAIModel (Price(input_per_mtok=0, output_per_mtok=0) counts a server as free).")
            return None
        return cost_usd(usage, self.price, batch=batch)


def _validation_error(exc: BaseException) -> bool:
    if not isinstance(exc, openai.InternalServerError):
        return False
    # The SDK keeps the inner error object of {"error": {...}} as the body.
    message = exc.body.get("message") if isinstance(exc.body, dict) else exc.body
    return isinstance(message, str) and "validation error" in message.lower()
