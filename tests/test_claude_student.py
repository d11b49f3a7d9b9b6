"""A student that behaves as Claude does -- no logprobs, no class probabilities, no embeddings, no
temperature -- is compiled and run on the signals it really has, the same ones at compile and run time."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from skillforge import CompileOptions, Example, Ledger, compile_skill
from skillforge.compile import SearchConfig
from skillforge.models.base import ModelRequest, ModelResponse, Usage
from skillforge.models.pricing import REFERENCE_STUDENT, cost_usd, price_for
from skillforge.run.samples import sample_signals
from skillforge.testing import ClaudeLike, FunctionModel, skill_input

from helpers import SENTIMENT_OUT, keyword_answer, sentiment_spec

CLEAR = [f"good thing {i}" for i in range(60)] + [f"bad thing {i}" for i in range(60)]
HARD = [f"so-so thing {i}" for i in range(40)]  # labelled positive; the student is unsure of them


def examples() -> list[Example]:
    rows = [Example(input={"text": t}, expected={"sentiment": "positive" if "good" in t or "so-so" in t
                                                 else "negative"}) for t in CLEAR + HARD]
    # Interleave so that every split holds both kinds.
    return [rows[i] for i in sorted(range(len(rows)), key=lambda i: hashlib.sha256(str(i).encode()).hexdigest())]


def oracle(request: ModelRequest) -> Any:
    """Always right (so-so texts are positive)."""
    if request.output_schema is None:
        return "Decide the sentiment."
    text = skill_input(request)["text"]
    return {"sentiment": "negative" if "bad" in text else "positive"}


def unsure_student(request: ModelRequest) -> Any:
    """Sure and right on clear texts; on hard ones its first answer is wrong and its samples scatter."""
    if request.output_schema is None:
        return "Decide the sentiment."
    text = skill_input(request)["text"]
    if "so-so" not in text:
        return keyword_answer(request)
    seed = request.seed or 0
    return {"sentiment": "negative" if seed % 2 == 0 else "positive"}


def test_claude_like_strips_the_signals_and_samples_at_its_own_temperature() -> None:
    seen: list[ModelRequest] = []

    def inner(request: ModelRequest) -> Any:
        seen.append(request)
        return ModelResponse(model_id="test:inner", text='{"sentiment": "positive"}', logprob_sum=-0.1,
                             choices={"sentiment": {'"positive"': 0.9, '"negative"': 0.1}},
                             usage=Usage(input_tokens=1000, output_tokens=10))

    local = FunctionModel(inner, embed=lambda text: [1.0, 0.0])
    local.supports_choice_scores = True
    claude = ClaudeLike(local)
    assert not (claude.supports_logprobs or claude.supports_choice_scores or claude.supports_embeddings)
    assert not claude.supports_temperature and not claude.is_local
    request = ModelRequest(system="s", messages=(), output_schema=SENTIMENT_OUT, temperature=0.0, logprobs=True,
                           choice_scores=True)
    response = claude.request_sync(request)
    # The engine's probabilities never reach the caller, and were not even asked for.
    assert response.logprob_sum is None and response.choices is None
    assert seen[0].temperature == 1.0 and not seen[0].logprobs and not seen[0].choice_scores
    # Without a seed, a draw derived from the request: the same request, the same draw; set seeds are kept.
    claude.request_sync(request)
    assert seen[1].seed == seen[0].seed is not None
    claude.request_sync(request.model_copy(update={"seed": 3}))
    assert seen[2].seed == 3
    haiku = price_for(REFERENCE_STUDENT)
    assert haiku is not None and claude.cost_of(response) == pytest.approx(cost_usd(response.usage, haiku))
    with pytest.raises(NotImplementedError):
        claude.embed_sync = None  # type: ignore[attr-defined]
        import asyncio

        asyncio.run(claude.embed(["x"]))


def test_the_signals_a_model_declares_are_the_only_ones_compile_and_run_read() -> None:
    # A local engine returns logprobs whatever its flags say; a student that declares none is calibrated
    # and run without them.
    def answer(request: ModelRequest) -> Any:
        out = keyword_answer(request)
        if isinstance(out, str):
            return out
        return ModelResponse(model_id="test:s", text=f'{{"sentiment": "{out["sentiment"]}"}}', logprob_sum=-0.01)

    student = FunctionModel(answer, model_id="test:s", logprob=None)
    assert not student.supports_logprobs
    skill = compile_skill(
        sentiment_spec(),
        examples(),
        CompileOptions(search=SearchConfig(classifier_tier=False)),
        teacher=FunctionModel(keyword_answer),
        student=student,
        ledger=Ledger(None),
    )
    assert "value_prob" not in skill.manifest.metrics.signal_auroc
    assert skill.settings.confidence.method != "logprob" or not skill.settings.ask_student
    result = skill.run(
        {"text": "good thing 1"}, student=student, teacher=FunctionModel(keyword_answer), ledger=Ledger(None)
    )
    assert "value_prob" not in result.signals


def test_sample_agreement_ranks_a_student_without_probabilities_and_runs_as_compiled() -> None:
    student = FunctionModel(unsure_student, model_id="test:claude", logprob=None, price_per_token=1e-8)
    teacher = FunctionModel(oracle, model_id="test:opus", price_per_token=1e-5)
    ledger = Ledger(None)
    skill = compile_skill(
        sentiment_spec(),
        examples(),
        CompileOptions(search=SearchConfig(classifier_tier=False, ks=(2,), refine_rounds=0, retrieval=False)),
        teacher=teacher,
        student=student,
        ledger=ledger,
    )
    c = skill.settings.confidence
    assert skill.settings.ask_student and c.method == "combined" and c.combiner is not None
    assert "sample_agreement" in c.combiner.signals and c.samples == 5
    assert skill.manifest.metrics.signal_auroc["sample_agreement"] > 0.9
    # The samples were asked at compile time as evidence calls, each with its own seed.
    samples = [e for e in ledger.entries if e.role == "second_opinion"]
    assert samples and len(samples) % 4 == 0
    expected = skill.settings.expected_student_share
    assert expected is not None and 0.5 < expected < 1.0

    run_ledger = Ledger(None)
    sure = skill.run({"text": "good thing 7"}, student=student, teacher=teacher, ledger=run_ledger)
    assert sure.tier == "student" and sure.signals["sample_agreement"] == 1.0
    assert [a.role for a in sure.attempts].count("second_opinion") == 4
    unsure = skill.run({"text": "so-so thing 3"}, student=student, teacher=teacher, ledger=run_ledger)
    assert unsure.escalated and unsure.output == {"sentiment": "positive"}
    assert unsure.signals["sample_agreement"] == pytest.approx(0.5)
    # Every sample is on the bill: the student's price times five calls per asked input.
    assert sum(a.cost_usd or 0.0 for a in sure.attempts) == pytest.approx(5 * student.cost_usd(sure.attempts[0].usage))


def test_sample_signals_count_whole_answers_and_the_weakest_field() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}

    def said(text: str) -> ModelResponse:
        return ModelResponse(model_id="m", text=text)

    answer = {"a": "x", "b": "y"}
    responses = [said('{"a": "x", "b": "y"}'), said('{"a": "x", "b": "z"}'), said("not json"), None]
    signals = sample_signals(responses, answer, output_schema=schema, comparators={})
    assert signals["sample_agreement"] == pytest.approx(1 / 4)
    assert signals["sample_field_agreement"] == pytest.approx(1 / 4)  # b: one of four agrees; a: two of four
    assert sample_signals([], answer, output_schema=schema, comparators={}) == {}
