"""Errors of HTTP model APIs (Anthropic's Messages API, OpenAI-compatible servers), read without
trusting the server.

Both official SDKs are generated from one template: a status error with ``status_code``, ``body``,
``response`` and ``request_id``, a connection error, and a timeout that is a connection error.
:class:`SdkErrors` names one SDK's classes, and every function here takes it:
:func:`error_details` reads status, ``error.type``, ``error.message`` and the request id (the SDK's
request-id header, else the body's ``request_id``) of an SDK error -- Anthropic and OpenAI-compatible
servers both answer ``{"error": {"type": ..., "message": ...}}``; :func:`retry_after_seconds` reads
``retry-after-ms`` / ``retry-after``; :func:`translate` turns an SDK error into the skillforge error
for it.

Every string a server supplies -- message, error type, request id, body text -- passes
:func:`scrub` before it reaches an exception, a log line or a report: the API key (and bearer
token) is replaced by ``[redacted]`` wherever a server echoes it, control characters (terminal escape
sequences) are dropped, whitespace is folded so an error stays one line, and the length is capped.
The SDK and its HTTP library log response headers (the request id among them) at DEBUG level;
:func:`guard_sdk_logs` scrubs the key from their log records too.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from skillforge.errors import ModelAPIError, ModelAuthError, ModelRequestRejected

#: Transient statuses: rate limited, server errors, overloaded.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504, 529})
#: Statuses that mean the account or key is the problem (never retried or escalated away).
AUTH_STATUS = frozenset({401, 402, 403})
REDACTED = "[redacted]"
_MAX_MESSAGE = 1000
_MAX_FIELD = 200


def scrub(text: str, secrets: Iterable[str], *, limit: int = _MAX_MESSAGE) -> str:
    """``text`` with every secret replaced by ``[redacted]``, non-printable characters removed,
    whitespace folded to single spaces and at most ``limit`` characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _SecretFilter(logging.Filter):
    """Cuts known secrets out of a log record's message and traceback text."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging system's business, not ours
            return True
        clean = self._clean(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = _SecretFilter()
#: Top-level loggers of the SDK and the HTTP libraries it may use.
_SDK_LOGGERS = ("anthropic", "openai", "httpx", "httpx2", "httpcore", "httpcore2")


def guard_sdk_logs(secrets: Iterable[str]) -> None:
    """Scrub ``secrets`` from every record the SDK's loggers (and its HTTP library's) emit from now on.
    Filters do not propagate to child loggers, so each existing SDK logger (``anthropic.*``, ...) gets one."""
    _FILTER.secrets.update(s for s in secrets if s)
    names = {n for n in logging.Logger.manager.loggerDict if n.split(".")[0] in _SDK_LOGGERS}
    for name in sorted(names | set(_SDK_LOGGERS)):
        logging.getLogger(name).addFilter(_FILTER)  # no-op when already added


@dataclass(frozen=True)
class SdkErrors:
    """The exception classes of one official SDK (``anthropic``, ``openai``): what this module reads."""

    #: The root of every error the SDK raises.
    base: type[Exception]
    #: A 4xx/5xx answer: has ``status_code``, ``body``, ``response`` and ``request_id``.
    status: type[Exception]
    #: No answer at all (a dropped connection, a refused one); ``timeout`` is a subclass of it.
    connection: type[Exception]
    timeout: type[Exception]
    #: Errors that mean the credentials are the problem, raised before any request is sent.
    credentials: tuple[type[Exception], ...] = ()


def is_retryable(exc: BaseException, sdk: SdkErrors) -> bool:
    """True for transient failures: 429, 5xx in :data:`RETRYABLE_STATUS`, connection errors, timeouts."""
    if isinstance(exc, sdk.status):
        return getattr(exc, "status_code", None) in RETRYABLE_STATUS
    return isinstance(exc, sdk.connection)  # includes timeouts


def retry_after_seconds(exc: BaseException | None, sdk: SdkErrors) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, then ``retry-after`` as seconds or
    an HTTP date), or ``None``."""
    if not isinstance(exc, sdk.status):
        return None
    status_error: Any = exc  # an SDK status error (the SDKs' classes are not typed in common)
    headers = status_error.response.headers
    try:
        return max(0.0, float(headers["retry-after-ms"]) / 1000)
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_tz(value)
        return None if when is None else max(0.0, email.utils.mktime_tz(when) - time.time())


