"""Cheap calibrated confidence and the classifier tier: signals, the cross-fitted combiner, the ladder
of tiers, and what a skill with a classifier does at run time."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from skillforge import CompileOptions, Example, Ledger, SkillIntegrityError, compile_skill, load_skill
from skillforge.compile import SearchConfig
from skillforge.compile.classifier_tier import LadderCosts, train_classifier
from skillforge.compile.confidence_fit import choose_confidence, cross_fitted, fit_combiner
from skillforge.compile.ladder import plan_tiers
from skillforge.compile.measure import CaseResult
from skillforge.format import ClassifierWeights, Combiner, ConfidenceSettings
from skillforge.models.base import Message, ModelRequest, ModelResponse
from skillforge.regress import CassetteModel
from skillforge.run.classifier import TextClassifier
from skillforge.run.signals import History, combine, confidence, signals_of
from skillforge.testing import FunctionModel, QueuedModel, skill_input

from helpers import SENTIMENT_OUT, sentiment_spec


def _response(text: str, *, logprob: float | None = None, choices: dict[str, dict[str, float]] | None = None
              ) -> ModelResponse:
    return ModelResponse(model_id="test:m", text=text, logprob_sum=logprob, choices=choices)


def test_signals_read_the_class_distribution_the_margin_and_the_classifier() -> None:
    weights = ClassifierWeights(field="sentiment", classes=["positive", "negative"], bias=[0.0, 0.0],
                                weights={"w:good": [2.0, -2.0]})
    out = {"sentiment": "positive"}
    dist = {"sentiment": {'"positive"': 0.8, '"negative"': 0.2}}
    signals = signals_of(_response(json.dumps(out), logprob=-0.5, choices=dist), out, input={"text": "good"},
                         history=History(reasks=1), classification=TextClassifier(weights).classify({"text": "good"}))
    assert signals["class_prob"] == pytest.approx(0.8)
    assert signals["class_margin"] == pytest.approx(0.6)
    assert signals["value_prob"] == pytest.approx(0.6065, abs=1e-4)
    assert signals["reasked"] == 1.0
    assert signals["classifier_prob"] > 0.9


def test_the_confidence_method_picks_its_signal() -> None:
    signals = {"value_prob": 0.3, "class_prob": 0.9}
    assert confidence(ConfidenceSettings(method="logprob"), signals) == 0.3
    assert confidence(ConfidenceSettings(method="distribution"), signals) == 0.9
    assert confidence(ConfidenceSettings(method="distribution"), {"value_prob": 0.3}) == 0.3  # falls back
    combiner = Combiner(signals=("class_prob",), mean=(0.0,), scale=(1.0,), weights=(1.0,), bias=0.0)
    assert confidence(ConfidenceSettings(method="combined", combiner=combiner), signals) == combine(combiner, signals)
    assert combine(combiner, {}) == pytest.approx(0.5)  # a missing signal counts as its mean


def _cases(n: int, seed: int = 0) -> list[CaseResult]:
    """Right answers have a high class probability; the value probability is noise."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        correct = i % 4 != 0
        p = rng.uniform(0.85, 1.0) if correct else rng.uniform(0.4, 0.9)
        out.append(CaseResult({"sentiment": "positive"}, float(correct), correct, None,
                              {"class_prob": p, "value_prob": rng.random(), "reasked": 0.0}))
    return out


def test_the_most_informative_signal_wins_and_is_recorded_with_its_auroc() -> None:
    cases = _cases(200)
    choice = choose_confidence(cases, ConfidenceSettings(), target_precision=0.95, confidence_level=0.95, seed=0)
    assert choice.settings.method in ("distribution", "combined")
    assert choice.auroc["class_prob"] > 0.8 > choice.auroc["value_prob"]
    assert len(choice.scores) == len(cases)


def test_combined_scores_are_cross_fitted() -> None:
    cases = _cases(100)
    scores = cross_fitted(cases, ["class_prob", "value_prob"], seed=0)
    assert all(s is not None for s in scores)
    # A combiner fitted on every case would score them differently from one that never saw each case.
    full = fit_combiner(cases, ["class_prob", "value_prob"])
    assert any(abs(combine(full, c.signals) - s) > 1e-6 for c, s in zip(cases, scores, strict=True) if s is not None)


