"""Skill regression runs (`skillforge test`): each skill's cases run through the runtime and its
recordings, are compared per field, and gate on the skill's minimum pass rate."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillforge import Comparator, CompileOptions, Example, SkillSpec, compile_skill, load_skill
from skillforge.cli import app, main
from skillforge.compile import SearchConfig
from skillforge.errors import ConfigurationError
from skillforge.models.base import Model, ModelRequest, ModelResponse
from skillforge.regress import (
    CaseFailure,
    SkillResult,
    SuiteReport,
    compare_baseline,
    failure_text,
    find_skills,
    junit_xml,
    load_report,
    run_skill_tests,
    run_suite,
    verdict,
)
from skillforge.spec.scoring import FieldDiff
from skillforge.testing import FunctionModel, skill_input

from helpers import keyword_answer, sentiment_examples, sentiment_spec

MODEL_ID = "test:keyword"  # the id the skills below are compiled with and recorded under


def model(fn: Callable[[ModelRequest], Any] = keyword_answer, **kw: Any) -> FunctionModel:
    kw.setdefault("model_id", MODEL_ID)
    return FunctionModel(fn, **kw)


def make_skill(root: Path, name: str = "sentiment", *, record: bool = True, threshold: float | None = None
               ) -> Path:
    """A compiled sentiment skill at ``root/skills/<name>`` (perfect keyword student, min pass
    rate 0.95), with its recordings unless ``record`` is false. 20 examples certify no student answer at
    0.95, so the compiled skill routes every input to the teacher; with ``threshold`` it is edited to ask
    its student, gated there."""
    m = model()
    skill = compile_skill(sentiment_spec(name), sentiment_examples(), teacher=m, student=m,
                          options=CompileOptions(search=SearchConfig(ks=[2])))
    if threshold is not None:
        skill.manifest.settings.ask_student, skill.manifest.settings.threshold = True, threshold
    path = skill.save(root / "skills" / name)
    if record:
        assert run_skill_tests(path, mode="record", student=model(), teacher=model()).ok
    return path


def forbid_model_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(model_id: str) -> Model:
        raise AssertionError(f"a model was constructed: {model_id}")

    monkeypatch.setattr("skillforge.models.registry.get_model", forbidden)


def edit_tests(path: Path, change: Callable[[dict[str, Any]], None], cases: set[int]) -> None:
    """Apply ``change`` to the expected answer of the given 1-based cases of tests.jsonl."""
    lines = (path / "tests.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    for n in cases:
        change(rows[n - 1]["expected"])
    (path / "tests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def flip(expected: dict[str, Any]) -> None:
    expected["sentiment"] = "positive" if expected["sentiment"] == "negative" else "negative"


@pytest.fixture
def skill_dir(tmp_path: Path) -> Path:
    return make_skill(tmp_path)


def test_a_recorded_skill_passes_in_replay_without_building_a_model(
    skill_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_model_construction(monkeypatch)
    result = run_skill_tests(skill_dir, mode="replay", root=tmp_path)
    assert result.ok and result.error is None and result.failures == []
    assert (result.name, result.path, result.student, result.teacher) == (
        "sentiment", "skills/sentiment", MODEL_ID, MODEL_ID)
    assert result.cases == len(load_skill(skill_dir).tests) == result.passed
    # 20 examples cannot certify precision 0.95 by the Wilson bound, so the skill does not ask its student
    # and each case goes to the teacher (the same keyword model, recorded too).
    assert load_skill(skill_dir).settings.expected_student_share == 0.0
    assert (result.pass_rate, result.min_pass_rate, result.student_share) == (1.0, 0.95, 0.0)
    assert result.escalations == result.cases and result.cost_usd == 0.0 and result.tokens > 0
    assert result.pass_k is None


@pytest.mark.filterwarnings("ignore::skillforge.SkillIntegrityWarning")
def test_flipped_expected_labels_fail_the_skill_with_field_diffs(skill_dir: Path, tmp_path: Path) -> None:
    edit_tests(skill_dir, flip, {1, 3})
    result = run_skill_tests(skill_dir, mode="replay", root=tmp_path)
    assert not result.ok
    assert [f.case for f in result.failures] == [1, 3]
    tests = load_skill(skill_dir).tests
    first = result.failures[0]
    assert first.input == tests[0].input and first.expected == tests[0].expected
    (diff,) = first.diffs
    assert diff.field == "sentiment" and diff.expected == tests[0].expected["sentiment"] != diff.got
    assert any("changed since the skill was compiled" in n for n in result.notes)
    text = failure_text(result)
    assert "pass rate" in text and "< minimum 0.950" in text
    assert f'case 1: input {json.dumps(tests[0].input)}' in text
    assert f'sentiment: got "{diff.got}", expected "{diff.expected}"' in text


def nonsense_sensitive(request: ModelRequest) -> Any:
    """Follows the skill only while its instructions still talk about reviews."""
    if request.output_schema is not None and "review" not in request.system.lower():
        return {"sentiment": "positive"}
    return keyword_answer(request)


def test_nonsense_instructions_fail_once_re_recorded_and_replay_keeps_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = model(nonsense_sensitive)
    skill = compile_skill(sentiment_spec(), sentiment_examples(), teacher=m, student=m,
                          options=CompileOptions(search=SearchConfig(ks=[2])))
    skill.manifest.settings.ask_student = True  # 20 examples certify nothing: ask the student by hand
    path = skill.save(tmp_path / "skills" / "sentiment")
    assert run_skill_tests(path, mode="record", student=m, teacher=m).ok

    (path / "instructions.md").write_text("Colourless green ideas sleep furiously.\n")
    stale = run_skill_tests(path, mode="replay", root=tmp_path)
    assert not stale.ok, "changed instructions change every request: old recordings cannot pass"
    assert all("no recording" in (f.error or "") for f in stale.failures)

    recorded = run_skill_tests(path, mode="record", student=m, teacher=m, root=tmp_path)
    assert not recorded.ok and recorded.failures
    assert all(f.diffs[0].got == "positive" != f.expected["sentiment"] for f in recorded.failures)

    forbid_model_construction(monkeypatch)
    replayed = run_skill_tests(path, mode="replay", root=tmp_path)
    assert replayed.model_dump() == recorded.model_copy(update={"mode": "replay"}).model_dump()


def test_a_missing_recording_fails_each_case_clearly_and_calls_nothing(
    skill_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_model_construction(monkeypatch)
    for cassette in (skill_dir / "cassettes").iterdir():
        cassette.unlink()
    guard = model(lambda r: pytest.fail("replay called the student"))
    result = run_skill_tests(skill_dir, mode="replay", student=guard, root=tmp_path)
    assert not result.ok and result.error is None
    assert guard.requests == []
    assert len(result.failures) == result.cases
    error = result.failures[1].error or ""
    assert error.startswith("skill 'sentiment', case 2: no recording for model test:keyword")
    assert "skillforge test skills/sentiment --mode record" in error
    assert {f.missing_recording for f in result.failures} == {MODEL_ID}
    assert f"{result.cases} cases have no recording for model test:keyword" in failure_text(result)


def test_escalations_cost_and_student_share_are_measured(tmp_path: Path) -> None:
    skill_dir = make_skill(tmp_path, threshold=0.5)
    def unsure_on_bad(request: ModelRequest) -> ModelResponse:
        bad = "bad" in skill_input(request)["text"]
        return ModelResponse(model_id=MODEL_ID, text=json.dumps({"sentiment": "positive"}),
                             logprob_sum=-3.0 if bad else -0.01)  # bad texts: wrong and unsure

    teacher = model(model_id="test:teacher", price_per_token=1e-6)
    result = run_skill_tests(skill_dir, mode="record", student=model(unsure_on_bad), teacher=teacher, root=tmp_path)
    n_bad = sum("bad" in c.input["text"] for c in load_skill(skill_dir).tests)
    assert result.ok and result.pass_rate == 1.0
    assert result.escalations == n_bad > 0 == len(teacher.requests) - n_bad
    assert result.student_share == round(1 - n_bad / result.cases, 4)
    assert result.cost_usd is not None and result.cost_usd > 0
    assert sorted(p.name for p in (skill_dir / "cassettes").iterdir()) == ["test_keyword.jsonl", "test_teacher.jsonl"]
    assert not (skill_dir / "escalations.jsonl").exists(), "a test run must not log escalations into the skill"

    alone = run_skill_tests(skill_dir, mode="live", student=model(unsure_on_bad), escalate=False, root=tmp_path)
    assert not alone.ok and alone.escalations == 0 and alone.student_share == 1.0
    assert alone.pass_rate == round(1 - n_bad / alone.cases, 4)


def test_a_case_without_any_valid_answer_fails_and_the_run_goes_on(skill_dir: Path, tmp_path: Path) -> None:
    def broken_on_case_one(request: ModelRequest) -> Any:
        first = load_skill(skill_dir).tests[0].input
        return "not json" if skill_input(request) == first else keyword_answer(request)

    m = model(broken_on_case_one)
    result = run_skill_tests(skill_dir, mode="live", student=m, teacher=m, root=tmp_path)
    assert [f.case for f in result.failures] == [1]
    assert result.failures[0].got is None
    assert "no valid answer: neither the student nor the teacher gave one" in (result.failures[0].error or "")
    assert result.passed == result.cases - 1


def test_repeat_reports_pass_k_next_to_the_mean(skill_dir: Path, tmp_path: Path) -> None:
    seen: Counter[str] = Counter()
    flaky_text = load_skill(skill_dir).tests[0].input["text"]

    def flaky(request: ModelRequest) -> Any:
        text = skill_input(request)["text"]
        seen[text] += 1
        if text == flaky_text and seen[text] == 2:
            return {"sentiment": "negative" if "good" in text else "positive"}
        return keyword_answer(request)

    result = run_skill_tests(skill_dir, mode="live", student=model(flaky), escalate=False, repeat=3, root=tmp_path)
    n = result.cases
    assert (result.repeat, result.passed) == (3, 3 * n - 1)
    assert result.pass_rate == round((3 * n - 1) / (3 * n), 4)
    assert result.pass_k == round((n - 1) / n, 4)
    (failure,) = result.failures
    assert (failure.case, failure.failed_runs, failure.runs) == (1, 1, 3)


CITY_SPEC = SkillSpec(
    name="city", description="Name the city in the text.",
    input_schema={"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    output_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def test_per_field_comparators_from_the_skill_are_used(tmp_path: Path) -> None:
    cities = ["Paris", "Rome", "Oslo", "Lima", "Kyiv", "Bern", "Riga", "Baku"]
    examples = [Example(input={"text": f"I live in {c}"}, expected={"city": c}) for c in cities]

    def shouting(request: ModelRequest) -> Any:  # right city, wrong case
        if request.output_schema is None:
            return "1. Find the city.\n2. Write it down as the answer."
        return {"city": skill_input(request)["text"].split()[-1].upper()}

    m = model(shouting)
    skill = compile_skill(CITY_SPEC, examples, teacher=m, student=m,
                          options=CompileOptions(comparators={"city": Comparator(kind="normalized")},
                                                 search=SearchConfig(ks=[0])))
    path = skill.save(tmp_path / "skills" / "city")
    assert run_skill_tests(path, mode="record", student=m, teacher=m).ok

    skill = load_skill(path)
    skill.manifest.settings.comparators = {}  # back to the default: exact
    skill.save(path)
    exact = run_skill_tests(path, mode="replay", root=tmp_path)
    assert not exact.ok and exact.pass_rate == 0.0
    assert exact.failures[0].diffs[0].got == exact.failures[0].diffs[0].expected.upper()


def test_a_run_over_several_skills_reports_each_and_fails_if_any_fails(tmp_path: Path) -> None:
    good, bad = make_skill(tmp_path, "alpha"), make_skill(tmp_path, "beta")
    edit_tests(bad, flip, {2})
    report = run_suite([tmp_path / "skills"], mode="replay", root=tmp_path)
    assert [(s.name, s.ok) for s in report.skills] == [("alpha", True), ("beta", False)]
    assert not report.ok
    assert report.skills[0].path == good.relative_to(tmp_path).as_posix()


def test_an_unreadable_skill_is_an_error_result_and_the_others_still_run(tmp_path: Path) -> None:
    make_skill(tmp_path, "alpha")
    broken = make_skill(tmp_path, "broken", record=False)
    (broken / "skill.yaml").write_text("format_version: 1\nname: [unclosed\n")
    report = run_suite([tmp_path / "skills"], mode="replay", root=tmp_path)
    alpha, bad = report.skills
    assert alpha.ok and not bad.ok and not report.ok
    assert bad.name == "broken" and bad.error is not None and "skills/broken/skill.yaml" in bad.error


def test_a_model_that_cannot_be_built_ends_that_skill_with_one_error(skill_dir: Path, tmp_path: Path) -> None:
    result = run_skill_tests(skill_dir, mode="live", root=tmp_path)  # "test:" is no registered provider
    assert not result.ok and result.failures == []
    assert result.error is not None and "unknown model provider 'test'" in result.error


def test_json_results_are_stable_relative_and_round_trip(skill_dir: Path, tmp_path: Path) -> None:
    edit_tests(skill_dir, flip, {1})
    first = run_suite([skill_dir], mode="replay", root=tmp_path).to_json()
    second = run_suite([skill_dir], mode="replay", root=tmp_path).to_json()
    assert first == second
    assert str(tmp_path) not in first
    data = json.loads(first)
    assert data["skills"][0]["path"] == "skills/sentiment" and data["ok"] is False
    out = tmp_path / "out" / "result.json"
    SuiteReport.model_validate_json(first).write_json(out)
    assert load_report(out).to_json() == first


def result(name: str, pass_rate: float, cost: float | None = 0.01, **kw: Any) -> SkillResult:
    kw.setdefault("ok", True)
    return SkillResult(
        name=name,
        path=f"skills/{name}",
        mode="replay",
        cases=100,
        passed=round(pass_rate * 100),
        pass_rate=pass_rate,
        min_pass_rate=0.5,
        cost_usd=cost,
        **kw,
    )


def suite(*results: SkillResult) -> SuiteReport:
    return SuiteReport(mode="replay", skills=list(results), ok=True)


def test_a_baseline_gives_deltas_and_fails_a_drop_beyond_the_tolerance() -> None:
    before = suite(result("steady", 0.90), result("dropped", 0.90, cost=0.02), result("gone", 0.8))
    now = suite(result("steady", 0.89), result("dropped", 0.85, cost=0.03), result("new", 0.7))
    deltas = {d.name: d for d in compare_baseline(now, before, tolerance=0.02)}
    assert deltas["steady"].ok and deltas["steady"].pass_rate_delta == -0.01
    assert not deltas["dropped"].ok and deltas["dropped"].pass_rate_delta == -0.05
    assert deltas["dropped"].cost_delta == pytest.approx(0.01)
    assert "dropped by 0.050" in (deltas["dropped"].note or "")
    assert deltas["new"].ok and deltas["new"].note == "not in the baseline"
    assert deltas["gone"].ok and deltas["gone"].note == "not in this run"
    assert compare_baseline(now, before, tolerance=0.1)[1].ok


@pytest.mark.filterwarnings("ignore::skillforge.SkillIntegrityWarning")
def test_run_suite_with_a_baseline_fails_on_a_drop(skill_dir: Path, tmp_path: Path) -> None:
    baseline = run_suite([skill_dir], mode="replay", root=tmp_path)
    edit_tests(skill_dir, flip, {1})
    skill = load_skill(skill_dir)
    skill.manifest.settings.min_pass_rate = 0.5  # the skill's own gate still passes...
    skill.save(skill_dir)
    report = run_suite([skill_dir], mode="replay", root=tmp_path, baseline=baseline, tolerance=0.02)
    assert report.skills[0].ok
    assert not report.ok  # ...but it dropped against the baseline
    assert report.baseline is not None and not report.baseline[0].ok


def test_junit_xml_has_a_testcase_per_skill_and_lists_failing_cases() -> None:
    diff = FieldDiff(field="sentiment", got="positive", expected="negative")
    failing = result(
        "beta",
        0.4,
        ok=False,
        failures=[
            CaseFailure(
                case=7,
                input={"text": "x"},
                expected={"sentiment": "negative"},
                got={"sentiment": "positive"},
                diffs=[diff],
            )
        ],
    )
    xml = junit_xml(
        suite(
            result("alpha", 0.9), failing, SkillResult(name="gamma", path="skills/gamma", mode="replay", error="boom")
        )
    )
    root = ET.fromstring(xml)
    (ts,) = root.findall("testsuite")
    assert (ts.get("tests"), ts.get("failures"), ts.get("errors")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in ts.findall("testcase")}
    assert list(cases) == ["alpha", "beta", "gamma"]
    assert cases["alpha"].find("failure") is None
    failure = cases["beta"].find("failure")
    assert failure is not None and "minimum 0.500" in (failure.get("message") or "")
    assert 'case 7: input {"text": "x"}' in (failure.text or "")
    assert 'sentiment: got "positive", expected "negative"' in (failure.text or "")
    error = cases["gamma"].find("error")
    assert error is not None and error.get("message") == "boom"


def test_skills_are_found_under_the_given_paths(tmp_path: Path) -> None:
    for name in ("b", "a", "group/c", ".hidden/d"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "skill.yaml").write_text("")
    assert [p.relative_to(tmp_path).as_posix() for p in find_skills([tmp_path])] == ["a", "b", "group/c"]
    assert find_skills([tmp_path / "a", tmp_path / "a" / "skill.yaml", tmp_path])[:2] == [
        tmp_path / "a",
        tmp_path / "b",
    ]
    with pytest.raises(ConfigurationError, match="no such file or directory"):
        find_skills([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match="no skills"):
        find_skills([tmp_path / "empty"])


def test_cli_passes_writes_json_and_junit(skill_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, ["test", "--json", "r.json", "--junit-xml", "r.xml"])  # default: skills/
    assert out.exit_code == 0, out.output
    assert "sentiment" in out.output and "PASS" in out.output and "1 skills: 1 passed" in out.output
    assert load_report(tmp_path / "r.json").ok
    assert ET.parse(tmp_path / "r.xml").getroot().find("testsuite") is not None


def test_cli_fails_with_the_failing_cases_and_a_baseline_delta(
    skill_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["test", "skills", "--json", "before.json"]).exit_code == 0
    edit_tests(skill_dir, flip, {2})
    out = CliRunner().invoke(app, ["test", "skills/sentiment", "--baseline", "before.json", "--repeat", "2"])
    assert out.exit_code == 1
    assert "FAIL" in out.output and "pass^K" in out.output and "Δ pass" in out.output
    assert "case 2 (failed 2 of 2 runs)" in out.output and "sentiment: got" in out.output
    assert "against the baseline: pass rate dropped" in out.output


def test_cli_usage_errors_are_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["skillforge", "test", "no-such-dir"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == "error: no such file or directory: no-such-dir"


def test_a_baseline_that_is_not_a_result_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "junk.json").write_text('{"skills": 3}')
    with pytest.raises(ConfigurationError, match="is not a skillforge test --json result"):
        load_report(tmp_path / "junk.json")
    with pytest.raises(ConfigurationError, match="cannot read baseline"):
        load_report(tmp_path / "missing.json")


def test_the_verdict_names_the_field_score_gate_when_the_skill_sets_one() -> None:
    from skillforge.regress import verdict

    base = dict(name="a", path="skills/a", mode="replay", cases=10, passed=1, pass_rate=0.1, min_pass_rate=0.0)
    ok = SkillResult(**base, field_score=0.6, min_field_score=0.5, ok=True)
    low = SkillResult(**base, field_score=0.4, min_field_score=0.5, ok=False)
    assert verdict(ok).endswith("field score 0.600 >= minimum 0.500")
    assert verdict(low).startswith("pass rate 0.100 >= minimum 0.000")
    assert verdict(low).endswith("field score 0.400 < minimum 0.500")
    assert "field score" not in verdict(SkillResult(**base, ok=True))


def test_refusals_are_escalated_and_counted_apart_and_replay_the_same(tmp_path: Path) -> None:
    skill_dir = make_skill(tmp_path, threshold=0.5)

    def refuses_bad(request: ModelRequest) -> Any:
        if "bad" in skill_input(request)["text"]:
            return ModelResponse(model_id=MODEL_ID, text="", stop_reason="refusal")
        return ModelResponse(model_id=MODEL_ID, text=json.dumps({"sentiment": "positive"}), logprob_sum=-0.01)

    teacher = model(model_id="test:teacher")
    result = run_skill_tests(skill_dir, mode="record", student=model(refuses_bad), teacher=teacher, root=tmp_path)
    n_bad = sum("bad" in c.input["text"] for c in load_skill(skill_dir).tests)
    assert result.ok and result.refusals == result.escalations == n_bad > 0
    assert len(teacher.requests) == n_bad  # refused once, escalated, never re-asked
    assert f"{n_bad} refused calls" in verdict(result)
    replayed = run_skill_tests(skill_dir, mode="replay", teacher="test:teacher", root=tmp_path)  # stop_reason recorded
    assert replayed.refusals == n_bad
