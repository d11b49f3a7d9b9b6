"""``skillforge status``: numbers from a ledger whose every figure is computed by hand below, drift in
a window that drifts and one that does not, and the runtime's one drift warning per skill."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillforge.cli.app import app
from skillforge.compile import CompileOptions, SearchConfig, compile_skill
from skillforge.ledger import Ledger
from skillforge.observe import compute_status, iter_entries, parse_window
from skillforge.run.drift import reset_drift_warnings
from skillforge.stats import two_sided_z, wilson_interval
from skillforge.testing import FunctionModel

from helpers import keyword_model, sentiment_examples, sentiment_spec
from ledger_fixture import DAY1, DAY4, manifest, save_skill, write_fixture


def test_all_time_numbers_match_the_hand_computed_ledger(tmp_path: Path) -> None:
    write_fixture(tmp_path / "ledger.jsonl")
    [s] = compute_status([tmp_path / "ledger.jsonl"], {"mood": manifest()}, now=DAY4 + timedelta(hours=3),
                         window=timedelta(days=1), window_text="1d")
    a = s.all_time
    # Calls: 80 + 5*2 + 15 student and 20 teacher calls on days 1-2; 100 student and 60 teacher on day 4.
    assert a.calls == 105 + 20 + 100 + 60
    assert (a.inputs, a.answered, a.student_share) == (200, 120, 0.6)
    assert a.escalations == {"invalid": 5, "low_confidence": 75, "refused": 0, "error": 0}
    # Cost: 80 teacher calls; teacher-only: 200 inputs, each one teacher call; saving: the 120 answered.
    assert a.cost == pytest.approx(80 * 0.0024) and a.unpriced_calls == 0
    assert a.teacher_only == pytest.approx(200 * 0.0024) and a.saving == pytest.approx(120 * 0.0024)
    # Latency: 205 student calls, 120 at 0.1 s and 85 at 0.5 s: p50 (rank 103) 0.1, p95 (rank 195) 0.5.
    student, teacher = a.latency["local:smollm2-135m"], a.latency["claude-opus-5-5"]
    assert student.n == 205 and student.quantile(0.5) == pytest.approx(0.1, rel=0.01)
    assert student.quantile(0.95) == pytest.approx(0.5, rel=0.01)
    assert teacher.n == 80 and teacher.quantile(0.5) == teacher.quantile(0.95) == pytest.approx(1.0, rel=0.01)
    # Compile: 10 calls at $0.03 = $0.30; saved so far 0.288; the window saves 40 * 0.0024 / 100 per input,
    # so (0.30 - 0.288) / 0.00096 = 12.5 -> 13 more inputs.
    b = s.break_even()
    assert (s.compile_calls, b.compile_cost) == (10, pytest.approx(0.30))
    assert b.paid_back_on is None and b.saving_per_input == pytest.approx(0.00096) and b.inputs_to_go == 13


def test_a_cheaper_compile_is_paid_back_on_the_day_the_saving_reaches_it(tmp_path: Path) -> None:
    # $0.15 of compile: day 1 (inputs 0-41, 10:00-23:40, all answered) saves 42 * 0.0024 = 0.1008; day 2
    # reaches 0.15 at its 21st answer (63 * 0.0024 = 0.1512).
    write_fixture(tmp_path / "ledger.jsonl", compile_calls=5)
    [s] = compute_status([tmp_path / "ledger.jsonl"], {"mood": manifest()}, now=DAY4)
    assert s.break_even().paid_back_on == "2026-11-02"


def test_the_drifted_window_is_flagged_with_its_numbers(tmp_path: Path) -> None:
    write_fixture(tmp_path / "ledger.jsonl")
    [s] = compute_status([tmp_path / "ledger.jsonl"], {"mood": manifest()}, now=DAY4 + timedelta(hours=3),
                         window=timedelta(days=1), window_text="1d")
    r = s.recent
    assert (r.inputs, r.answered, r.escalations["low_confidence"]) == (100, 40, 60)
    drifting = {t.metric: t for t in s.drifting}
    assert set(drifting) == {"student_share", "low_confidence"}
    share = drifting["student_share"]
    # Wilson 99% (z = 2.5758, z^2 = 6.6349) for 40/100: centre 0.4 + 0.03317, margin
    # z * sqrt(0.0024 + 0.000166) = 0.13048, both over 1 + 0.06635.
    assert (share.observed, share.expected, share.n, share.k) == (0.4, 0.8, 100, 40)
    assert (share.low, share.high) == (pytest.approx(0.2839, abs=1e-4), pytest.approx(0.5286, abs=1e-4))
    # Expected low confidence: 1 - 0.8 - 0.05 (the compiled invalid share) = 0.15; observed 0.60.
    assert drifting["low_confidence"].expected == pytest.approx(0.15) and drifting["low_confidence"].observed == 0.6
    # No invalid answer in 100 is within the interval (0, 0.062) around the expected 0.05.
    invalid = next(t for t in s.drift if t.metric == "invalid")
    assert not invalid.drifting and invalid.high == pytest.approx(0.0622, abs=1e-4)


def test_the_window_as_compiled_does_not_drift(tmp_path: Path) -> None:
    write_fixture(tmp_path / "ledger.jsonl")
    [s] = compute_status([tmp_path / "ledger.jsonl"], {"mood": manifest()}, now=DAY1 + timedelta(days=2),
                         window=timedelta(days=3), window_text="3d")
    assert (s.recent.inputs, s.recent.answered) == (100, 80)
    assert {t.metric: t.observed for t in s.drift} == {
        "refused": 0.0, "error": 0.0, "student_share": 0.8, "invalid": 0.05, "low_confidence": 0.15}
    assert s.drift and not s.drifting


def test_too_few_inputs_are_not_tested() -> None:
    assert wilson_interval(0, 0, two_sided_z(0.99)) == (0.0, 1.0)
    assert two_sided_z(0.99) == pytest.approx(2.5758, abs=1e-4)


def test_every_skill_in_the_ledger_without_a_skill_list(tmp_path: Path) -> None:
    write_fixture(tmp_path / "ledger.jsonl")
    statuses = compute_status([tmp_path / "ledger.jsonl"], now=DAY4)
    assert [s.skill for s in statuses] == ["mood", "other"]
    other = statuses[1]
    assert other.all_time.unpriced_calls == 1 and other.teacher_priced_as == "claude-opus-5-5"
    assert not other.drift  # one input: too few to test


def test_the_stream_skips_torn_foreign_and_overlong_lines(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    write_fixture(path)
    with path.open("a") as fh:
        fh.write("\n" + "x" * 200_000 + "\n")
    entries = list(iter_entries([path]))
    assert len(entries) == 10 + 285 + 1


def test_status_command_prints_json_and_marks_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_fixture(tmp_path / "ledger.jsonl")
    save_skill(tmp_path / "skills" / "mood")
    monkeypatch.chdir(tmp_path)  # skills/ gives the compiled expectations
    args = ["status", "--ledger", "ledger.jsonl", "--window", "1d", "--now", "2026-11-04T13:00:00+00:00"]
    out = CliRunner().invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    mood = json.loads(out.output)["skills"][0]
    assert mood["skill"] == "mood" and mood["drifting"] and mood["recent"]["student_share"] == 0.4
    assert mood["all_time"]["escalations"]["invalid"] == 5 and mood["break_even"]["compile_cost_usd"] == 0.3
    text = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert "DRIFT" in text.output and "student_share 0.40 (40/100" in text.output


def test_status_rejects_a_bad_window_and_a_missing_ledger(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="window '7 days'"):
        parse_window("7 days")
    out = CliRunner().invoke(app, ["status", "--ledger", str(tmp_path / "nope.jsonl")])
    assert out.exit_code != 0 and "no ledger at" in str(out.exception)


def test_the_runtime_warns_once_per_skill_when_its_share_drifts(caplog: pytest.LogCaptureFixture) -> None:
    reset_drift_warnings()
    skill = compile_skill(sentiment_spec("drifty"), sentiment_examples(40), teacher=keyword_model(),
                          student=keyword_model(), options=CompileOptions(search=SearchConfig(ks=[2], refine_rounds=0)))
    # The compiler records what status tests against: the invalid share and the risk-coverage curve.
    assert skill.manifest.metrics.invalid_share == 0.0 and len(skill.manifest.metrics.risk_coverage) == 10
    skill.manifest.settings.threshold = 0.9
    skill.manifest.settings.ask_student = True  # a threshold set by hand: the student is asked
    skill.manifest.settings.expected_student_share = 0.9
    unsure = FunctionModel(lambda _: {"sentiment": "positive"}, model_id="test:unsure", logprob=-2.0)
    ledger, teacher = Ledger(None), keyword_model()
    with caplog.at_level(logging.WARNING, logger="skillforge.run.drift"):
        for i in range(99):
            skill.run({"text": f"fine {i}"}, student=unsure, teacher=teacher, ledger=ledger)
        assert not caplog.records  # no test before 100 inputs
        for i in range(200):
            skill.run({"text": f"fine {i}"}, student=unsure, teacher=teacher, ledger=ledger)
    [record] = caplog.records
    assert "skill 'drifty' is drifting" in record.getMessage() and "student_share 0.00" in record.getMessage()


def test_report_names_a_bad_tests_file(tmp_path: Path) -> None:
    write_fixture(tmp_path / "ledger.jsonl")
    (tmp_path / "results.json").write_text("{}")
    out = CliRunner().invoke(app, ["report", "--ledger", str(tmp_path / "ledger.jsonl"), "--tests",
                                   str(tmp_path / "results.json"), "-o", str(tmp_path / "r.html")])
    assert out.exit_code != 0 and str(out.exception).startswith("--tests: ")
    assert "skillforge test --json" in str(out.exception) and not (tmp_path / "r.html").exists()


def test_report_refuses_a_destination_it_cannot_write_before_reading_the_ledger(tmp_path: Path) -> None:
    write_fixture(tmp_path / "ledger.jsonl")
    args = ["report", "--ledger", str(tmp_path / "ledger.jsonl"), "-o"]
    out = CliRunner().invoke(app, [*args, str(tmp_path)])
    assert out.exit_code != 0 and "is a directory; give a file path" in str(out.exception)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = CliRunner().invoke(app, [*args, str(blocker / "sub" / "r.html")])
    assert out.exit_code != 0 and f"{blocker} is not a writable directory" in str(out.exception)
    assert blocker.read_text() == "not a directory"


def test_a_report_replaces_the_previous_one_whole(tmp_path: Path) -> None:
    write_fixture(tmp_path / "ledger.jsonl")
    target = tmp_path / "reports" / "r.html"
    for _ in range(2):
        out = CliRunner().invoke(app, ["report", "--ledger", str(tmp_path / "ledger.jsonl"), "-o", str(target)])
        assert out.exit_code == 0, out.output
    assert target.read_text().startswith("<!DOCTYPE html") and sorted(p.name for p in target.parent.iterdir()) == [
        "r.html"]
