"""What the Claude model generations accept, by model name: the request shape each one gets.

Pure facts, no SDK import, so the cassette layer can judge a replayed ``anthropic:`` id without
building a client. Names are without the ``anthropic:`` prefix; dated ids (``-20260101``) match too.

- **Sampling parameters.** Opus 4.7 onwards and the whole 5 generation (Opus, Sonnet, Haiku 5.x,
  Fable, Mythos) reject ``temperature``, ``top_p`` and ``top_k`` with a 400. skillforge never sends
  ``top_p``/``top_k``; ``temperature`` goes only to models that take it.
- **Effort.** ``output_config.effort`` (``low`` .. ``max``) steers how much a model thinks; Opus 4.5
  onwards, Sonnet 4.6 and the 5 generation take it. Thinking tokens are billed as output, so a
  student defaults to ``low`` (:data:`ROLE_EFFORT`).
- **Adaptive thinking.** The 5 generation always thinks adaptively: a ``thinking`` block may come
  before the answer, and thinking counts against ``max_tokens``, so requests to these models get
  :data:`THINKING_HEADROOM` tokens on top of the skill's answer budget (only generated tokens are billed).
- **No assistant prefill** on the models that take no sampling parameters: the last turn must be the
  user's (skillforge's prompts and re-asks always end with one).

Sources: https://platform.claude.com/docs/en/about-claude/models/migration-guide,
.../build-with-claude/effort, .../build-with-claude/adaptive-thinking (as of 2026-11).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from skillforge.models.base import Role

Effort = Literal["low", "medium", "high", "xhigh", "max"]
EFFORTS: tuple[Effort, ...] = ("low", "medium", "high", "xhigh", "max")

#: The effort each role asks for when none is given. Students answer the easy, high-volume calls:
#: low keeps their thinking (billed as output) short. The teacher drafts, refines and takes the hard
#: escalations: high, the API's own default, stated explicitly so the request shape does not drift.
ROLE_EFFORT: Mapping[Role, Effort] = MappingProxyType(
    {"student": "low", "second_opinion": "low", "tier": "low", "teacher": "high"})

#: Extra ``max_tokens`` for thinking, per effort, on models that always think (on top of the answer budget).
THINKING_HEADROOM: Mapping[Effort, int] = MappingProxyType(
    {"low": 2048, "medium": 4096, "high": 8192, "xhigh": 16384, "max": 32000}
)

_FIVE = r"(opus|sonnet|haiku|fable|mythos)-([5-9]|\d{2})"
_NO_SAMPLING = re.compile(rf"^claude-(opus-4-[7-9]|{_FIVE})")
_EFFORT = re.compile(rf"^claude-(opus-4-[5-9]|sonnet-4-6|{_FIVE})")
_ADAPTIVE = re.compile(rf"^claude-{_FIVE}")


def _name(model: str) -> str:
    return model.strip().lower().removeprefix("anthropic:")


def takes_sampling_params(model: str) -> bool:
    """False for the models that answer ``temperature``/``top_p``/``top_k`` with a 400."""
    return _NO_SAMPLING.match(_name(model)) is None


def takes_effort(model: str) -> bool:
    """True for the models that take ``output_config.effort``."""
    return _EFFORT.match(_name(model)) is not None


def thinks_adaptively(model: str) -> bool:
    """True for the models that always think adaptively (thinking blocks, thinking tokens)."""
    return _ADAPTIVE.match(_name(model)) is not None


def takes_prefill(model: str) -> bool:
    """False for the models that reject a conversation ending in an assistant turn."""
    return takes_sampling_params(model)
