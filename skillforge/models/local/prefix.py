"""KV states of static prompt prefixes, computed once and restored per call.

llama-cpp-python reuses the KV cache only for the prefix a prompt shares with the *immediately
previous* one, so traffic that alternates between a few static prefixes (one demo set per input
cluster) would re-evaluate the whole prefix on every switch. :class:`PrefixStates` keeps, per
llama.cpp context, an LRU of sequence states (llama.cpp's ``llama_state_seq_get_data``: the KV cells of
sequence 0) keyed by the prefix's tokens and bounded by bytes. Before a call it leaves the context
holding the request's static prefix -- already live, restored from a stored state (milliseconds), or
evaluated once and stored -- and generation then evaluates only the rest of the prompt through
llama-cpp-python's own prefix match (it compares ``input_ids[:n_tokens]`` with the new prompt).

``Llama.save_state``/``load_state`` are not used: they copy the whole-context state and the
``scores`` buffer (sized for ``logits_all``), and restore more than the prefix needs.

Where the static prefix ends in tokens is found by prompting with the static part plus two different
sentinel user turns through the model's own chat handler, capturing the tokens generation would see
(:class:`PromptCaptured`), and keeping their common prefix: template-agnostic, and tokenised exactly
like a real call. A handler that never reaches generation, or a context whose memory cannot drop a
suffix (recurrent models), gets no prefix cache: calls stay correct, only slower.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

#: How many static prefixes' token boundaries are remembered per context (a few hundred bytes each).
_MEMO_SIZE = 1024
#: Two user turns that differ from their first character on; the static prefix is what precedes both.
_SENTINELS = ("a", "Z")
#: A stored state is restored for a prompt it only starts when it shares this many more tokens with it
#: than the live context does.
_MIN_SHARED = 8


class PromptCaptured(Exception):  # a control-flow signal, not an error
    """Raised by the model's ``generate`` in capture mode, carrying the prompt tokens it was given."""

    def __init__(self, tokens: Sequence[int]) -> None:
        super().__init__("prompt captured")
        self.tokens = tuple(int(t) for t in tokens)


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def capture_prompt(llm: Any, messages: list[dict[str, str]]) -> tuple[int, ...] | None:
    """The tokens ``llm.create_chat_completion(messages=...)`` would evaluate, without evaluating
    them (``llm`` is the capturing subclass from :mod:`skillforge.models.local.model`); ``None`` when the
    chat handler does not reach generation (or the prompt does not fit the context)."""
    llm.capture_prompt = True
    try:
        llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0, seed=0)
    except PromptCaptured as captured:
        return captured.tokens
    except Exception:  # any handler failure only means "no prefix cache"
        return None
    finally:
        llm.capture_prompt = False
    return None


