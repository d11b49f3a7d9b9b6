"""A compiled skill as an Agent Skill (the ``SKILL.md`` folder format), and back.

Export (:func:`export_agent_skill`) writes::

    NAME/
      SKILL.md                      frontmatter (name, description, metadata) + the instructions
      references/output_schema.json the answer's JSON Schema
      references/input_schema.json  the input's JSON Schema
      references/examples.jsonl     the demos, {"input", "output"} per line
      references/examples.md        the first demos, for reading
      scripts/validate.py           checks an answer against the output schema (stdlib, or jsonschema)

``name`` is the skill's name in the Agent Skills form (lowercase letters, digits and single hyphens,
at most 64 characters) and equals the folder's name; ``description`` (at most 1,024 characters) says
what the skill does and when to use it. Import (:func:`import_agent_skill`) reads such a folder back as a
starting spec and examples for ``skillforge compile``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillforge.errors import SpecError
from skillforge.format import SkillDefinition
from skillforge.jsonl import dumps_line, lines
from skillforge.spec import Example, SkillSpec
from skillforge.textfiles import TextFileError, dump_yaml, load_yaml, read_text, write_atomic

SKILL_MD = "SKILL.md"
MAX_NAME = 64
MAX_DESCRIPTION = 1024
#: Demos written out in references/examples.md (all of them are in examples.jsonl).
MAX_SHOWN = 12
#: The fallback schemas of an imported folder that has none (a hand-written Agent Skill).
TEXT_INPUT: dict[str, Any] = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"],
                              "additionalProperties": False}
TEXT_OUTPUT: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}},
                               "required": ["answer"], "additionalProperties": False}


def agent_skill_name(name: str) -> str:
    """``name`` in the Agent Skills form: lowercase, runs of other characters as one hyphen, no hyphen at
    either end, at most 64 characters."""
    out = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:MAX_NAME].rstrip("-")
    if not out:
        raise SpecError(f"{name!r} has no letters or digits to make an Agent Skill name from", field="name")
    return out


def _fields(schema: dict[str, Any]) -> str:
    props = schema.get("properties") or {}
    parts = []
    for key, prop in props.items():
        enum = prop.get("enum") if isinstance(prop, dict) else None
        parts.append(f"{key} (one of {', '.join(map(str, enum))})" if enum else key)
    return ", ".join(parts) or "a JSON object"


def describe(skill: SkillDefinition) -> str:
    """The frontmatter description: what the skill does, then when to use it, within 1,024 characters."""
    m = skill.manifest
    what = m.description.strip().replace("---", "-")
    when = (f" Use it when a request needs this done for an input with {_fields(m.input_schema)}; it answers "
            f"with JSON giving {_fields(m.output_schema)}.")
    text = what + ("" if what.endswith(".") else ".") + when
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def _frontmatter(skill: SkillDefinition, name: str) -> str:
    p = skill.manifest.provenance
    data = {"name": name, "description": describe(skill),
            "metadata": {"generator": f"skillforge {p.skillforge_version}", "skillforge-name": skill.name,
                         "teacher": p.teacher, "student": p.student, "content-hash": p.content_hash}}
    return "---\n" + dump_yaml(data) + "---\n"


def _body(skill: SkillDefinition, name: str) -> str:
    m = skill.manifest
    out = [f"# {name}", "", skill.instructions.strip(), "", "## Input", "",
           f"A JSON object with {_fields(m.input_schema)} (schema: [references/input_schema.json]"
           "(references/input_schema.json)).", "", "## Answer", "",
           "Answer with exactly one JSON object, nothing else, valid under "
           "[references/output_schema.json](references/output_schema.json): "
           f"{_fields(m.output_schema)}.", "",
           "Check an answer with `python scripts/validate.py answer.json` (exit code 0: valid)."]
    if skill.demos:
        out += ["", "## Examples", "",
                f"{len(skill.demos)} worked examples, checked by the teacher model: "
                "[references/examples.md](references/examples.md) (all of them as JSON Lines in "
                "references/examples.jsonl)."]
    return "\n".join(out) + "\n"


def _examples_md(skill: SkillDefinition) -> str:
    out = ["# Worked examples", ""]
    for n, d in enumerate(skill.demos[:MAX_SHOWN], start=1):
        out += [f"## Example {n}", "", "Input:", "", "```json", json.dumps(d.input, ensure_ascii=False), "```", "",
                "Answer:", "", "```json", json.dumps(d.output, ensure_ascii=False), "```", ""]
    return "\n".join(out)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class ExportedFiles:
    """Where an export went and what it wrote (paths relative to ``path``)."""

    path: Path
    files: list[str]


def export_agent_skill(skill: SkillDefinition, out: str | Path) -> ExportedFiles:
    """Write ``skill`` as an Agent Skill folder. ``out`` is that folder when its name is the skill's Agent
    Skills name; otherwise the folder is created inside ``out``."""
    out = Path(out)
    name = agent_skill_name(skill.name)
    folder = out if out.name == name else out / name
    texts = {
        SKILL_MD: _frontmatter(skill, name) + "\n" + _body(skill, name),
        "references/output_schema.json": _pretty(skill.manifest.output_schema),
        "references/input_schema.json": _pretty(skill.manifest.input_schema),
        "scripts/validate.py": (Path(__file__).resolve().parent / "answer_check.py").read_text(encoding="utf-8"),
    }
    if skill.demos:
        texts["references/examples.jsonl"] = "".join(dumps_line({"input": d.input, "output": d.output})
                                                     for d in skill.demos)
        texts["references/examples.md"] = _examples_md(skill)
    for rel, text in texts.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / rel, text)
    return ExportedFiles(folder, sorted(texts))


@dataclass(frozen=True)
class ImportedSkill:
    """A starting point from an Agent Skill folder: the spec, labelled examples, and the instructions."""

    spec: SkillSpec
    examples: list[Example]
    instructions: str
    #: False when the folder had no schemas and the plain text-in, text-out ones were assumed.
    schemas_found: bool


def _read_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except (json.JSONDecodeError, TextFileError) as exc:
        raise SpecError(f"{path}: not valid JSON ({exc})") from None


def _split_frontmatter(text: str, where: Path) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        raise SpecError(f"{where}: does not start with YAML frontmatter (---)")
    _, front, body = [*text.split("---", 2), "", ""][:3]
    try:
        data = load_yaml(front)
    except TextFileError as exc:
        raise SpecError(f"{where}: frontmatter is not valid YAML ({exc.problem})") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(
            data.get("description"), str):
        raise SpecError(f"{where}: frontmatter needs string fields name and description")
    return data, body.strip()


def import_agent_skill(folder: str | Path) -> ImportedSkill:
    """Read an Agent Skill folder (exported by skillforge or written by hand) as a starting spec and
    examples. Schemas come from references/input_schema.json and output_schema.json (else a text input
    and a one-field text answer, to edit); examples from references/examples.jsonl."""
    folder = Path(folder)
    if not (folder / SKILL_MD).is_file():
        raise SpecError(f"{folder}: no {SKILL_MD} (not an Agent Skill folder)")
    data, body = _split_frontmatter(read_text(folder / SKILL_MD), folder / SKILL_MD)
    refs = folder / "references"
    found = (refs / "input_schema.json").is_file() and (refs / "output_schema.json").is_file()
    spec = SkillSpec(name=data["name"], description=data["description"],
                     input_schema=_read_json(refs / "input_schema.json") if found else TEXT_INPUT,
                     output_schema=_read_json(refs / "output_schema.json") if found else TEXT_OUTPUT)
    examples = []
    if found and (refs / "examples.jsonl").is_file():
        for n, line in lines(read_text(refs / "examples.jsonl")):
            try:
                row = json.loads(line)
                examples.append(Example(input=row["input"], expected=row["output"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise SpecError(f"{refs / 'examples.jsonl'}:{n}: not an {{input, output}} object ({exc})") from None
    return ImportedSkill(spec, examples, body, found)


def write_imported(imported: ImportedSkill, out: str | Path) -> list[Path]:
    """Write an import as ``spec.yaml``, ``examples.jsonl`` ({input, expected}) and ``instructions.md``
    (the SKILL.md body, for reference) into ``out``: ``skillforge compile out/spec.yaml --examples
    out/examples.jsonl`` takes it from there. Refuses to overwrite any of them."""
    out = Path(out)
    spec = imported.spec
    texts = {"spec.yaml": dump_yaml({"name": spec.name, "description": spec.description,
                                     "input_schema": spec.input_schema, "output_schema": spec.output_schema}),
             "examples.jsonl": "".join(dumps_line({"input": e.input, "expected": e.expected})
                                       for e in imported.examples),
             "instructions.md": imported.instructions + "\n"}
    existing = [name for name in texts if (out / name).exists()]
    if existing:
        raise SpecError(f"{out}: {', '.join(existing)} already exist(s); not overwriting")
    out.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        write_atomic(out / name, text)
    return [out / name for name in texts]
