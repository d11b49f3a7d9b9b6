"""The classifier tier reading input embeddings: what the words miss, stored as plain numbers, embedded
once per input at run time, and refused without a model that gives embeddings."""

from __future__ import annotations

import asyncio
import random
import string
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from rich.console import Console

from skillforge import CompileOptions, ConfigurationError, Example, Ledger, SpecError, compile_skill, load_skill
from skillforge.cli.compile_report import print_compile_report
from skillforge.compile import SearchConfig
from skillforge.compile.classifier_tier import embed_inputs, train_classifier
from skillforge.format import ClassifierWeights, EmbeddingWeights
from skillforge.models.base import ModelRequest
from skillforge.run.classifier import TextClassifier
from skillforge.testing import FunctionModel, QueuedModel, skill_input

from helpers import SENTIMENT_OUT, sentiment_spec

_rng = random.Random(7)
#: Opaque texts (random letters: the words and character 4-grams of one say nothing about another) and
#: their hidden labels, which only the embedding knows.
TEXTS = {"".join(_rng.choices(string.ascii_lowercase, k=10)): ("positive" if i % 2 else "negative")
         for i in range(160)}


def _embed(text: str) -> list[float]:
    label = TEXTS.get(text)
    noise = random.Random(text).gauss(0.0, 0.3)
    if label is None:  # unknown to the hidden rule: halfway
        return [0.0, 0.0, noise]
    return [1.0, -1.0, noise] if label == "positive" else [-1.0, 1.0, noise]


def _examples(texts: list[str]) -> list[Example]:
    return [Example(input={"text": t}, expected={"sentiment": TEXTS[t]}) for t in texts]


def _split() -> tuple[list[Example], list[Example]]:
    texts = list(TEXTS)
    return _examples(texts[:100]), _examples(texts[100:])


def _embeddings(examples: list[Example]) -> Any:
    model = FunctionModel(lambda r: "", model_id="test:embedder", embed=_embed)
    return asyncio.run(embed_inputs(model, [e.input for e in examples]))


def _accuracy(weights: ClassifierWeights, examples: list[Example]) -> float:
    clf = TextClassifier(weights)
    right = [clf.predict(e.input, _embed(e.input["text"]) if weights.embedding else None)[0] ==
             (e.expected or {})["sentiment"] for e in examples]
    return sum(right) / len(right)


def test_the_classifier_reads_what_the_embedding_knows_and_the_words_miss() -> None:
    train, held_out = _split()
    words = train_classifier(SENTIMENT_OUT, train, [], target_precision=0.9, confidence_level=0.95, seed=0)
    both = train_classifier(SENTIMENT_OUT, train, [], target_precision=0.9, confidence_level=0.95, seed=0,
                            embeddings=_embeddings(train))
    assert words is not None and both is not None
    assert words.weights.embedding is None and _accuracy(words.weights, held_out) < 0.7
    assert both.weights.embedding is not None and both.weights.embedding.model == "test:embedder"
    assert _accuracy(both.weights, held_out) >= 0.95
    # Its threshold is certified on cross-fitted predictions, which the embedding makes sure.
    assert both.calibration is not None and both.calibration.threshold is not None


def test_embedding_weights_are_plain_numbers_that_read_back_exactly() -> None:
    train, _ = _split()
    fit = train_classifier(SENTIMENT_OUT, train, [], target_precision=0.9, confidence_level=0.95, seed=0,
                           embeddings=_embeddings(train))
    assert fit is not None
    text = fit.weights.to_text()
    again = ClassifierWeights.model_validate_json(text)
    assert again.to_text() == text and '"embedding": {' in text and "e+" not in text.split('"embedding"')[0]


def test_embedding_weights_name_what_does_not_fit() -> None:
    good = {"model": "local:m", "center": [0.0, 0.0], "scale": [1.0, 1.0], "weights": [[1.0, -1.0], [0.0, 0.0]]}
    EmbeddingWeights.model_validate(good)
    with pytest.raises(ValidationError, match="one entry per dimension"):
        EmbeddingWeights.model_validate({**good, "scale": [1.0]})
    with pytest.raises(ValidationError, match="positive"):
        EmbeddingWeights.model_validate({**good, "scale": [1.0, 0.0]})
    with pytest.raises(ValidationError, match="one number per class"):
        ClassifierWeights(field="sentiment", classes=["positive", "negative"], bias=[0.0, 0.0],
                          embedding=EmbeddingWeights.model_validate({**good, "weights": [[1.0], [0.0]]}))


