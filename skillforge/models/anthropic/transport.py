"""The SDK clients of :class:`~skillforge.models.anthropic.model.AnthropicModel` and the one retry layer
around every call it makes (messages, batch submission, polling, results): the shared
:class:`~skillforge.models.transport.RetryingTransport` policy, bound to the ``anthropic`` SDK's errors.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import anthropic

from skillforge.models.http_errors import SdkErrors
from skillforge.models.transport import RetryingTransport, Sleep

ANTHROPIC_ERRORS = SdkErrors(
    base=anthropic.AnthropicError, status=anthropic.APIStatusError, connection=anthropic.APIConnectionError,
    timeout=anthropic.APITimeoutError, credentials=(anthropic.CredentialsError,),
)

__all__ = ["ANTHROPIC_ERRORS", "AnthropicTransport", "Sleep"]


class AnthropicTransport(RetryingTransport[anthropic.AsyncAnthropic]):
    """Clients per event loop (or one injected client) and ``_call`` with retries, for the Messages API."""

    sdk_errors: ClassVar[SdkErrors] = ANTHROPIC_ERRORS
    retry_log: ClassVar[logging.Logger] = logging.getLogger("skillforge.models.anthropic.model")
