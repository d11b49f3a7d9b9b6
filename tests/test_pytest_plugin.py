"""The pytest plugin: `pytest skills/` collects one item per skill directory and reports its failing
cases; it leaves ordinary test collection alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from skillforge import CompileOptions, compile_skill
from skillforge.compile import SearchConfig
from skillforge.regress import run_skill_tests

from helpers import keyword_model, sentiment_examples, sentiment_spec

pytest_plugins = ["pytester"]


def make_skill(root: Path, name: str) -> Path:
    m = keyword_model()
    skill = compile_skill(sentiment_spec(name), sentiment_examples(), teacher=m, student=m,
                          options=CompileOptions(search=SearchConfig(ks=[2])))
    path = skill.save(root / "skills" / name)
    assert run_skill_tests(path, mode="record", student=keyword_model(), teacher=keyword_model()).ok
    return path


def flip_case(path: Path, n: int) -> None:
    rows = [json.loads(line) for line in (path / "tests.jsonl").read_text().splitlines()]
    rows[n - 1]["expected"]["sentiment"] = {"positive": "negative", "negative": "positive"}[
        rows[n - 1]["expected"]["sentiment"]]
    (path / "tests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_each_skill_directory_is_one_test_item(pytester: pytest.Pytester) -> None:
    make_skill(pytester.path, "alpha")
    make_skill(pytester.path, "beta")
    (pytester.path / "skills" / "notes").mkdir()
    (pytester.path / "skills" / "notes" / "skill.yaml").write_text("not a skill: no tests.jsonl beside it\n")
    result = pytester.runpytest("skills", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["skills/alpha/skill.yaml::alpha", "skills/beta/skill.yaml::beta",
                                 "2 tests collected*"])


def test_recorded_skills_pass_in_the_default_replay_mode(pytester: pytest.Pytester) -> None:
    make_skill(pytester.path, "alpha")
    result = pytester.runpytest("skills", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*skills/alpha/skill.yaml::alpha PASSED*"])


def test_a_failing_skill_reports_its_failing_cases(pytester: pytest.Pytester) -> None:
    flip_case(make_skill(pytester.path, "alpha"), 2)
    make_skill(pytester.path, "beta")
    result = pytester.runpytest("skills", "-W", "ignore::skillforge.SkillIntegrityWarning")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*skill 'alpha' (skills/alpha): pass rate 0.833 < minimum 0.950 (5 of 6 cases passed)",
        "  case 2: input {\"text\": *}",
        "      sentiment: got \"*\", expected \"*\"",
    ])


def test_a_missing_recording_fails_with_the_command_that_records_it(pytester: pytest.Pytester) -> None:
    path = make_skill(pytester.path, "alpha")
    for cassette in (path / "cassettes").iterdir():
        cassette.unlink()
    result = pytester.runpytest("skills")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*6 cases have no recording for model test:keyword (cases 1, 2, 3, 4, 5, 6); replay never calls a "
        "model. Record them: skillforge test skills/alpha --mode record",
    ])


def test_options_mirror_the_cli(pytester: pytest.Pytester) -> None:
    make_skill(pytester.path, "alpha")
    # live mode has to build the recorded model, and "test:" is no provider: the item errors clearly
    result = pytester.runpytest("skills", "--skillforge-mode=live", "--skillforge-repeat=2",
                                "--skillforge-no-escalate")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*error: unknown model provider 'test'*"])
    assert pytester.runpytest("skills", "--skillforge-mode=sometimes").ret == pytest.ExitCode.USAGE_ERROR


CANDIDATES = """
from skillforge.models import register_provider
from skillforge.testing import FunctionModel

from helpers import keyword_answer

register_provider("cand", lambda name: FunctionModel(
    keyword_answer if name == "good" else (lambda request: {"sentiment": "negative"}), model_id=f"cand:{name}"))
"""


@pytest.mark.parametrize(("candidate", "passes"), [("cand:good", True), ("cand:bad", False)])
def test_a_candidate_student_runs_the_suites_and_fails_ci_on_regressions(
        pytester: pytest.Pytester, candidate: str, passes: bool) -> None:
    path = make_skill(pytester.path, "alpha")
    before = {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()}
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n" + CANDIDATES)
    result = pytester.runpytest_subprocess("skills", "--skillforge-mode=live", f"--skillforge-student={candidate}",
                                           "--skillforge-no-escalate")
    if passes:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*skill 'alpha' (skills/alpha): pass rate * < minimum 0.950*"])
    # The CI check never changes the skill.
    assert {f.name: f.read_bytes() for f in path.iterdir() if f.is_file()} == before


def test_ordinary_tests_are_collected_as_before(pytester: pytest.Pytester) -> None:
    make_skill(pytester.path, "alpha")
    pytester.makepyfile(test_plain="def test_it():\n    assert True\n")
    pytester.runpytest().assert_outcomes(passed=2)
    pytester.runpytest("test_plain.py").assert_outcomes(passed=1)
    pytester.runpytest("-p", "no:skillforge").assert_outcomes(passed=1)


def test_the_plugin_is_registered_through_the_pytest11_entry_point(tmp_path: Path) -> None:
    make_skill(tmp_path, "alpha")
    proc = subprocess.run([sys.executable, "-m", "pytest", "skills", "-q", "-p", "no:cacheprovider"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_a_json_result_becomes_the_baseline_that_a_pass_rate_drop_fails_against(pytester: pytest.Pytester) -> None:
    path = make_skill(pytester.path, "alpha")
    first = pytester.runpytest("skills", "--skillforge-json", "base.json")
    first.assert_outcomes(passed=1)
    base = json.loads((pytester.path / "base.json").read_text())
    assert [s["name"] for s in base["skills"]] == ["alpha"] and base["skills"][0]["pass_rate"] == 1.0

    # One flipped case of six: still above the skill's own minimum? No matter -- the baseline gate is
    # separate, and a drop of 0.167 is beyond the 0.02 tolerance.
    flip_case(path, 2)
    (path / "skill.yaml").write_text((path / "skill.yaml").read_text().replace("min_pass_rate: 0.95",
                                                                                "min_pass_rate: 0.5"))
    again = pytester.runpytest("skills", "--skillforge-baseline", "base.json",
                               "-W", "ignore::skillforge.SkillIntegrityWarning")
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*against the baseline: pass rate dropped by 0.167 (tolerance 0.02)*"])
    assert pytester.runpytest("skills", "--skillforge-baseline", "base.json", "--skillforge-tolerance", "0.2",
                              "-W", "ignore::skillforge.SkillIntegrityWarning").ret == 0


def test_an_unreadable_baseline_is_a_usage_error(pytester: pytest.Pytester) -> None:
    make_skill(pytester.path, "alpha")
    (pytester.path / "bad.json").write_text("{}")
    result = pytester.runpytest("skills", "--skillforge-baseline", "bad.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--skillforge-baseline: bad.json is not a skillforge test --json result*"])