class PrefixStates:
    """KV states of static prefixes for one llama.cpp context, LRU-evicted to a byte budget.

    Not thread-safe by itself: every method runs under the context's lock (as every use of the
    context does). ``hits`` (restored), ``partial`` (the start of a stored state restored, the rest
    evaluated), ``stores`` (evaluated and stored), ``live`` (already in the context) and ``evictions``
    count what happened, for benchmarks and tests.
    """

    def __init__(self) -> None:
        #: prefix tokens -> its state, a ctypes byte array (handed to llama.cpp without a copy).
        self._states: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._bounds: OrderedDict[str, tuple[int, ...] | None] = OrderedDict()
        self.bytes = 0
        self.hits = self.stores = self.live = self.evictions = self.partial = 0

    def __len__(self) -> int:
        return len(self._states)

    def prefix_tokens(self, llm: Any, key: str, static: list[dict[str, str]]) -> tuple[int, ...] | None:
        """The tokens of the static chat turns ``static`` (system first) as the model's chat template
        renders them in front of any user turn; ``key`` identifies ``static`` (memoised under it)."""
        if key in self._bounds:
            self._bounds.move_to_end(key)
            return self._bounds[key]
        prompts = [capture_prompt(llm, [*static, {"role": "user", "content": s}]) for s in _SENTINELS]
        bound: tuple[int, ...] | None = None
        if prompts[0] is not None and prompts[1] is not None:
            n = _common_length(prompts[0], prompts[1])
            bound = prompts[0][:n] or None
        self._bounds[key] = bound
        while len(self._bounds) > _MEMO_SIZE:
            self._bounds.popitem(last=False)
        return bound

    def prepare(self, llm: Any, prefix: tuple[int, ...], budget: int, *, store_live: bool = False) -> str:
        """Leave ``llm``'s context holding ``prefix`` (and possibly more after it) so that a prompt
        starting with it evaluates only the rest; store the prefix's state when it is evaluated here
        and fits ``budget`` bytes. Returns what happened: ``"live"`` (already in the context),
        ``"restored"`` or ``"evaluated"``.

        A live prefix that has no stored state is stored only with ``store_live`` (a prefill): that
        drops whatever follows it in the context (a state is the whole sequence), which a call that
        repeats the previous prompt would otherwise have reused."""
        n = len(prefix)
        live = _common_length(llm.input_ids[: llm.n_tokens].tolist(), prefix)
        if live == n:
            if prefix in self._states:
                self._states.move_to_end(prefix)
            elif store_live and budget > 0:
                _truncate(llm, n)
                self._store(llm, prefix, budget)
            self.live += 1
            return "live"
        state = self._states.get(prefix)
        if state is not None and _restore(llm, prefix, state):
            self._states.move_to_end(prefix)
            self.hits += 1
            return "restored"
        if state is not None:  # a state llama.cpp refused: forget it and evaluate afresh
            self._drop(prefix)
            live = 0
        # Evaluate only what neither the live context (e.g. the system text) nor a stored state shares.
        start = self._resume(llm, prefix, live)
        llm.eval(list(prefix[start:]))
        if budget > 0:
            self._store(llm, prefix, budget)
        return "evaluated"

    def _resume(self, llm: Any, prefix: tuple[int, ...], live: int) -> int:
        """Leave the context holding the longest start of ``prefix`` that the live context or a stored
        state holds, and return its length. A stored state is used when it shares at least
        ``_MIN_SHARED`` tokens more than the live context: restoring one costs milliseconds, evaluating a
        token ~10 ms on one core. (A demo set with one demo left out, as calibration measures a demo
        pool's own inputs, shares everything before the omitted demo with the whole set.)"""
        donor, shared = None, live + _MIN_SHARED - 1
        for key in self._states:
            n = _common_length(key, prefix)
            if n > shared:
                donor, shared = key, n
        if donor is not None:
            if _restore(llm, donor, self._states[donor]):
                self._states.move_to_end(donor)
                _truncate(llm, shared)
                self.partial += 1
                return shared
            self._drop(donor)  # refused by llama.cpp; _restore left the context empty
            return 0
        _truncate(llm, live)
        return live

    def _store(self, llm: Any, prefix: tuple[int, ...], budget: int) -> None:
        from llama_cpp import llama_cpp

        size = int(llama_cpp.llama_state_seq_get_size(llm._ctx.ctx, 0))
        if size <= 0 or size > budget:
            return
        buf = (ctypes.c_uint8 * size)()
        written = int(llama_cpp.llama_state_seq_get_data(llm._ctx.ctx, buf, size, 0))
        if written <= 0 or written > size:
            return
        while self._states and self.bytes + written > budget:
            self._drop(next(iter(self._states)))
            self.evictions += 1
        if written < size:
            buf = (ctypes.c_uint8 * written).from_buffer_copy(buf)
        self._states[prefix] = buf
        self.bytes += written
        self.stores += 1

    def _drop(self, prefix: tuple[int, ...]) -> None:
        self.bytes -= ctypes.sizeof(self._states.pop(prefix))


def _truncate(llm: Any, n: int) -> None:
    """Keep the first ``n`` evaluated tokens of the context, as llama-cpp-python's prefix match does."""
    llm._ctx.kv_cache_seq_rm(-1, n, -1)
    llm.n_tokens = n
    llm._requires_eval = True


def _restore(llm: Any, prefix: tuple[int, ...], state: Any) -> bool:
    """Replace the context's sequence with a stored prefix state; the token bookkeeping
    llama-cpp-python keeps beside the KV cache (``input_ids``, ``n_tokens``) follows it."""
    from llama_cpp import llama_cpp

    _truncate(llm, 0)
    size = ctypes.sizeof(state)
    if int(llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, state, size, 0)) != size:
        _truncate(llm, 0)
        return False
    llm.input_ids[: len(prefix)] = prefix
    llm.n_tokens = len(prefix)
    # No logits of the last prefix token exist after a restore: generation must evaluate a suffix.
    llm._requires_eval = True
    return True
