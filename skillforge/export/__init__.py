"""Compiled skills leaving the library: as an Agent Skill (a ``SKILL.md`` folder, and back as a starting
spec), and as chat-format JSON Lines of the teacher-verified traces for fine-tuning."""

from skillforge.export.agent_skill import (
    ExportedFiles,
    ImportedSkill,
    agent_skill_name,
    describe,
    export_agent_skill,
    import_agent_skill,
    write_imported,
)
from skillforge.export.finetune import (
    SHAPES,
    ChatShape,
    FinetuneExport,
    Trace,
    chat_record,
    export_finetune,
    verified_traces,
)

__all__ = [
    "SHAPES",
    "ChatShape",
    "ExportedFiles",
    "FinetuneExport",
    "ImportedSkill",
    "Trace",
    "agent_skill_name",
    "chat_record",
    "describe",
    "export_agent_skill",
    "export_finetune",
    "import_agent_skill",
    "verified_traces",
    "write_imported",
]
