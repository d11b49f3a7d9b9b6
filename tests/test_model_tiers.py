"""Model tiers behind the student: a cheaper model than the teacher takes what the student passes on,
with its own calibrated confidence; kept only where the ladder with it costs less per call."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from skillforge import CompileOptions, Example, Ledger, compile_skill, load_skill
from skillforge.cli import print_compile_report
from skillforge.compile import SearchConfig
from skillforge.errors import ModelAPIError, SpecError
from skillforge.evaluate import evaluate_skill
from skillforge.format import ModelTier
from skillforge.models.base import ModelRequest, ModelResponse, Usage
from skillforge.models.pricing import Price
from skillforge.observe.tally import Tally
from skillforge.run import Runner
from skillforge.testing import FunctionModel, skill_input

from helpers import sentiment_spec

OPTIONS = CompileOptions(
    target_precision=0.9,
    model_tiers=("tier:haiku",),
    search=SearchConfig(
        ks=(2,), refine_rounds=0, retrieval=False, draws=1, classifier_tier=False, calibration_extra=300
    ),
)


def _kind(text: str) -> str:
    return text.split()[0]


def _truth(text: str) -> str:
    return "positive" if _kind(text) in ("great", "fine") else "negative"


def _examples(n: int, start: int = 0) -> list[Example]:
    """60% plain ("great"/"awful"), 40% hedged ("fine"/"poor"): the student is sure of the plain ones
    and right, unsure of the hedged ones and right on only half of them (the odd-numbered)."""
    words = ["great", "awful", "great", "awful", "great", "awful", "fine", "poor", "fine", "poor"]
    out = []
    for i in range(start, start + n):
        text = f"{words[i % 10]} item {i}"
        out.append(Example(input={"text": text}, expected={"sentiment": _truth(text)}))
    return out


def _response(label: str, sure: float, request: ModelRequest, model_id: str, logprob: float | None) -> ModelResponse:
    other = "negative" if label == "positive" else "positive"
    dist = {json.dumps(label): sure, json.dumps(other): 1 - sure}
    return ModelResponse(
        model_id=model_id,
        text=json.dumps({"sentiment": label}),
        logprob_sum=logprob,
        choices={"sentiment": dist} if request.choice_scores else None,
        usage=Usage(input_tokens=120, output_tokens=6),
    )


def _flip(label: str) -> str:
    return "negative" if label == "positive" else "positive"


def _student_fn(request: ModelRequest) -> ModelResponse | str:
    if request.output_schema is None:
        return "Say positive for good things, negative for bad ones."
    text = skill_input(request)["text"]
    n = int(text.split()[-1])
    if _kind(text) in ("great", "awful"):
        return _response(_truth(text), 0.97, request, "test:student", -0.03)
    label = _truth(text) if n % 2 else _flip(_truth(text))
    return _response(label, 0.55, request, "test:student", -0.6)


def _haiku_fn(request: ModelRequest) -> ModelResponse:
    """Like Claude: no probabilities. Right on every input but the hedged ones numbered 1 mod 8, which
    the student gets right."""
    text = skill_input(request)["text"]
    n = int(text.split()[-1])
    label = _flip(_truth(text)) if _kind(text) in ("fine", "poor") and n % 8 == 1 else _truth(text)
    return _response(label, 1.0, request, "tier:haiku", None)


def _models() -> tuple[FunctionModel, FunctionModel, FunctionModel]:
    student = FunctionModel(_student_fn, model_id="test:student")
    student.supports_choice_scores = True
    haiku = FunctionModel(_haiku_fn, model_id="tier:haiku", logprob=None, price_per_token=1e-7)
    teacher = FunctionModel(
        lambda r: _student_fn(r) if r.output_schema is None else {"sentiment": _truth(skill_input(r)["text"])},
        model_id="test:teacher",
        price_per_token=4e-6,
    )
    return student, haiku, teacher


def _compile(options: CompileOptions = OPTIONS, **models: Any) -> Any:
    student, haiku, teacher = _models()
    tier_models = models.get("tier_models", {"tier:haiku": haiku})
    return (
        compile_skill(
            sentiment_spec(), _examples(400), options, teacher=teacher, student=student, tier_models=tier_models
        ),
        student,
        haiku,
        teacher,
    )


def test_a_cheaper_model_behind_the_student_is_kept_with_its_own_threshold(tmp_path: Path) -> None:
    skill, _, _, _ = _compile()
    (tier,) = skill.settings.model_tiers
    assert tier.model == "tier:haiku" and tier.prompt == "student"
    # No probabilities: its confidence is whether it says what the student said.
    assert tier.confidence.combiner is not None and tier.confidence.combiner.signals == ("student_agreement",)
    assert tier.threshold is not None and tier.expected_share is not None and tier.expected_share > 0.1
    # The student answers the plain 60%; with the tier, more is answered before the teacher.
    assert skill.settings.expected_student_share == pytest.approx(0.6 + tier.expected_share, abs=0.01)
    # The chosen confidence's ladders (the alternatives priced are labelled with theirs).
    ladders = {tuple(o.tiers): o for o in skill.manifest.metrics.ladders if o.confidence is None}
    assert ladders[("student", "tier:haiku")].chosen and not ladders[("student",)].chosen
    assert ladders[("student", "tier:haiku")].cost_per_1k < ladders[("student",)].cost_per_1k
    assert skill.manifest.provenance.options.model_tiers == ("tier:haiku",)
    # The tiers are part of the committed skill, and it round-trips byte for byte.
    path = skill.save(tmp_path / "s")
    again = load_skill(path, strict=True)
    assert again.settings.model_tiers == skill.settings.model_tiers
    again.save(tmp_path / "again")
    assert (tmp_path / "again" / "skill.yaml").read_bytes() == (path / "skill.yaml").read_bytes()


def test_at_run_time_the_tier_answers_what_it_is_sure_of_and_the_teacher_the_rest() -> None:
    skill, student, haiku, teacher = _compile()
    ledger = Ledger(None)
    runner = Runner(skill, student=student, teacher=teacher, ledger=ledger, tiers={"tier:haiku": haiku})
    plain = asyncio.run(runner.arun({"text": "great item 1000"}))
    assert plain.tier == "student"
    # The student is unsure but right: the tier agrees with it and answers.
    backed = asyncio.run(runner.arun({"text": "fine item 1003"}))
    assert backed.tier == "tier:haiku" and backed.answered_by == "tier:haiku" and not backed.escalated
    assert backed.output == {"sentiment": "positive"} and backed.signals["student_agreement"] == 1.0
    # The student is unsure and wrong; the tier disagrees with it, so the teacher answers (as it does
    # where the tier is the one that is wrong, see ``_haiku_fn``).
    contested = asyncio.run(runner.arun({"text": "poor item 1002"}))
    assert contested.tier == "teacher" and contested.output == {"sentiment": "negative"} and contested.escalated
    assert [a.role for a in contested.attempts] == ["student", "tier", "teacher"]
    assert [e.role for e in ledger.entries] == ["student", "student", "tier", "student", "tier", "teacher"]
    tally = Tally()
    for e in ledger.entries:
        tally.add(e, datetime.now(UTC), Price(input_per_mtok=4.0, output_per_mtok=20.0))
    assert tally.inputs == 3 and tally.answered == 2 and tally.by_tiers == 1 and tally.teacher_asks == 1


def test_the_skill_runs_its_tiers_with_the_models_it_was_compiled_with() -> None:
    skill, _, haiku, _ = _compile()
    result = skill.run({"text": "fine item 1003"}, ledger=Ledger(None))
    assert result.tier == "tier:haiku" and haiku.requests[-1].input == {"text": "fine item 1003"}


def test_a_tier_no_better_than_the_student_is_not_kept_and_never_called() -> None:
    echo = FunctionModel(_student_fn, model_id="tier:haiku", price_per_token=1e-7)
    echo.supports_choice_scores = True
    skill, _, _, _ = _compile(tier_models={"tier:haiku": echo})
    assert skill.settings.model_tiers == []
    # The chosen confidence's ladders (the alternatives priced are labelled with theirs).
    ladders = {tuple(o.tiers): o for o in skill.manifest.metrics.ladders if o.confidence is None}
    assert ladders[("student",)].chosen and ("student", "tier:haiku") in ladders
    calls = len(echo.requests)
    assert skill.run({"text": "poor item 1002"}, ledger=Ledger(None)).tier == "teacher"
    assert len(echo.requests) == calls


def test_a_failing_tier_passes_the_input_on_to_the_teacher() -> None:
    skill, student, _, teacher = _compile()

    def down(request: ModelRequest) -> ModelResponse:
        raise ModelAPIError("overloaded", model_id="tier:down", status=529)

    ledger = Ledger(None)
    result = asyncio.run(
        Runner(
            skill,
            student=student,
            teacher=teacher,
            ledger=ledger,
            tiers={"tier:haiku": FunctionModel(down, model_id="tier:down")},
        ).arun({"text": "fine item 1003"})
    )
    assert result.tier == "teacher" and [a.verdict for a in result.attempts][1] == "error"


def test_a_tier_answer_without_the_confidence_its_threshold_needs_is_passed_on() -> None:
    skill, student, haiku, teacher = _compile()
    tier = skill.settings.model_tiers[0]
    # Hand-edited to read the value-token probability, which this model does not give.
    skill.settings.model_tiers[0] = tier.model_copy(
        update={"confidence": tier.confidence.model_copy(update={"method": "logprob", "combiner": None})}
    )
    result = asyncio.run(
        Runner(skill, student=student, teacher=teacher, ledger=Ledger(None), tiers={"tier:haiku": haiku}).arun(
            {"text": "fine item 1003"}
        )
    )
    assert result.tier == "teacher" and result.attempts[1].verdict == "low_confidence"


def test_tier_models_are_named_once_and_only_for_configured_tiers() -> None:
    with pytest.raises(SpecError, match="model_tiers names a model twice"):
        _compile(OPTIONS.model_copy(update={"model_tiers": ("tier:haiku", "tier:haiku")}))
    with pytest.raises(SpecError, match=r"not in options\.model_tiers"):
        _compile(OPTIONS.model_copy(update={"model_tiers": ()}))
    skill, student, haiku, teacher = _compile()
    with pytest.raises(SpecError, match="not tiers of this skill: \\['tier:other'\\]"):
        Runner(skill, student=student, teacher=teacher, ledger=Ledger(None), tiers={"tier:other": haiku})


def test_a_tier_with_no_threshold_is_skipped() -> None:
    skill, student, haiku, teacher = _compile()
    skill.settings.model_tiers[0] = ModelTier(model="tier:haiku")
    calls = len(haiku.requests)
    result = asyncio.run(
        Runner(skill, student=student, teacher=teacher, ledger=Ledger(None), tiers={"tier:haiku": haiku}).arun(
            {"text": "fine item 1003"}
        )
    )
    assert result.tier == "teacher" and len(haiku.requests) == calls


def test_eval_runs_the_tiers_on_what_the_student_passes_on_and_prices_them() -> None:
    skill, student, haiku, _ = _compile()
    result = evaluate_skill(
        skill, _examples(80, start=1000), student=student, teacher="gold", tiers={"tier:haiku": haiku}
    )
    shares = result.tier_shares()
    assert list(shares) == ["student", "tier:haiku", "teacher"] and shares["tier:haiku"] > 0.1
    assert result.accepted_accuracy == 1.0 and result.final_accuracy == 1.0
    tiered = [c for c in result.cases if c.tier == "tier:haiku"]
    assert all((c.tier_cost or 0.0) > 0 for c in tiered)
    costs = result.costs_per_1k()
    assert costs["mix"] is not None and costs["student_only"] == 0.0 and costs["mix"] > 0


def test_the_compile_report_names_the_tier_its_confidence_and_the_ladders() -> None:
    skill, *_ = _compile()
    console = Console(record=True, width=240)
    print_compile_report(console, skill, Ledger(None))
    text = console.export_text()
    assert "model tier tier:haiku behind the student: confidence combined (student_agreement), threshold" in text
    assert "ladder student > tier:haiku > teacher" in text and "ladder student > teacher" in text
