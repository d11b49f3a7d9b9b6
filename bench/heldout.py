"""Held-out accuracy of the committed example skills vs the same model zero-shot.

    .venv/bin/python bench/heldout.py [NAME ...]     (or: make bench)

For each task, the test split of examples/tasks.py (never seen by the compiler) is answered by the
embedded student twice: with the plain zero-shot prompt (the spec's description and schema, no demos)
and with the compiled skill (its instructions and demos). Student only, no escalation. Results are
written to bench/results/heldout.json and bench/results/heldout.md.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.tasks import ROOT, TASKS

from skillforge import Ledger, get_model, load_skill
from skillforge.candidates import Candidate, DevCase, evaluate
from skillforge.prompt import template_instructions

RESULTS = ROOT / "bench" / "results"


def main(names: list[str]) -> None:
    student = get_model("local:smollm2-135m")
    rows = []
    for name in names or list(TASKS):
        task = TASKS[name]()
        _, _, test = task.splits()
        skill = load_skill(ROOT / "skills" / name, strict=True)
        cases = [DevCase(e.input, e.expected or {}) for e in test]
        zero = Candidate("zero-shot", "template",
                         template_instructions(task.spec.description, task.spec.output_schema), [])
        retrieve_k = skill.settings.k if skill.settings.demo_strategy == "retrieved" else None
        compiled = Candidate(skill.manifest.metrics.chosen, skill.settings.instructions_source,
                             skill.instructions, list(skill.demos), retrieve_k=retrieve_k)
        row: dict[str, object] = {"skill": name, "test_cases": len(cases), "chosen": compiled.name}
        for label, cand in (("zero_shot", zero), ("compiled", compiled)):
            start = time.perf_counter()
            ev = asyncio.run(evaluate(
                cand, cases, student=student, output_schema=task.spec.output_schema,
                comparators=skill.settings.comparators, max_tokens=skill.settings.max_tokens,
                max_reasks=skill.settings.max_reasks, ledger=Ledger(None), skill=name, concurrency=1,
            ))
            row[f"{label}_accuracy"] = round(ev.accuracy, 4)
            row[f"{label}_field_score"] = round(ev.score, 4)
            row[f"{label}_seconds"] = round(time.perf_counter() - start, 1)
            print(f"{name:18} {label:10} accuracy {ev.accuracy:.3f}  field score {ev.score:.3f}", flush=True)
        rows.append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "heldout.json"
    old = {r["skill"]: r for r in json.loads(out.read_text())} if out.exists() else {}
    old.update({str(r["skill"]): r for r in rows})
    merged = [old[k] for k in sorted(old)]
    out.write_text(json.dumps(merged, indent=2) + "\n")
    lines = ["| skill | test cases | zero-shot accuracy | compiled accuracy | zero-shot field score | "
             "compiled field score | chosen candidate |", "|---|---|---|---|---|---|---|"]
    for r in merged:
        lines.append(f"| {r['skill']} | {r['test_cases']} | {r['zero_shot_accuracy']:.3f} | "
                     f"{r['compiled_accuracy']:.3f} | {r['zero_shot_field_score']:.3f} | "
                     f"{r['compiled_field_score']:.3f} | {r['chosen']} |")
    (RESULTS / "heldout.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
