"""A skill on disk: text files that round-trip byte-for-byte and fail loudly when malformed."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import yaml

from skillforge import (
    CompileOptions,
    Skill,
    SkillFormatError,
    SkillIntegrityError,
    SkillIntegrityWarning,
    compile_skill,
    load_skill,
)
from skillforge.compile import SearchConfig

from helpers import keyword_model, sentiment_examples, sentiment_spec


@pytest.fixture
def skill_dir(tmp_path: Path) -> Path:
    model = keyword_model()
    skill = compile_skill(sentiment_spec(), sentiment_examples(), teacher=model, student=model,
                          options=CompileOptions(search=SearchConfig(ks=[2])))
    return skill.save(tmp_path / "sentiment")


def files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_a_skill_is_four_text_files(skill_dir: Path) -> None:
    assert sorted(files(skill_dir)) == ["examples.jsonl", "instructions.md", "skill.yaml", "tests.jsonl"]
    manifest = yaml.safe_load((skill_dir / "skill.yaml").read_text())
    assert manifest["format_version"] == 1
    assert manifest["provenance"]["teacher"] == "test:keyword"
    assert manifest["provenance"]["content_hash"].startswith("sha256:")
    for line in (skill_dir / "tests.jsonl").read_text().splitlines():
        assert set(json.loads(line)) == {"input", "expected"}


def test_save_load_save_is_byte_identical(skill_dir: Path, tmp_path: Path) -> None:
    before = files(skill_dir)
    load_skill(skill_dir, strict=True).save(tmp_path / "again")
    assert files(tmp_path / "again") == before


def test_demos_record_their_source(skill_dir: Path) -> None:
    skill = load_skill(skill_dir)
    assert all(d.source in ("teacher", "label") for d in skill.demos)


BAD_DEMO = '{"input": {"text": "x"}, "output": {"sentiment": "meh"}, "source": "label"}\n'


@pytest.mark.parametrize(
    ("file", "mutate", "match"),
    [
        ("skill.yaml", lambda t: t.replace("format_version: 1", "format_version: 9"),
         r"skill\.yaml \[format_version\]"),
        ("skill.yaml", lambda t: t + "surprise: 1\n", r"skill\.yaml \[surprise\]"),
        ("skill.yaml", lambda t: t.replace("\n  k: 0", "\n  k: -1"), r"skill\.yaml \[settings\.k\]"),
        ("skill.yaml", lambda t: "key: [unclosed\n", r"skill\.yaml:2: not valid YAML \(column 1\): expected"),
        ("examples.jsonl", lambda t: t + "{not json}\n", r"examples\.jsonl:\d+"),
        ("examples.jsonl", lambda t: t + BAD_DEMO, r"examples\.jsonl:\d+ \[output\]"),
        ("tests.jsonl", lambda t: t.replace('"text"', '"txt"', 1), r"tests\.jsonl:1 \[input\]"),
    ],
)
def test_malformed_files_name_the_file_and_field(skill_dir: Path, file: str, mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    path = skill_dir / file
    path.write_text(mutate(path.read_text()))
    with pytest.raises(SkillFormatError, match=match):
        load_skill(skill_dir)


def test_missing_files_are_named(skill_dir: Path) -> None:
    (skill_dir / "instructions.md").unlink()
    with pytest.raises(SkillFormatError, match=r"instructions\.md: file is missing"):
        load_skill(skill_dir)
    with pytest.raises(SkillFormatError, match="no skill directory"):
        load_skill(skill_dir / "nope")


def test_a_demo_count_that_disagrees_with_the_demos_is_inconsistent(skill_dir: Path) -> None:
    manifest = skill_dir / "skill.yaml"
    data = yaml.safe_load(manifest.read_text())
    data["settings"]["demo_strategy"] = "fixed"
    data["settings"]["k"] = 99
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SkillFormatError, match=r"settings\.k"):
        load_skill(skill_dir)


def test_an_edited_file_warns_by_default_and_fails_in_strict_mode(skill_dir: Path) -> None:
    path = skill_dir / "instructions.md"
    path.write_text(path.read_text() + "Be extra careful.\n")
    with pytest.warns(SkillIntegrityWarning, match="changed since the skill was compiled"):
        skill = load_skill(skill_dir)
    assert "extra careful" in skill.instructions
    with pytest.raises(SkillIntegrityError):
        load_skill(skill_dir, strict=True)


def test_an_edited_setting_is_not_an_integrity_problem(skill_dir: Path) -> None:
    manifest = skill_dir / "skill.yaml"
    manifest.write_text(manifest.read_text().replace("min_pass_rate: ", "min_pass_rate: 0.5 #"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        skill = load_skill(skill_dir, strict=True)
    assert isinstance(skill, Skill)
    assert skill.settings.min_pass_rate == 0.5
