"""Stored KV states of static prompt prefixes on the embedded model: restored per call, identical answers.

The real-model tests each use their own ``n_ctx`` so that they get their own llama.cpp context (weights
and context are shared per ``(file, n_ctx)`` in a process) and their counts are not disturbed by other tests.
"""

from __future__ import annotations

import pytest

from skillforge.models.base import ModelRequest, ModelResponse
from skillforge.run.prompt import build_request, template_instructions
from skillforge.testing import QueuedModel

from helpers import SENTIMENT_OUT

DEMOS = [({"text": t}, {"sentiment": s}) for t, s in [
    ("I love it", "positive"), ("Awful", "negative"), ("Great value", "positive"),
    ("Broke in a day", "negative"), ("A superb film", "positive"), ("Far too long", "negative")]]


def request_for(demos: list[tuple[dict[str, str], dict[str, str]]], text: str) -> ModelRequest:
    request = build_request(instructions=template_instructions("Is the review positive or negative?", SENTIMENT_OUT),
                            output_schema=SENTIMENT_OUT, demos=demos, input={"text": text}, max_tokens=16)
    return request.model_copy(update={"choice_scores": True})


def model(n_ctx: int, **kwargs: int):  # type: ignore[no-untyped-def]
    from skillforge.models.local.model import LocalModel, embedded_model_path

    return LocalModel(embedded_model_path(), n_ctx=n_ctx, **kwargs)


def context(n_ctx: int):  # type: ignore[no-untyped-def]
    from skillforge.models.local import model as local

    return local._load(local.embedded_model_path(), n_ctx)[0]


def answer(response: ModelResponse) -> tuple[object, ...]:
    return response.text, response.logprob_sum, response.choices, response.usage.input_tokens


@pytest.mark.local_model
def test_restored_prefixes_answer_exactly_like_an_uncached_and_a_fresh_context() -> None:
    # Two demo sets, calls alternating between them: the second visit of each prefix restores its state.
    requests = [request_for(DEMOS[:3], "Terrible product"), request_for(DEMOS[3:], "Terrible product"),
                request_for(DEMOS[:3], "I adore this"), request_for(DEMOS[3:], "Fine, I guess")]
    cached, uncached = model(1024 + 16), model(1024 + 32, prefix_cache_bytes=0)
    for request in requests:
        with_cache, without = cached.request_sync(request), uncached.request_sync(request)
        context(1024 + 32).reset()  # the next call evaluates its whole prompt in an empty context
        fresh = uncached.request_sync(request)
        assert answer(with_cache) == answer(without) == answer(fresh)
        assert with_cache.choices and with_cache.logprob_sum is not None
    states = context(1024 + 16).prefix_states
    assert (states.stores, states.hits, len(states)) == (2, 2, 2)
    assert len(context(1024 + 32).prefix_states) == 0


@pytest.mark.local_model
def test_prefill_stores_the_prefix_so_a_later_call_restores_it() -> None:
    warm = model(1024 + 48)
    states = context(1024 + 48).prefix_states
    warm.prefill_sync(request_for(DEMOS[:3], "ignored"))
    warm.prefill_sync(request_for(DEMOS[3:], "ignored"))
    assert (states.stores, len(states)) == (2, 2)
    warm.prefill_sync(request_for(DEMOS[3:], "still ignored"))  # already there: nothing new
    assert states.stores == 2 and context(1024 + 48).n_tokens > 0
    response = warm.request_sync(request_for(DEMOS[:3], "Terrible product"))
    assert states.hits == 1 and states.stores == 2  # the first demo set came back from its stored state
    assert response.text in ('{"sentiment": "positive"}', '{"sentiment": "negative"}')


@pytest.mark.local_model
def test_a_demo_set_with_one_demo_left_out_restores_the_start_it_shares_with_the_stored_set() -> None:
    # Calibration measures a demo pool's own inputs with their demo left out of their group: the prompt
    # shares everything before the omitted demo with the group's stored state.
    warm, plain = model(1024 + 80), model(1024 + 96, prefix_cache_bytes=0)
    states = context(1024 + 80).prefix_states
    warm.prefill_sync(request_for(DEMOS, "ignored"))
    warm.request_sync(request_for(DEMOS[5:], "Unrelated"))  # the live context now shares only the system text
    left_out = request_for(DEMOS[:4] + DEMOS[5:], "Broke in a day")
    cached = warm.request_sync(left_out)
    assert (states.partial, states.hits) == (1, 0)
    assert len(states) == 3  # the shortened set is stored in its own right
    context(1024 + 96).reset()
    assert answer(cached) == answer(plain.request_sync(left_out))


