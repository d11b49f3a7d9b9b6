"""The skillforge command line: compile and run, with one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillforge import __version__
from skillforge.cli import app
from skillforge.cli.app import COMMANDS
from skillforge.models import registry

from helpers import keyword_model, sentiment_examples

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """`fake:keyword` resolves to a deterministic in-process model for these tests."""
    monkeypatch.setitem(registry._PROVIDERS, "fake", lambda name: keyword_model(f"fake:{name}"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "spec.yaml").write_text(
        "name: sentiment\n"
        "description: Is the review positive or negative?\n"
        "input_schema: {type: object, properties: {text: {type: string}}, required: [text]}\n"
        "output_schema:\n"
        "  type: object\n"
        "  properties: {sentiment: {type: string, enum: [positive, negative]}}\n"
        "  required: [sentiment]\n"
    )
    (tmp_path / "examples.jsonl").write_text(
        "".join(e.model_dump_json() + "\n" for e in sentiment_examples(20))
    )
    return tmp_path


def compile_args(project: Path) -> list[str]:
    return ["compile", str(project / "spec.yaml"), "--examples", str(project / "examples.jsonl"),
            "--out", str(project / "skills" / "sentiment"), "--teacher", "fake:keyword", "--student", "fake:keyword"]


def test_compile_then_run_one_input(project: Path) -> None:
    result = runner.invoke(app, compile_args(project))
    assert result.exit_code == 0, result.output
    assert (project / "skills" / "sentiment" / "skill.yaml").exists()
    result = runner.invoke(app, ["run", str(project / "skills" / "sentiment"), "--input", '{"text": "good!"}'])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["output"] == {"sentiment": "positive"}
    assert set(line) == {"output", "escalated", "answered_by", "confidence", "cost_usd"}


def test_run_reads_json_lines_from_stdin_and_reports_bad_lines_without_losing_the_rest(project: Path) -> None:
    assert runner.invoke(app, compile_args(project)).exit_code == 0
    stdin = '{"text": "good"}\nnot json\n{"body": "x"}\n{"text": "bad"}\n'
    result = runner.invoke(app, ["run", str(project / "skills" / "sentiment")], input=stdin)
    assert result.exit_code == 1
    lines = [json.loads(x) for x in result.stdout.strip().splitlines()]
    assert lines[0]["output"] == {"sentiment": "positive"}
    assert lines[1]["line"] == 2 and "not valid JSON" in lines[1]["error"]
    assert lines[2]["line"] == 3 and "input schema" in lines[2]["error"]
    assert lines[3]["output"] == {"sentiment": "negative"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillforge", *args], capture_output=True, text=True, check=False)


def test_errors_are_one_line_without_a_traceback(tmp_path: Path) -> None:
    result = run_cli("run", str(tmp_path / "missing"), "--input", "{}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error:") and "no skill directory" in result.stderr
    bad = run_cli("compile", str(tmp_path / "nope.yaml"), "--examples", "x.jsonl", "--out", str(tmp_path / "o"))
    assert bad.returncode == 2 and "cannot read spec file" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert f"Usage: root {command}" in result.output or f"{command} [OPTIONS]" in result.output
    assert "see README" not in result.output
    # Each paragraph is one line of help text, so the terminal wraps it at its own width.
    (info,) = [c for c in app.registered_commands if c.name == command]
    assert info.help and all("\n" not in paragraph for paragraph in info.help.split("\n\n"))


def test_help_lists_every_command_in_the_order_a_user_meets_them() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    listed = [c for c in COMMANDS if f" {c} " in result.output]
    assert listed == list(COMMANDS)
    positions = [result.output.index(f" {c} ") for c in COMMANDS]
    assert positions == sorted(positions) and COMMANDS[0] == "compile"
    registered = {c.name for c in app.registered_commands}
    assert registered == set(COMMANDS)


def test_version_flag_prints_the_package_version() -> None:
    for flag in ("--version", "-V"):
        result = runner.invoke(app, [flag])
        assert result.exit_code == 0 and result.output.strip() == f"skillforge {__version__}"


def test_model_options_state_their_real_defaults() -> None:
    result = runner.invoke(app, ["compile", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.split())
    assert "SKILLFORGE_TEACHER" in text and "claude-opus-5-5" in text and "local:smollm2-135m" in text
