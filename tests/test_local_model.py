"""The embedded model (SmolLM2-135M via llama.cpp), for real: a handful of offline calls."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skillforge import CompileOptions, Example, Ledger, compile_skill, get_model, load_skill
from skillforge.compile import SearchConfig
from skillforge.models.local.scoring import answer_logprob, value_spans
from skillforge.run.prompt import build_request, template_instructions

from helpers import SENTIMENT_OUT, sentiment_spec

pytestmark = pytest.mark.local_model


def request_for(text: str, demos: list[tuple[dict[str, str], dict[str, str]]] | None = None):  # type: ignore[no-untyped-def]
    return build_request(instructions=template_instructions("Is the review positive or negative?", SENTIMENT_OUT),
                         output_schema=SENTIMENT_OUT, demos=demos or [], input={"text": text}, max_tokens=32)


def test_output_is_constrained_to_the_schema_and_carries_a_confidence() -> None:
    model = get_model("local:smollm2-135m")
    assert model.is_local and model.supports_logprobs and model.cost_usd(model.request_sync(
        request_for("fine")).usage) == 0.0
    response = model.request_sync(request_for("Terrible. It broke after one day."))
    assert json.loads(response.text)["sentiment"] in ("positive", "negative")
    assert response.confidence is not None and 0.0 < response.confidence <= 1.0
    assert response.usage.input_tokens > 20 and response.usage.output_tokens > 0


def test_the_weights_are_loaded_once_and_shared() -> None:
    from skillforge.models.local import model as local

    first, second = get_model("local:smollm2-135m"), get_model("local:smollm2-135m")
    first.request_sync(request_for("ok"))
    loaded = dict(local._LOADED)  # other tests may have loaded contexts of other sizes: not counted
    second.request_sync(request_for("ok"))
    assert loaded == local._LOADED  # the second model loaded nothing
    assert local._load(first.path, first.n_ctx)[0] is local._load(second.path, second.n_ctx)[0]


def test_free_text_requests_work_for_the_teacher_role() -> None:
    from skillforge.models.base import Message, ModelRequest

    model = get_model("local:smollm2-135m")
    response = model.request_sync(ModelRequest(system="You are terse.", messages=(
        Message(role="user", content="Say hello."),), output_schema=None, max_tokens=16, logprobs=False))
    assert response.text.strip() and response.logprob_sum is None


def test_confidence_counts_only_the_answer_values() -> None:
    text = '{"sentiment": "negative", "n": 12}'
    assert [text[a:b] for a, b in value_spans(text)] == ["negative", "12"]
    tokens = [('{"', -3.0), ("sentiment", -6.0), ('": "', -0.1), ("neg", -0.5), ("ative", -0.25),
              ('", "n": ', -1.0), ("12", -0.125), ("}", -0.01)]
    assert answer_logprob(tokens) == pytest.approx(-0.875)


def test_compile_and_run_end_to_end_on_the_embedded_model(tmp_path: Path) -> None:
    rows = [("I love it, works great", "positive"), ("Awful, broke in a day", "negative"),
            ("Best purchase ever", "positive"), ("Waste of money", "negative"),
            ("The food was delicious", "positive"), ("Rude staff and cold food", "negative"),
            ("A wonderful film", "positive"), ("Boring and too long", "negative"),
            ("Highly recommend", "positive"), ("Never again", "negative")]
    examples = [Example(input={"text": t}, expected={"sentiment": s}) for t, s in rows]
    ledger = Ledger(tmp_path / "ledger.jsonl")
    skill = compile_skill(
        sentiment_spec(),
        examples[:6],
        dev_examples=examples[6:],
        teacher="local:smollm2-135m",
        student="local:smollm2-135m",
        ledger=ledger,
        options=CompileOptions(search=SearchConfig(ks=[2])),
    )
    m = skill.manifest.metrics
    assert m.dev_score >= m.zero_shot_dev_score
    assert skill.manifest.provenance.student == "local:smollm2-135m"
    skill.save(tmp_path / "skill")
    result = load_skill(tmp_path / "skill").run({"text": "Great value, I love it"}, ledger=ledger)
    assert result.output["sentiment"] in ("positive", "negative")
    assert result.cost_usd == 0.0 and result.attempts
    assert {e.phase for e in ledger.read()} == {"compile", "run"}


def test_class_probabilities_cover_every_allowed_value_and_favour_the_answer() -> None:
    model = get_model("local:smollm2-135m")
    assert model.supports_choice_scores
    plain = model.request_sync(request_for("Terrible. It broke after one day."))
    assert plain.choices is None  # only when asked: they cost a little prompt processing
    scored = model.request_sync(
        request_for("Terrible. It broke after one day.").model_copy(update={"choice_scores": True})
    )
    dist = scored.choices["sentiment"]  # type: ignore[index]
    assert set(dist) == {'"positive"', '"negative"'}
    assert sum(dist.values()) == pytest.approx(1.0)
    chosen = json.dumps(json.loads(scored.text)["sentiment"])
    assert dist[chosen] >= 0.5  # greedy decoding picked the likelier class
    assert scored.text == plain.text  # scoring the classes does not change the answer


def test_intent_classes_that_share_a_first_token_are_told_apart() -> None:
    schema = {
        "type": "object",
        "properties": {
            "intent": {"type": "string", "enum": ["search_creative_work", "search_screening_event", "play_music"]}
        },
        "required": ["intent"],
    }
    request = build_request(
        instructions="Classify the intent.",
        output_schema=schema,
        demos=[],
        input={"text": "what movies are showing at the cinema tonight"},
        max_tokens=32,
    )
    response = get_model("local:smollm2-135m").request_sync(request.model_copy(update={"choice_scores": True}))
    dist = response.choices["intent"]  # type: ignore[index]
    assert len(dist) == 3 and sum(dist.values()) == pytest.approx(1.0)
    assert all(0.0 <= p <= 1.0 for p in dist.values())


def _token_by_token(llm, prompt: list[int], lead: str, keys: list[str], tail: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Each value's probability from a fresh context, one token evaluated at a time (how generation
    itself reads logits): the reference the scorer's batched decodes must agree with."""
    logprobs = {}
    for key in keys:
        tokens = llm.tokenize((lead + key + tail).encode(), add_bos=False, special=False)
        llm.reset()
        llm.eval(prompt)
        total = 0.0
        for tok in tokens:
            row = np.asarray(llm.answer_logits[llm.n_tokens - 1], dtype=np.float64)
            total += row[tok] - (row.max() + np.log(np.exp(row - row.max()).sum()))
            llm.eval([tok])
        logprobs[key] = total
    weights = {k: np.exp(v - max(logprobs.values())) for k, v in logprobs.items()}
    return {k: w / sum(weights.values()) for k, w in weights.items()}


