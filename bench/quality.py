"""The quality benchmark: does the compiled skill keep quality while moving work to the cheap model?

    .venv/bin/python bench/quality.py [--limit N] [NAME ...]        (or: make quality)

(``--rows`` and ``--cache DIR`` split one dataset's rows across processes, e.g. one per CPU core.)

For snips_intent (intent-router), uci_sentiment (review-sentiment) and us_addresses (address-parser),
on the test split of examples/tasks.py (fixed seed, disjoint from the train and dev data the compiler
saw), the embedded student SmolLM2-135M answers four ways:

1. zero-shot: the spec's description and schema, no demos;
2. naive few-shot: K_NAIVE demos drawn at random (fixed seed) from the train split's labels, no selection;
3. compiled: the committed skill (skills/NAME) as compiled -- its instructions, demos, demo strategy;
4. compiled + escalation: the same student answers, with every answer below the skill's threshold (or
   invalid) escalated to the teacher. NO TEACHER MODEL IS REACHABLE HERE: the teacher is SIMULATED BY
   THE GOLD LABELS (always right). Its cost is priced as Claude Opus at list price on the real tokens.

Costs are relative to teacher-only: Claude Opus answering every test input with the zero-shot prompt
(the cheapest prompt a strong model needs; its input tokens as measured in row 1, its output tokens
those of the gold answer). An escalation sends the teacher the lean prompt (the skill's instructions
and the input, no demos; ``settings.escalation_prompt``), sized from the measured student prompt.
The student is priced as Claude Haiku (list price, same tokens) and as the local model ($0). Token
counts are SmolLM2's (Claude's tokenizer counts differ somewhat); no prompt caching is credited.
Results: bench/results/quality.json and quality.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.build_example_skills import OPTIONS
from examples.tasks import ROOT, SPLIT_SEED, TASKS
from skillforge import Ledger, SkillSpec, get_model, load_skill
from skillforge.evaluate import GOLD, STUDENT_REFERENCE, TEACHER_REFERENCE, EvalResult, aevaluate_skill
from skillforge.format import FORMAT_VERSION, Demo, Manifest, Metrics, Provenance, Settings
from skillforge.models.base import Usage
from skillforge.models.pricing import cost_usd, price_for
from skillforge.run.prompt import render_output, template_instructions
from skillforge.skill import Skill

RESULTS = ROOT / "bench" / "results"
DATASETS = {"intent-router": "snips_intent", "review-sentiment": "uci_sentiment", "address-parser": "us_addresses"}
STUDENT = "local:smollm2-135m"
K_NAIVE = 8
NAIVE_SEED = 7


def variant_skill(spec: SkillSpec, *, instructions: str, demos: list[Demo], max_tokens: int,
                  **settings: Any) -> Skill:
    """A skill from the spec alone with the given instructions and fixed demos (and further ``settings``),
    run by the student alone (no threshold). Built without the committed skill, so these rows can run
    while it compiles."""
    settings = {"instructions_source": "template", **settings}
    values = Settings(demo_strategy="fixed" if demos else "none", k=len(demos), max_tokens=max_tokens, **settings)
    manifest = Manifest(
        format_version=FORMAT_VERSION, name=spec.name, description=spec.description, input_schema=spec.input_schema,
        output_schema=spec.output_schema, settings=values,
        provenance=Provenance(teacher=STUDENT, student=STUDENT, skillforge_version="bench", spec_hash="",
                              content_hash="", compiled_at=""),
        metrics=Metrics(dev_size=0, dev_score=0.0, zero_shot_dev_score=0.0, chosen="baseline"))
    return Skill(manifest, instructions, demos, [])


def _opus(usage: Usage) -> float:
    price = price_for(TEACHER_REFERENCE)
    assert price is not None
    return cost_usd(usage, price)


def _haiku(usage: Usage) -> float:
    price = price_for(STUDENT_REFERENCE)
    assert price is not None
    return cost_usd(usage, price)


ROWS = ("zero_shot", "naive_few_shot", "compiled")


def run_task(name: str, limit: int | None, rows: tuple[str, ...] = ROWS, cache: Path | None = None
             ) -> dict[str, Any] | None:
    """Measure ``rows`` of one dataset; ``None`` until all rows are measured. With ``cache``, each row's
    raw results are kept there (pickled), so rows can run as separate processes, one per CPU core."""
    task = TASKS[name]()
    train, _dev, test = task.splits()
    test = test[:limit] if limit else test
    student = get_model(STUDENT)
    count = getattr(student, "count_tokens", None)
    schema = task.spec.output_schema
    # The same answer budget as the compiled skill gets (see examples/build_example_skills.py).
    max_tokens = int(OPTIONS.get(name, {}).get("max_tokens", 256))
    zero = variant_skill(task.spec, instructions=template_instructions(task.spec.description, schema), demos=[],
                    max_tokens=max_tokens)
    rng = random.Random(NAIVE_SEED)
    naive_demos = [Demo(input=e.input, output=e.expected or {}, source="label") for e in rng.sample(train, K_NAIVE)]
    naive = variant_skill(task.spec, instructions=zero.instructions, demos=naive_demos, max_tokens=max_tokens)
    need_skill = "compiled" in rows or (cache is not None and (cache / f"{name}-compiled-{len(test)}.pickle").exists())
    skill = load_skill(ROOT / "skills" / name, strict=True) if need_skill else zero
    # The simulated teacher is always right, so by the compiler's own rule (a teacher that scores at least
    # the student's dev score with the instructions alone is sent the lean prompt) its escalations go out
    # lean. The committed skills say "student": offline, their teacher was the 135M model itself.
    skill.manifest.settings = skill.settings.model_copy(update={"escalation_prompt": "lean"})

    results: dict[str, EvalResult] = {}
    seconds: dict[str, float] = {}
    for label, sk, escalate in (("zero_shot", zero, False), ("naive_few_shot", naive, False),
                                ("compiled", skill, True)):
        stored = cache / f"{name}-{label}-{len(test)}.pickle" if cache else None
        if stored is not None and stored.exists():
            results[label], seconds[label] = pickle.loads(stored.read_bytes())
            continue
        if label not in rows:
            continue
        start = time.perf_counter()
        results[label] = asyncio.run(aevaluate_skill(sk, test, student=student, teacher=GOLD, escalate=escalate,
                                                     ledger=Ledger(None), count_tokens=count))
        seconds[label] = round(time.perf_counter() - start, 1)
        print(f"{name:17} {label:15} accuracy {results[label].student_accuracy:.3f} ({seconds[label]} s)",
              flush=True)
        if stored is not None:
            stored.parent.mkdir(parents=True, exist_ok=True)
            stored.write_bytes(pickle.dumps((results[label], seconds[label])))
    if len(results) < len(ROWS):
        return None

    # Teacher-only: Opus on the zero-shot prompt (measured input tokens) with the gold answer as output.
    teacher_only = 0.0
    for case in results["zero_shot"].cases:
        out_tokens = count(render_output(case.expected, schema)) if count else case.student_usage.output_tokens
        teacher_only += _opus(Usage(input_tokens=case.prompt_tokens, output_tokens=out_tokens))

    def row(label: str, r: EvalResult, *, escalated: bool) -> dict[str, Any]:
        student_usage = sum((c.student_usage for c in r.cases), Usage())
        teacher_usage = sum((c.teacher_usage for c in r.cases), Usage()) if escalated else Usage()
        teacher_cost = _opus(teacher_usage)
        return {
            "row": label,
            "accuracy": round(r.final_accuracy if escalated else r.student_accuracy, 4),
            "field_score": round(r.final_field_score if escalated else r.student_field_score, 4),
            "student_share": round(r.student_share if escalated else 1.0, 4),
            "accepted_accuracy": round(r.accepted_accuracy, 4) if escalated and r.accepted_accuracy is not None
            else None,
            "cost_vs_teacher_only_student_local": round(teacher_cost / teacher_only, 4),
            "cost_vs_teacher_only_student_as_haiku": round((_haiku(student_usage) + teacher_cost) / teacher_only, 4),
        }

    rows = [row("zero-shot student", results["zero_shot"], escalated=False),
            row(f"naive few-shot student (k={K_NAIVE} random)", results["naive_few_shot"], escalated=False),
            row(f"compiled skill ({skill.manifest.metrics.chosen})", results["compiled"], escalated=False),
            row("compiled skill + escalation (teacher SIMULATED by gold labels)", results["compiled"], escalated=True)]
    comp = results["compiled"]
    return {
        "skill": name, "dataset": DATASETS[name], "test_cases": len(test), "test_split_size": task.n_test,
        "split_seed": SPLIT_SEED, "threshold": skill.settings.threshold, "auroc": comp.auroc,
        "teacher_only_usd_per_1k": round(1000 * teacher_only / len(test), 4), "rows": rows, "seconds": seconds,
    }


def targets(r: dict[str, Any]) -> dict[str, Any]:
    """The issue's benchmark targets, checked on the measured rows."""
    zero, naive, comp, esc = r["rows"]
    key = "field_score" if r["skill"] == "address-parser" else "accuracy"
    out: dict[str, Any] = {
        "compiled_ge_best_baseline": comp[key] >= max(zero[key], naive[key]),
        "accepted_ge_95pct": esc["accepted_accuracy"] is not None and esc["accepted_accuracy"] >= 0.95,
        "cost_le_10pct_at_ge_98pct_teacher_accuracy": esc["cost_vs_teacher_only_student_as_haiku"] <= 0.10
        and esc["accuracy"] >= 0.98,
    }
    if r["skill"] != "address-parser":
        out["student_share_ge_50pct"] = esc["student_share"] >= 0.5
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| dataset (test cases) | row | accuracy | field score | student share | accepted correct | "
             "cost vs teacher-only (student local) | cost vs teacher-only (student as Haiku) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for x in r["rows"]:
            acc = "-" if x["accepted_accuracy"] is None else f"{x['accepted_accuracy']:.3f}"
            lines.append(f"| {r['dataset']} ({r['test_cases']}) | {x['row']} | {x['accuracy']:.3f} | "
                         f"{x['field_score']:.3f} | {x['student_share']:.0%} | {acc} | "
                         f"{x['cost_vs_teacher_only_student_local']:.1%} | "
                         f"{x['cost_vs_teacher_only_student_as_haiku']:.1%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="skills to run (default: all three)")
    parser.add_argument("--limit", type=int, default=None, help="first N cases of each test split only")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    parser.add_argument("--cache", type=Path, default=None, help="keep/reuse each row's raw results here")
    args = parser.parse_args()
    rows = tuple(r for r in args.rows.split(",") if r)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "quality.json"
    for name in args.names or list(TASKS):
        start = time.perf_counter()
        measured = run_task(name, args.limit, rows, args.cache)
        if measured is None:
            print(f"{name}: rows {','.join(rows)} measured; run the rest to complete the table", flush=True)
            continue
        r = measured
        r["targets"] = targets(r)
        r["wall_seconds"] = round(time.perf_counter() - start, 1)
        # Re-read just before writing: another run may have added other datasets meanwhile.
        old = {x["skill"]: x for x in json.loads(out.read_text())["results"]} if out.exists() else {}
        old[name] = r
        merged = [old[k] for k in TASKS if k in old]
        note = ("Teacher SIMULATED by the gold labels (no teacher model reachable); teacher priced as "
                f"{TEACHER_REFERENCE}, student as {STUDENT_REFERENCE} and as local ($0), list prices.")
        out.write_text(json.dumps({"note": note, "results": merged}, indent=2) + "\n")
        (RESULTS / "quality.md").write_text(markdown(merged))
        print(markdown([r]), flush=True)
        print(json.dumps(r["targets"]), flush=True)


if __name__ == "__main__":
    main()
