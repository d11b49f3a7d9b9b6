"""The verifier, the field comparators and the append-only ledger."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skillforge import (
    Comparator,
    CompileOptions,
    ConfigurationError,
    Ledger,
    LedgerWriteError,
    LedgerWriteWarning,
    compile_skill,
)
from skillforge import ledger as ledger_module
from skillforge.compile import SearchConfig
from skillforge.models.base import Usage
from skillforge.run.verify import check_answer, extract_json
from skillforge.spec.scoring import compare

from helpers import SENTIMENT_OUT, keyword_model, sentiment_examples, sentiment_spec


def test_json_is_found_in_plain_fenced_or_chatty_answers() -> None:
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('Sure! Here it is: {"a": {"b": 2}} Hope that helps.') == {"a": {"b": 2}}
    with pytest.raises(ValueError, match="empty"):
        extract_json("  ")
    with pytest.raises(ValueError, match="not JSON"):
        extract_json("positive")


def test_check_answer_verdicts() -> None:
    assert check_answer('{"sentiment": "positive"}', SENTIMENT_OUT).verdict == "accepted"
    bad = check_answer('{"sentiment": "meh"}', SENTIMENT_OUT)
    assert bad.verdict == "invalid" and "sentiment" in bad.errors[0]
    assert check_answer("[1]", SENTIMENT_OUT).errors == ["expected a JSON object, got list"]
    unsure = check_answer('{"sentiment": "positive"}', SENTIMENT_OUT, confidence=0.2, threshold=0.5)
    assert unsure.verdict == "low_confidence" and unsure.output == {"sentiment": "positive"}
    # A threshold with no confidence to hold against it: nothing certifies the answer.
    no_signal = check_answer('{"sentiment": "positive"}', SENTIMENT_OUT, confidence=None, threshold=0.5)
    assert no_signal.verdict == "low_confidence" and "no confidence" in no_signal.errors[0]
    assert check_answer('{"sentiment": "positive"}', SENTIMENT_OUT, confidence=None).verdict == "accepted"


def test_compare_scores_the_share_of_matching_fields() -> None:
    score = compare({"a": "x", "b": "y", "c": "extra"}, {"a": "x", "b": "z"})
    assert score.score == pytest.approx(1 / 3) and not score.correct
    assert [(d.field, d.got, d.expected) for d in score.diffs] == [("b", "y", "z"), ("c", "extra", None)]
    assert compare({"a": "x", "b": None}, {"a": "x"}).correct  # null and missing are the same
    assert compare(None, {"a": "x"}).score == 0.0


@pytest.mark.parametrize(
    ("comparator", "got", "want", "equal"),
    [
        (Comparator(), "Main St", "main st", False),
        (Comparator(kind="normalized"), " Main   St", "main st", True),
        (Comparator(kind="numeric", tolerance=0.01), 1.005, 1.0, True),
        (Comparator(kind="numeric", tolerance=0.01), 1.02, 1.0, False),
        (Comparator(kind="set"), ["a", "b", "a"], ["b", "a"], True),
        (Comparator(kind="set"), ["a"], ["a", "b"], False),
    ],
)
def test_comparators(comparator: Comparator, got: object, want: object, equal: bool) -> None:
    assert comparator.equal(got, want) is equal


def test_ledger_appends_and_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "ledger.jsonl"
    ledger = Ledger(path)
    for outcome in ("accepted", "invalid"):
        ledger.record(skill="s", phase="run", role="student", model_id="m", usage=Usage(input_tokens=3),
                      cost_usd=0.0, latency_s=0.1, outcome=outcome)
    with open(path, "a") as fh:  # a crash mid-write
        fh.write('{"time": "2026-11-27T00:00:00", "skill": "s", "pha')
    assert [e.outcome for e in Ledger(path).read()] == ["accepted", "invalid"]
    Ledger(path).record(skill="s", phase="run", role="teacher", model_id="m", usage=Usage(), cost_usd=None,
                        latency_s=0.0, outcome="accepted")
    assert len(path.read_text().splitlines()) == 4  # nothing earlier was rewritten
    assert os.path.getsize(path) > 0


def test_ledger_totals_per_role_and_model() -> None:
    ledger = Ledger(None)
    for cost in (0.5, 0.25):
        ledger.record(skill="s", phase="run", role="teacher", model_id="t", usage=Usage(output_tokens=2),
                      cost_usd=cost, latency_s=0.0, outcome="accepted")
    ledger.record(skill="s", phase="run", role="student", model_id="x", usage=Usage(), cost_usd=None,
                  latency_s=0.0, outcome="accepted")
    totals = ledger.totals()
    assert totals[("teacher", "t")] == (Usage(output_tokens=4), 0.75)
    assert totals[("student", "x")][1] is None


def test_a_ledger_line_that_cannot_be_written_loses_neither_the_answer_nor_the_entry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk after a paid call: the call's answer is returned, the entry is kept in memory with a
    warning, and it is written, in order, before the next entry once the disk has room again."""
    model = keyword_model("fake:keyword")
    skill = compile_skill(sentiment_spec(), sentiment_examples(), teacher=model, student=model,
                          options=CompileOptions(search=SearchConfig(ks=[2])))
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    written = ledger_module.append_line

    def disk_full(p: Path, line: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ledger_module, "append_line", disk_full)
    with pytest.warns(LedgerWriteWarning, match="No space left on device"):
        result = skill.run({"text": "a good film"}, student=model, teacher=model, ledger=ledger)
    assert result.output == {"sentiment": "positive"}
    assert ledger.unwritten == len(ledger.entries) > 0 and not path.exists()
    with pytest.raises(LedgerWriteError, match="still unwritten") as failed:
        ledger.flush()
    assert failed.value.path == path and failed.value.unwritten == ledger.unwritten
    assert isinstance(failed.value.__cause__, OSError)

    monkeypatch.setattr(ledger_module, "append_line", written)
    skill.run({"text": "a bad film"}, student=model, teacher=model, ledger=ledger)
    assert ledger.unwritten == 0
    assert Ledger(path).read() == ledger.entries  # every entry, in the order recorded
    ledger.flush()  # nothing left to write


def test_a_ledger_path_that_is_a_directory_is_refused_up_front(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory"):
        Ledger(tmp_path)
