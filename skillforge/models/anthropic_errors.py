"""Errors of the Anthropic Messages API, read without trusting the server.

:func:`error_details` reads status, ``error.type``, ``error.message`` and the request id
(``request-id`` header, else the body's ``request_id``) of an SDK error; :func:`retry_after_seconds`
reads ``retry-after-ms`` / ``retry-after``; :func:`translate` turns an SDK error into the skillforge
error for it.

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

import anthropic

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
_SDK_LOGGERS = ("anthropic", "httpx", "httpx2", "httpcore", "httpcore2")


def guard_sdk_logs(secrets: Iterable[str]) -> None:
    """Scrub ``secrets`` from every record the SDK's loggers (and its HTTP library's) emit from now on.
    Filters do not propagate to child loggers, so each existing ``anthropic.*`` logger gets one."""
    _FILTER.secrets.update(s for s in secrets if s)
    names = {n for n in logging.Logger.manager.loggerDict if n.split(".")[0] in _SDK_LOGGERS}
    for name in sorted(names | set(_SDK_LOGGERS)):
        logging.getLogger(name).addFilter(_FILTER)  # no-op when already added


def is_retryable(exc: BaseException) -> bool:
    """True for transient failures: 429, 5xx in :data:`RETRYABLE_STATUS`, connection errors, timeouts."""
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS
    return isinstance(exc, anthropic.APIConnectionError)  # includes APITimeoutError


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, then ``retry-after`` as seconds or
    an HTTP date), or ``None``."""
    if not isinstance(exc, anthropic.APIStatusError):
        return None
    headers = exc.response.headers
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


def error_details(exc: BaseException | None) -> tuple[int | None, str | None, str, str | None]:
    """(status, error type, message, request id) of an SDK error, as the server sent them (unscrubbed:
    see :func:`details`)."""
    if isinstance(exc, anthropic.APIStatusError):
        body: dict[str, object] = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        assert isinstance(error, dict)
        error_type = error.get("type") if isinstance(error.get("type"), str) else None
        message = error.get("message") if isinstance(error.get("message"), str) else None
        if message is None:
            text = exc.response.text if exc.body is not None else ""
            message = text[:300] or exc.response.reason_phrase or "no error message"
        body_id = body.get("request_id")
        request_id = exc.request_id or (body_id if isinstance(body_id, str) else None)
        return exc.status_code, error_type, str(message)[:_MAX_MESSAGE], request_id
    if isinstance(exc, anthropic.APITimeoutError):
        return None, "timeout", "the request timed out", None
    if isinstance(exc, anthropic.APIConnectionError):
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


def details(exc: BaseException | None, secrets: Iterable[str]) -> Details:
    """:func:`error_details` with every server-supplied string passed through :func:`scrub`."""
    secrets = list(secrets)
    status, error_type, message, request_id = error_details(exc)
    return Details(
        status=status,
        error_type=scrub(error_type, secrets, limit=_MAX_FIELD) or None if error_type else None,
        message=scrub(message, secrets) or "no error message",
        request_id=scrub(request_id, secrets, limit=_MAX_FIELD) or None if request_id else None,
    )


def translate(
    exc: anthropic.AnthropicError, attempts: int, *, model_id: str, secrets: Iterable[str], timeout: float,
    max_retry_seconds: float,
) -> ModelAPIError:
    """The skillforge error for an SDK error raised after ``attempts`` attempts: :class:`ModelAuthError`
    for 401/402/403, :class:`ModelRequestRejected` for other non-retryable 4xx, else
    :class:`ModelAPIError`; every string scrubbed."""
    d = details(exc, secrets)
    message = d.message
    retryable = is_retryable(exc)
    if isinstance(exc, anthropic.APITimeoutError):
        message = f"no response within {timeout:g}s"
    if retryable:
        message += f" (gave up after {attempts} attempt{'s' if attempts != 1 else ''})"
        asked = retry_after_seconds(exc)
        if asked is not None and asked > max_retry_seconds:
            message += f"; the server asked to wait {asked:g}s, beyond the {max_retry_seconds:g}s retry budget"
    cls = ModelAPIError
    if d.status in AUTH_STATUS or isinstance(exc, anthropic.CredentialsError):
        cls = ModelAuthError
    elif d.status is not None and 400 <= d.status < 500 and not retryable:
        cls = ModelRequestRejected
    return cls(message, model_id=model_id, status=d.status, error_type=d.error_type, request_id=d.request_id,
               retryable=retryable)
