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
- **Retries** (:mod:`skillforge.models.transport`, the policy the OpenAI-compatible provider shares):
  transient failures are retried with backoff within a budget; 400/404/413 raise
  :class:`ModelRequestRejected`, 401/402/403 :class:`ModelAuthError` (an account problem escalating cannot fix).
- **The request shape per generation** (:mod:`skillforge.models.anthropic.claude`). Opus 4.7+ and the 5
  generation refuse ``temperature``/``top_p``/``top_k``: ``temperature`` is sent (through
  ``extra_body``: SDK 2.14 has no typed argument for it) only to models that take it, and dropped
  for the instance if a server refuses it anyway (``supports_temperature`` turns False).
  ``output_config.effort`` goes to models that take it: the ``effort`` given, else the role's
  default once :meth:`AnthropicModel.for_role` has given the model a role (student ``low``,
  teacher ``high``). Models that always think get room for thinking on top of ``max_tokens``;
  their thinking blocks are skipped and their thinking tokens counted in ``Usage.thinking_tokens``.
  A 400 naming ``effort`` or ``cache_control`` turns that off for the instance.
- **Refusals.** ``stop_reason: "refusal"`` comes back as an ordinary response (``response.refused``);
  the runtime records it as the verdict ``refused`` and escalates, never re-asks.
- **Message Batches** (:mod:`skillforge.models.anthropic.batch`): :meth:`batch_request` sends many
  requests at the batch discount, resumable from a state file.
- **Secrets.** The API key is never stored on the model, logged, or put in an error message: every
  string a server supplies (error message, type, request id, stop reason; the key is also cut out of
  answer text) is scrubbed of it, should a server echo it back (:mod:`~skillforge.models.http_errors`).

API shapes: https://platform.claude.com/docs/en/api/messages, .../build-with-claude/structured-outputs,
.../build-with-claude/prompt-caching, .../api/errors, .../api/rate-limits.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Literal

import anthropic

from skillforge.environment import read_env
from skillforge.errors import ConfigurationError, ModelRequestRejected, SpecError
from skillforge.models.anthropic.batch import AnthropicBatching
from skillforge.models.anthropic.claude import (
    EFFORTS,
    ROLE_EFFORT,
    THINKING_HEADROOM,
    Effort,
    takes_effort,
    takes_prefill,
    takes_sampling_params,
    thinks_adaptively,
)
from skillforge.models.anthropic.schema import (
    ANSWER_TOOL,
    adapt_schema,
    answer_text,
    structured_output_problems,
    tool_schema_problems,
    usage_from_body,
)
from skillforge.models.anthropic.transport import Sleep
from skillforge.models.base import Model, ModelRequest, ModelResponse, Role, Usage
from skillforge.models.http_errors import REDACTED, guard_sdk_logs, scrub
from skillforge.models.pricing import PriceTable, default_table

log = logging.getLogger(__name__)

StructuredMode = Literal["auto", "output_config", "tool", "text"]
Mode = Literal["output_config", "tool", "text"]

_EPHEMERAL = {"type": "ephemeral"}
_STRUCTURED_HINTS = ("output_config", "output_format", "structured output", "json_schema", "json schema")


