"""Record and replay model calls, so skill regression runs are deterministic, offline and free.

A :class:`CassetteModel` wraps a model and implements the same protocol. Every request is keyed by
:meth:`ModelRequest.cache_key` (a hash of the model id, the full prompt, the schema and the sampling
parameters), so a recording is found again exactly when the request is the same. Modes:

- ``live``:   call the model; read and write nothing.
- ``record``: call the model once per distinct request and write the answers (a request seen again in
  the same session gets the answer just recorded: one recording per request is all replay can use).
- ``replay``: answer from the recordings only; a request with no recording raises
  :class:`~skillforge.errors.ReplayMissError` and no model is ever constructed or called.
- ``auto``:   replay what is recorded, call and record the rest.

Recordings live next to the skill, one text file per model id, ``<skill>/cassettes/<model>.jsonl``.
The first line is a header with the model's capabilities (so replay reports the right cost and
confidence support without constructing the model); every other line is one recording, sorted by key::

    {"cassette": 1, "model_id": "local:smollm2-135m", "is_local": true, "supports_logprobs": true, ...}
    {"key": "0c1f…", "input": "{\\"text\\": \\"Great food\\"}", "text": "{\\"sentiment\\": \\"positive\\"}",
     "logprob_sum": -0.021373, "stop_reason": "stop", "usage": {"input_tokens": 412, "output_tokens": 7}}

Files are stable: the same recordings always give the same bytes (sorted keys, log-probabilities
rounded to 6 decimals, no latency, no request ids, no absolute paths, no credentials), so a diff of
a cassette shows only real changes. Re-recording an answer that is unchanged up to float noise (a
local model's cold vs warm KV cache differs in the last digits) keeps the old line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from skillforge.errors import ConfigurationError, ReplayMissError, SkillFormatError
from skillforge.format import read_skill_file
from skillforge.jsonl import lines, round_or_none
from skillforge.models import registry
from skillforge.models.anthropic.claude import takes_sampling_params
from skillforge.models.base import Model, ModelRequest, ModelResponse, Role, Usage
from skillforge.models.pricing import default_table
from skillforge.regress.recordings import (
    CASSETTE_DIR,
    CASSETTE_FORMAT,
    LOGPROB_DECIMALS,
    CassetteHeader,
    Recording,
    cassette_filename,
    preview,
    public_model_id,
)
from skillforge.textfiles import TextFileError, read_bytes, read_text, write_atomic

Mode = Literal["live", "record", "replay", "auto"]
MODES: tuple[Mode, ...] = ("live", "record", "replay", "auto")
__all__ = ["CASSETTE_DIR", "MODES", "Cassette", "CassetteModel", "CassetteStore", "Mode", "cassette_filename"]


class Cassette:
    """The recordings of one model id in one directory. Loaded on first use; written by :meth:`save`."""

    def __init__(self, directory: Path, model_id: str) -> None:
        self.directory = directory
        self.model_id = model_id
        self.path = directory / cassette_filename(model_id)
        self.header: CassetteHeader | None = None
        self._entries: dict[str, Recording] = {}
        self._loaded = False
        #: Keys looked up or recorded since construction (what a pruning save keeps).
        self.used: set[str] = set()
        self._fresh: set[str] = set()

    def load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.path.exists() and not self.path.is_symlink():
            return
        where = f"{CASSETTE_DIR}/{self.path.name}"
        # Read like a skill file: inside the skill only, a regular file, UTF-8 (errors name the file).
        text = read_skill_file(self.directory.parent, f"{self.directory.name}/{self.path.name}")
        for n, line in lines(text):
            try:
                if n == 1:
                    self.header = CassetteHeader.model_validate_json(line)
                else:
                    rec = Recording.model_validate_json(line)
                    self._entries[rec.key] = rec
            except ValidationError as exc:
                err = exc.errors()[0]
                raise SkillFormatError(f"not a cassette line: {err['msg']}", file=where, line=n) from None
        if self.header is not None and self.header.cassette != CASSETTE_FORMAT:
            raise SkillFormatError(f"unsupported cassette format {self.header.cassette}", file=where, line=1)

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def get(self, key: str) -> Recording | None:
        self.load()
        rec = self._entries.get(key)
        if rec is not None:
            self.used.add(key)
        return rec

    def fresh(self, key: str) -> Recording | None:
        """The recording of ``key`` if it was recorded in this session."""
        return self._entries[key] if key in self._fresh else None

    def put(self, key: str, request: ModelRequest, response: ModelResponse) -> None:
        """Record ``response``. Within one session the first answer to a key wins (a sampled model
        asked again keeps its first recording); an old line equal up to float noise is kept as is."""
        self.load()
        self.used.add(key)
        if key in self._fresh:
            return
        self._fresh.add(key)
        choices = None if response.choices is None else {
            f: {v: round(p, LOGPROB_DECIMALS) + 0.0 for v, p in dist.items()} for f, dist in response.choices.items()}
        fields = None if response.field_logprobs is None else {
            f: round(lp, LOGPROB_DECIMALS) + 0.0 for f, lp in response.field_logprobs.items()}
        rec = Recording(key=key, input=preview(request), text=response.text, usage=response.usage,
                        logprob_sum=round_or_none(response.logprob_sum, LOGPROB_DECIMALS), choices=choices,
                        field_logprobs=fields, stop_reason=response.stop_reason)
        old = self._entries.get(key)
        if old is None or not old.same_answer(rec):
            self._entries[key] = rec

    def describe(self, model: Model) -> None:
        """Take the header's capabilities from the real model."""
        self.header = CassetteHeader(
            model_id=public_model_id(self.model_id), is_local=model.is_local,
            supports_logprobs=model.supports_logprobs,
            supports_structured_output=model.supports_structured_output,
        )

    def render(self, *, prune: bool = False) -> str:
        """The file's text: header, then recordings sorted by key (only the used ones when ``prune``)."""
        self.load()
        header = self.header or CassetteHeader(model_id=public_model_id(self.model_id))
        keys = sorted(k for k in self._entries if not prune or k in self.used)
        rows = [json.dumps(header.model_dump(), ensure_ascii=False)]
        rows += [self._entries[k].line() for k in keys]
        return "\n".join(rows) + "\n"

    def save(self, *, prune: bool = False) -> bool:
        """Write the file if its text changed; returns whether it did. With ``prune``, recordings not
        used since construction are dropped, and a cassette left empty is deleted."""
        self.load()
        if prune and not self.used:
            if self.path.exists():
                self.path.unlink()
                return True
            return False
        if not self._entries:
            return False
        text = self.render(prune=prune)
        try:
            if read_text(self.path) == text:
                return False
        except (OSError, TextFileError):
            pass  # absent or unreadable: written anew
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, text)
        return True


