"""``skillforge update``: a skill's escalations folded back in as demos, calibration and regression
cases; recompiled; written only when its regression cases do not get worse; never folded twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillforge import CompileOptions, Example, compile_skill, load_skill
from skillforge.cli import app
from skillforge.compile import SearchConfig
from skillforge.jsonl import lines
from skillforge.ledger import Ledger
from skillforge.models.base import ModelRequest, ModelResponse, Usage
from skillforge.run import read_escalations, render_input
from skillforge.testing import FunctionModel, skill_input
from skillforge.update import FOLDED, folded_keys, update_skill

from helpers import sentiment_spec

POSITIVE = ("good", "great")
OPTIONS = CompileOptions(
    target_precision=0.8,
    confidence_level=None,
    search=SearchConfig(ks=(), retrieval_ks=(2,), classifier_tier=False, refine_rounds=0, calibration_extra=20),
)


def teacher_answer(request: ModelRequest) -> Any:
    """A perfect teacher: reviews starting with good/great are positive."""
    if request.output_schema is None:
        return "Answer positive when the review praises, else negative."
    return {"sentiment": "positive" if skill_input(request)["text"].split()[0] in POSITIVE else "negative"}


def _input_of(content: str) -> dict[str, Any]:
    """A demo turn's input, rendered as JSON or (the plain rendering) as the text itself."""
    try:
        value = json.loads(content)
    except json.JSONDecodeError:
        return {"text": content}
    return value if isinstance(value, dict) else {"text": content}


def _demos(request: ModelRequest) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    msgs = request.messages[:-1]
    out = []
    for user, answer in zip(msgs[::2], msgs[1::2], strict=False):
        try:
            out.append((_input_of(user.content), json.loads(answer.content)))
        except json.JSONDecodeError:
            continue
    return out


def copying_student(poison: str | None = None) -> FunctionModel:
    """A weak student that knows only what its demos show: it copies the answer of a demo starting with
    the same word (confident), else guesses negative (unsure). With ``poison``, a demo containing that
    word in the prompt confuses it into the opposite answer."""

    def answer(request: ModelRequest) -> Any:
        if request.output_schema is None:
            return "Decide the sentiment."
        first = skill_input(request)["text"].split()[0]
        demos = _demos(request)
        match = [out for inp, out in demos if inp["text"].split()[0] == first]
        sure = bool(match)
        label = match[0]["sentiment"] if match else "negative"
        if poison is not None and any(poison in inp["text"] for inp, _ in demos):
            label = "negative" if label == "positive" else "positive"
        text = json.dumps({"sentiment": label})
        return ModelResponse(
            model_id="test:copier",
            text=text,
            usage=Usage(input_tokens=10, output_tokens=3),
            logprob_sum=-0.01 if sure else -2.0,
            stop_reason="end_turn",
        )

    return FunctionModel(answer, model_id="test:copier")


def examples(first_words: tuple[str, str], n: int, tag: str) -> list[Example]:
    pos, neg = first_words
    return [
        Example(
            input={"text": f"{pos if i % 2 else neg} {tag} {i}"},
            expected={"sentiment": "positive" if i % 2 else "negative"},
        )
        for i in range(n)
    ]


@pytest.fixture
def compiled(tmp_path: Path) -> Path:
    """A skill compiled on good/bad reviews, then run on great/awful ones: every run escalates."""
    teacher = FunctionModel(teacher_answer, model_id="test:teacher")
    student = copying_student()
    ledger = Ledger(tmp_path / "ledger.jsonl")
    skill = compile_skill(
        sentiment_spec(),
        examples(("good", "bad"), 40, "thing"),
        OPTIONS,
        teacher=teacher,
        student=student,
        ledger=ledger,
    )
    assert skill.settings.demo_strategy in ("retrieved", "clustered")  # demos chosen per input
    path = skill.save(tmp_path / "skill")
    skill = load_skill(path)
    for ex in examples(("great", "awful"), 20, "stuff"):
        result = skill.run(ex.input, student=student, teacher=teacher, ledger=ledger)
        assert result.escalated and result.output == ex.expected
    assert len(read_escalations(path / "escalations.jsonl")) == 20
    return path


def _models() -> dict[str, Any]:
    return {"teacher": FunctionModel(teacher_answer, model_id="test:teacher"), "student": copying_student()}


def test_update_folds_escalations_into_demos_and_regression_cases(compiled: Path, tmp_path: Path) -> None:
    old = load_skill(compiled)
    report = update_skill(compiled, **_models(), ledger=Ledger(tmp_path / "ledger.jsonl"))
    assert report.status == "written"
    assert (len(report.plan.train), len(report.plan.holdout)) == (16, 4)
    new = load_skill(compiled, strict=True)
    escalated = {render_input(r.input) for r in read_escalations(compiled / "escalations.jsonl")}
    # The demo pool holds the training escalations, marked as such; the held-out ones are regression cases.
    from_escalations = {render_input(d.input) for d in new.demos if d.source == "escalation"}
    assert from_escalations == {render_input(r.input) for r in report.plan.train}
    new_cases = [c for c in new.tests if render_input(c.input) in escalated]
    assert {render_input(c.input) for c in new_cases} == {render_input(r.input) for r in report.plan.holdout}
    assert len(new.tests) == len(old.tests) + 4
    # No regression input is a demo (the overfitting guard).
    assert not {render_input(c.input) for c in new.tests} & {render_input(d.input) for d in new.demos}
    # Measured on the same cases: the old skill is unsure of (would escalate) every held-out case; the new
    # one answers them all, no worse.
    assert report.before is not None and report.after is not None
    assert report.before.all_cases.answered_share == (16 - 4) / 16 < report.after.all_cases.answered_share == 1.0
    assert report.after.all_cases.pass_rate >= report.before.all_cases.pass_rate
    assert report.after.old_cases.pass_rate >= report.before.old_cases.pass_rate
    assert any(line.startswith("+") and "stuff" in line for line in report.diff)
    # Every escalation is marked folded; a second update finds nothing and changes nothing.
    assert len(folded_keys(compiled)) == 20
    again = update_skill(compiled, **_models(), ledger=Ledger(None))
    assert again.status == "nothing-to-fold" and again.plan.skipped == 20 and again.skill is None