def test_a_classifier_that_reads_embeddings_is_given_one_of_the_right_length() -> None:
    clf = TextClassifier(ClassifierWeights(
        field="sentiment", classes=["positive", "negative"], bias=[0.0, 0.0],
        embedding=EmbeddingWeights(model="local:m", center=[0.0, 0.0], scale=[1.0, 1.0],
                                   weights=[[4.0, -4.0], [0.0, 0.0]])))
    with pytest.raises(ValueError, match="local:m"):
        clf.predict({"text": "x"})
    with pytest.raises(ValueError, match=r"3 numbers.*fitted on 2"):
        clf.predict({"text": "x"}, [1.0, 0.0, 0.0])
    label, p = clf.predict({"text": "x"}, [2.0, 0.0])
    assert label == "positive" and p > 0.9


def _student(request: ModelRequest) -> str | dict[str, Any]:
    if request.output_schema is None:
        return "Say positive or negative."
    return {"sentiment": TEXTS.get(skill_input(request)["text"], "negative")}


def _compile(student: FunctionModel, **options: Any) -> Any:
    train, _ = _split()
    return compile_skill(
        sentiment_spec(),
        train,
        CompileOptions(target_precision=0.9, **options, search=SearchConfig(ks=(2,), refine_rounds=0, retrieval=False)),
        teacher=FunctionModel(_student),
        student=student,
    )


def test_a_compiled_skill_embeds_each_input_once_and_its_classifier_answers(tmp_path: Path) -> None:
    student = FunctionModel(_student, model_id="test:embedding-student", embed=_embed)
    skill = _compile(student)
    assert skill.classifier is not None and skill.classifier.embedding is not None
    assert skill.classifier.embedding.model == "test:embedding-student"
    assert [t.kind for t in skill.settings.tiers] == ["classifier"]
    console = Console(record=True, width=200)
    print_compile_report(console, skill, Ledger(None))
    assert "reads words and the input's embedding by test:embedding-student" in console.export_text()
    path = skill.save(tmp_path / "s")
    loaded = load_skill(path, strict=True)
    loaded.save(tmp_path / "again")
    assert (tmp_path / "again" / "classifier.json").read_bytes() == (path / "classifier.json").read_bytes()

    _, held_out = _split()
    text = held_out[0].input["text"]
    ledger, asked = Ledger(None), len(student.requests)
    result = loaded.run({"text": text}, student=student, teacher=QueuedModel([]), ledger=ledger)
    assert result.tier == "classifier" and result.output == held_out[0].expected
    assert len(student.requests) == asked and student.embedded.count(text) == 1
    # An input the embedding cannot place goes on to the student; it is embedded once all the same
    # (the tier and the student's classifier_prob signal share the view).
    result = loaded.run({"text": "unknown words"}, student=student, teacher=FunctionModel(_student), ledger=ledger)
    assert result.tier != "classifier" and student.embedded.count("unknown words") == 1


def test_a_skill_whose_classifier_reads_embeddings_refuses_a_model_without_them(tmp_path: Path) -> None:
    student = FunctionModel(_student, model_id="test:embedding-student", embed=_embed)
    loaded = load_skill(_compile(student).save(tmp_path / "s"))
    with pytest.raises(ConfigurationError, match=r"reads input embeddings by test:embedding-student.*gives none"):
        loaded.run({"text": "x"}, student=student, teacher=QueuedModel([]), embedder=QueuedModel([]))


def test_the_compile_option_decides_what_the_classifier_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    embedding = FunctionModel(_student, model_id="test:embedding-student", embed=_embed)
    words_only = _compile(embedding, classifier_embeddings=None)
    assert words_only.classifier is None or words_only.classifier.embedding is None
    assert not embedding.embedded
    plain = _compile(FunctionModel(_student))  # a student without embeddings: words only, no error
    assert plain.classifier is None or plain.classifier.embedding is None
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-never-sent")
    never = QueuedModel([])
    with pytest.raises(SpecError, match=r"classifier_embeddings.*gives no embeddings") as err:
        train, _ = _split()
        compile_skill(
            sentiment_spec(),
            train,
            CompileOptions(classifier_embeddings="anthropic:claude-haiku-5-5"),
            teacher=never,
            student=never,
        )
    assert err.value.field == "classifier_embeddings" and not never.requests


def test_a_model_without_embeddings_says_so() -> None:
    model = QueuedModel([])
    assert not model.supports_embeddings
    with pytest.raises(NotImplementedError, match="test:queued gives no embeddings"):
        asyncio.run(model.embed(["x"]))


def test_training_on_inputs_that_were_not_embedded_names_the_gap() -> None:
    train, held_out = _split()
    with pytest.raises(ValueError, match="100 of 100 inputs have no embedding by test:embedder"):
        train_classifier(
            SENTIMENT_OUT,
            train,
            [],
            target_precision=0.9,
            confidence_level=0.95,
            seed=0,
            embeddings=_embeddings(held_out),
        )
