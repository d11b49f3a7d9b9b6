"""The lines of a cassette file: its header and its recordings, and how model ids become file names.
See :mod:`skillforge.regress.cassette` for the format and the modes."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from skillforge.models.base import ModelRequest, ModelResponse, Usage
from skillforge.run.prompt import REASK_PREFIX

#: Directory, inside a skill directory, holding its recordings.
CASSETTE_DIR = "cassettes"
CASSETTE_FORMAT = 1
#: Decimals kept of a recorded ``logprob_sum``: far below any threshold's resolution, far above noise.
LOGPROB_DECIMALS = 6
#: Two recorded log-probabilities this close are the same answer (rounding can flip the last decimal).
_LOGPROB_NOISE = 2e-6
_INPUT_PREVIEW = 300


class CassetteHeader(BaseModel):
    """First line of a cassette file: which model it holds and what that model can do."""

    model_config = ConfigDict(extra="forbid")

    cassette: int = CASSETTE_FORMAT
    model_id: str
    is_local: bool = False
    supports_logprobs: bool = False
    supports_structured_output: bool = False


class Recording(BaseModel):
    """One recorded answer: the request's key and the response fields that reproduce it."""

    model_config = ConfigDict(extra="forbid")

    key: str
    #: The request's input turn, for people reading a cassette diff; not used for lookup.
    input: str | None = None
    text: str
    logprob_sum: float | None = None
    #: Class probabilities (requests with ``choice_scores``), rounded like ``logprob_sum``.
    choices: dict[str, dict[str, float]] | None = None
    #: Per-field value log-probabilities (local models), rounded like ``logprob_sum``.
    field_logprobs: dict[str, float] | None = None
    stop_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)

    def response(self, model_id: str) -> ModelResponse:
        return ModelResponse(model_id=model_id, text=self.text, usage=self.usage, choices=self.choices,
                             logprob_sum=self.logprob_sum, field_logprobs=self.field_logprobs,
                             stop_reason=self.stop_reason)

    def same_answer(self, other: Recording) -> bool:
        """Equal up to float noise in ``logprob_sum``."""
        if (self.text, self.stop_reason, self.usage) != (other.text, other.stop_reason, other.usage):
            return False
        if (self.choices is None) != (other.choices is None) or not close_choices(self.choices, other.choices):
            return False
        mine, theirs = self.field_logprobs or {}, other.field_logprobs or {}
        if set(mine) != set(theirs) or any(abs(mine[k] - theirs[k]) > _LOGPROB_NOISE for k in mine):
            return False
        if self.logprob_sum is None or other.logprob_sum is None:
            return self.logprob_sum == other.logprob_sum
        return abs(self.logprob_sum - other.logprob_sum) <= _LOGPROB_NOISE

    def line(self) -> str:
        data: dict[str, Any] = {"key": self.key}
        if self.input is not None:
            data["input"] = self.input
        data.update(text=self.text, logprob_sum=self.logprob_sum)
        if self.choices is not None:  # omitted when absent: older recordings keep their exact bytes
            data["choices"] = self.choices
        if self.field_logprobs is not None:
            data["field_logprobs"] = self.field_logprobs
        data.update(stop_reason=self.stop_reason, usage=self.usage.model_dump(exclude_defaults=True))
        return json.dumps(data, ensure_ascii=False)


def public_model_id(model_id: str) -> str:
    """``model_id`` without machine paths: ``local:/home/me/m.gguf`` -> ``local:m.gguf``."""
    prefix, sep, name = model_id.partition(":")
    if sep and ("/" in name or "\\" in name):
        base = re.split(r"[/\\]", name)[-1]
        return f"{prefix}:{base}"
    return model_id


def cassette_filename(model_id: str) -> str:
    """File name of ``model_id``'s recordings: the id with unsafe characters replaced. An id that had
    a path in it gets a short hash of the full id, so two local files of the same name stay apart."""
    public = public_model_id(model_id)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", public)
    if public != model_id:
        name += "-" + hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:8]
    return f"{name}.jsonl"


def preview(request: ModelRequest) -> str | None:
    # The input is the last user turn that is not a re-ask's feedback (retrieved demos come before it).
    users = [m.content for m in request.messages if m.role == "user" and not m.content.startswith(REASK_PREFIX)]
    if not users:
        return None
    text = users[-1]
    return text if len(text) <= _INPUT_PREVIEW else text[:_INPUT_PREVIEW] + "…"


def close_choices(a: dict[str, dict[str, float]] | None, b: dict[str, dict[str, float]] | None) -> bool:
    """Equal class probabilities up to float noise (``None`` equals ``None``)."""
    if a is None or b is None:
        return a is b
    if a.keys() != b.keys() or any(a[f].keys() != b[f].keys() for f in a):
        return False
    return all(abs(a[f][v] - b[f][v]) <= _LOGPROB_NOISE for f in a for v in a[f])
