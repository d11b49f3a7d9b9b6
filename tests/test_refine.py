"""Teacher-reflective refinement: revisions from dev failures, kept only when the dev score improves."""

from __future__ import annotations

from typing import Any

from skillforge import CompileOptions, compile_skill
from skillforge.compile import SearchConfig
from skillforge.models.base import ModelRequest
from skillforge.testing import FunctionModel

from helpers import keyword_answer, refine_teacher, sentiment_examples, sentiment_spec, student_that_needs


def test_a_revision_that_fixes_dev_failures_is_kept() -> None:
    t = refine_teacher("1. Read the review.\n2. GOOD means positive, anything else negative.")
    skill = compile_skill(sentiment_spec(), sentiment_examples(30), teacher=t, student=student_that_needs("GOOD"),
                          options=CompileOptions(search=SearchConfig(ks=[2], retrieval=False)))
    m = skill.manifest.metrics
    assert len(m.refinement) == 1 and m.refinement[0].kept
    assert m.refinement[0].dev_score_after == 1.0 > m.refinement[0].dev_score_before
    assert "GOOD means positive" in skill.instructions and skill.settings.instructions_source == "teacher"
    assert m.chosen.endswith("~r1") and m.dev_score == 1.0
    # The teacher saw the failures: input, the student's answer and the expected one.
    prompt = next(r for r in t.requests if r.output_schema is None and "got wrong" in r.messages[0].content)
    text = prompt.messages[0].content
    assert '"sentiment": "negative"' in text and 'expected {"sentiment": "positive"}' in text


def test_a_revision_that_does_not_help_is_discarded_and_rounds_stop() -> None:
    t = refine_teacher("1. Think harder about the review, then answer.")
    skill = compile_skill(sentiment_spec(), sentiment_examples(30), teacher=t, student=student_that_needs("GOOD"),
                          options=CompileOptions(search=SearchConfig(ks=[2], retrieval=False, refine_rounds=3)))
    rounds = skill.manifest.metrics.refinement
    assert len(rounds) == 1 and not rounds[0].kept  # a deterministic teacher would repeat itself
    assert "Think harder" not in skill.instructions
    assert any(c.name.endswith("~r1") for c in skill.manifest.metrics.candidates)  # measured and reported


def test_refinement_is_bounded_by_rounds_and_budget() -> None:
    t = refine_teacher("1. GOOD means positive.")
    none = compile_skill(sentiment_spec(), sentiment_examples(30), teacher=t, student=student_that_needs("GOOD"),
                         options=CompileOptions(search=SearchConfig(ks=[2], retrieval=False, refine_rounds=0)))
    assert none.manifest.metrics.refinement == []
    priced = FunctionModel(t.fn, model_id="test:teacher", price_per_token=0.01)
    broke = compile_skill(sentiment_spec(), sentiment_examples(30), teacher=priced,
                          student=student_that_needs("GOOD"),
                          options=CompileOptions(search=SearchConfig(ks=[2], retrieval=False, refine_budget_usd=0.0)))
    assert broke.manifest.metrics.refinement == []


def test_no_failures_means_no_refinement() -> None:
    def perfect(request: ModelRequest) -> Any:
        return keyword_answer(request) if request.output_schema else "Decide."

    skill = compile_skill(sentiment_spec(), sentiment_examples(30), teacher=refine_teacher("x y z w v"),
                          student=FunctionModel(perfect), options=CompileOptions(search=SearchConfig(ks=[2])))
    assert skill.manifest.metrics.refinement == []
