"""Choosing between candidates by more than noise, and what an escalation sends the teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skillforge import CompileOptions, Example, Ledger, SpecError, compile_skill, load_skill
from skillforge.compile import Candidate, CaseResult, Measurement, SearchConfig, choose, clearly_better, paired_gain
from skillforge.compile.selection import Scored
from skillforge.compile.steps import draft_samples as _samples
from skillforge.evaluate import GOLD, TEACHER_REFERENCE, evaluate_skill
from skillforge.models.base import ModelRequest
from skillforge.models.pricing import cost_usd, price_for
from skillforge.regress import run_skill_tests
from skillforge.run.prompt import build_request, render_output
from skillforge.run.teacher_only import estimate_tokens, request_text, teacher_only_request
from skillforge.testing import FunctionModel, QueuedModel, skill_input

from helpers import keyword_answer, keyword_model, sentiment_examples, sentiment_spec

POS = {"sentiment": "positive"}


def words(t: str) -> int:
    return len(t.split())


def _ev(name: str, correct: list[bool], *, k: int = 0, retrieved: bool = False) -> Measurement:
    cand = Candidate(name, "template", "x", [], retrieve_k=k if retrieved else None)
    if not retrieved:
        cand.demos = [None] * k  # type: ignore[list-item]  # only the count matters for ranking
    return Measurement(cand, [CaseResult({}, float(c), c, 0.9) for c in correct])


def _choose(*measured: Measurement, z: float) -> tuple[Measurement, str]:
    chosen, why = choose([Scored([m]) for m in measured], z=z)
    return chosen.committed, why


# -- the paired one-standard-error rule ---------------------------------------------------------------


def test_a_gain_of_a_few_cases_on_a_small_dev_set_does_not_buy_complexity() -> None:
    zero = _ev("template+0", [True] * 47 + [False] * 13)  # 0.783
    # +3 net cases (fixes 8, breaks 5): within one standard error of the paired gain.
    fancy_cases = [True] * 42 + [False] * 5 + [True] * 8 + [False] * 5
    fancy = _ev("template+retrieved4", fancy_cases, k=4, retrieved=True)
    assert fancy.score > zero.score
    chosen, why = _choose(zero, fancy, z=1.0)
    assert chosen is zero
    assert "template+retrieved4" in why and "the baseline template+0 0.783 is kept" in why


def test_a_clear_gain_wins() -> None:
    zero = _ev("template+0", [True] * 16 + [False] * 44)
    fancy = _ev("teacher+retrieved7", [True] * 52 + [False] * 8, k=7, retrieved=True)
    chosen, why = _choose(zero, fancy, z=1.0)
    assert chosen is fancy and "clearly ahead" in why


def test_z_zero_is_the_plain_best_score() -> None:
    zero = _ev("template+0", [True] * 47 + [False] * 13)
    fancy = _ev("template+4", [True] * 48 + [False] * 12, k=4)
    assert _choose(zero, fancy, z=0.0)[0] is fancy
    assert _choose(zero, fancy, z=1.0)[0] is zero


def test_the_paired_gain_and_its_standard_error() -> None:
    base = _ev("a", [True, True, False, False])
    new = _ev("b", [True, True, True, False])
    gain, se = paired_gain(new, base)
    assert gain == pytest.approx(0.25)
    assert se == pytest.approx(0.25)  # diffs 0,0,1,0: sd 0.5, / sqrt(4)
    assert not clearly_better(new, base, 1.0 + 1e-6) and clearly_better(new, base, 0.99)
    assert not clearly_better(base, base, 0.0)  # no gain is never "better"
    with pytest.raises(ValueError, match="same"):
        paired_gain(new, _ev("c", [True]))


def test_selection_is_recorded_in_the_skill() -> None:
    model = keyword_model()
    skill = compile_skill(sentiment_spec(), sentiment_examples(30), teacher=model, student=model,
                          options=CompileOptions(search=SearchConfig(ks=[2])))
    m = skill.manifest.metrics
    assert m.chosen == m.baseline == "plain+0/plain"  # everything ties at 1.0: the baseline stays
    assert m.selection == "best on dev: plain+0/plain 1.000: the baseline is kept"


def test_a_negative_selection_z_is_a_spec_error() -> None:
    model = keyword_model()
    with pytest.raises(SpecError, match="selection_z"):
        compile_skill(sentiment_spec(), sentiment_examples(10), teacher=model, student=model,
                      options=CompileOptions(search=SearchConfig(selection_z=-1)))


def test_teacher_draft_samples_spread_over_every_label() -> None:
    schema = {"type": "object", "properties": {"c": {"type": "string", "enum": ["a", "b", "c", "d"]}}}
    train = [Example(input={"text": str(i)}, expected={"c": "abcd"[i % 4]}) for i in range(40)]
    picked = _samples(train, schema, 8, seed=0)
    assert len(picked) == 8
    assert sorted((e.expected or {})["c"] for e in picked) == ["a", "a", "b", "b", "c", "c", "d", "d"]


# -- what escalations send the teacher --------------------------------------------------------------


def _compiled(tmp_path: Path, teacher: FunctionModel, student: FunctionModel) -> Any:
    skill = compile_skill(sentiment_spec(), sentiment_examples(30), teacher=teacher, student=student,
                          options=CompileOptions(search=SearchConfig(ks=[4], retrieval=False, selection_z=0.0)))
    # 30 examples certify no student answer at 0.95; these tests are about what escalations send.
    skill.manifest.settings.ask_student = True
    skill.save(tmp_path / "s")
    return load_skill(tmp_path / "s")


def demo_hungry(request: ModelRequest) -> Any:
    if request.output_schema is None:
        return "Decide the sentiment."
    return keyword_answer(request) if request.static_messages >= 8 else {"sentiment": "negative"}


def test_a_strong_teacher_gets_the_teacher_only_prompt(tmp_path: Path) -> None:
    skill = _compiled(tmp_path, keyword_model(), FunctionModel(demo_hungry, model_id="test:student"))
    assert skill.settings.demo_strategy == "fixed" and skill.settings.k == 4
    assert skill.settings.escalation_prompt == "plain"
    assert skill.manifest.metrics.teacher_lean_score == 1.0

    student = QueuedModel(['{"sentiment": "meh"}', '{"sentiment": "meh"}'])
    teacher = QueuedModel([POS])
    result = skill.run({"text": "good"}, student=student, teacher=teacher, ledger=Ledger(None))
    assert result.escalated and result.output == POS
    sent = teacher.requests[0]
    assert sent.static_messages == 0 and len(sent.messages) == 1  # the input alone, no demos
    assert skill_input(sent) == {"text": "good"}
    # Exactly the teacher-only request: an escalated input costs what it costs teacher-only.
    m = skill.manifest
    assert sent == teacher_only_request(description=m.description, output_schema=m.output_schema,
                                        input_schema=m.input_schema, input={"text": "good"},
                                        max_tokens=m.settings.max_tokens)
    assert len(student.requests[0].messages) == 9  # 4 demo pairs + the input
    # The skill's own instructions stay with a lean escalation prompt, set by hand.
    m.settings.escalation_prompt = "lean"
    lean = skill.runner(student=student).teacher_request_for({"text": "good"})
    assert lean.system == student.requests[0].system and len(lean.messages) == 1


def test_a_teacher_that_needs_the_demos_gets_the_students_prompt(tmp_path: Path) -> None:
    # The teacher is as demo-hungry as the student (offline: the same small model).
    hungry = FunctionModel(demo_hungry, model_id="test:same")
    skill = _compiled(tmp_path, hungry, hungry)
    assert skill.settings.escalation_prompt == "student"
    assert skill.manifest.metrics.teacher_lean_score is not None and skill.manifest.metrics.teacher_lean_score < 1.0

    teacher = QueuedModel([POS])
    skill.run({"text": "good"}, student=QueuedModel(["x", "x"]), teacher=teacher, ledger=Ledger(None))
    assert teacher.requests[0].static_messages == 8


def test_the_evaluation_prices_a_simulated_teacher_on_the_prompt_an_escalation_sends(tmp_path: Path) -> None:
    skill = _compiled(tmp_path, keyword_model(), FunctionModel(demo_hungry, model_id="test:student"))
    skill.manifest.settings.threshold = 0.99  # the student's 0.9 never passes: every case escalates
    skill.manifest.settings.ask_student = True  # a threshold set by hand: the student is asked
    data = sentiment_examples(6)
    student = FunctionModel(keyword_answer, logprob=-0.1)
    result = evaluate_skill(skill, data, student=student, teacher=GOLD, count_tokens=words)
    assert all(c.escalated for c in result.cases)
    for c in result.cases:
        # An escalation sends the teacher-only prompt: the very request teacher-only prices.
        assert c.teacher_usage.input_tokens == c.teacher_prompt_tokens == c.teacher_only_usage.input_tokens > 0
    costs = result.costs_per_1k()
    assert costs["teacher_only"] is not None and costs["mix"] is not None
    # The student is free here and every case escalates: the mix costs exactly teacher-only.
    assert costs["mix"] == pytest.approx(costs["teacher_only"])
    # With the skill's own instructions sent instead (lean), escalations are priced at that prompt.
    skill.manifest.settings.escalation_prompt = "lean"
    lean = evaluate_skill(skill, data, student=student, teacher=GOLD, count_tokens=words)
    opus = price_for(TEACHER_REFERENCE)
    assert opus is not None
    assert all(c.teacher_prompt_tokens != c.teacher_only_usage.input_tokens for c in lean.cases)
    assert lean.costs_per_1k()["mix"] == pytest.approx(1000 * sum(cost_usd(c.teacher_usage, opus)
                                                                   for c in lean.cases) / 6)
    assert lean.costs_per_1k()["teacher_only"] == pytest.approx(costs["teacher_only"])
    for c in result.cases:
        plain = teacher_only_request(description=skill.manifest.description, output_schema=skill.manifest.output_schema,
                                     input_schema=skill.manifest.input_schema, input=c.input, max_tokens=5)
        assert c.teacher_only_usage.input_tokens == c.prompt_tokens + words(request_text(plain)) - words(
            request_text(skill.runner(student=student).request_for(c.input)))
        assert c.teacher_only_usage.output_tokens == words(render_output(c.expected, skill.manifest.output_schema))


def test_prompt_token_estimates_keep_the_measured_template_overhead() -> None:
    big = build_request(instructions="one two three", output_schema={"type": "object"},
                        demos=[({"text": "a b"}, {"x": 1})], input={"text": "q"}, max_tokens=5)
    lean = build_request(instructions="one two three", output_schema={"type": "object"}, demos=[],
                         input={"text": "q"}, max_tokens=5)

    assert estimate_tokens(request_text(lean), request_text(big), 100, words) == 100 - (
        words("".join(m.content for m in big.messages)) - words(lean.messages[0].content))
    assert 0 < estimate_tokens(request_text(lean), request_text(big), 100, None) < 100


# -- the field-score gate ---------------------------------------------------------------------------


def test_a_multi_field_skill_is_gated_on_its_field_score(tmp_path: Path) -> None:
    out = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
           "additionalProperties": False}
    spec = sentiment_spec().model_copy(update={"name": "pair", "output_schema": out})
    examples = [Example(input={"text": f"t{i}"}, expected={"a": f"a{i}", "b": f"b{i}"}) for i in range(12)]

    def half_right(request: ModelRequest) -> Any:
        if request.output_schema is None:
            return "Copy the parts."
        i = skill_input(request)["text"][1:]
        return {"a": f"a{i}", "b": "?"}

    model = FunctionModel(half_right, logprob=-0.01)
    skill = compile_skill(spec, examples, teacher=model, student=model,
                          options=CompileOptions(search=SearchConfig(ks=[2], retrieval=False)))
    assert skill.settings.min_pass_rate == 0.0
    assert skill.settings.min_field_score == 0.45  # field score 0.5 less the 0.05 margin
    path = skill.save(tmp_path / "pair")
    assert run_skill_tests(path, mode="live", student=model, teacher=model, root=tmp_path).ok

    def worse(request: ModelRequest) -> Any:
        return {"a": "?", "b": "?"} if request.output_schema is not None else "x"

    bad = FunctionModel(worse, logprob=-0.01)
    result = run_skill_tests(path, mode="live", student=bad, teacher=bad, root=tmp_path)
    assert not result.ok and result.pass_rate == 0.0 and result.field_score == 0.0
    assert result.min_field_score == 0.45


def test_a_threshold_above_every_confidence_stays_above_it_when_written_to_six_decimals() -> None:
    from skillforge.compile import stored_threshold
    from skillforge.stats import choose_threshold

    confidences = [0.8569224, 0.5, 0.4]
    nothing = choose_threshold(confidences, [False, True, True], target_precision=0.95)
    assert nothing.student_share == 0.0
    assert stored_threshold(nothing) == 0.856923 > max(confidences)  # round() would give 0.856922
    some = choose_threshold([0.8569226, 0.2], [True, False], target_precision=0.9, confidence_level=None)
    assert some.threshold == 0.8569226 and stored_threshold(some) == 0.856922  # that answer stays accepted
