"""A compile a team can plan: what it will cost before any call, and a budget it never exceeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skillforge import CompileOptions, Ledger, SpecError, compile_skill, load_skill
from skillforge.compile import SearchConfig, estimate_compile_skill
from skillforge.compile.budget import Budget, BudgetedModel, BudgetExhausted, worst_case
from skillforge.models.base import ModelRequest
from skillforge.testing import FunctionModel

from helpers import keyword_answer, sentiment_examples, sentiment_spec


def priced(model_id: str, per_token: float) -> FunctionModel:
    return FunctionModel(keyword_answer, model_id=model_id, price_per_token=per_token)


def test_the_plan_brackets_what_the_compile_then_makes() -> None:
    teacher, student = priced("test:teacher", 1e-5), priced("test:student", 1e-7)
    options = CompileOptions(search=SearchConfig(ks=(2, 4), refine_rounds=1, classifier_tier=False))
    plan = estimate_compile_skill(sentiment_spec(), sentiment_examples(80), options, teacher=teacher,
                                  student=student)
    assert not teacher.requests and not student.requests  # planned without a call
    ledger = Ledger(None)
    skill = compile_skill(sentiment_spec(), sentiment_examples(80), options, teacher=teacher, student=student,
                          ledger=ledger, cache=False)
    steps = {s.step: s for s in skill.manifest.metrics.estimate}
    actual = {s.step: s.calls for s in skill.manifest.metrics.compile_steps}
    for step in ("draft", "select", "calibrate"):
        assert steps[step].calls[0] <= actual[step] <= steps[step].calls[1], (step, steps[step], actual[step])
    total = plan.total()
    assert total.low <= len(ledger.entries) <= total.high
    assert plan.minimum_usd > 0 and plan.total("usd").high > plan.total("usd").low > 0


def test_a_budget_below_what_every_skill_needs_fails_before_the_first_call() -> None:
    teacher, student = priced("test:teacher", 1e-5), priced("test:student", 1e-7)
    plan = estimate_compile_skill(sentiment_spec(), sentiment_examples(60), CompileOptions(), teacher=teacher,
                                  student=student)
    with pytest.raises(SpecError, match=r"at least \$") as info:
        compile_skill(sentiment_spec(), sentiment_examples(60), CompileOptions(budget_usd=plan.minimum_usd / 2),
                      teacher=teacher, student=student, ledger=Ledger(None))
    assert info.value.field == "budget_usd" and f"{plan.minimum_usd:.4f}" in str(info.value)
    assert not teacher.requests and not student.requests


def test_spend_never_exceeds_the_budget_and_the_skill_says_what_was_cut(tmp_path: Path) -> None:
    # The student's calls are what a search spends most on: price them so the whole search costs more than
    # what every skill needs.
    teacher, student = priced("test:teacher", 1e-5), priced("test:student", 1e-5)
    base = CompileOptions(search=SearchConfig(ks=(2, 4, 8), refine_rounds=2, classifier_tier=False))
    plan = estimate_compile_skill(sentiment_spec(), sentiment_examples(80), base, teacher=teacher, student=student)
    budget = plan.minimum_usd * 1.05  # enough for what every skill needs, not for the whole search
    ledger = Ledger(None)
    skill = compile_skill(sentiment_spec(), sentiment_examples(80), base.model_copy(update={"budget_usd": budget}),
                          teacher=teacher, student=student, ledger=ledger, cache=False)
    spent = sum(e.cost_usd or 0.0 for e in ledger.entries)
    report = skill.manifest.metrics.budget
    assert report is not None and spent <= budget + 1e-12 and report.spent_usd == pytest.approx(spent)
    assert report.cuts, "a budget below the full cost cuts something"
    assert skill.manifest.metrics.calibration_size  # a usable, calibrated skill
    loaded = load_skill(skill.save(tmp_path / "s"))
    assert loaded.manifest.metrics.budget == report
    assert loaded.manifest.provenance.options is not None and loaded.manifest.provenance.options.budget_usd == budget


def test_a_call_reserves_its_worst_case_and_settles_what_it_cost() -> None:
    student = priced("test:student", 1e-3)
    budget = Budget(limit=1.0)
    model = BudgetedModel(student, budget)
    request = ModelRequest(system="x" * 100, messages=(), output_schema={"type": "object"}, max_tokens=50)
    worst = worst_case(student, request)
    assert worst == pytest.approx(1e-3 * (100 + 16 + 50))
    response: Any = model.request_sync(request.model_copy(update={"input": {"text": "good"}}))
    assert budget.reserved == 0 and budget.spent == pytest.approx(student.cost_of(response) or 0.0)
    assert budget.spent < worst
    tight = Budget(limit=worst / 2)
    with pytest.raises(BudgetExhausted):
        BudgetedModel(student, tight).request_sync(request)
    assert tight.spent == 0 and len(student.requests) == 1  # refused before it was sent
