"""Clustered demos: the pool grouped into fixed demo sets, each input routed to one, so every prompt's
demos are one of a few static prefixes (cacheable) instead of a per-input retrieval (not cacheable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skillforge import CompileOptions, Example, SkillFormatError, compile_skill, load_skill
from skillforge.compile import SearchConfig
from skillforge.format import Demo
from skillforge.models.base import ModelRequest, run_sync
from skillforge.regress.cassette import CassetteModel
from skillforge.run.confidence import SelfConsistentModel
from skillforge.run.retrieval import DemoIndex, DemoRouter, demo_groups
from skillforge.run.runtime import Runner
from skillforge.testing import FunctionModel, skill_input

from helpers import keyword_answer, keyword_model, sentiment_examples, sentiment_spec

TOPICS = ["pizza", "film", "phone", "hotel"]
POOL = [{"text": f"the {t} was {w}"} for t in TOPICS for w in ("fine", "great", "poor")]


def test_groups_partition_the_pool_deterministically() -> None:
    groups = demo_groups(POOL, 3)
    assert sorted(p for g in groups for p in g) == list(range(len(POOL)))
    assert [len(g) for g in groups] == [3, 3, 3, 3]
    assert demo_groups(POOL, 3) == groups
    with pytest.raises(ValueError, match="k >= 1"):
        demo_groups(POOL, 0)


def test_similar_inputs_share_a_group() -> None:
    groups = demo_groups(POOL, 3)
    assert sorted({POOL[i]["text"].split()[1] for i in g}.pop() for g in groups) == sorted(TOPICS)
    assert all(len({POOL[i]["text"].split()[1] for i in g}) == 1 for g in groups)


def test_equal_answers_pull_demos_into_one_group() -> None:
    pool = [{"text": "red apple"}, {"text": "red car"}, {"text": "blue apple"}, {"text": "blue car"}]
    by_colour = demo_groups(pool, 2, answers=["fruit", "vehicle", "fruit", "vehicle"])
    assert sorted(sorted(g) for g in by_colour) == [[0, 2], [1, 3]]


def test_an_input_goes_to_the_group_of_its_neighbours() -> None:
    groups = demo_groups(POOL, 3)
    router = DemoRouter(DemoIndex(POOL), groups)
    group = groups[router.route({"text": "a cold pizza"})]
    assert all("pizza" in POOL[i]["text"] for i in group)
    # Leaving the input's own copy out still routes by its other neighbours.
    assert groups[router.route(POOL[0], leave_out=True)] == group


def _clustered_skill(tmp_path: Path) -> Path:
    skill = compile_skill(sentiment_spec(), sentiment_examples(20), teacher=keyword_model(), student=keyword_model(),
                          options=CompileOptions(
        search=SearchConfig(ks=[2], refine_rounds=0)))
    s = skill.manifest.settings
    s.demo_strategy, s.k = "clustered", 3
    skill.demos = [Demo(input=p, output={"sentiment": "negative" if "poor" in p["text"] else "positive"},
                        source="label") for p in POOL]
    s.demo_groups = demo_groups(POOL, 3)
    return skill.save(tmp_path / "s")


def test_the_group_is_the_static_prefix(tmp_path: Path) -> None:
    skill = load_skill(_clustered_skill(tmp_path))
    runner = Runner(skill, student=keyword_model(), teacher=keyword_model())
    req = runner.request_for({"text": "my phone died"})
    assert req.static_messages == 6 and len(req.messages) == 7  # three demos, then the input
    assert all("phone" in m.content for m in req.messages[:6:2])
    assert skill_input(req) == {"text": "my phone died"}
    again = runner.request_for({"text": "phone calls drop"})
    assert again.messages[:6] == req.messages[:6]  # same group: the same prefix, byte for byte
    assert runner.request_for({"text": "hotel rooms"}).messages[:6] != req.messages[:6]


class PrefillRecorder(FunctionModel):
    """A function-backed model that records the static prefixes it is asked to prepare."""

    def __init__(self) -> None:
        super().__init__(keyword_answer)
        self.prefixes: list[tuple[str, tuple[str, ...]]] = []

    async def prefill(self, request: ModelRequest) -> None:
        static = request.messages[: request.static_messages]
        self.prefixes.append((request.system, tuple(m.content for m in static)))


def test_warming_prepares_every_group_prefix_once(tmp_path: Path) -> None:
    skill = load_skill(_clustered_skill(tmp_path))
    student = PrefillRecorder()
    runner = Runner(skill, student=student, teacher=keyword_model())
    assert run_sync(runner.warm()) == 4
    assert len(set(student.prefixes)) == 4
    # The prefixes warmed are exactly those real requests start with.
    req = runner.request_for({"text": "the hotel was noisy"})
    assert (req.system, tuple(m.content for m in req.messages[: req.static_messages])) in student.prefixes


def test_wrappers_pass_warming_on_to_the_model_they_wrap(tmp_path: Path) -> None:
    skill = load_skill(_clustered_skill(tmp_path))
    inner = PrefillRecorder()
    run_sync(Runner(skill, student=SelfConsistentModel(inner), teacher=keyword_model()).warm())
    assert len(set(inner.prefixes)) == 4
    recording, replaying = PrefillRecorder(), PrefillRecorder()
    run_sync(Runner(skill, student=CassetteModel(recording, tmp_path / "c", "record"), teacher=keyword_model()).warm())
    run_sync(Runner(skill, student=CassetteModel(replaying, tmp_path / "c", "replay"), teacher=keyword_model()).warm())
    assert len(recording.prefixes) == 4 and replaying.prefixes == []  # replay never calls a model


def test_clustered_skills_round_trip_and_validate_groups(tmp_path: Path) -> None:
    path = _clustered_skill(tmp_path)
    first = {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
    load_skill(path).save(path)
    assert {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()} == first
    good = load_skill(path)

    def broken(**update: Any) -> str:
        skill = load_skill(path)
        for k, v in update.items():
            setattr(skill.manifest.settings, k, v)
        bad = tmp_path / "bad"
        skill.save(bad)
        with pytest.raises(SkillFormatError) as err:
            load_skill(bad)
        return f"{err.value.field}: {err.value}"

    groups = good.settings.demo_groups or []
    assert "settings.demo_groups" in broken(demo_groups=groups[1:])  # demos left in no group
    assert "exactly once" in broken(demo_groups=[*groups[:-1], [*groups[-1], 0]])  # a demo twice
    assert "exactly once" in broken(demo_groups=[*groups, [99]])  # past the end
    assert "settings.k" in broken(k=2)  # k is the largest group
    assert "needs demo_groups" in broken(demo_groups=None)
    assert "only 'clustered'" in broken(demo_strategy="retrieved")


def _topic_examples(n: int) -> list[Example]:
    return [Example(input={"text": f"{'good' if i % 2 else 'bad'} {i} {TOPICS[i % 4]}"},
                    expected={"sentiment": "positive" if i % 2 else "negative"}) for i in range(n)]


def test_compile_keeps_clustered_demos_when_they_score_like_retrieval() -> None:
    def needs_topic_demo(request: ModelRequest) -> Any:
        """Right only when some demo in the prompt shares the input's topic word."""
        if request.output_schema is None:
            return "Decide the sentiment."
        text = skill_input(request)["text"]
        demos = [m.content for m in request.messages[:-1:2]]
        if any(d.split()[-1:] == text.split()[-1:] for d in demos):
            return keyword_answer(request)
        return {"sentiment": "negative" if "good" in text else "positive"}

    skill = compile_skill(sentiment_spec(), _topic_examples(60), teacher=keyword_model(),
                          student=FunctionModel(needs_topic_demo), options=CompileOptions(
        search=SearchConfig(ks=[2], refine_rounds=0)))
    names = [c.name for c in skill.manifest.metrics.candidates]
    assert any("+clustered2" in n for n in names) and any("+retrieved2" in n for n in names)
    assert skill.settings.demo_strategy == "clustered" and skill.settings.k == 2
    assert skill.manifest.metrics.dev_score == 1.0
    groups = skill.settings.demo_groups or []
    assert sorted(p for g in groups for p in g) == list(range(len(skill.demos)))
    assert skill.manifest.provenance.options is not None and skill.manifest.provenance.options.search.clustered