@pytest.mark.local_model
def test_stored_states_are_evicted_least_recently_used_to_stay_within_the_byte_budget() -> None:
    probe = model(1024 + 64)
    states = context(1024 + 64).prefix_states
    probe.prefill_sync(request_for(DEMOS[:2], "x"))
    one = states.bytes
    assert one > 0
    # Another instance on the same weights and context, with room for two such states only.
    tight = model(1024 + 64, prefix_cache_bytes=int(2.5 * one))
    first, second, third = (request_for(DEMOS[i:i + 2], "x") for i in (0, 2, 4))
    tight.prefill_sync(second)
    tight.request_sync(first)  # restores the first: now the most recently used
    tight.prefill_sync(third)  # evicts the second
    assert len(states) == 2 and states.evictions == 1 and states.bytes <= int(2.5 * one)
    before = states.hits
    tight.request_sync(first)
    assert states.hits == before + 1  # the first survived
    model(1024 + 64, prefix_cache_bytes=one // 2).prefill_sync(request_for(DEMOS[1:3], "x"))
    assert len(states) == 2  # a state larger than the budget is not stored


def test_prefill_is_a_no_op_for_providers_without_a_prefix_cache() -> None:
    double = QueuedModel([])  # any request would fail: the queue is empty
    double.prefill_sync(request_for(DEMOS[:3], "x"))
    assert double.requests == []


class TemplateDouble:
    """Stands in for the llama.cpp model when finding prefix boundaries: renders chat turns with a toy
    template, one token per character, and hands them to ``generate`` the way llama-cpp-python does."""

    def __init__(self, fails: bool = False) -> None:
        self.capture_prompt, self.fails, self.renders = False, fails, 0

    def create_chat_completion(self, *, messages: list[dict[str, str]], **_: object) -> None:
        from skillforge.models.local.prefix import PromptCaptured

        self.renders += 1
        if self.fails:
            raise ValueError("Requested tokens exceed context window")
        text = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"
        assert self.capture_prompt  # only ever asked in capture mode here
        raise PromptCaptured([ord(c) for c in text])


def test_the_static_prefix_ends_where_the_chat_template_starts_rendering_the_user_turn() -> None:
    from skillforge.models.local.prefix import PrefixStates

    static = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
              {"role": "assistant", "content": "yo"}]
    llm, states = TemplateDouble(), PrefixStates()
    prefix = states.prefix_tokens(llm, "key", static)
    assert prefix is not None
    assert "".join(map(chr, prefix)) == "<system>Be brief.</system><user>hi</user><assistant>yo</assistant><user>"
    assert not llm.capture_prompt
    renders = llm.renders
    assert states.prefix_tokens(llm, "key", static) == prefix and llm.renders == renders  # memoised


def test_a_chat_handler_that_cannot_render_the_prefix_means_no_prefix_cache() -> None:
    from skillforge.models.local.prefix import PrefixStates

    llm = TemplateDouble(fails=True)
    assert PrefixStates().prefix_tokens(llm, "key", [{"role": "system", "content": "x"}]) is None
    assert not llm.capture_prompt


def test_the_default_budget_is_a_share_of_the_memory_the_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from skillforge.models.local import model as local

    gib = 2**30
    for memory, budget in [(23 * gib, 23 * gib // 16), (8 * gib, gib // 2), (2 * gib, 256 * 2**20),
                           (64 * gib, 2 * gib), (None, gib // 2)]:
        monkeypatch.setattr(local, "_memory_bytes", lambda m=memory: m)
        assert local.default_prefix_cache_bytes() == budget, memory
        assert local.LocalModel(local.embedded_model_path()).prefix_cache_bytes == budget
    assert local.LocalModel(local.embedded_model_path(), prefix_cache_bytes=0).prefix_cache_bytes == 0


def test_a_container_memory_limit_below_the_machine_s_memory_sizes_the_budget(
        monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    from skillforge.models.local import model as local

    monkeypatch.setattr(local, "_CGROUP_LIMITS", ())
    physical = local._memory_bytes()
    assert physical is not None and physical > 0  # Linux reports it
    limit = Path(str(tmp_path)) / "memory.max"
    limit.write_text(f"{physical // 4}\n")
    monkeypatch.setattr(local, "_CGROUP_LIMITS", (str(limit),))
    assert local._memory_bytes() == physical // 4
    limit.write_text("max\n")  # no limit
    assert local._memory_bytes() == physical
