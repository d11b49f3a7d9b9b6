"""Cheap calibrated confidence and a classifier tier: how much traffic the student tiers take at the
target precision, out of sample.

    .venv/bin/python bench/cascade.py [--limit N] [NAME ...]       (NAME: intent-router, review-sentiment)
    .venv/bin/python bench/cascade.py --more-train 2000 --calibration-extra 600 \
        --out bench/results/cascade_more_data review-sentiment
    .venv/bin/python bench/cascade.py --tier anthropic:claude-haiku-5-5 intent-router   (needs ANTHROPIC_API_KEY)
    .venv/bin/python bench/cascade.py --target-precision 0.97 --calibration-extra 200 intent-router

With ``--more-train N`` up to N further labelled rows the splits leave unused join the training
examples (the classifier tier is trained, and its threshold certified, on all of them; the student's
calibration cases are drawn from them): what more labelled data buys, with the test split unchanged.
With ``--tier MODEL`` that model is measured as a model tier behind the student (real calls, priced as
that model; see docs/confidence.md#model-tiers-behind-the-student) and answers what the student passes
on in the test run when the compile keeps it.

For each task the committed skill's chosen prompt (instructions, demos, demo strategy, rendering) is
kept as it is; the compiler's calibrate step then runs on the task's train/dev splits (examples/tasks.py) with
its build options: every free confidence signal measured on dev plus held-out training examples, the
confidence method chosen (value-token probability, class probability, or a cross-fitted logistic
combination), a text-classifier tier trained on the training examples, and the cheaper ladder at the
target precision kept. The resulting skill then answers the task's TEST split (never seen): the
classifier tier and the embedded student SmolLM2-135M as the skill says, and every escalation answered
by a teacher SIMULATED BY THE GOLD LABELS (always right), priced as Claude Opus on the real tokens.

Reported per task: the share each tier answers, the accuracy of accepted answers, accuracy after
escalation, cost per 1,000 calls of the mix against teacher-only (local tiers at $0), AUROC of every
signal (test and calibration), the ladders priced at compile time, and for comparison the old setting
(student alone, value-token probability) with its threshold calibrated on the same cases.
Results: bench/results/cascade.json and cascade.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.build_example_skills import options as build_options
from examples.tasks import ROOT, TASKS
from skillforge import Ledger, get_model, load_skill
from skillforge.compile import Candidate, choose_threshold
from skillforge.compile.assemble import assemble
from skillforge.compile.candidates import Rendering
from skillforge.compile.drafting import TeacherPool
from skillforge.compile.measure import DevCase
from skillforge.compile.pipeline import initial_state
from skillforge.compile.selection import Scored
from skillforge.compile.steps import calibrate
from skillforge.evaluate import GOLD, aevaluate_skill
from skillforge.ledger import utc_now

RESULTS = ROOT / "bench" / "results"
STUDENT = "local:smollm2-135m"


async def run_task(name: str, limit: int | None, more_train: int = 0,
                   calibration_extra: int | None = None, second_opinion: str | None = None,
                   tiers: tuple[str, ...] = (), target_precision: float | None = None) -> dict[str, Any]:
    task = TASKS[name]()
    train, dev, test = task.splits()
    train = train + task.unused()[:more_train]
    options = build_options(name)
    if calibration_extra is not None:
        options = options.model_copy(update={"calibration_extra": calibration_extra})
    if second_opinion is not None:
        options = options.model_copy(update={"second_opinion": second_opinion})
    if tiers:
        options = options.model_copy(update={"model_tiers": tiers})
    if target_precision is not None:
        options = options.model_copy(update={"target_precision": target_precision})
    test = test[:limit] if limit else test
    committed = load_skill(ROOT / "skills" / name)
    s = committed.settings
    # The committed prompt as the skill runs it: its demo strategy and its rendering (input format,
    # schema text). Runs before this line existed measured every skill in the JSON rendering.
    pooled = s.demo_strategy in ("retrieved", "clustered")
    cand = Candidate(committed.manifest.metrics.chosen, s.instructions_source, committed.instructions,
                     list(committed.demos), s.k if pooled else None,
                     rendering=Rendering(s.input_format, s.schema_in_prompt), clustered=s.demo_strategy == "clustered")
    model = get_model(STUDENT)
    start = time.perf_counter()
    state = initial_state(task.spec, train, options, dev, model, model, Ledger(None), utc_now, None)
    state.taught = TeacherPool(demos=[], dropped=0, score=None)  # the simulated teacher needs no demos
    state.dev = [DevCase(e.input, e.expected) for e in state.dev_examples if e.expected is not None]
    chosen = await state.measure(cand, state.dev, "dev", choice_scores=model.supports_choice_scores)
    state.measurements, state.chosen, state.why = [chosen], chosen, "the committed skill's choice"
    state.scored = [Scored([chosen])]
    await calibrate(state)
    skill = assemble(state)
    compile_s = time.perf_counter() - start
    result = await aevaluate_skill(skill, test, student=model, teacher=GOLD, ledger=Ledger(None))
    costs = result.costs_per_1k()
    cal = state.calibration_cases
    old = choose_threshold([c.signals.get("value_prob") for c in cal], [c.correct for c in cal],
                           target_precision=s.target_precision)
    old_accepted = [c for c in result.cases if c.output is not None and old.threshold is not None
                    and c.signals.get("value_prob", -1.0) >= old.threshold]
    return {
        "task": name, "test_cases": result.n, "train_examples": len(train),
        "target_precision": options.target_precision,
        "calibration_cases": len(cal), "seconds_calibrate": round(compile_s, 1),
        "seconds_total": round(time.perf_counter() - start, 1),
        "confidence_method": skill.settings.confidence.method,
        "second_opinion": None if (so := skill.settings.confidence.second_opinion) is None else
        {"model": so.model or STUDENT, "instructions": so.instructions, "input_format": so.input_format,
         "schema_in_prompt": so.schema_in_prompt},
        "tiers": [t.kind for t in skill.settings.tiers] + ["student"] + [t.model for t in skill.settings.model_tiers],
        "student_accuracy": round(result.student_accuracy, 4),
        "tier_shares": {k: round(v, 4) for k, v in result.tier_shares().items()},
        "answered_before_teacher": round(result.student_share, 4),
        "accepted_accuracy": None if result.accepted_accuracy is None else round(result.accepted_accuracy, 4),
        "accuracy_after_escalation": round(result.final_accuracy, 4),
        "cost_per_1k_mix_local": costs["mix"], "cost_per_1k_teacher_only": costs["teacher_only"],
        "cost_vs_teacher_only": None if not costs["mix"] or not costs["teacher_only"] else
        round(costs["mix"] / costs["teacher_only"], 4),
        "signal_auroc_test": {k: round(v, 4) for k, v in result.signal_auroc().items()},
        "signal_auroc_calibration": skill.manifest.metrics.signal_auroc,
        "ladders": [ladder.model_dump() for ladder in skill.manifest.metrics.ladders],
        "old_setting": {"share": round(len(old_accepted) / max(1, result.n), 4),
                        "accepted_accuracy": round(sum(c.correct for c in old_accepted) / len(old_accepted), 4)
                        if old_accepted else None},
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    out = ["| task | confidence | tiers | share classifier / student | accepted correct | after escalation | "
           "cost vs teacher-only | old setting (share, correct) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ts = r["tier_shares"]
        old = r["old_setting"]
        target = f", target {r['target_precision']}" if "target_precision" in r else ""
        out.append(f"| {r['task']} ({r['test_cases']} test, {r.get('train_examples', '-')} train{target}) | "
                   f"{r['confidence_method']} | {' > '.join(r['tiers'])} | "
                   f"{ts.get('classifier', 0):.1%} / {ts.get('student', 0):.1%}"
                   + "".join(f" / {k} {v:.1%}" for k, v in ts.items() if k not in ("classifier", "student", "teacher"))
                   + f" | {r['accepted_accuracy']} | "
                   f"{r['accuracy_after_escalation']} | {r['cost_vs_teacher_only']} | {old['share']:.1%}, "
                   f"{old['accepted_accuracy']} |")
    out += ["", "AUROC of each signal (test split; calibration in parentheses):", "",
            "| task | value_prob | class_prob | class_margin | classifier_prob | neighbour_vote | second_prob | "
            "second_agreement | confidence |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cal = r["signal_auroc_calibration"]
        cells = [f"{r['signal_auroc_test'].get(k, '-')} ({cal.get(k, '-')})"
                 for k in ("value_prob", "class_prob", "class_margin", "classifier_prob", "neighbour_vote",
                           "second_prob", "second_agreement")]
        combined = cal.get("combined with second opinion") if r.get("second_opinion") else cal.get("combined")
        cells.append(f"{r['signal_auroc_test'].get('confidence', '-')} ({combined or '-'} combined"
                     f"{' with second opinion' if r.get('second_opinion') else ''})")
        out.append(f"| {r['task']} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=["intent-router", "review-sentiment"])
    parser.add_argument("--limit", type=int, default=None, help="test cases per task (default: all)")
    parser.add_argument("--more-train", type=int, default=0,
                        help="further labelled rows (unused by the splits) added to training (default: 0)")
    parser.add_argument("--calibration-extra", type=int, default=None,
                        help="held-out training examples added to calibration (default: the build option)")
    parser.add_argument("--second-opinion", default=None,
                        help="measure a second opinion: 'student' (the student under the plain prompt) or a model id")
    parser.add_argument("--tier", action="append", default=[],
                        help="a model to measure behind the student (repeatable; e.g. anthropic:claude-haiku-5-5)")
    parser.add_argument("--target-precision", type=float, default=None,
                        help="the precision accepted answers must reach (default: the build option, 0.95)")
    parser.add_argument("--out", default=str(RESULTS / "cascade"), help="output path without extension")
    args = parser.parse_args()
    rows = [asyncio.run(run_task(n, args.limit, args.more_train, args.calibration_extra, args.second_opinion,
                                 tuple(args.tier), args.target_precision))
            for n in args.names]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    Path(args.out + ".md").write_text(markdown(rows), encoding="utf-8")
    print(markdown(rows))


if __name__ == "__main__":
    main()