class AnthropicModel(AnthropicBatching, Model):
    """A Claude model (or any server speaking the Messages API) as a skillforge :class:`Model`.

    ``AnthropicModel("claude-haiku-5-5")`` has ``model_id == "anthropic:claude-haiku-5-5"``. Without
    ``client``, one ``anthropic.AsyncAnthropic`` is built per event loop from ``api_key`` /
    ``base_url`` or their ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL`` defaults; a missing key
    raises :class:`ConfigurationError` here, at construction. An injected ``client`` is used as is
    (via ``with_options(max_retries=0)``); keep it to one event loop.

    ``effort`` (``low`` .. ``max``) is sent as ``output_config.effort`` on every request; ``None``
    (the default) lets the role decide (:meth:`for_role`), and without a role sends none (the API's
    default).
    """

    supports_logprobs = False
    supports_structured_output = True
    is_local = False
    supports_batch = True

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
        effort: Effort | None = None,
        prices: PriceTable | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        name = name.removeprefix("anthropic:")
        if not name:
            raise ConfigurationError("an anthropic model needs a name, e.g. 'anthropic:claude-haiku-5-5'")
        if structured not in ("auto", "output_config", "tool", "text"):
            raise ConfigurationError(f"structured must be auto, output_config, tool or text: {structured!r}")
        if effort is not None and effort not in EFFORTS:
            raise ConfigurationError(f"effort must be one of {', '.join(EFFORTS)}: {effort!r}")
        self._init_retries(timeout=timeout, max_attempts=max_attempts, max_retry_seconds=max_retry_seconds, sleep=sleep)
        self.name = name
        self.model_id = f"anthropic:{name}"
        self.structured: StructuredMode = structured
        #: The effort asked for explicitly (``None``: the role's default, see :meth:`for_role`).
        self.effort: Effort | None = effort
        #: The role this instance was configured for, if any.
        self.role: Role | None = None
        self.prices = prices
        #: The structured mode in use; ``auto`` starts at ``output_config`` and may degrade.
        self._mode: Mode = "output_config" if structured == "auto" else structured
        self.supports_temperature = takes_sampling_params(name)
        self._effort: Effort | None = effort
        self._cache_control = True
        self._adapted: dict[str, tuple[dict[str, Any], bool]] = {}
        #: The server asked (``None``: the SDK's default or an injected client's own).
        self._server: str | None = None
        if client is not None:
            self._init_clients(client, None)
            return
        env = read_env()
        key = api_key or env.anthropic_api_key
        if not key:
            raise ConfigurationError(
                f"{self.model_id} needs an Anthropic API key: set ANTHROPIC_API_KEY or pass api_key= "
                "(a local Anthropic-compatible server accepts any placeholder), or pass client="
            )
        url = base_url or env.anthropic_base_url
        self._server = url
        guard_sdk_logs([key])
        # The key lives only in this closure and the clients it builds, never on the model.
        self._init_clients(None, lambda: anthropic.AsyncAnthropic(
            api_key=key, base_url=url, max_retries=0, timeout=timeout))

    @property
    def structured_mode(self) -> Mode:
        """How structured output is currently requested (``auto`` may have degraded it)."""
        return self._mode

    @property
    def request_effort(self) -> Effort | None:
        """The ``output_config.effort`` requests carry now (``None``: none is sent)."""
        return self._effort

    def cache_identity(self) -> dict[str, Any] | None:
        """The model, the effort its requests carry, how structured output is asked for, and the server:
        what its answers depend on besides the request (never the key)."""
        return {"provider": "anthropic", "model_id": self.model_id, "effort": self._effort,
                "structured": self.structured, "server": self._server}

    def for_role(self, role: Role) -> AnthropicModel:
        """A copy asking for the role's effort (:data:`~skillforge.models.anthropic.claude.ROLE_EFFORT`: student
        ``low``, teacher ``high``), sharing this instance's clients. The model itself when an
        ``effort`` was given explicitly or the model takes none."""
        if self.effort is not None or self.role == role or not takes_effort(self.name):
            return self
        twin = copy.copy(self)
        twin.role = role
        twin._effort = ROLE_EFFORT[role]
        return twin

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
        """Send ``request``; degrade the structured mode or drop ``temperature``/``effort`` when the
        server refuses them with a 400 that names them, retry transient failures, parse what comes back."""
        self._check_turns(request)
        started = time.perf_counter()
        while True:
            mode = self._mode_for(request.output_schema)
            body = self._body(request, mode)

            try:
                data, request_id = await self._call(functools.partial(self._create, body))
            except ModelRequestRejected as exc:
                if not self._degrade(exc, mode, body):
                    raise
                continue
            return self._response(data, mode, request_id, time.perf_counter() - started)

    async def _create(
        self, body: dict[str, Any], client: anthropic.AsyncAnthropic
    ) -> tuple[dict[str, Any], str | None]:
        return await self._json(await client.messages.with_raw_response.create(**body))

    def _response(
        self, data: Mapping[str, Any], mode: str | None, request_id: str | None, latency: float, *, batch: bool = False
    ) -> ModelResponse:
        """A response from a message body (the answer picked by block type, thinking blocks skipped)."""
        stop = data.get("stop_reason")
        secrets = self._secrets()
        text = answer_text(data, tool=mode == "tool")
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return ModelResponse(
            model_id=self.model_id, text=text, usage=usage_from_body(data.get("usage")),
            stop_reason=scrub(stop, secrets, limit=100) if isinstance(stop, str) else None,
            request_id=scrub(request_id, secrets, limit=200) if request_id else None, latency_s=latency, batch=batch,
        )

    def _check_turns(self, request: ModelRequest) -> None:
        if request.messages and request.messages[-1].role == "assistant" and not takes_prefill(self.name):
            raise ConfigurationError(
                f"{self.model_id} takes no assistant prefill: the last message must be the user's")

    def _strict(self, schema: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """(the adapted schema, whether it is faithful), computed once per schema."""
        key = json.dumps(schema, sort_keys=True, default=str)
        if key not in self._adapted:
            self._adapted[key] = (adapt_schema(schema), not structured_output_problems(schema))
        return self._adapted[key]

    def _mode_for(self, schema: Mapping[str, Any] | None) -> Mode | None:
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
        if "effort" in said and "effort" in body.get("output_config", {}):
            self._effort = None
            log.warning("%s: the server refused effort; sending none from now on", self.model_id)
            return True
        if "temperature" in said and "temperature" in body.get("extra_body", {}):
            self.supports_temperature = False
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

    def _max_tokens(self, request: ModelRequest) -> int:
        """The answer budget, plus room for thinking on models that always think (thinking counts
        against ``max_tokens``; only the tokens generated are billed)."""
        if not thinks_adaptively(self.name):
            return request.max_tokens
        return request.max_tokens + THINKING_HEADROOM[self._effort or "high"]

    def _body(self, request: ModelRequest, mode: str | None) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` (``timeout`` and ``extra_body`` included)."""
        body: dict[str, Any] = {
            "model": self.name,
            "max_tokens": self._max_tokens(request),
            "messages": _messages(request, cache=self._cache_control),
            "timeout": self.timeout,
        }
        if request.system:
            system: dict[str, Any] = {"type": "text", "text": request.system}
            if self._cache_control:
                system["cache_control"] = dict(_EPHEMERAL)
            body["system"] = [system]
        if self.supports_temperature:
            body["extra_body"] = {"temperature": request.temperature}
        output_config: dict[str, Any] = {}
        if self._effort is not None:
            output_config["effort"] = self._effort
        schema = request.output_schema
        if schema is not None and mode == "output_config":
            output_config["format"] = {"type": "json_schema", "schema": self._strict(schema)[0]}
        elif schema is not None and mode == "tool":
            body["tools"] = [{
                "name": ANSWER_TOOL,
                "description": "Give your final answer. The tool input IS the answer: one JSON object "
                "matching the input schema.",
                "input_schema": schema,
            }]
            body["tool_choice"] = {"type": "tool", "name": ANSWER_TOOL}
        if output_config:
            body["output_config"] = output_config
        return body

    # -- cost ----------------------------------------------------------------------------------

    def cost_usd(self, usage: Usage, *, batch: bool = False) -> float | None:
        """Dollar cost of ``usage`` from ``prices`` (default: :func:`skillforge.models.pricing.default_table`),
        cache writes and reads at their multipliers, at the batch discount for ``batch``; ``None``
        plus one warning for an unknown model."""
        table = self.prices if self.prices is not None else default_table()
        return table.cost_usd(self.name, usage, batch=batch)


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
