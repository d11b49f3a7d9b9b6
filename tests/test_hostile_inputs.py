"""Inputs from end users and answers from models, taken as a hostile user would send them: every bad input
is an InputValidationError before any model call, every bad answer is an invalid verdict (never a crash),
and nothing paid for is lost -- the escalation log is checked before the teacher is called."""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from skillforge import CompileOptions, InputValidationError, Ledger, Skill, SkillFormatError, compile_skill, load_skill
from skillforge.cli import main
from skillforge.compile import SearchConfig
from skillforge.errors import EscalationFailed
from skillforge.models import registry
from skillforge.run import read_escalations
from skillforge.spec import InputLimits
from skillforge.testing import QueuedModel

from helpers import keyword_model, sentiment_examples, sentiment_spec

POS = {"sentiment": "positive"}


@pytest.fixture
def skill(tmp_path: Path) -> Skill:
    model = keyword_model("fake:keyword")
    compiled = compile_skill(sentiment_spec(), sentiment_examples(), teacher=model, student=model,
                             options=CompileOptions(search=SearchConfig(ks=[2])))
    compiled.manifest.settings.threshold = 0.5
    compiled.manifest.settings.ask_student = True  # a threshold set by hand: the student is asked
    return load_skill(compiled.save(tmp_path / "sentiment"))


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"text": "x"}
    for _ in range(depth):
        value = {"text": "x", "more": value}
    return value


class Weird:
    pass


BAD_INPUTS = {
    "deeply nested": nested(10_000),
    "huge integer": {"text": "x", "n": 10**5000},
    "lone surrogate": {"text": "caf\ud800"},
    "lone surrogate in a key": {"text": "x", "\udcff": 1},
    "NaN": {"text": "x", "score": float("nan")},
    "infinity": {"text": "x", "score": float("inf")},
    "a tuple": {"text": ("a", "b")},
    "a set": {"text": "x", "tags": {"a"}},
    "an object": {"text": Weird()},
    "bytes": {"text": b"x"},
    "a non-string key": {"text": "x", 1: "one"},
    "too large": {"text": "x" * 1_100_000},
    "not an object": ["text"],
    "schema mismatch": {"txt": "x"},
}


@pytest.mark.parametrize("value", BAD_INPUTS.values(), ids=list(BAD_INPUTS))
def test_a_bad_input_is_an_input_validation_error_before_any_model_call(skill: Skill, value: Any) -> None:
    student, teacher, ledger = QueuedModel([]), QueuedModel([]), Ledger(None)
    with pytest.raises(InputValidationError) as info:
        skill.run(value, student=student, teacher=teacher, ledger=ledger)
    assert "\n" not in str(info.value) and len(str(info.value)) < 2000
    str(info.value).encode("utf-8")  # the message itself is writable
    assert student.requests == teacher.requests == [] and ledger.entries == []


def test_a_ten_megabyte_input_is_refused_in_well_under_a_second(skill: Skill) -> None:
    value = {"text": "word " * 2_000_000}
    started = time.perf_counter()
    with pytest.raises(InputValidationError, match="larger than the 1000000-byte limit"):
        skill.run(value, student=QueuedModel([]), teacher=QueuedModel([]), ledger=Ledger(None))
    assert time.perf_counter() - started < 1.0


def test_limits_are_configurable_per_run(skill: Skill) -> None:
    small = InputLimits(max_bytes=40, max_depth=2)
    with pytest.raises(InputValidationError, match="40-byte limit"):
        skill.run({"text": "y" * 50}, student=QueuedModel([]), ledger=Ledger(None), limits=small)
    result = skill.run({"text": "good" * 500}, student=QueuedModel([POS]), ledger=Ledger(None),
                       limits=InputLimits(max_bytes=10_000))
    assert result.output == POS


# -- answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [
    '{"sentiment": "\\ud800"}', '{"sentiment": NaN}', '{"sentiment": Infinity}', "[" * 50_000,
    '{"sentiment": "positive", "n": ' + "9" * 5000 + "}",
    '{"sentiment": "positive", "x": ' + "[" * 100 + "]" * 100 + "}",
])
def test_an_unwritable_or_pathological_answer_is_invalid_and_re_asked(skill: Skill, answer: str) -> None:
    student = QueuedModel([answer, POS])
    result = skill.run({"text": "good"}, student=student, teacher=QueuedModel([]), ledger=Ledger(None))
    assert result.output == POS and [a.verdict for a in result.attempts] == ["invalid", "accepted"]


def test_a_teacher_answer_with_a_lone_surrogate_fails_cleanly_and_logs_nothing(skill: Skill) -> None:
    bad = '{"sentiment": "positive\\udc80"}'
    with pytest.raises(EscalationFailed):
        skill.run({"text": "good"}, student=QueuedModel(["nope", "nope"]), teacher=QueuedModel([bad, bad]),
                  ledger=Ledger(None))
    assert skill.escalation_log is not None and not skill.escalation_log.exists()


# -- the escalation log -----------------------------------------------------------------------------