class CassetteStore:
    """The cassettes of one directory, one per model id, shared by every :class:`CassetteModel` that
    uses them (a skill whose student and teacher are the same model writes one file)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._cassettes: dict[str, Cassette] = {}

    def cassette(self, model_id: str) -> Cassette:
        if model_id not in self._cassettes:
            self._cassettes[model_id] = Cassette(self.directory, model_id)
        return self._cassettes[model_id]

    def save(self, *, prune: bool = False) -> list[Path]:
        """Write every changed cassette; returns the paths written or deleted. With ``prune`` (after a
        complete ``record`` run) the directory ends up holding exactly what that run used: unused
        recordings are dropped and cassette files of models the run never asked are deleted."""
        changed = [c.path for c in self._cassettes.values() if c.save(prune=prune)]
        if prune and self.directory.is_dir():
            mine = {c.path.name for c in self._cassettes.values()}
            for path in sorted(self.directory.glob("*.jsonl")):
                if path.name not in mine and _is_cassette(path):
                    path.unlink()
                    changed.append(path)
        return changed


def _is_cassette(path: Path) -> bool:
    try:
        first = read_bytes(path, follow_symlinks=False).split(b"\n", 1)[0]
        CassetteHeader.model_validate_json(first)
    except (OSError, ValueError):
        return False
    return True


class CassetteModel(Model):
    """A :class:`Model` that records and replays another model's answers (see the module docstring).

    ``inner`` is the model to call: an instance, a model id (resolved with
    :func:`~skillforge.models.registry.get_model` only when a call is needed, so replay never loads
    weights or needs an API key), or ``None`` for replay only (then pass ``model_id``). ``cassettes``
    is the directory of cassette files, or a :class:`CassetteStore` shared with other wrappers.
    Nothing is written until :meth:`save` (or :meth:`CassetteStore.save`).
    """

    def __init__(
        self,
        inner: Model | str | None,
        cassettes: str | Path | CassetteStore,
        mode: Mode = "auto",
        *,
        model_id: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigurationError(f"unknown cassette mode {mode!r} (use one of {', '.join(MODES)})")
        self._inner = inner if isinstance(inner, Model) else None
        self._inner_id = inner if isinstance(inner, str) else None
        resolved_id = inner.model_id if isinstance(inner, Model) else inner or model_id
        if resolved_id is None:
            raise ConfigurationError("CassetteModel needs an inner model, a model id, or model_id=")
        self.model_id = resolved_id
        self.mode: Mode = mode
        self.store = cassettes if isinstance(cassettes, CassetteStore) else CassetteStore(cassettes)
        self.cassette = self.store.cassette(self.model_id)
        #: Requests answered from recordings, and requests sent to the inner model.
        self.replayed = 0
        self.calls = 0
        self._role: Role | None = None
        if self._inner is not None:
            self._copy_capabilities(self._inner)
        else:
            self.cassette.load()
            header = self.cassette.header
            if header is not None:
                self.is_local = header.is_local
                self.supports_logprobs = header.supports_logprobs
                self.supports_structured_output = header.supports_structured_output
            else:  # nothing recorded yet: judge by the provider prefix until the model is built
                self.is_local = self.supports_logprobs = self.model_id.startswith("local:")
            # Class probabilities come from local llama.cpp models; a recording carries them when made.
            self.supports_choice_scores = self.model_id.startswith("local:")
            if self.model_id.startswith("anthropic:"):  # not in the header: judged by the id
                self.supports_temperature = takes_sampling_params(self.model_id)

    def _copy_capabilities(self, model: Model) -> None:
        self.supports_temperature = model.supports_temperature
        self.is_local = model.is_local
        self.supports_logprobs = model.supports_logprobs
        self.supports_choice_scores = model.supports_choice_scores
        self.supports_structured_output = model.supports_structured_output

    @property
    def inner(self) -> Model:
        """The wrapped model, constructed on first access."""
        if self._inner is None:
            if self._inner_id is None:
                raise ConfigurationError(f"{self.model_id}: no model to call (replay-only cassette)")
            built = registry.get_model(self._inner_id)
            self._inner = built.for_role(self._role) if self._role is not None else built
            self._copy_capabilities(self._inner)
        return self._inner

    async def prefill(self, request: ModelRequest) -> None:
        """Forwarded to the recorded model, except in replay mode (which never calls a model)."""
        if self.mode != "replay":
            await self.inner.prefill(request)

    async def request(self, request: ModelRequest) -> ModelResponse:
        if self.mode == "live":
            self.calls += 1
            return await self.inner.request(request)
        key = request.cache_key(self.model_id)
        if self.mode in ("replay", "auto"):
            rec = self.cassette.get(key)
            if rec is not None:
                self.replayed += 1
                return rec.response(self.model_id)
            if self.mode == "replay":
                raise ReplayMissError(
                    f"{self.model_id}: no recording of request {key[:12]} in "
                    f"{CASSETTE_DIR}/{self.cassette.path.name} (replay mode never calls a model; "
                    "record with mode 'record' or 'auto')",
                    model_id=self.model_id, key=key,
                )
        elif (rec := self.cassette.fresh(key)) is not None:
            # Recorded earlier in this session (a teacher that is the student model, asked the same
            # request after a low-confidence answer; a repeated case): it is the recording either way.
            self.replayed += 1
            return rec.response(self.model_id)
        model = self.inner
        self.calls += 1
        response = await model.request(request)
        self.cassette.describe(model)
        self.cassette.put(key, request, response)
        # Answer with what was written (rounded log-probability), so a record run and a later replay
        # of it reach the same verdicts even at the escalation threshold.
        stored = self.cassette.fresh(key)
        assert stored is not None
        return stored.response(self.model_id).model_copy(
            update={"latency_s": response.latency_s, "request_id": response.request_id})

    def check_schema(self, schema: dict[str, Any]) -> None:
        if self._inner is not None:
            self._inner.check_schema(schema)

    def cost_usd(self, usage: Usage, *, batch: bool = False) -> float | None:
        """The inner model's price when it is built; otherwise 0 for local models, the price table for
        ``anthropic:`` ids, and ``None`` (unknown) for anything else."""
        if self._inner is not None:
            return self._inner.cost_usd(usage, batch=batch)
        if self.is_local:
            return 0.0
        if self.model_id.startswith("anthropic:"):
            return default_table().cost_usd(self.model_id, usage, batch=batch)
        return None

    def for_role(self, role: Role) -> CassetteModel:
        """The wrapper itself, calling ``role``'s copy of its model (e.g. Claude's per-role effort).
        One wrapper serves one role (the regression runner builds one per role)."""
        self._role = role
        if self._inner is not None:
            self._inner = self._inner.for_role(role)
        return self

    def save(self, *, prune: bool = False) -> bool:
        """Write this model's cassette (see :meth:`Cassette.save`)."""
        return self.cassette.save(prune=prune)

    def __repr__(self) -> str:
        return f"CassetteModel({self.model_id!r}, mode={self.mode!r})"
