"""`skillforge compile --out` checks where it will write before spending anything on models, and a
compiled (paid-for) skill is never lost: if saving fails anyway, it is saved elsewhere and the path said."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from skillforge.cli import main
from skillforge.models import registry
from skillforge.skill import Skill, load_skill
from skillforge.testing import FunctionModel

from helpers import keyword_model, sentiment_examples


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[FunctionModel]:
    made: list[FunctionModel] = []

    def provider(name: str) -> FunctionModel:
        made.append(keyword_model(f"fake:{name}"))
        return made[-1]

    monkeypatch.setitem(registry._PROVIDERS, "fake", provider)
    return made


@pytest.fixture
def compile_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    (tmp_path / "spec.yaml").write_text(
        "name: sentiment\ndescription: Is the review positive or negative?\n"
        "input_schema: {type: object, properties: {text: {type: string}}, required: [text]}\n"
        "output_schema: {type: object, properties: {sentiment: {type: string, enum: [positive, negative]}},"
        " required: [sentiment]}\n")
    (tmp_path / "examples.jsonl").write_text("".join(e.model_dump_json() + "\n" for e in sentiment_examples(20)))

    def run(out: Path) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["skillforge", "compile", str(tmp_path / "spec.yaml"), "--examples",
                                          str(tmp_path / "examples.jsonl"), "--out", str(out),
                                          "--teacher", "fake:keyword", "--student", "fake:keyword"])
        with pytest.raises(SystemExit) as info:
            main()
        return int(info.value.code or 0), capsys.readouterr().err

    return run


def requests_made(models: list[FunctionModel]) -> int:
    return sum(len(m.requests) for m in models)


def test_an_out_path_that_is_an_existing_file_fails_before_any_model_call(
    compile_to: Any, calls: list[FunctionModel], tmp_path: Path
) -> None:
    (tmp_path / "taken").write_text("mine\n")
    code, err = compile_to(tmp_path / "taken")
    assert code == 2 and "it exists and is not a directory" in err and err.count("\n") == 1
    assert requests_made(calls) == 0 and (tmp_path / "taken").read_text() == "mine\n"


def test_an_out_path_below_a_file_fails_before_any_model_call(
    compile_to: Any, calls: list[FunctionModel], tmp_path: Path
) -> None:
    (tmp_path / "file.txt").write_text("x\n")
    code, err = compile_to(tmp_path / "file.txt" / "skills" / "s")
    assert code == 2 and "not a writable directory" in err and requests_made(calls) == 0


def test_an_out_directory_whose_skill_yaml_is_a_directory_fails_before_any_model_call(
    compile_to: Any, calls: list[FunctionModel], tmp_path: Path
) -> None:
    (tmp_path / "out" / "skill.yaml").mkdir(parents=True)
    code, err = compile_to(tmp_path / "out")
    assert code == 2 and "skill.yaml is a directory" in err and requests_made(calls) == 0


def test_a_skill_that_cannot_be_saved_after_compiling_is_saved_elsewhere_and_the_path_said(
    compile_to: Any, calls: list[FunctionModel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = Skill.save
    target = tmp_path / "skills" / "sentiment"

    def flaky_save(self: Skill, path: str | Path) -> Path:
        if Path(path) == target:
            raise OSError(28, "No space left on device")
        return real_save(self, path)

    monkeypatch.setattr(Skill, "save", flaky_save)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    code, err = compile_to(target)
    assert code == 2 and requests_made(calls) > 0
    flat = " ".join(err.split())
    match = re.search(r"No space left on device\); the compiled skill was saved to (\S+) instead", flat)
    assert match, err
    assert Path(match.group(1)).parent == tmp_path / "tmp"
    rescued = load_skill(match.group(1), strict=True)
    assert rescued.name == "sentiment" and rescued.tests
