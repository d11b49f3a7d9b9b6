"""Model lifecycle: a skill pinned to a model past its retirement date fails ``skillforge test`` and
``skillforge status`` with the date and the successor to retarget to; a deprecated one only warns there;
a production run warns once per model and still answers; an unknown model says nothing. Every check is
judged on an injected day (``today``, ``--now``, a runner's clock), never on the machine's clock."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from skillforge import DeprecatedModelWarning, RetiredModelError, load_skill
from skillforge.cli.app import app
from skillforge.compile import CompileOptions, SearchConfig, compile_skill
from skillforge.format import ModelTier, SecondOpinion, SkillDefinition, write_files
from skillforge.ledger import Ledger
from skillforge.models import lifecycle
from skillforge.models.lifecycle import (
    LIFECYCLE_CHECKED,
    LIFECYCLE_SOURCE,
    LifecycleTable,
    ModelLifecycle,
    default_lifecycle_table,
    reset_lifecycle_warnings,
)
from skillforge.regress import run_skill_tests
from skillforge.run import Runner
from skillforge.run.pinned import pinned_models
from skillforge.testing import FunctionModel

from helpers import keyword_answer, sentiment_examples, sentiment_spec
from ledger_fixture import manifest, write_fixture

OPUS_3 = "anthropic:claude-3-opus-20240229"  # retired 2026-01-05 on Anthropic's page; replaced by Opus 4.8
KEYWORD = "test:keyword"


def fake_table(**fields: Any) -> LifecycleTable:
    """A table of one fake model, ``test:keyword``, nothing else."""
    return LifecycleTable({KEYWORD: fields}, include_defaults=False)


def compiled(root: Path, model_id: str = KEYWORD, *, record: bool = True) -> Path:
    """A sentiment skill at ``root/skills/sentiment`` whose student and teacher are ``model_id`` (a perfect
    keyword model), with its regression recordings."""
    m = FunctionModel(keyword_answer, model_id=model_id)
    skill = compile_skill(sentiment_spec(), sentiment_examples(), teacher=m, student=m,
                          options=CompileOptions(search=SearchConfig(ks=[2], refine_rounds=0)))
    path = skill.save(root / "skills" / "sentiment")
    if record:
        fresh = FunctionModel(keyword_answer, model_id=model_id)
        assert run_skill_tests(path, mode="record", student=fresh, teacher=fresh, lifecycle=LifecycleTable(
            include_defaults=False)).ok
    return path


@pytest.fixture
def fresh_warnings() -> Iterator[None]:
    reset_lifecycle_warnings()
    yield
    reset_lifecycle_warnings()


# --- the table --------------------------------------------------------------------------------------------


def test_the_built_in_table_resolves_dated_ids_aliases_and_the_provider_prefix() -> None:
    table = default_lifecycle_table()
    opus3 = table.lifecycle_for(OPUS_3)
    assert opus3 is not None
    assert (opus3.deprecated_on, opus3.retired_on, opus3.successor) == (date(2025, 6, 30), date(2026, 1, 5),
                                                                        "claude-opus-4-8")
    assert (opus3.source, opus3.checked_on) == (LIFECYCLE_SOURCE, LIFECYCLE_CHECKED)
    assert table.lifecycle_for("claude-3-opus-latest") == opus3 == table["claude-3-opus"]
    assert table.lifecycle_for("claude-opus-4-0") == table.lifecycle_for("anthropic:claude-opus-4-20250514")
    # A partner platform's snapshot id (Vertex) follows that platform's own dates, which are not recorded.
    assert table.lifecycle_for("claude-3-opus@20240229") is None


def test_an_unknown_or_active_model_has_no_notice() -> None:
    table = default_lifecycle_table()
    for model in ("anthropic:claude-opus-5-5", "local:smollm2-135m", "test:keyword", "claude-unheard-of-9"):
        assert table.notice(model, role="student", today=date(2030, 1, 1)) is None


def test_a_model_is_active_then_deprecated_then_retired() -> None:
    entry = ModelLifecycle(deprecated_on=date(2026, 6, 1), retired_on=date(2026, 8, 1))
    assert [entry.state(date(2026, m, 1)) for m in (5, 6, 7, 8, 9)] == [
        "active", "deprecated", "deprecated", "retired", "retired"]
    # A retirement date published without the deprecation's own date still means deprecated.
    assert ModelLifecycle(retired_on=date(2026, 8, 1)).state(date(2026, 1, 1)) == "deprecated"
    assert ModelLifecycle().state(date(2026, 1, 1)) == "active"


def test_entries_are_strict_and_ordered() -> None:
    with pytest.raises(ValidationError):
        ModelLifecycle.model_validate({"retired_on": "2026-01-01", "retires": "soon"})
    with pytest.raises(ValidationError, match="before deprecated_on"):
        ModelLifecycle(deprecated_on=date(2026, 2, 1), retired_on=date(2026, 1, 1))


def test_users_extend_and_override_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    table = LifecycleTable({"my-finetune": {"deprecated_on": "2026-01-01", "retired_on": "2026-03-01",
                                            "successor": "my-finetune-2"}})
    assert table["my-finetune"].retired_on == date(2026, 3, 1) and "claude-3-opus" in table
    table.update({"anthropic:claude-3-opus-20240229": ModelLifecycle(retired_on=date(2027, 1, 1))})
    notice = table.notice(OPUS_3, role="student", today=date(2026, 6, 1))
    assert notice is not None and notice.state == "deprecated" and notice.retired_on == date(2027, 1, 1)
    assert LifecycleTable(include_defaults=False) == {}
    monkeypatch.setattr(lifecycle, "_default_table", LifecycleTable())
    default_lifecycle_table().update({"my-finetune": ModelLifecycle(retired_on=date(2026, 3, 1))})
    assert "my-finetune" in default_lifecycle_table()


def test_the_successor_keeps_the_provider_prefix_and_skips_retired_successors() -> None:
    table = LifecycleTable({
        "a": ModelLifecycle(retired_on=date(2026, 1, 1), successor="b"),
        "b": ModelLifecycle(retired_on=date(2026, 6, 1), successor="c"),
        "c": ModelLifecycle(retired_on=date(2027, 1, 1), successor="a"),
    }, include_defaults=False)
    notice = table.notice("anthropic:a", role="teacher", today=date(2026, 7, 1))
    assert notice is not None and notice.successor == "anthropic:c"  # b is retired by then too
    assert table.successor_for("a", date(2028, 1, 1)) == "c"  # the cycle ends at the last one named
    assert "skillforge retarget skills/x --teacher anthropic:c" in notice.message("x", "skills/x")


def test_every_pinned_model_is_checked_with_the_retarget_option_of_its_role() -> None:
    m = manifest()
    tiers = [ModelTier(model="anthropic:claude-3-5-haiku-20241022"), ModelTier(model="anthropic:claude-haiku-5-5")]
    confidence = m.settings.confidence.model_copy(update={"second_opinion": SecondOpinion(
        model="anthropic:claude-3-haiku-20240307", instructions="Say the mood.")})
    pinned = m.model_copy(update={"settings": m.settings.model_copy(
        update={"model_tiers": tiers, "confidence": confidence})})
    pins = pinned_models(pinned, teacher="anthropic:claude-opus-4-1-20250805")
    assert pins == [("student", "local:smollm2-135m"), ("teacher", "anthropic:claude-opus-4-1-20250805"),
                    ("tier", "anthropic:claude-3-5-haiku-20241022"), ("tier", "anthropic:claude-haiku-5-5"),
                    ("second opinion", "anthropic:claude-3-haiku-20240307")]
    notices = default_lifecycle_table().notices(pins, today=date(2026, 12, 8))
    assert [n.retarget_hint("skills/mood") for n in notices] == [
        "skillforge retarget skills/mood --teacher anthropic:claude-opus-4-8",
        "skillforge retarget skills/mood --tier anthropic:claude-haiku-4-5-20251001 (with a --tier for each tier "
        "it keeps)",
        "skillforge retarget skills/mood --second-opinion anthropic:claude-haiku-4-5-20251001",
    ]


# --- skillforge test --------------------------------------------------------------------------------------


def test_a_skill_pinned_past_retirement_fails_naming_the_date_and_the_successor(tmp_path: Path) -> None:
    path = compiled(tmp_path)
    table = fake_table(deprecated_on="2026-01-01", retired_on="2026-03-01", successor="test:keyword-2")
    result = run_skill_tests(path, root=tmp_path, today=date(2026, 3, 1), lifecycle=table)
    assert not result.ok and result.cases == 0  # no case is run: the model's calls would fail
    assert result.error is not None
    assert "student model test:keyword, retired on 2026-03-01" in result.error
    assert "skillforge retarget skills/sentiment --student test:keyword-2" in result.error
    # The same skill the day before: deprecated, so it passes with a note.
    before = run_skill_tests(path, root=tmp_path, today=date(2026, 2, 28), lifecycle=table)
    assert before.ok and before.error is None
    assert any("deprecated on 2026-01-01 and retiring on 2026-03-01" in n and "test:keyword-2" in n
               for n in before.notes)


def test_an_unknown_model_adds_nothing_to_the_regression_result(tmp_path: Path) -> None:
    result = run_skill_tests(compiled(tmp_path), root=tmp_path, today=date(2030, 1, 1),
                             lifecycle=LifecycleTable(include_defaults=False))
    assert result.ok and result.notes == [] and result.error is None


def test_the_test_command_fails_a_skill_pinned_to_a_retired_claude_model(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    compiled(tmp_path, OPUS_3, record=False)  # retired 2026-01-05, before any day this test runs on
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, ["test", "skills", "--json", "report.json"], env={"COLUMNS": "300"})
    assert out.exit_code == 1, out.output
    assert "retired on 2026-01-05" in out.output
    assert "skillforge retarget skills/sentiment --student anthropic:claude-opus-4-8" in out.output
    (skill,) = json.loads((tmp_path / "report.json").read_text())["skills"]
    assert not skill["ok"] and "anthropic:claude-opus-4-8" in skill["error"]


def test_the_test_command_passes_a_deprecated_model_with_a_note(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    compiled(tmp_path)
    # The process-wide table, extended as a user would: deprecated since 2020, retiring far ahead.
    monkeypatch.setattr(lifecycle, "_default_table", LifecycleTable())
    default_lifecycle_table().update({KEYWORD: {"deprecated_on": "2020-01-01", "retired_on": "2999-01-01",
                                                "successor": "test:keyword-2"}})
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, ["test", "skills"], env={"COLUMNS": "300"})
    assert out.exit_code == 0, out.output
    assert "note: skill 'sentiment' pins student model test:keyword, deprecated on 2020-01-01" in out.output
    assert "--teacher test:keyword-2" in out.output


# --- run ----------------------------------------------------------------------------------------------------


def test_a_run_warns_once_per_model_and_still_answers(tmp_path: Path, fresh_warnings: None) -> None:
    skill = load_skill(compiled(tmp_path, OPUS_3, record=False))
    model = FunctionModel(keyword_answer, model_id=OPUS_3)
    with pytest.warns(DeprecatedModelWarning) as caught:
        first = skill.run({"text": "good film"}, student=model, teacher=model, ledger=Ledger(None))
        second = skill.run({"text": "bad film"}, student=model, teacher=model, ledger=Ledger(None), escalate=False)
    assert first.output == {"sentiment": "positive"} and second is not None
    (w,) = [w.message for w in caught if isinstance(w.message, DeprecatedModelWarning)]
    assert (w.model, w.retired_on, w.successor) == (OPUS_3, date(2026, 1, 5), "anthropic:claude-opus-4-8")
    assert "retired on 2026-01-05" in str(w) and "--student anthropic:claude-opus-4-8" in str(w)


def test_a_run_judges_by_its_clock_and_a_regression_run_does_not_warn(tmp_path: Path,
                                                                        fresh_warnings: None) -> None:
    skill = load_skill(compiled(tmp_path, OPUS_3, record=False))
    model = FunctionModel(keyword_answer, model_id=OPUS_3)
    with pytest.warns(DeprecatedModelWarning, match="deprecated on 2025-06-30 and retiring on 2026-01-05"):
        Runner(skill, student=model, teacher=model, ledger=Ledger(None),
               clock=lambda: datetime(2025, 7, 1, tzinfo=UTC))
    reset_lifecycle_warnings()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecatedModelWarning)
        Runner(skill, student=model, teacher=model, ledger=Ledger(None), phase="test")
        # Before the deprecation there is nothing to say.
        Runner(skill, student=model, teacher=model, ledger=Ledger(None),
               clock=lambda: datetime(2025, 1, 1, tzinfo=UTC))


# --- skillforge status ----------------------------------------------------------------------------------


def pinned_skill(path: Path, student: str) -> None:
    m = manifest()
    unhashed = SkillDefinition(m.model_copy(update={"provenance": m.provenance.model_copy(
        update={"student": student})}), "Say the mood.", [], [])
    write_files(path, SkillDefinition(unhashed.hashed_manifest(), "Say the mood.", [], []).file_texts())


def status(tmp_path: Path, now: str, *extra: str) -> Any:
    args = ["status", "--ledger", "ledger.jsonl", "--window", "1d", "--now", now, *extra]
    return CliRunner().invoke(app, args, env={"COLUMNS": "300"})


def test_status_shows_a_deprecated_model_and_fails_on_a_retired_one(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    write_fixture(tmp_path / "ledger.jsonl")
    pinned_skill(tmp_path / "skills" / "mood", OPUS_3)
    monkeypatch.chdir(tmp_path)
    deprecated = status(tmp_path, "2025-07-01T12:00:00+00:00")
    assert deprecated.exit_code == 0, deprecated.output
    assert ("DEPRECATED: skill 'mood' pins student model anthropic:claude-3-opus-20240229, deprecated on "
            "2025-06-30 and retiring on 2026-01-05") in deprecated.output
    assert "skillforge retarget skills/mood --student anthropic:claude-opus-4-8" in deprecated.output

    retired = status(tmp_path, "2026-11-04T13:00:00+00:00")
    assert "RETIRED: skill 'mood' pins student model anthropic:claude-3-opus-20240229, retired on 2026-01-05" \
        in retired.output
    assert isinstance(retired.exception, RetiredModelError)  # main() prints it and exits 2
    error = retired.exception
    assert (error.model, error.role, error.retired_on, error.successor) == (
        OPUS_3, "student", date(2026, 1, 5), "anthropic:claude-opus-4-8")

    as_json = status(tmp_path, "2026-11-04T13:00:00+00:00", "--json")
    assert isinstance(as_json.exception, RetiredModelError)
    (notice,) = json.loads(as_json.stdout)["skills"][0]["model_lifecycle"]
    assert notice == {"model": OPUS_3, "role": "student", "state": "retired", "deprecated_on": "2025-06-30",
                      "retired_on": "2026-01-05", "successor": "anthropic:claude-opus-4-8"}


def test_status_says_nothing_of_active_or_unknown_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_fixture(tmp_path / "ledger.jsonl")
    pinned_skill(tmp_path / "skills" / "mood", "local:smollm2-135m")  # teacher: claude-opus-5-5 (active)
    monkeypatch.chdir(tmp_path)
    out = status(tmp_path, "2026-11-04T13:00:00+00:00", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["skills"][0]["model_lifecycle"] == []
    text = status(tmp_path, "2026-11-04T13:00:00+00:00")
    assert text.exit_code == 0 and "DEPRECATED" not in text.output and "RETIRED" not in text.output