def escalating_run(skill: Skill) -> tuple[QueuedModel, QueuedModel, Any]:
    student, teacher = QueuedModel(["nope", "nope"]), QueuedModel([POS])
    return student, teacher, lambda: skill.run({"text": "good"}, student=student, teacher=teacher,
                                               ledger=Ledger(None))


def test_an_escalation_is_appended_and_read_back(skill: Skill) -> None:
    _, _, run = escalating_run(skill)
    assert run().escalated
    assert skill.escalation_log is not None
    [record] = read_escalations(skill.escalation_log)
    assert record.output == POS and record.input == {"text": "good"}


@pytest.mark.parametrize("kind", ["symlink outside", "symlink inside", "directory", "dangling symlink"])
def test_an_escalation_log_that_cannot_be_appended_safely_fails_before_any_model_call(
    skill: Skill, tmp_path: Path, kind: str
) -> None:
    log = skill.escalation_log
    assert log is not None
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    if kind == "symlink outside":
        log.symlink_to(outside)
    elif kind == "symlink inside":
        log.symlink_to(log.parent / "instructions.md")
    elif kind == "directory":
        log.mkdir()
    else:
        log.symlink_to(tmp_path / "nowhere.jsonl")
    student, teacher, run = escalating_run(skill)
    with pytest.raises(SkillFormatError, match=r"escalations\.jsonl: is (a symbolic link|not a regular file)"):
        run()
    assert student.requests == teacher.requests == []
    assert outside.read_text() == "precious\n"
    assert not (tmp_path / "nowhere.jsonl").exists()


def test_a_torn_last_line_of_the_escalation_log_does_not_swallow_the_next_record(skill: Skill) -> None:
    log = skill.escalation_log
    assert log is not None
    log.write_bytes(b'{"time": "t", "input": {"text": "caf\xc3')  # a crash, inside a multi-byte character
    _, _, run = escalating_run(skill)
    run()
    [record] = read_escalations(log)
    assert record.output == POS


def test_a_paid_escalation_is_returned_even_if_the_log_write_fails(
    skill: Skill, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(path: Path, record: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("skillforge.run.escalations.append_escalation", disk_full)
    _, teacher, run = escalating_run(skill)
    with pytest.warns(RuntimeWarning, match="answered but could not be logged"):
        result = run()
    assert result.escalated and result.output == POS and len(teacher.requests) == 1


# -- the command line ---------------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setitem(registry._PROVIDERS, "fake", lambda name: keyword_model(f"fake:{name}"))

    def invoke(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["skillforge", *args])
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        with pytest.raises(SystemExit) as info:
            main()
        out = capsys.readouterr()
        return int(info.value.code or 0), out.out, out.err

    return invoke


@pytest.mark.parametrize("text", [
    "not json", '{"text": "x"', '["a"]', "[" * 100_000, '{"text": "x", "n": ' + "1" * 5000 + "}",
    '{"text": NaN}', '{"text": "\\ud800"}', '{"txt": "x"}', '"' + "x" * 1_100_000 + '"', "",
])
def test_a_bad_input_option_exits_2_with_one_line_and_no_traceback(cli: Any, skill: Skill, text: str) -> None:
    code, out, err = cli("run", str(skill.path), "--input", text)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_stdin_batches_keep_going_past_bad_lines(cli: Any, skill: Skill) -> None:
    lines = [b'{"text": "good"}', b"not json", b"\xff\xfe{}", b"[" * 5000, b'{"text": "\\ud800"}',
             b'{"text": "x", "n": ' + b"7" * 5000 + b"}", b"", b'{"text": "bad"}']
    code, out, _ = cli("run", str(skill.path), stdin=b"\n".join(lines) + b"\n")
    rows = [json.loads(x) for x in out.strip().split("\n")]
    assert code == 1
    assert rows[0]["output"] == POS and rows[-1]["output"] == {"sentiment": "negative"}
    assert [r["line"] for r in rows[1:-1]] == [2, 3, 4, 5, 6]
    assert "not UTF-8" in rows[2]["error"] and all("\n" not in r["error"] for r in rows[1:-1])


def test_an_overlong_stdin_line_is_an_error_line_and_the_next_line_still_runs(cli: Any, skill: Skill) -> None:
    code, out, _ = cli("run", str(skill.path), stdin=b'{"text": "' + b"x" * 1_500_000 + b'"}\n{"text": "good"}\n')
    rows = [json.loads(x) for x in out.strip().split("\n")]
    assert code == 1 and rows[0]["line"] == 1 and "limit" in rows[0]["error"] and rows[1]["output"] == POS


def test_errors_quoting_markup_are_printed_verbatim_on_one_line(cli: Any, tmp_path: Path) -> None:
    missing = tmp_path / "[bold]x[/]"
    code, _, err = cli("run", str(missing), "--input", "{}")
    assert code == 2 and "[bold]x[/]" in err and err.count("\n") == 1


def test_the_escalation_log_check_happens_before_any_model_in_the_cli(cli: Any, skill: Skill) -> None:
    assert skill.path is not None
    os.symlink("/etc/hostname", skill.path / "escalations.jsonl")
    code, _, err = cli("run", str(skill.path), "--input", '{"text": "x"}')
    assert code == 2 and "outside the skill directory" in err
