"""compile_skill: candidates measured on dev with the student, the best kept, the threshold calibrated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skillforge import CompileOptions, Example, Ledger, SpecError, compile_skill
from skillforge.compile import SearchConfig, split_dev
from skillforge.models.base import ModelRequest, ModelResponse, Usage
from skillforge.stats import choose_threshold
from skillforge.testing import FunctionModel, skill_input

from helpers import keyword_answer, keyword_model, sentiment_examples, sentiment_spec


def demo_hungry_student(request: ModelRequest) -> Any:
    """Right only when it has seen at least 4 demos; wrong (always 'negative') otherwise."""
    if request.output_schema is None:
        return "Decide the sentiment."
    if request.static_messages >= 8:
        return keyword_answer(request)
    return {"sentiment": "negative"}


def test_the_best_candidate_on_dev_wins_and_zero_shot_is_the_baseline() -> None:
    student = FunctionModel(demo_hungry_student, model_id="test:student")
    skill = compile_skill(sentiment_spec(), sentiment_examples(30), teacher=keyword_model(), student=student,
                          options=CompileOptions(search=SearchConfig(ks=[2, 4])))
    m = skill.manifest.metrics
    scores = {c.name: c.dev_score for c in m.candidates}
    assert m.baseline == "plain+0/plain" and scores["plain+0/plain"] == m.zero_shot_dev_score < 1.0
    # Demo rounds use the best zero-shot rendering (all tie: the plain one) with the two best texts.
    assert scores["plain+4/plain"] == scores["template+4/plain"] == 1.0
    assert m.chosen == "plain+4/plain" and m.dev_score == 1.0
    assert skill.settings.demo_strategy == "fixed" and skill.settings.k == 4 == len(skill.demos)
    # Balanced demos, in rounds of one per class.
    labels = [d.output["sentiment"] for d in skill.demos]
    assert sorted(labels[:2]) == sorted(labels[2:]) == ["negative", "positive"]


def test_which_class_comes_last_in_the_demos_varies_with_the_seed() -> None:
    from skillforge.compile.candidates import pick_demos
    from skillforge.format import Demo

    pool = [Demo(input={"text": str(i)}, output={"s": "ab"[i % 2]}, source="label") for i in range(20)]
    lasts = {pick_demos(pool, 4, "s", seed)[-1].output["s"] for seed in range(10)}
    assert lasts == {"a", "b"}  # not always the alphabetically last class
    for seed in range(10):
        picked = pick_demos(pool, 4, "s", seed)
        assert [d.output["s"] for d in picked].count("a") == 2 and picked == pick_demos(pool, 4, "s", seed)


def test_naive_few_shot_that_hurts_is_not_chosen() -> None:
    def demo_averse(request: ModelRequest) -> Any:
        if request.output_schema is None:
            return "Decide the sentiment."
        return keyword_answer(request) if request.static_messages == 0 else {"sentiment": "negative"}

    skill = compile_skill(sentiment_spec(), sentiment_examples(30), teacher=keyword_model(),
                          student=FunctionModel(demo_averse), options=CompileOptions(search=SearchConfig(ks=[2, 4])))
    assert skill.manifest.metrics.chosen == "plain+0/plain"
    assert skill.manifest.metrics.dev_score >= max(c.dev_score for c in skill.manifest.metrics.candidates)
    assert skill.demos == []


def test_wrong_teacher_answers_never_become_demos() -> None:
    def contrarian(request: ModelRequest) -> Any:
        if request.output_schema is None:
            return "Answer the opposite of what you think, always."
        return {"sentiment": "negative" if "good" in skill_input(request)["text"] else "positive"}

    skill = compile_skill(
        sentiment_spec(),
        sentiment_examples(30),
        teacher=FunctionModel(contrarian),
        student=FunctionModel(demo_hungry_student),
        options=CompileOptions(search=SearchConfig(ks=[4])),
    )
    assert skill.demos and all(d.source == "label" for d in skill.demos)
    for d in skill.demos:
        assert d.output["sentiment"] == ("positive" if "good" in d.input["text"] else "negative")


def test_unlabelled_examples_get_teacher_demos() -> None:
    labelled = sentiment_examples(12)
    unlabelled = [Example(input={"text": f"good news {i}"}) for i in range(6)]
    dev = sentiment_examples(18)[12:]  # disjoint from the examples (an overlap would be removed from them)
    skill = compile_skill(
        sentiment_spec(),
        labelled + unlabelled,
        dev_examples=dev,
        teacher=keyword_model(),
        student=FunctionModel(demo_hungry_student),
        options=CompileOptions(search=SearchConfig(ks=[18])),
    )
    sources = {d.input["text"]: d.source for d in skill.demos}
    assert all(sources[f"good news {i}"] == "teacher" for i in range(6))


def test_dev_cases_become_regression_cases_and_never_demos() -> None:
    dev = [Example(input={"text": f"good dev {i}"}, expected={"sentiment": "positive"}) for i in range(5)]
    skill = compile_skill(
        sentiment_spec(),
        sentiment_examples(20),
        dev_examples=dev,
        teacher=keyword_model(),
        student=FunctionModel(demo_hungry_student),
        options=CompileOptions(search=SearchConfig(ks=[4])),
    )
    assert [t.input for t in skill.tests] == [d.input for d in dev]
    assert not {d.input["text"] for d in skill.demos} & {d.input["text"] for d in dev}


def test_the_threshold_is_the_lowest_that_reaches_the_target_precision() -> None:
    # By the point estimate (confidence_level=None); the default, a Wilson bound, is in test_calibrate.py.
    point = {"confidence_level": None}
    cal = choose_threshold(
        [0.9, 0.8, 0.7, 0.6, 0.5, None], [True, True, True, False, True, False], target_precision=0.75, **point
    )
    assert cal.threshold == 0.5 and cal.student_share == pytest.approx(5 / 6) and cal.precision == 0.8
    strict = choose_threshold([0.9, 0.8, 0.7, 0.6, 0.5], [True, True, True, False, True], target_precision=1.0, **point)
    assert strict.threshold == 0.7 and strict.student_share == pytest.approx(3 / 5)
    hopeless = choose_threshold([0.9, 0.5], [False, False], target_precision=0.9, **point)
    assert hopeless.student_share == 0.0 and hopeless.threshold is not None and hopeless.threshold > 0.9
    assert choose_threshold([None, None], [True, False], target_precision=0.9).threshold is None


def test_compilation_calibrates_from_the_students_confidence() -> None:
    def unsure_when_wrong(request: ModelRequest) -> Any:
        if request.output_schema is None:
            return "Decide the sentiment."
        text = skill_input(request)["text"]
        right = "thing 1" not in text  # one systematic mistake, made with low confidence
        want = "positive" if "good" in text else "negative"
        answer = want if right else ("negative" if want == "positive" else "positive")
        return ModelResponse(
            model_id="test:unsure",
            text=f'{{"sentiment": "{answer}"}}',
            logprob_sum=-0.05 if right else -2.0,
            usage=Usage(input_tokens=10, output_tokens=5),
        )

    examples = sentiment_examples(40)
    dev = [Example(input={"text": f"good thing 1{i}"}, expected={"sentiment": "positive"}) for i in range(2)]
    dev += [Example(input={"text": f"bad stuff {i}"}, expected={"sentiment": "negative"}) for i in range(8)]
    skill = compile_skill(
        sentiment_spec(),
        examples,
        dev_examples=dev,
        teacher=keyword_model(),
        student=FunctionModel(unsure_when_wrong),
        # The point estimate, on dev alone.
        options=CompileOptions(
            target_precision=0.95,
            confidence_level=None,
            search=SearchConfig(ks=[2], calibration_extra=0, classifier_tier=False),
        ),
    )
    s = skill.settings
    assert s.threshold == pytest.approx(0.951229, abs=1e-5)  # exp(-0.05): the confident answers
    assert s.expected_student_share == 0.8
    assert skill.manifest.metrics.accepted_precision == 1.0


def test_every_compile_call_is_in_the_ledger(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    compile_skill(
        sentiment_spec(),
        sentiment_examples(20),
        teacher=keyword_model("test:t"),
        student=keyword_model("test:s"),
        ledger=ledger,
        options=CompileOptions(search=SearchConfig(ks=[2])),
    )
    entries = ledger.read()
    assert {e.phase for e in entries} == {"compile"}
    assert {(e.role, e.model_id) for e in entries} == {("teacher", "test:t"), ("student", "test:s")}
    assert next(e.outcome for e in entries if e.role == "teacher") == "draft"


def test_the_compile_report_is_printed(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from skillforge.cli import print_compile_report

    buffer = io.StringIO()
    console = Console(file=buffer, width=140, force_terminal=False)
    model = keyword_model()
    ledger = Ledger(tmp_path / "ledger.jsonl")
    skill = compile_skill(
        sentiment_spec(),
        sentiment_examples(20),
        teacher=model,
        student=model,
        ledger=ledger,
        options=CompileOptions(search=SearchConfig(ks=[2])),
    )
    print_compile_report(console, skill, ledger)
    out = buffer.getvalue()
    assert "Model calls during compilation" in out and "demo pool:" in out
    assert "Candidates on the dev set" in out and "template+0" in out and "chosen" in out
    assert "expected student share" in out
    assert "teacher and student are the same model" in out


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"examples": []}, "no examples"),
        ({"examples": [Example(input={"text": 1})]}, r"examples\[0\]\.input"),
        ({"examples": sentiment_examples(3)}, "at least 5 labelled examples"),
        ({"target_precision": 1.5}, "target_precision"),
        ({"comparators": {"mood": {"kind": "normalized"}}}, "unknown output fields"),
        ({"teacher": "nosuch:model"}, "unknown model provider"),
    ],
)
def test_bad_compile_input_is_a_clear_error(kwargs: dict[str, Any], match: str) -> None:
    from skillforge import ConfigurationError
    from skillforge.spec.scoring import Comparator

    args: dict[str, Any] = {"examples": sentiment_examples(20), "teacher": keyword_model(), "student": keyword_model()}
    options: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key == "comparators":
            options[key] = {k: Comparator(**v) for k, v in value.items()}
        elif key == "target_precision":
            options[key] = value
        else:
            args[key] = value
    with pytest.raises((SpecError, ConfigurationError), match=match):
        compile_skill(sentiment_spec(), options=CompileOptions(**options) if options else None, **args)


def test_the_dev_split_is_seeded_and_disjoint() -> None:
    ex = sentiment_examples(50)
    train, dev = split_dev(ex, fraction=0.3, max_dev=60, seed=7)
    assert len(dev) == 15 and len(train) == 35
    assert not {e.input["text"] for e in train} & {e.input["text"] for e in dev}
    assert split_dev(ex, fraction=0.3, max_dev=60, seed=7) == (train, dev)
