"""``skillforge eval``: accuracy, risk-coverage, the threshold's operating point, costs; self-consistency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillforge import CompileOptions, Example, Skill, compile_skill
from skillforge.cli import app
from skillforge.compile import ConfidenceSettings, SearchConfig
from skillforge.evaluate import GOLD, aevaluate_skill, auroc, risk_coverage
from skillforge.models.base import Message, ModelRequest, ModelResponse, Usage, run_sync
from skillforge.run.confidence import SelfConsistentModel
from skillforge.testing import FunctionModel, QueuedModel, skill_input

from helpers import keyword_model, sentiment_examples, sentiment_spec


def unsure_on_films(request: ModelRequest) -> Any:
    """Right and sure, except on inputs mentioning 'film': wrong and unsure."""
    if request.output_schema is None:
        return "Decide the sentiment."
    text = skill_input(request)["text"]
    want = "positive" if "good" in text else "negative"
    if "film" in text:
        want = "negative" if want == "positive" else "positive"
    return ModelResponse(model_id="test:student", text=json.dumps({"sentiment": want}),
                         logprob_sum=-2.0 if "film" in text else -0.01, usage=Usage(input_tokens=100, output_tokens=5))


def _skill() -> Skill:
    skill = compile_skill(sentiment_spec(), sentiment_examples(40), teacher=keyword_model(), student=keyword_model(),
                          options=CompileOptions(search=SearchConfig(ks=[2], refine_rounds=0)))
    skill.manifest.settings.threshold = 0.5
    skill.manifest.settings.ask_student = True  # a threshold set by hand: the student is asked
    return skill


DATA = [Example(input={"text": f"good film {i}" if i < 2 else f"good thing {i}"}, expected={"sentiment": "positive"})
        for i in range(8)]


def test_risk_coverage_and_auroc() -> None:
    rows = risk_coverage([0.9, 0.8, None, 0.1], [True, True, False, False], coverages=(0.5, 1.0))
    assert [(r.answered, r.accuracy) for r in rows] == [(2, 1.0), (4, 0.5)]
    assert auroc([0.9, 0.8, None, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert auroc([0.5], [True]) is None


def test_eval_with_a_simulated_teacher() -> None:
    result = run_sync(aevaluate_skill(_skill(), DATA, student=FunctionModel(unsure_on_films), teacher=GOLD))
    assert result.student_accuracy == 0.75 and result.student_share == 0.75
    assert result.accepted_accuracy == 1.0 and result.final_accuracy == 1.0
    assert result.teacher_simulated and "simulated" in result.teacher
    assert sum(c.escalated for c in result.cases) == 2
    costs = result.costs_per_1k()
    assert costs["student_only"] == 0.0  # a local (price 0) student
    assert costs["teacher_only"] is not None and costs["mix"] is not None
    assert 0 < costs["mix"] < costs["teacher_only"]  # 2 of 8 calls escalate to Opus
    assert costs["student_only_as_haiku"] is not None and costs["student_only_as_haiku"] > 0
    data = result.to_json()
    assert data["teacher_simulated_by_labels"] is True and data["at_threshold"]["student_share"] == 0.75
    assert [r["coverage"] for r in data["risk_coverage"]][-1] == 1.0


def test_eval_with_a_real_teacher_and_without_escalation() -> None:
    teacher = keyword_model("test:teacher")
    result = run_sync(aevaluate_skill(_skill(), DATA, student=FunctionModel(unsure_on_films), teacher=teacher))
    assert result.final_accuracy == 1.0 and len(teacher.requests) == 2 and not result.teacher_simulated
    alone = run_sync(aevaluate_skill(_skill(), DATA, student=FunctionModel(unsure_on_films), escalate=False))
    assert alone.final_accuracy == alone.student_accuracy == 0.75 and alone.costs_per_1k()["mix"] == 0.0


def test_the_eval_command_writes_json_and_a_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _skill().save(tmp_path / "skill")
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"input": e.input, "expected": e.expected}) + "\n" for e in DATA))
    monkeypatch.setattr("skillforge.models.registry.get_model", lambda _id: FunctionModel(unsure_on_films))
    out = CliRunner().invoke(app, ["eval", str(path), "--data", str(data), "--teacher", "gold",
                                   "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "rc.html")])
    assert out.exit_code == 0, out.output
    assert "Risk-coverage" in out.output and "SIMULATED" in out.output and "per 1,000 calls" in out.output
    assert json.loads((tmp_path / "r.json").read_text())["student_accuracy"] == 0.75
    page = (tmp_path / "rc.html").read_text()
    # A Plotly chart with its library inlined (no <script src>): the curve, the threshold and the target.
    assert page.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in page and "<script src" not in page
    assert "accuracy of accepted answers" in page and "threshold: " in page and "target 95%" in page


def test_self_consistency_uses_agreement_as_confidence_and_counts_every_sample() -> None:
    inner = QueuedModel([{"sentiment": "positive"}, {"sentiment": "negative"}, {"sentiment": "positive"},
                         {"sentiment": "positive"}], logprob=None)
    model = SelfConsistentModel(inner, samples=4, temperature=0.8)
    req = ModelRequest(system="s", messages=(Message(role="user", content='{"text": "x"}'),), output_schema={})
    resp = run_sync(model.request(req))
    assert json.loads(resp.text) == {"sentiment": "positive"} and resp.confidence == pytest.approx(0.75)
    assert [r.seed for r in inner.requests] == [0, 1, 2, 3] and {r.temperature for r in inner.requests} == {0.8}
    assert resp.usage.input_tokens == 4 * inner.requests[0].messages[0].content.count(" ") + 4 * 2


def test_a_skill_configured_for_self_consistency_runs_n_samples() -> None:
    skill = _skill()
    skill.manifest.settings.confidence = ConfidenceSettings(method="self_consistency", samples=3, temperature=0.5)
    student = keyword_model("test:no-logprobs", logprob=None)
    result = skill.run({"text": "good day"}, student=student, teacher=keyword_model())
    assert result.output == {"sentiment": "positive"} and result.confidence == 1.0 and not result.escalated
    assert len(student.requests) == 3


def test_a_seed_left_unset_keeps_the_request_hash_of_older_recordings() -> None:
    req = ModelRequest(system="sys", messages=(Message(role="user", content='{"text": "hi"}'),),
                       output_schema={"type": "object"}, max_tokens=16)
    # The key this request had before ModelRequest gained ``seed`` (recorded cassettes depend on it).
    assert req.cache_key("local:smollm2-135m") == "4784e4adb1b870ff10b43553ee4ca5a966afe132e78175985892eef02b9fce72"
    assert req.model_copy(update={"seed": 1}).cache_key("local:smollm2-135m") != req.cache_key("local:smollm2-135m")


@pytest.mark.local_model
def test_self_consistency_on_the_embedded_model_samples_with_distinct_seeds() -> None:
    from skillforge import get_model
    from skillforge.run.prompt import build_request

    model = SelfConsistentModel(get_model("local:smollm2-135m"), samples=3, temperature=1.0)
    req = build_request(instructions="Is the review positive or negative?",
                        output_schema=sentiment_spec().output_schema, demos=[],
                        input={"text": "It broke after one day."}, max_tokens=16)
    resp = run_sync(model.request(req))
    assert resp.confidence in (pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0)
    assert json.loads(resp.text)["sentiment"] in ("positive", "negative")


def test_refusals_are_counted_in_the_result_and_its_json() -> None:
    def refuses_films(request: ModelRequest) -> Any:
        if request.output_schema is not None and "film" in skill_input(request)["text"]:
            return ModelResponse(model_id="test:student", text="", stop_reason="refusal", usage=Usage(input_tokens=9))
        return unsure_on_films(request)

    result = run_sync(aevaluate_skill(_skill(), DATA, student=FunctionModel(refuses_films), teacher=GOLD))
    assert result.refusals == {"student": 2, "teacher": 0}
    assert result.to_json()["refusals"] == {"student": 2, "teacher": 0}
    assert result.student_share == 0.75 and result.final_accuracy == 1.0  # refused cases were escalated