def test_the_log_is_never_rewritten_and_new_escalations_fold_later(compiled: Path) -> None:
    log_before = (compiled / "escalations.jsonl").read_bytes()
    update_skill(compiled, **_models(), ledger=Ledger(None))
    assert (compiled / "escalations.jsonl").read_bytes() == log_before
    skill = load_skill(compiled)
    m = _models()
    # A repeat of a folded input is a duplicate; a new input is folded by the next update.
    mute = FunctionModel(lambda request: "no answer", model_id="test:mute")  # always escalates
    skill.run({"text": "bad fresh 1"}, student=mute, teacher=m["teacher"], ledger=Ledger(None))
    repeat = next(c.input for c in skill.tests if "stuff" in c.input["text"])
    skill.run(repeat, student=mute, teacher=m["teacher"], ledger=Ledger(None))
    report = update_skill(compiled, **m, ledger=Ledger(None), dry_run=True)
    assert report.status == "dry-run"
    assert [r.input for r in report.plan.duplicates] == [repeat]
    assert [r.input for r in report.plan.train + report.plan.holdout] == [{"text": "bad fresh 1"}]


def test_an_update_that_makes_regression_cases_worse_is_refused(compiled: Path) -> None:
    before = {p.name: p.read_bytes() for p in compiled.iterdir()}
    # This student is thrown by any demo from the new escalations: the recompiled skill gets old
    # regression cases wrong, so the update is refused and nothing changes on disk.
    report = update_skill(
        compiled,
        teacher=FunctionModel(teacher_answer, model_id="test:teacher"),
        student=copying_student(poison="stuff"),
        ledger=Ledger(None),
    )
    assert report.status == "refused"
    assert report.refusals and "pass rate on old regression cases fell" in report.refusals[0]
    assert {p.name: p.read_bytes() for p in compiled.iterdir()} == before
    assert not (compiled / FOLDED).exists()


def test_the_cli_prints_metrics_and_diff_and_exits_1_when_refused(compiled: Path, monkeypatch: Any) -> None:
    from skillforge.update import update as update_module

    monkeypatch.setenv("SKILLFORGE_LEDGER", str(compiled.parent / "ledger.jsonl"))
    models = {
        "test:teacher": FunctionModel(teacher_answer, model_id="test:teacher"),
        "test:copier": copying_student(),
        "test:poisoned": copying_student(poison="stuff"),
    }
    monkeypatch.setattr(update_module, "resolve_model", lambda m, default, role=None: models[m or default])
    runner = CliRunner()
    refused = runner.invoke(app, ["update", str(compiled), "--student", "test:poisoned"])
    assert refused.exit_code == 1, refused.output
    assert "refused" in refused.output and "nothing written" in refused.output
    dry = runner.invoke(app, ["update", str(compiled), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    for text in (
        "regression pass rate, old cases",
        "expected student share",
        "cost per 1,000 calls",
        "+++ b/examples.jsonl",
        "dry run: nothing written",
    ):
        assert text in dry.output
    assert not (compiled / FOLDED).exists()
    written = runner.invoke(app, ["update", str(compiled)])
    assert written.exit_code == 0 and "written to" in written.output
    assert sum(1 for _ in lines((compiled / FOLDED).read_text())) == 20


def test_only_new_valid_teacher_answers_are_folded_and_repeats_keep_the_latest(compiled: Path) -> None:
    from skillforge.run import EscalationRecord
    from skillforge.update import escalation_key, plan_fold

    skill = load_skill(compiled)

    def record(text: str, sentiment: str, by: str = "test:teacher", time: str = "t1") -> EscalationRecord:
        return EscalationRecord(
            time=time, input={"text": text}, output={"sentiment": sentiment}, answered_by=by, reason="low_confidence"
        )

    done = record("great done 1", "positive")
    records = [
        done,
        record("great odd 2", "maybe"),
        record("great tier 3", "positive", by="classifier"),
        record("awful twice 4", "positive", time="t1"),
        record("awful twice 4", "negative", time="t2"),
        record(skill.tests[0].input["text"], skill.tests[0].expected["sentiment"]),
    ]
    plan = plan_fold(skill, records, {escalation_key(done)}, holdout_fraction=0.0, seed=0)
    assert plan.skipped == 3  # already folded, not a valid answer, not the teacher's
    assert [(r.input["text"], r.output["sentiment"]) for r in plan.train] == [("awful twice 4", "negative")]
    assert [r.time for r in plan.duplicates] == ["t1", "t1"] and not plan.holdout
