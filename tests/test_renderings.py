"""Prompt renderings (plain text, ``field: value`` lines, JSON; schema text or grammar alone) and the rule
that a candidate must beat the plain prompt by more than its spread over demo draws."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from skillforge import CompileOptions, compile_skill, load_skill
from skillforge.compile import CaseResult, Measurement, SearchConfig
from skillforge.compile.candidates import PLAIN, Candidate, Rendering, candidate, redraw
from skillforge.compile.selection import Scored, choose, clearly_better, margin
from skillforge.format import Demo, Settings
from skillforge.models.base import ModelRequest
from skillforge.run import Runner
from skillforge.run.prompt import PromptStyle, build_request, plain_instructions, render_input
from skillforge.testing import FunctionModel, skill_input

from helpers import TEXT_IN, keyword_answer, keyword_model, sentiment_examples, sentiment_spec

TWO_FIELDS: dict[str, Any] = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "context": {"type": "string"}, "n": {"type": "integer"}},
    "required": ["question", "context"],
}
OUT = {"type": "object", "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}}}


# -- renderings -----------------------------------------------------------------------------------------


def test_one_string_field_renders_as_the_plain_text() -> None:
    assert render_input({"text": "play some jazz"}, "plain", TEXT_IN) == "play some jazz"
    assert render_input({"text": "{{ 7*7 }}\nsecond line"}, "plain", TEXT_IN) == "{{ 7*7 }}\nsecond line"
    # JSON stays the default (skills compiled before renderings were searched).
    assert render_input({"text": "play some jazz"}) == '{"text": "play some jazz"}'


def test_several_fields_render_as_readable_lines_in_schema_order() -> None:
    value = {"n": 3, "context": "The cat sat.", "question": "Where did it sit?"}
    assert render_input(value, "plain", TWO_FIELDS) == "question: Where did it sit?\ncontext: The cat sat.\nn: 3"
    # Missing optional fields are left out; fields outside the schema follow, sorted.
    assert render_input({"context": "c", "question": "q", "z": [1]}, "plain", TWO_FIELDS) == \
        "question: q\ncontext: c\nz: [1]"
    # One field that is not a string is a line too, not bare text.
    one_int = {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert render_input({"n": 3}, "plain", one_int) == "n: 3"


def test_the_plain_request_has_no_schema_text_and_demos_rendered_like_the_input() -> None:
    demos = [({"text": "great film"}, {"sentiment": "positive"})]
    req = build_request(instructions=plain_instructions("Is the review\n positive or negative?"), output_schema=OUT,
                        demos=demos, input={"text": "awful"}, max_tokens=8,
                        style=PromptStyle("plain", TEXT_IN, schema_in_prompt=False))
    assert req.system == "Is the review positive or negative?"
    assert [m.content for m in req.messages] == ["great film", '{"sentiment": "positive"}', "awful"]
    assert req.output_schema == OUT  # the grammar still constrains the answer
    assert skill_input(req) == {"text": "awful"}  # test doubles recover the structured input
    legacy = build_request(instructions="x", output_schema=OUT, demos=demos, input={"text": "awful"}, max_tokens=8)
    assert json.dumps(OUT, sort_keys=True) in legacy.system and legacy.messages[-1].content == '{"text": "awful"}'
    # The structured input is no part of the cache key: the rendered messages are.
    assert req.cache_key("m") == req.model_copy(update={"input": None}).cache_key("m")


def test_rendering_names_round_trip_and_name_candidates() -> None:
    for name in ("json+schema", "plain+schema", "json", "plain"):
        assert Rendering.named(name).name == name  # type: ignore[arg-type]
    assert candidate("template", "t", []).name == "template+0"  # the old names stay
    assert candidate("plain", "p", [], PLAIN).name == "plain+0/plain"


def test_old_settings_load_with_json_input_and_schema_text() -> None:
    s = Settings.model_validate({"instructions_source": "template", "demo_strategy": "none", "k": 0})
    assert s.input_format == "json" and s.schema_in_prompt is True


def test_the_runner_uses_the_skills_rendering(tmp_path: Path) -> None:
    model = keyword_model()
    skill = compile_skill(sentiment_spec(), sentiment_examples(20), teacher=model, student=model,
                          options=CompileOptions(search=SearchConfig(ks=[2], retrieval=False, refine_rounds=0)))
    assert skill.settings.input_format == "plain" and skill.settings.schema_in_prompt is False
    loaded = load_skill(skill.save(tmp_path / "s"))
    req = Runner(loaded, student=model, teacher=model).request_for({"text": "good pie"})
    assert req.messages[-1].content == "good pie" and req.system == "Is the review positive or negative?"
    loaded.manifest.settings = loaded.settings.model_copy(update={"input_format": "json", "schema_in_prompt": True})
    req = Runner(loaded, student=model, teacher=model).request_for({"text": "good pie"})
    assert req.messages[-1].content == '{"text": "good pie"}' and "JSON Schema" in req.system


# -- the spread rule ------------------------------------------------------------------------------------


def _m(name: str, correct: list[bool], k: int = 0) -> Measurement:
    demos = [Demo(input={"text": str(i)}, output={"sentiment": "positive"}, source="label") for i in range(k)]
    return Measurement(Candidate(name, "template", "x", demos), [CaseResult({}, float(c), c, 0.9) for c in correct])


def test_a_candidate_must_beat_the_plain_prompt_by_more_than_its_spread() -> None:
    plain = Scored([_m("plain+0/plain", [True] * 40 + [False] * 20)])  # 0.667
    # Every draw fixes the same 10 cases the plain prompt misses (+0.167, paired SE 0.049), but the
    # draws break different numbers of other cases: scores 0.833, 0.617, 0.733 -> spread 0.108.
    draws = [_m("template+4", [True] * 40 + [True] * 10 + [False] * 10, k=4),
             _m("template+4", [True] * 27 + [False] * 13 + [True] * 10 + [False] * 10, k=4),
             _m("template+4", [True] * 34 + [False] * 6 + [True] * 10 + [False] * 10, k=4)]
    shaky = Scored(draws)
    assert shaky.spread is not None and 0.1 < shaky.spread < 0.11
    gain = shaky.score - plain.score
    assert 0 < gain < shaky.spread  # beats the plain prompt on the mean, within the spread
    assert clearly_better(Scored(draws[:1]), plain, 1.0)  # the first draw alone looks like a clear win
    assert not clearly_better(shaky, plain, 1.0)
    chosen, why = choose([plain, shaky], z=1.0, need_spread=True)
    assert chosen is plain and "spread 0.108 over 3 draws" in why and "baseline plain+0/plain" in why
    # The same gain holding across draws wins, and the best draw is the one committed.
    steady = Scored([_m("template+4", [True] * 40 + [True] * 10 + [False] * 10, k=4),
                     _m("template+4", [True] * 39 + [False] + [True] * 10 + [False] * 10, k=4)])
    assert steady.spread is not None and steady.score - plain.score > margin(steady, plain) >= steady.spread
    chosen, why = choose([plain, shaky, steady], z=1.0, need_spread=True)
    assert chosen is steady and chosen.committed is steady.draws[0] and "clearly ahead" in why


def test_a_candidate_with_demos_whose_spread_was_not_measured_cannot_win() -> None:
    plain = Scored([_m("plain+0/plain", [True] * 30 + [False] * 30)])
    lucky = Scored([_m("template+4", [True] * 60, k=4)])
    assert lucky.spread is None and plain.spread == 0.0
    assert choose([plain, lucky], z=1.0, need_spread=True)[0] is plain
    assert choose([plain, lucky], z=1.0)[0] is lucky  # draws=1: selection as before


def test_redraws_draw_other_demos() -> None:
    pool = [Demo(input={"text": str(i)}, output={"s": "ab"[i % 2]}, source="label") for i in range(40)]
    schema = {"type": "object", "properties": {"s": {"type": "string", "enum": ["a", "b"]}}}
    first = candidate("template", "x", pool[:4], PLAIN)
    again = redraw(first, 1, pool=pool, output_schema=schema, seed=0)
    assert again.name == first.name and again.draw == 1 and again.rendering == PLAIN and len(again.demos) == 4
    assert again.demos != redraw(first, 2, pool=pool, output_schema=schema, seed=0).demos
    retrieving = candidate("template", "x", pool, retrieve_k=2)
    sub = redraw(retrieving, 1, pool=pool, output_schema=schema, seed=0)
    assert sub.retrieve_k == 2 and len(sub.demos) == 30 and set(map(id, sub.demos)) < set(map(id, pool))


def test_compile_measures_contenders_over_demo_draws_and_stores_the_spread() -> None:
    def demo_hungry(request: ModelRequest) -> Any:
        if request.output_schema is None:
            return "Decide the sentiment."
        return keyword_answer(request) if request.static_messages >= 4 else {"sentiment": "negative"}

    student = FunctionModel(demo_hungry, model_id="test:student")
    skill = compile_skill(sentiment_spec(), sentiment_examples(40), teacher=keyword_model(), student=student,
                          options=CompileOptions(
                              search=SearchConfig(ks=[2], retrieval=False, refine_rounds=0, draws=3)))
    m = skill.manifest.metrics
    by_name = {c.name: c for c in m.candidates}
    assert m.baseline == "plain+0/plain" and by_name["plain+0/plain"].spread == 0.0
    redrawn = [c for c in m.candidates if c.draw_scores]
    assert len(redrawn) == 1 and len(redrawn[0].draw_scores) == 3 and redrawn[0].spread == 0.0  # redraw_top=1
    assert [c.spread for c in m.candidates if c.k and not c.draw_scores] == [None]
    assert m.chosen == redrawn[0].name and "spread 0.000 over 3 draws" in (m.selection or "")
