"""A second opinion as a confidence signal: measured at compile time, kept only where it lets the
student answer more at the target precision, consulted alongside the student at run time, accounted
for in the ledger but never an answer."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from skillforge import CompileOptions, Example, Ledger, compile_skill, load_skill
from skillforge.cli import print_compile_report
from skillforge.compile import SearchConfig
from skillforge.compile.confidence_fit import choose_confidence, cross_fitted
from skillforge.compile.measure import CaseResult
from skillforge.errors import ModelAPIError
from skillforge.format import ConfidenceSettings, SecondOpinion
from skillforge.models.base import ModelRequest, ModelResponse
from skillforge.models.pricing import Price
from skillforge.models.registry import register_provider
from skillforge.observe.tally import Tally
from skillforge.run.second_opinion import second_signals
from skillforge.stats import choose_threshold
from skillforge.testing import FunctionModel, skill_input

from helpers import SENTIMENT_OUT, sentiment_spec

OPTIONS = CompileOptions(
    target_precision=0.9,
    search=SearchConfig(
        ks=(2,), refine_rounds=0, retrieval=False, draws=1, classifier_tier=False, calibration_extra=60
    ),
)


def _examples(n: int) -> list[Example]:
    """Every fifth input is "tricky": negative, though it reads like a positive one to the student."""
    out = []
    for i in range(n):
        tricky = i % 5 == 0
        good = i % 2 == 1 and not tricky
        word = "great but tricky" if tricky else ("great" if good else "awful")
        label = "positive" if good else "negative"
        out.append(Example(input={"text": f"{word} item {i}"}, expected={"sentiment": label}))
    return out


def _answer(label: str, sure: float, request: ModelRequest, model_id: str) -> ModelResponse:
    other = "negative" if label == "positive" else "positive"
    dist = {json.dumps(label): sure, json.dumps(other): 1 - sure}
    return ModelResponse(
        model_id=model_id,
        text=json.dumps({"sentiment": label}),
        logprob_sum=-0.05,
        choices={"sentiment": dist} if request.choice_scores else None,
    )


def _student_fn(request: ModelRequest) -> ModelResponse | str:
    """Wrong on every tricky input, and just as sure of itself as anywhere else."""
    if request.output_schema is None:
        return "Say positive for great things, negative for awful ones."
    text = skill_input(request)["text"]
    return _answer("positive" if "great" in text else "negative", 0.95, request, "test:student")


def _honest_fn(request: ModelRequest) -> ModelResponse:
    """Right everywhere; unsure on the tricky inputs."""
    text = skill_input(request)["text"]
    label = "negative" if "tricky" in text or "awful" in text else "positive"
    return _answer(label, 0.7 if "tricky" in text else 0.95, request, "second:honest")


def _scored(fn: Any, model_id: str) -> FunctionModel:
    model = FunctionModel(fn, model_id=model_id)
    model.supports_choice_scores = True
    return model


@pytest.fixture()
def honest() -> FunctionModel:
    model = _scored(_honest_fn, "second:honest")
    register_provider("second", lambda name: model)
    return model


def test_signals_say_how_much_the_second_opinion_backs_the_answer() -> None:
    request = ModelRequest(system="s", messages=(), output_schema=SENTIMENT_OUT, choice_scores=True)
    opinion = _answer("negative", 0.8, request, "m")
    signals = second_signals(opinion, {"sentiment": "positive"}, output_schema=SENTIMENT_OUT, comparators={})
    assert signals == {"second_agreement": 0.0, "second_prob": pytest.approx(0.2)}
    backed = second_signals(opinion, {"sentiment": "negative"}, output_schema=SENTIMENT_OUT, comparators={})
    assert backed == {"second_agreement": 1.0, "second_prob": pytest.approx(0.8)}
    invalid = ModelResponse(model_id="m", text="not json")
    assert second_signals(invalid, {"sentiment": "negative"}, output_schema=SENTIMENT_OUT, comparators={}) == {}
    assert second_signals(None, {"sentiment": "negative"}, output_schema=SENTIMENT_OUT, comparators={}) == {}


def test_a_second_opinion_that_tells_right_from_wrong_is_kept_and_lets_the_student_answer(
    honest: FunctionModel, tmp_path: Path
) -> None:
    student = _scored(_student_fn, "test:student")
    alone = compile_skill(sentiment_spec(), _examples(150), OPTIONS, teacher=student, student=student)
    assert alone.settings.confidence.second_opinion is None
    helped = compile_skill(
        sentiment_spec(),
        _examples(150),
        OPTIONS.model_copy(update={"second_opinion": "second:x"}),
        teacher=student,
        student=student,
    )
    second = helped.settings.confidence.second_opinion
    assert second is not None and second.model == "second:x"
    combiner = helped.settings.confidence.combiner
    assert combiner is not None and {"second_prob", "second_agreement"} & set(combiner.signals)
    assert helped.settings.expected_student_share > alone.settings.expected_student_share + 0.5
    assert "combined with second opinion" in helped.manifest.metrics.signal_auroc
    # Round trip: the second opinion is part of the committed skill.
    path = helped.save(tmp_path / "s")
    again = load_skill(path, strict=True)
    assert again.settings.confidence.second_opinion == second
    again.save(tmp_path / "again")
    assert (tmp_path / "again" / "skill.yaml").read_bytes() == (path / "skill.yaml").read_bytes()


def test_at_run_time_the_second_opinion_gates_the_student_and_is_accounted_for(honest: FunctionModel) -> None:
    student = _scored(_student_fn, "test:student")
    skill = compile_skill(
        sentiment_spec(),
        _examples(150),
        OPTIONS.model_copy(update={"second_opinion": "second:x"}),
        teacher=student,
        student=student,
    )
    teacher = FunctionModel(lambda r: {"sentiment": "negative"}, model_id="test:teacher")
    ledger = Ledger(None)
    plain = skill.run({"text": "great item 7"}, student=student, teacher=teacher, ledger=ledger)
    assert plain.tier == "student" and plain.output == {"sentiment": "positive"}
    assert plain.attempts[0].role == "second_opinion" and plain.signals["second_agreement"] == 1.0
    tricky = skill.run({"text": "great but tricky item 9"}, student=student, teacher=teacher, ledger=ledger)
    assert tricky.tier == "teacher" and tricky.output == {"sentiment": "negative"}
    assert tricky.signals["second_agreement"] == 0.0
    # The second opinion is zero-shot, in its own prompt, and never answers.
    assert honest.requests[-1].messages[-1].content == "great but tricky item 9"
    roles = [e.role for e in ledger.entries]
    assert roles == ["second_opinion", "student", "second_opinion", "student", "teacher"]
    tally, price = Tally(), Price(input_per_mtok=1.0, output_per_mtok=1.0)
    for e in ledger.entries:
        tally.add(e, datetime.now(UTC), price)
    assert tally.inputs == 2 and tally.student_accepted == 1


def test_a_second_opinion_that_adds_nothing_is_dropped(tmp_path: Path) -> None:
    echo = _scored(_student_fn, "second:echo")  # the student's own mistakes, as sure of them
    register_provider("echo", lambda name: echo)
    student = _scored(_student_fn, "test:student")
    skill = compile_skill(
        sentiment_spec(),
        _examples(150),
        OPTIONS.model_copy(update={"second_opinion": "echo:x"}),
        teacher=student,
        student=student,
    )
    assert skill.settings.confidence.second_opinion is None
    calls = len(echo.requests)
    skill.run({"text": "awful item 2"}, student=student, teacher=student, ledger=Ledger(None))
    assert len(echo.requests) == calls  # no second opinion is asked at run time


def test_a_failing_second_opinion_leaves_the_student_answer_to_its_own_signals(honest: FunctionModel) -> None:
    student = _scored(_student_fn, "test:student")
    skill = compile_skill(
        sentiment_spec(),
        _examples(150),
        OPTIONS.model_copy(update={"second_opinion": "second:x"}),
        teacher=student,
        student=student,
    )

    def down(request: ModelRequest) -> ModelResponse:
        raise ModelAPIError("overloaded", model_id="second:down", status=529)

    ledger = Ledger(None)
    result = skill.run(
        {"text": "awful item 4"},
        student=student,
        teacher=student,
        ledger=ledger,
        second_opinion=FunctionModel(down, model_id="second:down"),
    )
    assert "second_agreement" not in result.signals and result.output == {"sentiment": "negative"}
    assert result.attempts[0].verdict == "error" and ledger.entries[0].outcome == "error"


def test_the_student_itself_under_another_prompt_can_be_the_second_opinion() -> None:
    settings = SecondOpinion(instructions="Classify the sentiment.")
    assert settings.model is None and settings.input_format == "plain" and not settings.schema_in_prompt
    student = _scored(_student_fn, "test:student")
    ledger = Ledger(None)
    options = OPTIONS.model_copy(update={"second_opinion": "student", "renderings": ("plain",)})
    skill = compile_skill(sentiment_spec(), _examples(60), options, teacher=student, student=student, ledger=ledger)
    # Every prompt scores the same, so the plain prompt is the skill's: the second opinion must differ
    # from it, and asks with the template instructions, the input as JSON and the schema text.
    assert skill.manifest.metrics.chosen.startswith("plain")
    asked = [e for e in ledger.entries if e.role == "second_opinion"]
    scored_json = [r for r in student.requests if r.choice_scores and r.messages[-1].content.startswith("{")]
    assert asked and len(scored_json) == len(asked)
    assert all('"properties"' in r.system for r in scored_json)


def test_the_compile_report_names_the_second_opinion(honest: FunctionModel) -> None:
    student = _scored(_student_fn, "test:student")
    ledger = Ledger(None)
    skill = compile_skill(
        sentiment_spec(),
        _examples(150),
        OPTIONS.model_copy(update={"second_opinion": "second:x"}),
        teacher=student,
        student=student,
        ledger=ledger,
    )
    console = Console(record=True, width=200)
    print_compile_report(console, skill, ledger)
    text = console.export_text()
    assert "second opinion: second:x, zero-shot (plain input): one extra call per student answer" in text
    assert "second_prob" in text


def test_a_paid_signal_must_gain_more_than_the_noise_of_the_share() -> None:
    # Second-opinion signals that are pure noise; by luck their combination answers 29.0% of these
    # calibration cases at the target against 27.5% without (seeded), within one standard error (3.2%).
    rng = random.Random(44)
    cases = []
    for _ in range(200):
        correct = rng.random() < 0.85
        p = rng.uniform(0.6, 1.0) if correct else rng.uniform(0.3, 0.9)
        cases.append(
            CaseResult(
                {"sentiment": "positive"},
                float(correct),
                correct,
                None,
                {
                    "class_prob": p,
                    "class_margin": 2 * p - 1 + rng.uniform(-0.05, 0.05),
                    "reasked": 0.0,
                    "second_prob": rng.random(),
                    "second_agreement": float(rng.random() < 0.5),
                },
            )
        )
    y = [c.correct for c in cases]
    shares = {}
    for label, names in (
        ("free", ["class_prob", "class_margin"]),
        ("paid", ["class_prob", "class_margin", "second_prob", "second_agreement"]),
    ):
        shares[label] = choose_threshold(
            cross_fitted(cases, names, 0), y, target_precision=0.95, confidence_level=0.95
        ).student_share
    assert shares["free"] < shares["paid"] < shares["free"] + 0.032
    choice = choose_confidence(cases, ConfidenceSettings(), target_precision=0.95, confidence_level=0.95, seed=0)
    combiner = choice.settings.combiner
    assert combiner is None or not {"second_prob", "second_agreement"} & set(combiner.signals)