def test_self_consistency_gives_way_to_a_free_signal_that_does_as_well() -> None:
    base = ConfidenceSettings(method="self_consistency", samples=3)
    # Here the samples' agreement (value_prob) is noise and the class probability is informative.
    choice = choose_confidence(_cases(200), base, target_precision=0.95, confidence_level=0.95, seed=0)
    assert choice.settings.method == "combined" and choice.settings.combiner is not None
    assert "value_prob" not in choice.settings.combiner.signals  # agreement needs the paid samples


def test_self_consistency_is_kept_when_it_is_the_better_signal() -> None:
    base = ConfidenceSettings(method="self_consistency", samples=3)
    cases = _cases(200)
    for i, c in enumerate(cases):  # agreement tracks correctness; the free signals say nothing
        c.signals = {"value_prob": 0.99 if c.correct else 0.4, "class_prob": 0.5 + 0.01 * (i % 3)}
        c.confidence = c.signals["value_prob"]
    choice = choose_confidence(cases, base, target_precision=0.95, confidence_level=0.95, seed=0)
    assert choice.settings == base and choice.auroc["self_consistency"] == 1.0


def _keyword_examples(n: int) -> list[Example]:
    return [Example(input={"text": f"{'great' if i % 2 else 'awful'} item {i}"},
                    expected={"sentiment": "positive" if i % 2 else "negative"}) for i in range(n)]


def test_the_classifier_learns_from_labels_and_its_weights_are_plain_numbers() -> None:
    fit = train_classifier(SENTIMENT_OUT, _keyword_examples(60), _keyword_examples(10)[:0], target_precision=0.9,
                           confidence_level=0.95, seed=0)
    assert fit is not None and fit.calibration is not None
    clf = TextClassifier(fit.weights)
    assert clf.predict({"text": "great stuff"})[0] == "positive"
    assert clf.predict({"text": "awful stuff"})[0] == "negative"
    again = ClassifierWeights.model_validate_json(fit.weights.to_text())
    assert again.to_text() == fit.weights.to_text()


def test_no_classifier_for_outputs_that_are_not_one_enum() -> None:
    schema = {"type": "object", "properties": {"a": {"enum": ["x", "y"]}, "b": {"type": "string"}}}
    assert train_classifier(schema, _keyword_examples(60), [], target_precision=0.9, confidence_level=0.95,
                            seed=0) is None


def test_the_cheaper_ladder_is_kept_and_the_student_is_calibrated_behind_the_classifier() -> None:
    train = _keyword_examples(80)
    fit = train_classifier(SENTIMENT_OUT, train, [], target_precision=0.9, confidence_level=0.95, seed=0)
    assert fit is not None
    inputs = [e.input for e in train]
    cases = [CaseResult(e.expected, 1.0, True, 0.99, {"value_prob": 0.99}) for e in train]
    choice = choose_confidence(cases, ConfidenceSettings(), target_precision=0.9, confidence_level=0.95, seed=0)
    plan = plan_tiers(cases, inputs, choice, fit, LadderCosts(student=0.001, teacher=0.05), target_precision=0.9,
                      confidence_level=0.95)
    # Every ladder is priced: the student alone, the classifier alone, the teacher (and the classifier in
    # front of the student when some inputs get past it).
    tiers = [ladder.tiers for ladder in plan.ladders]
    assert tiers[0] == ["student"] and ["classifier"] in tiers and tiers[-1] == []
    chosen = [ladder for ladder in plan.ladders if ladder.chosen]
    assert len(chosen) == 1 and chosen[0].cost_per_1k is not None
    assert plan.tier is not None and chosen[0].tiers[0] == "classifier" and plan.classifier is not None
    # The classifier saved student calls at the same precision.
    assert plan.ladders[0].cost_per_1k is not None and chosen[0].cost_per_1k < plan.ladders[0].cost_per_1k


def test_a_combiner_that_reads_the_classifier_keeps_it_in_the_skill_without_a_tier() -> None:
    # The student alone is cheaper here (the classifier tier is priced out), but the combined confidence
    # reads classifier_prob: without the weights at run time that signal would sit at its mean and the
    # calibrated threshold would not hold out of sample.
    train = _keyword_examples(80)
    fit = train_classifier(SENTIMENT_OUT, train, [], target_precision=0.9, confidence_level=0.95, seed=0)
    assert fit is not None
    inputs = [e.input for e in train]
    cases = [CaseResult(e.expected, 1.0, True, 0.99, {"value_prob": 0.99, "classifier_prob": 0.9}) for e in train]
    combiner = Combiner(signals=("value_prob", "classifier_prob"), mean=(0.5, 0.5), scale=(1.0, 1.0),
                        weights=(1.0, 1.0), bias=0.0)
    reads = choose_confidence(cases, ConfidenceSettings(), target_precision=0.9, confidence_level=0.95, seed=0)
    reads = type(reads)(ConfidenceSettings(method="combined", combiner=combiner), reads.scores, reads.auroc)
    free = LadderCosts(student=0.0, teacher=0.05)  # a free student: no tier in front of it can be cheaper
    plan = plan_tiers(cases, inputs, reads, fit, free, target_precision=0.9, confidence_level=0.95)
    assert plan.tier is None and plan.classifier == fit.weights
    without = type(reads)(ConfidenceSettings(), reads.scores, reads.auroc)
    assert plan_tiers(cases, inputs, without, fit, free, target_precision=0.9, confidence_level=0.95).classifier is None


