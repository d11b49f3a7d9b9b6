"""Per-input demo retrieval: BM25 ranking, prompt layout, the skill-file format, and compile-time choice."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from skillforge import CompileOptions, Example, SkillFormatError, compile_skill, load_skill
from skillforge.compile import SearchConfig
from skillforge.format import Demo
from skillforge.models.base import ModelRequest
from skillforge.run.retrieval import DemoIndex, retrieve, terms, without_inputs
from skillforge.run.runtime import Runner
from skillforge.testing import FunctionModel, skill_input

from helpers import keyword_answer, keyword_model, sentiment_examples, sentiment_spec

POOL = [{"text": "play some jazz music"}, {"text": "what is the weather in Paris"},
        {"text": "book a table for two"}, {"text": "will it rain in Paris tomorrow"}]


def test_the_most_similar_inputs_rank_first() -> None:
    index = DemoIndex(POOL)
    assert index.top({"text": "is it going to rain in Paris"}, 2) == [3, 1]
    assert index.top({"text": "playing jazz"}, 1) == [0]  # character grams: "playing" ~ "play"


def test_ties_break_by_pool_order_so_prompts_are_deterministic() -> None:
    index = DemoIndex([{"text": "alpha"}, {"text": "beta"}, {"text": "gamma"}])
    assert index.top({"text": "nothing in common"}, 3) == [0, 1, 2]
    assert index.top({"text": "zzz"}, 2) == index.top({"text": "zzz"}, 2)


def test_equal_scores_keep_pool_order_whatever_the_pool() -> None:
    """The nearest demos are exactly the pool sorted by score, highest first, equal scores in pool
    order -- with duplicated inputs (equal scores) anywhere in the pool."""
    rng = random.Random(3)
    words = ["rain", "play", "jazz", "book", "table", "paris", "song", "movie"]
    pool = [{"text": " ".join(rng.sample(words, rng.randint(1, 3)))} for _ in range(60)]
    pool += [dict(pool[rng.randrange(60)]) for _ in range(40)]  # duplicates: ties
    index = DemoIndex(pool)
    for _ in range(30):
        query = {"text": " ".join(rng.sample(words, 2))}
        scores = index.scores(query)
        k = rng.randint(1, 12)
        assert index.top(query, k) == sorted(range(len(pool)), key=lambda i: (-scores[i], i))[:k]


def test_retrieved_demos_end_with_the_closest_one() -> None:
    pairs = [(p, {"n": i}) for i, p in enumerate(POOL)]
    shown = retrieve(DemoIndex(POOL), pairs, {"text": "rain in Paris"}, 2)
    assert [out["n"] for _, out in shown] == [1, 3]


def test_terms_are_words_and_character_grams() -> None:
    ts = terms("Main St")
    assert "w:main" in ts and "w:st" in ts and "c: mai" in ts


def test_the_guard_removes_held_out_and_repeated_inputs() -> None:
    demos = [Demo(input={"text": t}, output={"sentiment": "positive"}, source="label")
             for t in ("a", "b", "a", "c")]
    kept = without_inputs(demos, [{"text": "c"}])
    assert [d.input["text"] for d in kept] == ["a", "b"]


def _retrieved_skill(tmp_path: Path) -> Path:
    skill = compile_skill(sentiment_spec(), sentiment_examples(20), teacher=keyword_model(), student=keyword_model(),
                          options=CompileOptions(search=SearchConfig(ks=[2], refine_rounds=0)))
    skill.manifest.settings.demo_strategy = "retrieved"
    skill.manifest.settings.k = 2
    skill.demos = [Demo(input={"text": f"good thing {i}"}, output={"sentiment": "positive"}, source="label")
                   for i in range(3)] + [Demo(input={"text": "bad pizza"}, output={"sentiment": "negative"},
                                              source="label")]
    return skill.save(tmp_path / "s")


def test_retrieved_demos_follow_the_static_prefix(tmp_path: Path) -> None:
    skill = load_skill(_retrieved_skill(tmp_path))
    runner = Runner(skill, student=keyword_model(), teacher=keyword_model())
    req = runner.request_for({"text": "bad pizza place"})
    assert req.static_messages == 0  # only the system text is static: the demos change per input
    assert len(req.messages) == 5
    assert req.messages[2].content == "bad pizza"  # closest demo right before the input (plain rendering)
    assert skill_input(req) == {"text": "bad pizza place"}
    other = runner.request_for({"text": "good thing 2"})
    assert other.system == req.system and other.messages != req.messages


def test_retrieved_skills_round_trip_and_validate_k(tmp_path: Path) -> None:
    path = _retrieved_skill(tmp_path)
    first = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
    load_skill(path).save(path)
    assert {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()} == first
    manifest = (path / "skill.yaml").read_text()
    (path / "skill.yaml").write_text(manifest.replace("k: 2", "k: 9"))
    with pytest.raises(SkillFormatError, match="retrieved"):
        load_skill(path)


def test_compile_picks_retrieval_when_similar_demos_are_what_helps() -> None:
    def needs_similar_demo(request: ModelRequest) -> Any:
        """Right only when the demo right before the input shares its topic word."""
        if request.output_schema is None:
            return "Decide the sentiment."
        text = skill_input(request)["text"]
        n = len(request.messages)
        prev = request.messages[n - 3].content if n >= 3 else ""  # demo inputs are rendered like the input
        same_topic = prev.split()[-1:] == text.split()[-1:]
        return keyword_answer(request) if same_topic else {"sentiment": "negative" if "good" in text else "positive"}

    topics = ["pizza", "film", "phone", "hotel"]
    examples = [Example(input={"text": f"{'good' if i % 2 else 'bad'} {i} {topics[i % 4]}"},
                        expected={"sentiment": "positive" if i % 2 else "negative"}) for i in range(40)]
    skill = compile_skill(
        sentiment_spec(),
        examples,
        teacher=keyword_model(),
        student=FunctionModel(needs_similar_demo),
        options=CompileOptions(search=SearchConfig(ks=[2], refine_rounds=0)),
    )
    assert skill.settings.demo_strategy == "retrieved" and skill.settings.k == 2
    assert skill.manifest.metrics.dev_score == 1.0
    assert len(skill.demos) > 2  # the whole retrieval pool is saved


def test_dev_inputs_never_become_demos_even_when_given_twice() -> None:
    examples = sentiment_examples(20)
    dev = examples[:6]  # overlaps the examples on purpose
    skill = compile_skill(
        sentiment_spec(),
        examples,
        dev_examples=dev,
        teacher=keyword_model(),
        student=keyword_model(),
        options=CompileOptions(search=SearchConfig(ks=[4])),
    )
    dev_texts = {e.input["text"] for e in dev}
    assert not dev_texts & {d.input["text"] for d in skill.demos}
    assert {t.input["text"] for t in skill.tests} == dev_texts
