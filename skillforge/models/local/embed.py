"""Sentence embeddings from a local GGUF model: the mean of its last hidden states over the text.

A context made for embeddings (``embedding=True``, mean pooling) is separate from the generating one,
so embedding an input never evicts the skill's cached prompt prefix. It is loaded once per weights
file and shared; calls are serialised (a llama.cpp context is not thread-safe). Each text is embedded
on its own, so a text's vector never depends on what it was batched with; a text longer than the
context is cut to it (its first tokens carry the vector).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillforge.errors import ConfigurationError

#: Tokens of a text that count towards its vector: inputs longer than this are cut.
EMBED_N_CTX = 512

_EMBEDDERS: dict[str, tuple[Any, threading.Lock]] = {}
_LOCK = threading.Lock()


def llama_cpp_missing(exc: ImportError) -> ConfigurationError:
    """The error for a local model without llama-cpp-python installed."""
    return ConfigurationError(
        f"llama-cpp-python is not installed: run `make install` (it builds it with portable CPU flags) ({exc})")


def _embedder(path: Path, n_threads: int) -> tuple[Any, threading.Lock]:
    key = str(path)
    with _LOCK:
        if key not in _EMBEDDERS:
            try:
                import llama_cpp
                from llama_cpp._utils import suppress_stdout_stderr
            except ImportError as exc:
                raise llama_cpp_missing(exc) from None
            # llama.cpp notes on stderr that the model declares no pooling of its own: expected here.
            with suppress_stdout_stderr(disable=False):
                llm = llama_cpp.Llama(model_path=key, embedding=True, n_ctx=EMBED_N_CTX, n_batch=EMBED_N_CTX,
                                      pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN, n_threads=n_threads,
                                      n_threads_batch=n_threads, seed=0, verbose=False)
            if not _EMBEDDERS:
                atexit.register(_close_all)
            _EMBEDDERS[key] = (llm, threading.Lock())
        return _EMBEDDERS[key]


def embed_texts(path: Path, texts: Sequence[str], *, n_threads: int) -> list[list[float]]:
    """The mean-pooled last hidden state of each text under the model at ``path``."""
    llm, lock = _embedder(path, n_threads)
    out: list[list[float]] = []
    with lock:
        for text in texts:
            # An empty text has no token to pool: embed a space, as the same input always gives.
            vector = llm.embed(text or " ", truncate=True)
            out.append([float(v) for v in vector])
    return out


def close_loaded(loaded: dict[Any, tuple[Any, threading.Lock]]) -> None:
    """Close every context in ``loaded`` and empty it (at exit, while llama-cpp-python's C bindings
    still stand)."""
    for llm, lock in list(loaded.values()):
        # A call still running in a daemon thread keeps its context: never block the exit on it.
        if lock.acquire(timeout=1.0):
            try:
                llm.close()
            finally:
                lock.release()
    loaded.clear()


def _close_all() -> None:
    close_loaded(_EMBEDDERS)
