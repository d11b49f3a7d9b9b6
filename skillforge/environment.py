"""The one place environment variables are read. Each is only ever a default: anything passed
explicitly to skillforge wins.

- ``SKILLFORGE_TEACHER`` / ``SKILLFORGE_STUDENT``: default model ids.
- ``ANTHROPIC_API_KEY``: when set (and no override), the defaults become Claude Opus 5.5 (teacher) and
  Haiku 5.5 (student).
- ``ANTHROPIC_BASE_URL``: an Anthropic-compatible server for ``anthropic:`` models.
- ``SKILLFORGE_OPENAI_BASE_URL`` (else ``OPENAI_BASE_URL``): the OpenAI-compatible server for ``openai:``
  models (vLLM, SGLang, Ollama, llama.cpp); default the OpenAI API. ``OPENAI_API_KEY``: its key.
- ``SKILLFORGE_LEDGER``: ledger path (default ``.skillforge/ledger.jsonl``); batch state files live in
  ``batches/`` next to it.
- ``SKILLFORGE_LOCAL_MODEL``: path of a GGUF file for ``local:`` models (default: the embedded one).
- ``SKILLFORGE_CACHE``: the compile's answer cache (default ``cache.sqlite`` next to the ledger); ``off``
  turns it off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LOCAL_DEFAULT = "local:smollm2-135m"
#: Claude defaults (lineup and prices as of 2026-11-28; see skillforge.models.pricing): Opus 5.5 teaches,
#: Haiku 5.5 (built for classification, extraction and routing, 1/40 of Opus 5.5's price) runs skills.
#: ``anthropic:claude-fable-5-1`` is the stronger (and 2.5x dearer) teacher to pass explicitly.
CLAUDE_TEACHER = "anthropic:claude-opus-5-5"
CLAUDE_STUDENT = "anthropic:claude-haiku-5-5"


@dataclass(frozen=True)
class Env:
    teacher: str | None
    student: str | None
    anthropic_api_key: str | None
    anthropic_base_url: str | None
    openai_api_key: str | None
    openai_base_url: str | None
    ledger_path: Path
    local_model_path: Path | None
    #: The answer cache's file (``None``: off).
    cache_path: Path | None = None

    @property
    def default_teacher(self) -> str:
        return self.teacher or (CLAUDE_TEACHER if self.anthropic_api_key else LOCAL_DEFAULT)

    @property
    def default_student(self) -> str:
        return self.student or (CLAUDE_STUDENT if self.anthropic_api_key else LOCAL_DEFAULT)

    @property
    def batch_state_dir(self) -> Path:
        """Where submitted batches are recorded until their results are in (resumable)."""
        return self.ledger_path.parent / "batches"


def read_env() -> Env:
    """Snapshot of the environment, read when called (never at import)."""
    local = os.environ.get("SKILLFORGE_LOCAL_MODEL")
    ledger = Path(os.environ.get("SKILLFORGE_LEDGER") or ".skillforge/ledger.jsonl")
    cache = os.environ.get("SKILLFORGE_CACHE") or str(ledger.parent / "cache.sqlite")
    return Env(
        teacher=os.environ.get("SKILLFORGE_TEACHER") or None,
        student=os.environ.get("SKILLFORGE_STUDENT") or None,
        anthropic_api_key=os.environ.get("ANTHROPIC_API_KEY") or None,
        anthropic_base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
        openai_api_key=os.environ.get("OPENAI_API_KEY") or None,
        openai_base_url=os.environ.get("SKILLFORGE_OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL") or None,
        ledger_path=ledger,
        local_model_path=Path(local) if local else None,
        cache_path=None if cache.strip().lower() == "off" else Path(cache),
    )
