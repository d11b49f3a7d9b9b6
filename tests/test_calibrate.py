"""The escalation threshold must reach the target precision by a Wilson lower bound, not a point estimate."""

from __future__ import annotations

from typing import Any

import pytest

from skillforge import CompileOptions, Example, compile_skill
from skillforge.compile import SearchConfig
from skillforge.models.base import ModelRequest, ModelResponse, Usage
from skillforge.stats import choose_threshold, wilson_lower_bound, z_for
from skillforge.testing import FunctionModel, skill_input

from helpers import keyword_model, sentiment_examples, sentiment_spec


def test_wilson_lower_bound_known_values() -> None:
    assert z_for(0.95) == pytest.approx(1.6449, abs=1e-4)
    assert wilson_lower_bound(10, 10) == pytest.approx(10 / (10 + 1.6449**2), abs=1e-4)  # p = 1: n / (n + z^2)
    assert wilson_lower_bound(45, 50) == pytest.approx(0.8085, abs=1e-3)  # by hand: 0.85221 / 1.05411
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(5, 10, confidence_level=0.99) < wilson_lower_bound(5, 10, confidence_level=0.9)


def test_few_perfect_answers_do_not_certify_a_high_precision() -> None:
    # 10 of 10 correct: point precision 1.0, but the 95% bound is only 0.787.
    confs, correct = [0.9] * 10, [True] * 10
    assert choose_threshold(confs, correct, target_precision=0.95, confidence_level=None).student_share == 1.0
    cal = choose_threshold(confs, correct, target_precision=0.95)
    assert cal.student_share == 0.0 and cal.precision is None and cal.threshold is not None and cal.threshold > 0.9


def test_the_bound_picks_a_stricter_threshold_than_the_point_estimate() -> None:
    # 100 answers: the 80 most confident are right, the 20 least confident hold 10 mistakes.
    confs = [1.0 - i / 200 for i in range(100)]
    correct = [True] * 80 + [i % 2 == 0 for i in range(20)]
    point = choose_threshold(confs, correct, target_precision=0.9, confidence_level=None)
    bound = choose_threshold(confs, correct, target_precision=0.9)
    assert point.student_share == 1.0  # 90/100 = 0.9 by the point estimate
    assert bound.student_share < point.student_share
    assert bound.lower_bound is not None and bound.lower_bound >= 0.9 and bound.confidence_level == 0.95
    assert bound.precision is not None and bound.precision > bound.lower_bound


def test_compilation_stores_the_bound_and_calibrates_on_held_out_training_examples() -> None:
    def sure_and_right(request: ModelRequest) -> Any:
        if request.output_schema is None:
            return "Decide the sentiment."
        text = skill_input(request)["text"]
        answer = "positive" if "good" in text else "negative"
        return ModelResponse(model_id="test:s", text=f'{{"sentiment": "{answer}"}}', logprob_sum=-0.01,
                             usage=Usage(input_tokens=10, output_tokens=5))

    dev = [Example(input={"text": f"good dev {i}"}, expected={"sentiment": "positive"}) for i in range(10)]
    skill = compile_skill(sentiment_spec(), sentiment_examples(80), dev_examples=dev, teacher=keyword_model(),
                          student=FunctionModel(sure_and_right),
                          options=CompileOptions(search=SearchConfig(ks=[2], refine_rounds=0, classifier_tier=False)))
    m = skill.manifest.metrics
    # 10 dev cases alone bound at 0.79 < 0.95; with held-out training examples the bound is met.
    assert m.calibration_size is not None and m.calibration_size > m.dev_size
    assert m.precision_lower_bound is not None and m.precision_lower_bound >= 0.95
    assert m.confidence_level == 0.95 and skill.settings.expected_student_share == 1.0
    dev_only = compile_skill(
        sentiment_spec(),
        sentiment_examples(80),
        dev_examples=dev,
        teacher=keyword_model(),
        student=FunctionModel(sure_and_right),
        options=CompileOptions(
            search=SearchConfig(ks=[2], refine_rounds=0, calibration_extra=0, classifier_tier=False)
        ),
    )
    assert dev_only.settings.expected_student_share == 0.0 and dev_only.manifest.metrics.calibration_size == 10
