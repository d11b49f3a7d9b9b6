"""Reading an OpenAI-compatible chat completion body without trusting the server.

vLLM, SGLang, Ollama, llama.cpp and the OpenAI API all answer ``POST /v1/chat/completions`` with
``{"choices": [{"message": {...}, "logprobs": {...}, "finish_reason": ...}], "usage": {...}}``, but
each leaves out or adds fields of its own, so the raw JSON is read field by field: a missing or
mistyped field is absent, never an exception. API shape:
https://platform.openai.com/docs/api-reference/chat/object.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from skillforge.models.base import Usage
from skillforge.models.local.scoring import answer_logprob


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, Mapping) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def first_choice(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first choice object, or ``None`` when there is none."""
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        return choices[0]
    return None


def message_text(choice: Mapping[str, Any]) -> str:
    """The answer text: ``message.content`` as a string, or its text parts joined (some servers send
    a list of ``{"type": "text", "text": ...}`` parts). A reasoning model's separate
    ``reasoning_content`` is not the answer and is left out."""
    content = _get(choice.get("message"), "content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def refusal_text(choice: Mapping[str, Any]) -> str | None:
    """``message.refusal`` (the OpenAI API's structured-output refusal), when non-empty."""
    refusal = _get(choice.get("message"), "refusal")
    return refusal if isinstance(refusal, str) and refusal.strip() else None


def usage_from(raw: Any) -> Usage:
    """Token counts: ``prompt_tokens`` split into fresh input and cache reads
    (``prompt_tokens_details.cached_tokens``, which the prompt count includes), ``completion_tokens``
    as output with ``completion_tokens_details.reasoning_tokens`` as the thinking part of it."""
    prompt, output = _int(_get(raw, "prompt_tokens")), _int(_get(raw, "completion_tokens"))
    cached = min(prompt, _int(_get(_get(raw, "prompt_tokens_details"), "cached_tokens")))
    thinking = min(output, _int(_get(_get(raw, "completion_tokens_details"), "reasoning_tokens")))
    return Usage(input_tokens=prompt - cached, cache_read_input_tokens=cached, output_tokens=output,
                 thinking_tokens=thinking)


def token_logprobs(choice: Mapping[str, Any]) -> list[tuple[str, float]] | None:
    """(token, log-probability) of each generated token from ``logprobs.content``; ``None`` when the
    server sent none, or any entry lacks a finite log-probability (a partial sum would overstate
    the confidence)."""
    content = _get(choice.get("logprobs"), "content")
    if not isinstance(content, list) or not content:
        return None
    tokens: list[tuple[str, float]] = []
    for entry in content:
        token, logprob = _get(entry, "token"), _get(entry, "logprob")
        if not isinstance(token, str) or not isinstance(logprob, int | float) or isinstance(logprob, bool):
            return None
        if not math.isfinite(logprob) or logprob > 0:
            return None
        tokens.append((token, float(logprob)))
    return tokens


def value_logprob(choice: Mapping[str, Any]) -> float | None:
    """The answer's confidence signal, as the local provider gives it: the summed log-probability of
    the tokens that spell the answer's JSON *values* (:func:`~skillforge.models.local.scoring.answer_logprob`)."""
    tokens = token_logprobs(choice)
    return None if tokens is None else answer_logprob(tokens)