def test_compile_keeps_retrieval_when_it_clearly_beats_the_groups() -> None:
    def needs_nearest_demo(request: ModelRequest) -> Any:
        """Right only when the demo right before the input is its own number's neighbour."""
        if request.output_schema is None:
            return "Decide the sentiment."
        text = skill_input(request)["text"]
        prev = request.messages[-3].content if len(request.messages) >= 3 else ""
        if prev.split()[-1:] == text.split()[-1:] and prev.split()[:1] == text.split()[:1]:
            return keyword_answer(request)
        return {"sentiment": "negative" if "good" in text else "positive"}

    skill = compile_skill(
        sentiment_spec(),
        _topic_examples(60),
        teacher=keyword_model(),
        student=FunctionModel(needs_nearest_demo),
        options=CompileOptions(search=SearchConfig(ks=[2], refine_rounds=0)),
    )
    assert skill.settings.demo_strategy == "retrieved", skill.manifest.metrics.selection


def test_no_clustered_candidate_when_turned_off() -> None:
    skill = compile_skill(
        sentiment_spec(),
        _topic_examples(60),
        teacher=keyword_model(),
        student=keyword_model(),
        options=CompileOptions(search=SearchConfig(ks=[2], refine_rounds=0, clustered=False)),
    )
    assert not any("clustered" in c.name for c in skill.manifest.metrics.candidates)