def test_class_probabilities_agree_with_token_by_token_scoring_in_one_decode_per_value(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from skillforge.models.local import model as local
    from skillforge.models.local import scoring as local_scoring

    enum = ["add_to_playlist", "book_restaurant", "get_weather", "play_music"]
    schema = {"type": "object", "properties": {"intent": {"type": "string", "enum": enum}}, "required": ["intent"]}
    request = build_request(
        instructions="Classify the intent.",
        output_schema=schema,
        demos=[],
        input={"text": "book a table for two at an italian restaurant tonight"},
        max_tokens=32,
    )
    decodes, real = [], local_scoring.eval_rows
    monkeypatch.setattr(local_scoring, "eval_rows", lambda *args: decodes.append(args) or real(*args))
    model = get_model("local:smollm2-135m")
    response = model.request_sync(request.model_copy(update={"choice_scores": True}))
    # Every value but the answer's own (whose rows generation kept) costs one decode at most.
    assert 1 <= len(decodes) <= len(enum) - 1
    # A value scored after another (here the answer's: not first in the enum) is scored on its own
    # rows: the token-at-a-time scorer overwrote rows generation kept for the answer with a rival's.
    answer = json.loads(response.text)["intent"]
    assert enum.index(answer) > 0
    llm, _ = local._load(model.path, model.n_ctx)
    key_at = response.text.index(":") + 1  # the prompt plus the answer's tokens up to the value
    context, text = [int(t) for t in llm.input_ids[: response.usage.input_tokens]], ""
    while len(text) < key_at:
        context.append(int(llm.input_ids[len(context)]))
        text += llm.detokenize([context[-1]]).decode()
    start = response.text.index('"', key_at)
    reference = _token_by_token(
        llm,
        context,
        response.text[key_at:start],
        [json.dumps(v) for v in enum],
        response.text[start + len(json.dumps(answer)) :][:1],
    )
    got = response.choices["intent"]  # type: ignore[index]
    # Batched and one-token decodes differ in the last digits (quantised weights); the old scorer
    # gave the answer's own class 1e-15 here against 0.07.
    assert all(0.5 < got[k] / p < 2.0 for k, p in reference.items() if p > 1e-4)


def test_greedy_decoding_checks_few_tokens_against_the_grammar_and_answers_exactly_as_the_sampler_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shortcut (the most likely tokens checked against the grammar first) changes no token, log
    probability or class probability -- on short enum answers and on a free-text field where the
    model's favourite token is often outside the grammar."""
    from skillforge.models.local import model as local

    address = {
        "type": "object",
        "additionalProperties": False,
        "required": ["street", "city", "zip"],
        "properties": {
            "street": {"type": "string"},
            "city": {"type": "string"},
            "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
        },
    }
    requests = [
        request_for(t, [({"text": "Lovely"}, {"sentiment": "positive"})] if i % 2 else None).model_copy(
            update={"choice_scores": True}
        )
        for i, t in enumerate(["Terrible.", "Great fun", "meh", "Would buy again!"])
    ]
    requests += [
        build_request(
            instructions="Parse the US address into its parts.",
            output_schema=address,
            demos=[],
            input={"text": t},
            max_tokens=64,
        )
        for t in ["12 Main St, Springfield, IL 62701", "PO Box 7, Austin TX 73301"]
    ]
    model = get_model("local:smollm2-135m")
    llm = local._load(model.path, model.n_ctx)[0]
    shortcut, picked = type(llm)._greedy_shortcut, []

    def counted(self: object, kw: dict[str, object]) -> int | None:
        token = shortcut(self, kw)
        picked.append(token is not None)
        return token

    monkeypatch.setattr(type(llm), "_greedy_shortcut", counted)

    def answers() -> list[tuple[object, ...]]:
        return [(r.text, r.logprob_sum, r.choices, r.usage.output_tokens) for r in map(model.request_sync, requests)]

    try:
        llm.greedy_shortcut = False
        chain = answers()
        llm.greedy_shortcut = True
        assert answers() == chain
    finally:
        llm.greedy_shortcut = True
    assert all(json.loads(text) for text, *_ in chain)
    assert picked and all(picked)  # every token of these answers was picked without the chain


def test_embeddings_are_one_vector_per_text_whatever_they_are_sent_with() -> None:
    import asyncio

    model = get_model("local:smollm2-135m")
    assert model.supports_embeddings
    alone = asyncio.run(model.embed(["The battery died in a day."]))
    together = asyncio.run(model.embed(["Great sound.", "The battery died in a day.", ""]))
    assert len(alone[0]) == 576 and [len(v) for v in together] == [576, 576, 576]
    assert np.allclose(alone[0], together[1])
    assert not np.allclose(together[0], together[1])


def test_the_same_compile_twice_from_empty_caches_writes_the_same_skill(tmp_path: Path) -> None:
    """Reproducible on the embedded model: the same spec, examples, options and seed, compiled twice, each
    from an empty answer cache, write identical files but for ``compiled_at``; and a third compile served
    from the cache writes them too, reusing every answer."""
    from skillforge.models.answer_cache import AnswerCache

    rows = [
        ("I love it, works great", "positive"),
        ("Awful, broke in a day", "negative"),
        ("Best purchase ever", "positive"),
        ("Waste of money", "negative"),
        ("The food was delicious", "positive"),
        ("Rude staff and cold food", "negative"),
        ("A wonderful film", "positive"),
        ("Boring and too long", "negative"),
        ("Highly recommend", "positive"),
        ("Never again", "negative"),
    ]
    examples = [Example(input={"text": t}, expected={"sentiment": s}) for t, s in rows]
    # A small search: the point is that two runs agree, not what they choose.
    options = CompileOptions(
        seed=3,
        search=SearchConfig(
            ks=[2],
            refine_rounds=0,
            retrieval=False,
            draws=1,
            renderings=("plain",),
            max_demo_pool=4,
            classifier_tier=False,
        ),
    )

    def compile_to(name: str, cache: AnswerCache, ledger: Ledger) -> list[str]:
        skill = compile_skill(
            sentiment_spec(),
            examples[:6],
            dev_examples=examples[6:],
            options=options,
            teacher="local:smollm2-135m",
            student="local:smollm2-135m",
            ledger=ledger,
            cache=cache,
        )
        path = skill.save(tmp_path / name)
        files = []
        for f in sorted(path.iterdir()):
            files += [f"{f.name}: {line}" for line in f.read_text().splitlines() if "compiled_at" not in line]
        return files

    first = compile_to("a", AnswerCache(tmp_path / "a.sqlite"), Ledger(None))
    second = compile_to("b", AnswerCache(tmp_path / "b.sqlite"), Ledger(None))
    assert first == second
    reused = Ledger(None)
    assert compile_to("c", AnswerCache(tmp_path / "a.sqlite"), reused) == first
    assert reused.entries and all(e.cached for e in reused.entries)
