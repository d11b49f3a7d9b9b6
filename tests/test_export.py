"""Exports: a committed skill as an Agent Skill folder (valid by the specification's reference
validator) and back as a spec; its teacher-verified traces as fine-tuning JSON Lines."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillforge import load_skill
from skillforge.cli import app
from skillforge.errors import SpecError
from skillforge.export import agent_skill_name, describe, export_agent_skill, export_finetune, import_agent_skill
from skillforge.export.answer_check import problems
from skillforge.run import EscalationRecord, render_input
from skillforge.run.escalations import append_escalation
from skillforge.run.prompt import lean_request
from skillforge.spec import validation_errors

ROOT = Path(__file__).resolve().parent.parent
INTENTS = ROOT / "skills" / "intent-router"
AGENTSKILLS = Path(sys.executable).parent / "agentskills"  # from the `agentskills` extra (skills-ref)


def agentskills_validate(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AGENTSKILLS), "validate", str(folder)], capture_output=True, text=True, check=False)


def test_an_exported_committed_skill_passes_the_reference_validator(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(INTENTS), "--format", "agent-skill", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "intent-router"
    check = agentskills_validate(folder)
    assert check.returncode == 0, check.stdout + check.stderr
    skill = load_skill(INTENTS)
    text = (folder / "SKILL.md").read_text()
    assert text.startswith("---\nname: intent-router\n") and skill.instructions.strip() in text
    assert json.loads((folder / "references" / "output_schema.json").read_text()) == skill.manifest.output_schema
    demos = [json.loads(line) for line in (folder / "references" / "examples.jsonl").read_text().splitlines()]
    assert demos == [{"input": d.input, "output": d.output} for d in skill.demos]
    # The check the validator exists for: a folder not named after the skill fails it.
    renamed = folder.rename(tmp_path / "other-name")
    assert agentskills_validate(renamed).returncode != 0


@pytest.mark.parametrize(("name", "expected"), [("intent-router", "intent-router"), ("My_Skill v2", "my-skill-v2"),
                                                ("--a--b--", "a-b"), ("x" * 70, "x" * 64)])
def test_agent_skill_names_are_lowercase_hyphenated_and_short(name: str, expected: str) -> None:
    assert agent_skill_name(name) == expected


def test_the_description_says_what_and_when_within_the_limit() -> None:
    skill = load_skill(INTENTS)
    text = describe(skill)
    assert text.startswith(skill.manifest.description) and "Use it when" in text
    skill.manifest = skill.manifest.model_copy(update={"description": "word " * 400})
    assert len(describe(skill)) == 1024


def run_validate(folder: Path, answer: Any, *, stdlib_only: bool) -> subprocess.CompletedProcess[str]:
    # -S leaves out site-packages, so the script cannot import jsonschema: the standard-library path.
    cmd = [sys.executable, *(["-S"] if stdlib_only else []), str(folder / "scripts" / "validate.py")]
    return subprocess.run(cmd, input=json.dumps(answer), capture_output=True, text=True, check=False)


@pytest.mark.parametrize("stdlib_only", [True, False])
def test_the_exported_script_validates_answers_against_the_schema(tmp_path: Path, stdlib_only: bool) -> None:
    folder = export_agent_skill(load_skill(INTENTS), tmp_path).path
    assert run_validate(folder, {"intent": "get_weather"}, stdlib_only=stdlib_only).returncode == 0
    bad = run_validate(folder, {"intent": "order_pizza", "extra": 1}, stdlib_only=stdlib_only)
    assert bad.returncode == 1 and "order_pizza" in bad.stdout
    assert run_validate(folder, {}, stdlib_only=stdlib_only).returncode == 1


@pytest.mark.parametrize(("value", "ok"), [({"n": 3, "tags": ["a"]}, True), ({"n": 3.5, "tags": []}, False),
                                           ({"n": True, "tags": []}, False), ({"n": 11, "tags": []}, False),
                                           ({"tags": []}, False), ({"n": 1, "tags": [2]}, False)])
def test_the_stdlib_checker_agrees_with_jsonschema(value: Any, ok: bool) -> None:
    schema = {"type": "object", "required": ["n"], "additionalProperties": False,
              "properties": {"n": {"type": "integer", "maximum": 10}, "tags": {"type": "array",
                                                                            "items": {"type": "string"}}}}
    assert (not problems(value, schema)) is ok
    assert (not validation_errors(schema, value)) is ok


def test_import_turns_an_export_back_into_a_spec_and_examples(tmp_path: Path) -> None:
    skill = load_skill(INTENTS)
    folder = export_agent_skill(skill, tmp_path / "export").path
    result = CliRunner().invoke(app, ["import", str(folder), "--out", str(tmp_path / "start")])
    assert result.exit_code == 0, result.output
    from skillforge import SkillSpec
    from skillforge.spec import read_examples

    spec = SkillSpec.from_file(tmp_path / "start" / "spec.yaml")
    assert (spec.input_schema, spec.output_schema) == (skill.manifest.input_schema, skill.manifest.output_schema)
    assert spec.name == "intent-router" and spec.description.startswith(skill.manifest.description)
    examples = read_examples(tmp_path / "start" / "examples.jsonl")
    assert [(e.input, e.expected) for e in examples] == [(d.input, d.output) for d in skill.demos]
    again = CliRunner().invoke(app, ["import", str(folder), "--out", str(tmp_path / "start")])
    assert again.exit_code != 0  # never overwrites


def test_a_hand_written_agent_skill_imports_with_text_schemas(tmp_path: Path) -> None:
    folder = tmp_path / "pdf-helper"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\nname: pdf-helper\ndescription: Fill PDF forms.\n---\n\n# Steps\n")
    imported = import_agent_skill(folder)
    assert not imported.schemas_found and imported.examples == [] and imported.instructions == "# Steps"
    (folder / "SKILL.md").write_text("no frontmatter")
    with pytest.raises(SpecError, match="frontmatter"):
        import_agent_skill(folder)


@pytest.fixture
def skill_with_escalations(tmp_path: Path) -> Path:
    path = tmp_path / "intent-router"
    shutil.copytree(INTENTS, path, ignore=shutil.ignore_patterns("cassettes"))
    skill = load_skill(path)
    log = path / "escalations.jsonl"
    for text, intent in (("will it snow in oslo tomorrow", "get_weather"),
                         (skill.tests[0].input["text"], skill.tests[0].expected["intent"])):
        append_escalation(log, EscalationRecord(time="2026-11-28T00:00:00", input={"text": text},
                                                output={"intent": intent}, answered_by="teacher:x", reason="low"))
    return path


@pytest.mark.parametrize("shape", ["anthropic", "openai"])
def test_finetune_records_are_verified_answers_without_regression_inputs(skill_with_escalations: Path,
                                                                         tmp_path: Path, shape: str) -> None:
    out = tmp_path / "ft"
    result = CliRunner().invoke(app, ["export", str(skill_with_escalations), "--format", "finetune", "--out",
                                      str(out), "--shape", shape, "--validation", "0.2"])
    assert result.exit_code == 0, result.output
    skill = load_skill(skill_with_escalations)
    regression = {render_input(c.input) for c in skill.tests}
    records = [json.loads(line) for name in ("train", "validation")
               for line in (out / f"{name}.jsonl").read_text().splitlines()]
    manifest = json.loads((out / "manifest.json").read_text())
    # The demos the teacher agreed with, plus the one escalation that is not a regression input.
    agreed = sum(d.source == "teacher" and render_input(d.input) not in regression for d in skill.demos)
    assert agreed > 0
    assert len(records) == agreed + 1 == manifest["counts"]["train"] + manifest["counts"]["validation"]
    assert manifest["sources"] == {"demo:teacher": agreed, "escalation-log": 1}
    assert manifest["counts"]["validation"] == round(0.2 * (agreed + 1))
    # Each record is the request the skill's runner sends without demos, in the skill's own rendering.
    fmt, in_schema = skill.settings.input_format, skill.manifest.input_schema
    shown_regression = {render_input(c.input, fmt, in_schema) for c in skill.tests}
    lean = lean_request(skill, skill.tests[0].input)
    for record in records:
        messages = record["messages"]
        if shape == "openai":
            assert messages[0] == {"role": "system", "content": lean.system}
            messages = messages[1:]
        else:
            assert record["system"] == lean.system
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[0]["content"] not in shown_regression
        assert validation_errors(skill.manifest.output_schema, json.loads(messages[1]["content"])) == []


def test_the_finetune_split_is_seeded(skill_with_escalations: Path, tmp_path: Path) -> None:
    skill = load_skill(skill_with_escalations)
    runs = [export_finetune(skill, tmp_path / str(n), skill_dir=skill_with_escalations, seed=seed)
            for n, seed in enumerate((1, 1, 2))]
    texts = [(r.path / "validation.jsonl").read_text() for r in runs]
    assert texts[0] == texts[1] != texts[2]