def error_details(exc: BaseException | None, sdk: SdkErrors) -> tuple[int | None, str | None, str, str | None]:
    """(status, error type, message, request id) of an SDK error, as the server sent them (unscrubbed:
    see :func:`details`)."""
    if isinstance(exc, sdk.status):
        status_error: Any = exc
        body: dict[str, object] = status_error.body if isinstance(status_error.body, dict) else {}
        # Anthropic's SDK keeps the whole body ({"error": {...}}); OpenAI's keeps only the inner object.
        error = body.get("error") if isinstance(body.get("error"), dict) else body
        assert isinstance(error, dict)
        error_type = error.get("type") if isinstance(error.get("type"), str) else None
        message = error.get("message") if isinstance(error.get("message"), str) else None
        if message is None:
            response = status_error.response
            text = response.text if status_error.body is not None else ""
            message = text[:300] or response.reason_phrase or "no error message"
        body_id = body.get("request_id")
        request_id = status_error.request_id or (body_id if isinstance(body_id, str) else None)
        return int(status_error.status_code), error_type, str(message)[:_MAX_MESSAGE], request_id
    if isinstance(exc, sdk.timeout):
        return None, "timeout", "the request timed out", None
    if isinstance(exc, sdk.connection):
        cause = exc.__cause__
        detail = f": {type(cause).__name__}: {cause}" if cause is not None else ""
        return None, "connection_error", f"could not reach the server{detail}"[:_MAX_MESSAGE], None
    return None, None, str(exc)[:_MAX_MESSAGE] if exc else "unknown error", None


@dataclass(frozen=True)
class Details:
    """An SDK error's status, type, message and request id, every string scrubbed."""

    status: int | None
    error_type: str | None
    message: str
    request_id: str | None


def details(exc: BaseException | None, secrets: Iterable[str], sdk: SdkErrors) -> Details:
    """:func:`error_details` with every server-supplied string passed through :func:`scrub`."""
    secrets = list(secrets)
    status, error_type, message, request_id = error_details(exc, sdk)
    return Details(
        status=status,
        error_type=scrub(error_type, secrets, limit=_MAX_FIELD) or None if error_type else None,
        message=scrub(message, secrets) or "no error message",
        request_id=scrub(request_id, secrets, limit=_MAX_FIELD) or None if request_id else None,
    )


def translate(
    exc: BaseException, attempts: int, *, sdk: SdkErrors, model_id: str, secrets: Iterable[str], timeout: float,
    max_retry_seconds: float,
) -> ModelAPIError:
    """The skillforge error for an SDK error raised after ``attempts`` attempts: :class:`ModelAuthError`
    for 401/402/403, :class:`ModelRequestRejected` for other non-retryable 4xx, else
    :class:`ModelAPIError`; every string scrubbed."""
    d = details(exc, secrets, sdk)
    message = d.message
    retryable = is_retryable(exc, sdk)
    if isinstance(exc, sdk.timeout):
        message = f"no response within {timeout:g}s"
    if retryable:
        message += f" (gave up after {attempts} attempt{'s' if attempts != 1 else ''})"
        asked = retry_after_seconds(exc, sdk)
        if asked is not None and asked > max_retry_seconds:
            message += f"; the server asked to wait {asked:g}s, beyond the {max_retry_seconds:g}s retry budget"
    cls = ModelAPIError
    if d.status in AUTH_STATUS or isinstance(exc, sdk.credentials):
        cls = ModelAuthError
    elif d.status is not None and 400 <= d.status < 500 and not retryable:
        cls = ModelRequestRejected
    return cls(message, model_id=model_id, status=d.status, error_type=d.error_type, request_id=d.request_id,
               retryable=retryable)