def _oracle(request: ModelRequest) -> str | dict[str, Any]:
    if request.output_schema is None:
        return "1. Say positive for great things.\n2. Say negative for awful ones."
    text = skill_input(request)["text"]
    return {"sentiment": "positive" if "great" in text else "negative"}


def test_a_compiled_classifier_tier_answers_without_a_model_call(tmp_path: Path) -> None:
    model = FunctionModel(_oracle, price_per_token=1e-6)  # priced like a remote model: words only, no local embedder
    skill = compile_skill(
        sentiment_spec(),
        _keyword_examples(120),
        CompileOptions(target_precision=0.9, classifier_embeddings=None, search=SearchConfig(ks=(2,), refine_rounds=0)),
        teacher=model,
        student=model,
    )
    assert [t.kind for t in skill.settings.tiers] == ["classifier"]
    assert skill.classifier is not None and any(ladder.chosen for ladder in skill.manifest.metrics.ladders)
    path = skill.save(tmp_path / "s")
    assert (path / "classifier.json").is_file()
    loaded = load_skill(path, strict=True)
    loaded.save(tmp_path / "again")
    assert (tmp_path / "again" / "classifier.json").read_bytes() == (path / "classifier.json").read_bytes()
    silent = QueuedModel([])  # raises on any call
    ledger = Ledger(None)
    result = loaded.run({"text": "great value, works"}, student=silent, teacher=silent, ledger=ledger)
    assert result.tier == "classifier" and result.output == {"sentiment": "positive"} and not silent.requests
    assert ledger.entries[-1].model_id == "skillforge:classifier" and ledger.entries[-1].outcome == "accepted"


def test_an_edited_classifier_is_an_integrity_problem(tmp_path: Path) -> None:
    model = FunctionModel(_oracle)
    skill = compile_skill(
        sentiment_spec(),
        _keyword_examples(120),
        CompileOptions(target_precision=0.9, search=SearchConfig(ks=(2,), refine_rounds=0)),
        teacher=model,
        student=model,
    )
    path = skill.save(tmp_path / "s")
    data = json.loads((path / "classifier.json").read_text())
    data["bias"][0] += 1.0
    (path / "classifier.json").write_text(json.dumps(data))
    with pytest.raises(SkillIntegrityError):
        load_skill(path, strict=True)


def _with_choices(request: ModelRequest) -> ModelResponse:
    answer = _oracle(request)
    assert isinstance(answer, dict)
    text = skill_input(request)["text"]
    sure = 0.99 if "item" in text else 0.6
    dist = {'"positive"': sure, '"negative"': 1 - sure}
    if answer["sentiment"] == "negative":
        dist = {'"positive"': 1 - sure, '"negative"': sure}
    return ModelResponse(
        model_id="test:scored",
        text=json.dumps(answer),
        logprob_sum=-0.01,
        choices={"sentiment": dist} if request.choice_scores else None,
    )


def test_class_probabilities_are_recorded_and_replayed(tmp_path: Path) -> None:
    inner = FunctionModel(_with_choices, model_id="test:scored")
    inner.supports_choice_scores = True
    recorder = CassetteModel(inner, tmp_path / "cassettes", "record")
    request = ModelRequest(
        system="s",
        messages=(Message(role="user", content='{"text": "great item"}'),),
        output_schema=SENTIMENT_OUT,
        choice_scores=True,
    )
    recorded = recorder.request_sync(request)
    recorder.save()
    replayed = CassetteModel(None, tmp_path / "cassettes", "replay", model_id="test:scored").request_sync(request)
    assert recorded.choices == replayed.choices and replayed.choices is not None
    plain = request.model_copy(update={"choice_scores": False})
    assert plain.cache_key("m") != request.cache_key("m")
    assert "choice_scores" not in json.dumps(plain.model_dump(exclude={"choice_scores"}))
