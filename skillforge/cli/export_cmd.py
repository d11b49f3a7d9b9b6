"""``skillforge export`` (an Agent Skill folder, or fine-tuning JSON Lines) and ``skillforge import``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from skillforge.export import export_agent_skill, export_finetune, import_agent_skill, write_imported
from skillforge.skill import load_skill


class ExportFormat(StrEnum):
    agent_skill = "agent-skill"
    finetune = "finetune"


class Shape(StrEnum):
    anthropic = "anthropic"
    openai = "openai"


def export_cmd(
    skill_dir: Annotated[Path, typer.Argument(help="The skill directory, e.g. skills/NAME.")],
    out: Annotated[Path, typer.Option("--out", help="agent-skill: the folder to write (created inside it "
                                      "unless it is named after the skill); finetune: the output directory.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="agent-skill: a SKILL.md folder; finetune: "
                                              "chat-format JSON Lines of the teacher-verified traces.")],
    shape: Annotated[Shape, typer.Option("--shape", help="finetune: the chat-record shape.")] = Shape.anthropic,
    validation: Annotated[float, typer.Option("--validation", min=0.0, max=0.9, help="finetune: share of "
                                              "records in validation.jsonl.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="finetune: seed of the train/validation split.")] = 0,
) -> None:
    """Export a skill as an Agent Skill folder or as fine-tuning data."""
    skill = load_skill(skill_dir)
    out_console = Console()
    if fmt == ExportFormat.agent_skill:
        written = export_agent_skill(skill, out)
        out_console.print(f"wrote {escape(str(written.path))}: {', '.join(written.files)}")
        return
    ft = export_finetune(skill, out, skill_dir=skill_dir, shape=shape.value, validation_fraction=validation,
                         seed=seed)
    sources = ", ".join(f"{k} {v}" for k, v in ft.sources.items())
    out_console.print(f"wrote {escape(str(ft.path))}: {ft.train} train and {ft.validation} validation records "
                      f"({shape.value} shape; {escape(sources)}); regression inputs left out")


def import_cmd(
    folder: Annotated[Path, typer.Argument(help="An Agent Skill folder (with SKILL.md).")],
    out: Annotated[Path, typer.Option("--out", help="Directory for spec.yaml, examples.jsonl, instructions.md.")],
) -> None:
    """Turn an Agent Skill folder into a starting spec and examples for `skillforge compile`."""
    imported = import_agent_skill(folder)
    paths = write_imported(imported, out)
    console = Console()
    console.print(f"wrote {', '.join(escape(str(p)) for p in paths)} ({len(imported.examples)} examples)")
    if not imported.schemas_found:
        console.print("note: the folder has no references/input_schema.json and output_schema.json; "
                      "spec.yaml assumes a text input and a one-field text answer: edit it before compiling")
    console.print(f"next: skillforge compile {escape(str(out / 'spec.yaml'))} --examples "
                  f"{escape(str(out / 'examples.jsonl'))} --out skills/{escape(imported.spec.name)}")
