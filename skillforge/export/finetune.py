"""A skill's teacher-verified traces as chat-format JSON Lines for supervised fine-tuning.

What counts as teacher-verified: demos the teacher answered (source ``teacher``: valid, and equal to the
label where one existed -- labelled examples the teacher agreed with), demos folded in from escalations
(source ``escalation``), and the escalation log's teacher answers. Demos whose answer is a bare label the
teacher did not confirm (source ``label``) are left out. Regression inputs never appear (they are the
held-out measure of the skill, and of a model tuned on this data); repeated inputs are kept once.

Each record is the zero-shot prompt the skill sends (its system text: instructions and output schema;
the input as the user turn) and the verified answer as the assistant turn, in one of two shapes:

- ``openai``: ``{"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", ...}]}``
- ``anthropic``: ``{"system": "...", "messages": [{"role": "user", ...}, {"role": "assistant", ...}]}``

The records are split (seeded shuffle) into ``train.jsonl`` and ``validation.jsonl``; ``manifest.json``
gives the counts by split and source, the shape, the seed and the skill's content hash.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from skillforge.errors import SpecError
from skillforge.format import ESCALATIONS, SkillDefinition
from skillforge.jsonl import dumps_line
from skillforge.run import read_escalations, render_input, render_output
from skillforge.run.prompt import lean_request
from skillforge.spec import validation_errors
from skillforge.textfiles import write_atomic

ChatShape = Literal["anthropic", "openai"]
SHAPES: tuple[ChatShape, ...] = ("anthropic", "openai")
#: The demo sources whose answers the teacher gave or confirmed.
VERIFIED = frozenset({"teacher", "escalation"})


@dataclass(frozen=True)
class Trace:
    """One verified (input, answer) pair and where it came from."""

    input: dict[str, Any]
    output: dict[str, Any]
    source: str


def verified_traces(skill: SkillDefinition, skill_dir: Path | None) -> list[Trace]:
    """The teacher-verified traces of ``skill`` (its demos, then its escalation log at ``skill_dir``):
    valid under its schemas, regression inputs and repeats removed."""
    m = skill.manifest
    candidates = [Trace(d.input, d.output, f"demo:{d.source}") for d in skill.demos if d.source in VERIFIED]
    if skill_dir is not None:
        candidates += [Trace(r.input, r.output, "escalation-log") for r in read_escalations(skill_dir / ESCALATIONS)
                       if r.answered_by != "classifier"]
    seen = {render_input(c.input) for c in skill.tests}
    out = []
    for t in candidates:
        key = render_input(t.input)
        if key in seen or validation_errors(m.input_schema, t.input) or validation_errors(m.output_schema, t.output):
            continue
        seen.add(key)
        out.append(t)
    return out


def chat_record(skill: SkillDefinition, trace: Trace, shape: ChatShape) -> dict[str, Any]:
    """One fine-tuning record: the skill's zero-shot prompt for ``trace.input`` (the request a runner sends
    without demos, in the skill's rendering) and its verified answer."""
    m = skill.manifest
    req = lean_request(skill, trace.input)
    turns = [{"role": msg.role, "content": msg.content} for msg in req.messages]
    turns.append({"role": "assistant", "content": render_output(trace.output, m.output_schema)})
    if shape == "openai":
        return {"messages": [{"role": "system", "content": req.system}, *turns]}
    return {"system": req.system, "messages": turns}


@dataclass(frozen=True)
class FinetuneExport:
    """What :func:`export_finetune` wrote."""

    path: Path
    train: int
    validation: int
    sources: dict[str, int]


def export_finetune(skill: SkillDefinition, out: str | Path, *, skill_dir: Path | None = None,
                    shape: ChatShape = "anthropic", validation_fraction: float = 0.1, seed: int = 0) -> FinetuneExport:
    """Write ``train.jsonl``, ``validation.jsonl`` and ``manifest.json`` into ``out`` (see the module
    docstring). ``skill_dir`` is where the escalation log is read from (default: none read)."""
    if shape not in SHAPES:
        raise SpecError(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)}", field="shape")
    if not 0.0 <= validation_fraction < 1.0:
        raise SpecError("must be in [0, 1)", field="validation_fraction")
    traces = verified_traces(skill, skill_dir)
    if not traces:
        raise SpecError(f"skill {skill.name!r} has no teacher-verified traces to export")
    order = list(range(len(traces)))
    random.Random(seed).shuffle(order)
    n_val = round(len(traces) * validation_fraction)
    if validation_fraction > 0 and len(traces) >= 2:
        n_val = max(1, n_val)
    splits = {"validation": [traces[i] for i in order[:n_val]], "train": [traces[i] for i in order[n_val:]]}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        write_atomic(out / f"{name}.jsonl", "".join(dumps_line(chat_record(skill, t, shape)) for t in rows))
    sources = dict(sorted(Counter(t.source for t in traces).items()))
    manifest = {
        "skill": skill.name, "content_hash": skill.manifest.provenance.content_hash,
        "teacher": skill.manifest.provenance.teacher, "shape": shape, "seed": seed,
        "validation_fraction": validation_fraction,
        "counts": {"train": len(splits["train"]), "validation": len(splits["validation"])},
        "sources": sources, "regression_inputs_excluded": len(skill.tests),
    }
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return FinetuneExport(out, len(splits["train"]), len(splits["validation"]), sources)
