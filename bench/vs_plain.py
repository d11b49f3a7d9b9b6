"""Compile vs plain prompt: does a compiled skill beat (or at least match) one plain instruction line?

    .venv/bin/python bench/vs_plain.py [--limit N] [NAME ...]

For every task of examples/tasks.py -- the three committed skills (snips_intent, uci_sentiment,
us_addresses) and the held-out sports_plausibility (BIG-bench sports_understanding, public labelled
data the compiler was never tuned on) -- the embedded student SmolLM2-135M answers the task's test split
(out of sample: disjoint from the train and dev data the compiler saw) two ways:

1. plain prompt: the spec's description as one instruction line, the input as plain text, no schema
   text, the answer constrained by the same JSON-Schema grammar;
2. compiled skill: skills/NAME as committed; for the held-out task, compiled here from its train and
   dev splits with the embedded model as teacher and student (HELD_OUT_OPTIONS), and saved under
   bench/results/skills/NAME (``--recompile`` compiles again).

No escalation: both rows are the student's own answers. ``--limit N`` uses a fixed seeded sample of N
test cases per task (the same sample for both rows). The table reports accuracy (field score for
addresses, where whole answers rarely match), its standard error, the paired difference and its
standard error, and whether compiled >= plain - 1 SE. Results: bench/results/vs_plain.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.quality import variant_skill
from examples.build_example_skills import OPTIONS
from examples.tasks import HELD_OUT_TASKS, ROOT, SPLIT_SEED, TASKS, Task
from skillforge import CompileOptions, Ledger, compile_skill, get_model, load_skill
from skillforge.evaluate import aevaluate_skill
from skillforge.run.prompt import plain_instructions
from skillforge.skill import Skill

RESULTS = ROOT / "bench" / "results"
MODEL = "local:smollm2-135m"
SAMPLE_SEED = 11
DATASETS = {"intent-router": "snips_intent", "review-sentiment": "uci_sentiment", "address-parser": "us_addresses",
            "sports-plausibility": "bigbench_sports"}
ALL_TASKS = {**TASKS, **HELD_OUT_TASKS}
#: The held-out task compiles with the defaults, bounded like the committed sentiment build (one retrieved
#: demo count, 60 extra calibration cases) for a 2-core machine.
HELD_OUT_OPTIONS = CompileOptions(retrieval_ks=(4,), calibration_extra=60)


def plain_skill(task: Task, max_tokens: int) -> Skill:
    """The plain prompt as a skill: one instruction line, plain input, schema left to the grammar."""
    return variant_skill(task.spec, instructions=plain_instructions(task.spec.description), demos=[],
                         max_tokens=max_tokens, instructions_source="plain", input_format="plain",
                         schema_in_prompt=False)


def compiled_skill(name: str, task: Task, recompile: bool) -> tuple[Skill, float | None]:
    """The committed skill, or for a held-out task the one compiled here (and how long that took)."""
    if name in TASKS:
        return load_skill(ROOT / "skills" / name, strict=True), None
    path = RESULTS / "skills" / name
    if path.exists() and not recompile:
        return load_skill(path, strict=True), None
    train, dev, _ = task.splits()
    start = time.perf_counter()
    skill = compile_skill(task.spec, train, HELD_OUT_OPTIONS, dev_examples=dev, teacher=MODEL, student=MODEL,
                          ledger=Ledger(None))
    seconds = round(time.perf_counter() - start, 1)
    skill.save(path)
    return skill, seconds


def _stats(plain: list[float], comp: list[float]) -> dict[str, float]:
    n = len(plain)
    p, c = sum(plain) / n, sum(comp) / n
    diffs = [b - a for a, b in zip(plain, comp, strict=True)]
    var = sum((d - (c - p)) ** 2 for d in diffs) / (n - 1)
    se_p = math.sqrt(sum((x - p) ** 2 for x in plain) / (n - 1) / n)
    return {"plain": round(p, 4), "plain_se": round(se_p, 4), "compiled": round(c, 4),
            "diff": round(c - p, 4), "diff_se": round(math.sqrt(var / n), 4)}


def run_task(name: str, limit: int | None, recompile: bool) -> dict[str, Any]:
    task = ALL_TASKS[name]()
    _train, _dev, test = task.splits()
    if limit and limit < len(test):
        test = random.Random(SAMPLE_SEED).sample(test, limit)
    max_tokens = int(OPTIONS.get(name, {}).get("max_tokens", 256))
    skill, compile_seconds = compiled_skill(name, task, recompile)
    student = get_model(MODEL)
    out: dict[str, Any] = {"task": name, "dataset": DATASETS[name], "test_cases": len(test),
                           "test_split_size": task.n_test, "split_seed": SPLIT_SEED,
                           "sample_seed": SAMPLE_SEED if len(test) < task.n_test else None,
                           "held_out_task": name in HELD_OUT_TASKS, "compile_seconds": compile_seconds}
    results = {}
    for label, sk in (("plain", plain_skill(task, max_tokens)), ("compiled", skill)):
        start = time.perf_counter()
        results[label] = asyncio.run(aevaluate_skill(sk, test, student=student, escalate=False, ledger=Ledger(None)))
        out[f"{label}_seconds"] = round(time.perf_counter() - start, 1)
        print(f"{name:20} {label:9} accuracy {results[label].student_accuracy:.3f} "
              f"field score {results[label].student_field_score:.3f} ({out[f'{label}_seconds']} s)", flush=True)
    m = skill.manifest.metrics
    chosen = next((c for c in m.candidates if c.name == m.chosen), None)
    out.update({
        "chosen": m.chosen, "baseline": m.baseline, "dev_score": m.dev_score,
        "baseline_dev_score": m.zero_shot_dev_score,
        "chosen_spread": None if chosen is None else chosen.spread, "selection": m.selection,
        "accuracy": _stats([float(c.correct) for c in results["plain"].cases],
                           [float(c.correct) for c in results["compiled"].cases]),
        "field_score": _stats([c.score for c in results["plain"].cases], [c.score for c in results["compiled"].cases]),
    })
    key = "field_score" if name == "address-parser" else "accuracy"
    s = out[key]
    out["metric"] = key
    out["compiled_ge_plain_minus_1se"] = s["compiled"] >= s["plain"] - s["plain_se"]
    return out


def _baseline(r: dict[str, Any]) -> str:
    # Skills compiled before renderings were searched have no plain-prompt baseline in their metrics.
    return "plain prompt" if r["baseline"] else "template zero-shot, skill compiled before issue 18:"


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| dataset (test cases) | metric | plain prompt (± SE) | compiled skill | "
             "compiled - plain (± paired SE) | compiled >= plain - 1 SE | chosen candidate (dev score; baseline's) |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        s = r[r["metric"]]
        held = " (held out)" if r["held_out_task"] else ""
        lines.append(f"| {r['dataset']}{held} ({r['test_cases']}) | {r['metric'].replace('_', ' ')} | "
                     f"{s['plain']:.3f} ± {s['plain_se']:.3f} | {s['compiled']:.3f} | "
                     f"{s['diff']:+.3f} ± {s['diff_se']:.3f} | "
                     f"{'yes' if r['compiled_ge_plain_minus_1se'] else '**no**'} | "
                     f"{r['chosen']} ({r['dev_score']:.3f}; {_baseline(r)} {r['baseline_dev_score']:.3f}) |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"tasks to run (default: all of {', '.join(ALL_TASKS)})")
    parser.add_argument("--limit", type=int, default=None, help="a fixed seeded sample of N test cases per task")
    parser.add_argument("--recompile", action="store_true", help="compile the held-out task's skill again")
    parser.add_argument("--table", action="store_true", help="only rewrite vs_plain.md from vs_plain.json")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "vs_plain.json"
    if args.table:
        (RESULTS / "vs_plain.md").write_text(markdown(json.loads(out.read_text())["results"]))
        return
    for name in args.names or list(ALL_TASKS):
        r = run_task(name, args.limit, args.recompile)
        # Re-read just before writing: another run may have added other tasks meanwhile.
        old = {x["task"]: x for x in json.loads(out.read_text())["results"]} if out.exists() else {}
        old[name] = r
        merged = [old[k] for k in ALL_TASKS if k in old]
        note = (f"Student {MODEL} alone (no escalation), out of sample on the test splits of examples/tasks.py; "
                "plain prompt = description line + plain input + grammar-constrained answer, no schema text.")
        out.write_text(json.dumps({"note": note, "command": " ".join(["bench/vs_plain.py", *sys.argv[1:]]),
                                   "results": merged}, indent=2) + "\n")
        (RESULTS / "vs_plain.md").write_text(markdown(merged))
        print(markdown([r]), flush=True)


if __name__ == "__main__":
    main()
