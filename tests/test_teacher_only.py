"""One teacher-only: the teacher answering every input with the plain prompt, at list price -- and a
compiled skill never costs more per call than sending its inputs straight to the teacher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from skillforge import CompileOptions, Ledger, compile_skill, load_skill
from skillforge.compile import SearchConfig
from skillforge.evaluate import GOLD, evaluate_skill
from skillforge.models.base import ModelRequest, ModelResponse, Usage
from skillforge.models.pricing import REFERENCE_TEACHER, cost_usd, price_for
from skillforge.observe import compute_status
from skillforge.run.prompt import plain_instructions
from skillforge.run.teacher_only import request_text, teacher_only_request
from skillforge.testing import FunctionModel, skill_input

from helpers import keyword_answer, sentiment_examples, sentiment_spec


def never_sure(request: ModelRequest) -> Any:
    """Wrong on every fifth input, and its probabilities say nothing: every answer as unsure as the next."""
    out = keyword_answer(request)
    if isinstance(out, str):
        return out
    label = out["sentiment"]
    if int(skill_input(request)["text"].split()[-1]) % 5 == 0:
        label = "positive" if label == "negative" else "negative"
    return ModelResponse(model_id="test:unsure", text=f'{{"sentiment": "{label}"}}', logprob_sum=-2.0,
                         usage=Usage(input_tokens=40, output_tokens=5))


def test_the_teacher_only_prompt_is_the_description_and_the_schema_without_demos() -> None:
    spec = sentiment_spec()
    request = teacher_only_request(description=spec.description, output_schema=spec.output_schema,
                                   input_schema=spec.input_schema, input={"text": "good film"}, max_tokens=64)
    assert request.system.startswith(plain_instructions(spec.description))
    assert '"enum"' in request.system  # the schema's text
    assert [m.content for m in request.messages] == ["good film"] and request.static_messages == 0


def test_a_skill_whose_student_is_never_confident_routes_to_the_teacher_and_costs_no_more(tmp_path: Path) -> None:
    student = FunctionModel(never_sure, model_id="test:unsure", price_per_token=1e-7)
    teacher = FunctionModel(keyword_answer, model_id="test:teacher", price_per_token=1e-5)
    skill = compile_skill(
        sentiment_spec(),
        sentiment_examples(60),
        CompileOptions(search=SearchConfig(ks=(2,), refine_rounds=0, classifier_tier=False)),
        teacher=teacher,
        student=student,
        ledger=Ledger(None),
    )
    s, m = skill.settings, skill.manifest.metrics
    assert not s.ask_student and s.expected_student_share == 0.0
    chosen = next(ladder for ladder in m.ladders if ladder.chosen)
    assert chosen.tiers == [] and chosen.cost_per_1k is not None
    assert all(ladder.cost_per_1k is None or ladder.cost_per_1k >= chosen.cost_per_1k for ladder in m.ladders)
    # Run: the student is never asked; every input is one teacher call.
    ledger = Ledger(None)
    result = skill.run({"text": "good film"}, student=student, teacher=teacher, ledger=ledger)
    assert result.escalated and result.tier == "teacher" and [e.role for e in ledger.entries] == ["teacher"]
    assert not student.requests[len(student.requests) :]  # nothing new
    # Measured: the mix costs what the teacher's calls cost, within the escalation prompt's extra text.
    ev = evaluate_skill(skill, sentiment_examples(10), student=student, teacher=GOLD)
    costs = ev.costs_per_1k()
    assert costs["mix"] is not None and costs["teacher_only"] is not None
    assert ev.student_share == 0.0 and costs["student_only"] == 0.0


def test_eval_prices_teacher_only_on_the_plain_prompt() -> None:
    model = FunctionModel(keyword_answer, model_id="test:m")
    skill = compile_skill(
        sentiment_spec(),
        sentiment_examples(40),
        CompileOptions(search=SearchConfig(ks=(4,), refine_rounds=0, classifier_tier=False)),
        teacher=model,
        student=model,
        ledger=Ledger(None),
    )

    def words(text: str) -> int:
        return len(text.split())

    result = evaluate_skill(skill, sentiment_examples(6), student=model, teacher=GOLD, count_tokens=words)
    opus = price_for(REFERENCE_TEACHER)
    assert opus is not None
    runner = skill.runner(student=model)
    for case in result.cases:
        plain = teacher_only_request(
            description=skill.manifest.description,
            output_schema=skill.manifest.output_schema,
            input_schema=skill.manifest.input_schema,
            input=case.input,
            max_tokens=64,
        )
        # Estimated from the student's measured prompt: its tokens, plus the difference in text tokens.
        assert case.teacher_only_usage.input_tokens == case.prompt_tokens + words(request_text(plain)) - words(
            request_text(runner.request_for(case.input))
        )
        assert case.teacher_only_usage.output_tokens == words(f'{{"sentiment": "{case.expected["sentiment"]}"}}')
    total = sum(cost_usd(c.teacher_only_usage, opus) for c in result.cases)
    assert result.costs_per_1k()["teacher_only"] == pytest.approx(1000 * total / 6)


def test_status_prices_teacher_only_from_the_compile_metrics(tmp_path: Path) -> None:
    model = FunctionModel(keyword_answer, model_id="test:m")
    skill = compile_skill(
        sentiment_spec(),
        sentiment_examples(40),
        CompileOptions(search=SearchConfig(ks=(2,), refine_rounds=0, classifier_tier=False)),
        teacher=model,
        student=model,
        ledger=Ledger(None),
    )
    tokens = skill.manifest.metrics.teacher_only
    assert tokens is not None and tokens.input_tokens > 0 and tokens.output_tokens > 0
    path = skill.save(tmp_path / "s")
    assert load_skill(path).manifest.metrics.teacher_only == tokens  # written and read back
    ledger_path = tmp_path / "ledger.jsonl"
    clock_time = datetime(2026, 12, 1, tzinfo=UTC)
    ledger = Ledger(ledger_path, clock=lambda: clock_time)
    skill.manifest.settings.ask_student = True
    for i in range(5):
        skill.run({"text": f"good {i}"}, student=model, teacher=model, ledger=ledger)
    (status,) = compute_status([ledger_path], {skill.name: skill.manifest}, now=clock_time + timedelta(hours=1))
    opus = price_for(REFERENCE_TEACHER)
    assert opus is not None
    unit = cost_usd(Usage(input_tokens=round(tokens.input_tokens), output_tokens=round(tokens.output_tokens)), opus)
    assert status.all_time.inputs == 5
    assert status.all_time.teacher_only == pytest.approx(5 * unit)


def test_a_routed_skill_counts_its_inputs_in_status(tmp_path: Path) -> None:
    student = FunctionModel(never_sure, model_id="test:unsure")
    teacher = FunctionModel(keyword_answer, model_id="test:teacher")
    skill = compile_skill(
        sentiment_spec(),
        sentiment_examples(40),
        CompileOptions(search=SearchConfig(ks=(2,), refine_rounds=0, classifier_tier=False)),
        teacher=teacher,
        student=student,
        ledger=Ledger(None),
    )
    assert not skill.settings.ask_student
    ledger_path = tmp_path / "ledger.jsonl"
    now = datetime(2026, 12, 1, tzinfo=UTC)
    ledger = Ledger(ledger_path, clock=lambda: now)
    for i in range(3):
        skill.run({"text": f"bad {i}"}, student=student, teacher=teacher, ledger=ledger)
    (status,) = compute_status([ledger_path], {skill.name: skill.manifest}, now=now + timedelta(hours=1))
    assert status.all_time.inputs == 3 and status.all_time.answered == 0 and status.all_time.teacher_asks == 3
    assert not status.drifting


def test_by_default_every_held_out_training_example_is_calibrated_on() -> None:
    model = FunctionModel(keyword_answer, model_id="test:m")
    data = sentiment_examples(90)
    skill = compile_skill(
        sentiment_spec(),
        data,
        CompileOptions(search=SearchConfig(ks=(2,), refine_rounds=0, classifier_tier=False)),
        teacher=model,
        student=model,
        ledger=Ledger(None),
    )
    m = skill.manifest.metrics
    # Every example is either a dev case or calibrated on, except the two fixed demos the prompt shows.
    assert m.calibration_size == len(data) - (2 if skill.settings.demo_strategy == "fixed" else 0)
