"""A skill directory pulled from someone else's repository can make skillforge read only its own regular
files, as UTF-8, as JSON-compatible YAML without aliases; a malformed or cut-short file is a one-line
SkillFormatError naming the file (and line and field), never a silent load."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillforge import SkillFormatError, SpecError, load_skill
from skillforge.cli import app
from skillforge.regress import run_skill_tests
from skillforge.spec import SkillSpec, read_examples

ROOT = Path(__file__).resolve().parent.parent
SKILLS = ROOT / "skills"
FILES = ["skill.yaml", "instructions.md", "examples.jsonl", "tests.jsonl"]
pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _quiet_integrity() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture
def skill(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SKILLS / "intent-router", tmp_path / "skills" / "intent-router"))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def load_error(path: Path) -> SkillFormatError:
    with pytest.raises(SkillFormatError) as info:
        load_skill(path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return info.value


@pytest.mark.parametrize("name", FILES)
def test_a_file_that_is_not_utf8_is_named_with_its_line(skill: Path, name: str) -> None:
    data = (skill / name).read_bytes()
    cut = data.index(b"\n") + 1
    (skill / name).write_bytes(data[:cut] + b"\xff\xfe bad" + data[cut:])
    error = load_error(skill)
    assert error.file == name and error.line == 2 and "not UTF-8" in str(error)


@pytest.mark.parametrize("name", [*FILES, "escalations.jsonl"])
def test_a_symlink_to_a_file_outside_the_skill_is_refused_unread(skill: Path, tmp_path: Path, name: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT\n")
    (skill / name).unlink(missing_ok=True)
    (skill / name).symlink_to(secret)
    error = load_error(skill)
    assert error.file == name and "outside the skill directory" in str(error)
    assert "TOP-SECRET" not in str(error)


def test_a_symlink_inside_the_skill_is_followed(skill: Path) -> None:
    os.replace(skill / "instructions.md", skill / "real-instructions.md")
    (skill / "instructions.md").symlink_to("real-instructions.md")
    assert load_skill(skill, strict=True).instructions == (skill / "real-instructions.md").read_text()


def test_a_symlinked_cassette_directory_pointing_outside_is_refused(skill: Path, tmp_path: Path) -> None:
    shutil.move(skill / "cassettes", tmp_path / "elsewhere")
    (skill / "cassettes").symlink_to(tmp_path / "elsewhere")
    assert load_error(skill).file == "cassettes"


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_skill_file_that_is_not_a_regular_file_is_refused_without_blocking(skill: Path, kind: str) -> None:
    (skill / "instructions.md").unlink()
    if kind == "fifo":
        os.mkfifo(skill / "instructions.md")
    else:
        (skill / "instructions.md").mkdir()
    error = load_error(skill)
    assert error.file == "instructions.md" and "not a regular file" in str(error)


@pytest.mark.parametrize("value", ["true", "'1'", "1.0", "2", "null", "[1]"])
def test_the_format_version_must_be_exactly_the_integer_1(skill: Path, value: str) -> None:
    edit(skill / "skill.yaml", "format_version: 1\n", f"format_version: {value}\n")
    error = load_error(skill)
    assert error.field == "format_version"


def test_a_skill_yaml_cut_at_any_line_inside_metrics_fails(skill: Path) -> None:
    text = (skill / "skill.yaml").read_text()
    start = text.index("\nmetrics:\n")
    offsets = [i + 1 for i, ch in enumerate(text) if ch == "\n" and i > start][:-1]
    assert len(offsets) > 10
    for cut in offsets:
        (skill / "skill.yaml").write_text(text[:cut])
        error = load_error(skill)
        assert error.file == "skill.yaml", cut


def test_a_skill_yaml_cut_anywhere_in_its_last_lines_fails(skill: Path) -> None:
    text = (skill / "skill.yaml").read_text()
    start = text.rindex("\n", 0, text.rindex("\n", 0, len(text) - 1)) + 1  # the last two lines
    for cut in range(start, len(text)):
        (skill / "skill.yaml").write_text(text[:cut])
        assert load_error(skill).file == "skill.yaml", repr(text[start:cut])


@pytest.mark.parametrize(("yaml_text", "why"), [
    ("a: &x [1, 2]\nb: *x\n", "aliases"),
    ("a: 1\na: 2\n", "duplicate key 'a'"),
    ("base: &b {x: 1}\nc:\n  <<: *b\n", "aliases"),
    ("c:\n  <<: {x: 1}\n", "merge keys"),
    ("a: !!binary aGVsbG8=\n", "tag"),
    ("a: !!python/object:os.system ls\n", "tag"),
    ("a: !!int abc\n", "tag"),
    ("a: !!map [1]\n", "tag"),
    ("a: " + "9" * 5000 + "\n", "integer too long"),
    ("a: 0x" + "f" * 5000 + "\n", "integer too long"),
    ("a: .inf\n", "infinity"),
    ("1: x\n", "keys must be strings"),
    ("a: " + "[" * 200 + "]" * 200 + "\n", "nested deeper"),
    ("a: [unclosed\n", "line 2, column 1"),
    ("a:\n\tb: 1\n", "line 2, column 1"),
])
def test_yaml_is_json_only_without_aliases_and_errors_are_one_line(skill: Path, yaml_text: str, why: str) -> None:
    (skill / "skill.yaml").write_text(yaml_text)
    error = load_error(skill)
    assert error.file == "skill.yaml" and why.split(",")[0].removeprefix("line ") in str(error).replace(":", ",")


def test_a_billion_laughs_skill_yaml_is_refused_at_the_first_alias(skill: Path) -> None:
    lines = ['a0: &a0 "lol"'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    (skill / "skill.yaml").write_text("\n".join(lines) + "\n")
    error = load_error(skill)
    assert error.line == 2 and "aliases" in str(error)


@pytest.mark.parametrize(("old", "new", "field"), [
    ("max_reasks: 1\n", "max_reasks: 1000000000\n", "settings.max_reasks"),
    ("max_tokens: 256\n", "max_tokens: 99999999999\n", "settings.max_tokens"),
    ("  temperature: 0.0\n", "  temperature: 1.0e+300\n", "settings.temperature"),
    ("    samples: 5\n", "    samples: 1000000\n", "settings.confidence.samples"),
    ("threshold: 0.", "threshold: -0.", "settings.threshold"),
    ("max_reasks: 1\n", "max_reasks: true\n", "settings.max_reasks"),
    ("max_reasks: 1\n", "max_reasks: '1'\n", "settings.max_reasks"),
    ("  k: 7\n", "  k: 7.0\n", "settings.k"),
])
def test_out_of_range_or_mistyped_settings_name_the_field(skill: Path, old: str, new: str, field: str) -> None:
    edit(skill / "skill.yaml", old, new)
    assert load_error(skill).field == field


def test_an_unquoted_date_in_a_schema_stays_a_string(skill: Path) -> None:
    edit(skill / "skill.yaml", "description: ", "description: 2024-01-01 ")
    assert load_skill(skill).manifest.description.startswith("2024-01-01 ")


# -- specs, examples, cassettes, pytest ----------------------------------------------------------------


def test_a_spec_or_examples_file_that_is_not_utf8_is_a_spec_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_bytes(b"name: x\ndescription: caf\xe9\n")
    with pytest.raises(SpecError, match=r"spec\.yaml: line 2: not UTF-8"):
        SkillSpec.from_file(tmp_path / "spec.yaml")
    (tmp_path / "ex.jsonl").write_bytes(b'{"input": {}}\n{"input": {"t": "\xff"}}\n')
    with pytest.raises(SpecError, match=r"ex\.jsonl:2: not UTF-8"):
        read_examples(tmp_path / "ex.jsonl")


def test_a_spec_file_with_aliases_is_refused(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text("name: x\ndescription: &d hi\nother: *d\n")
    with pytest.raises(SpecError, match="aliases"):
        SkillSpec.from_file(tmp_path / "spec.yaml")


def test_compile_with_a_non_utf8_examples_file_exits_2_with_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    (tmp_path / "spec.yaml").write_text("name: x\ndescription: d\ninput_schema: {type: object}\n"
                                        "output_schema: {type: object}\n")
    (tmp_path / "ex.jsonl").write_bytes(b"\xff\n")
    result = CliRunner().invoke(app, ["compile", str(tmp_path / "spec.yaml"), "--examples", str(tmp_path / "ex.jsonl"),
                                      "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, SpecError) and "ex.jsonl:1: not UTF-8" in str(result.exception)


def test_a_cassette_that_is_not_utf8_fails_its_skill_naming_the_cassette(skill: Path) -> None:
    [cassette] = (skill / "cassettes").iterdir()
    cassette.write_bytes(cassette.read_bytes()[:200] + b"\xc3\x28" + cassette.read_bytes()[200:])
    result = run_skill_tests(skill, mode="replay", root=skill.parent.parent)
    assert not result.ok and result.error is not None
    assert f"cassettes/{cassette.name}:" in result.error and "not UTF-8" in result.error


def test_one_unreadable_skill_is_a_failed_item_and_the_others_still_run(pytester: pytest.Pytester) -> None:
    skills = pytester.path / "skills"
    for name in ("intent-router", "review-sentiment"):
        shutil.copytree(SKILLS / name, skills / name)
    bad = skills / "broken"
    shutil.copytree(SKILLS / "review-sentiment", bad)
    (bad / "skill.yaml").write_bytes(b"name: [\xff" + b"[" * 5000 + b"\n")
    worse = skills / "laughs"
    shutil.copytree(SKILLS / "review-sentiment", worse)
    (worse / "skill.yaml").write_text("a: &a [1]\nb: [*a, *a]\n")
    result = pytester.runpytest("skills", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*broken*not UTF-8*", "*laughs*aliases*"], consecutive=False)
