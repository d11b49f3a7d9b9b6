"""Out of sample: a committed retrieved-demo skill against its clustered twin, on the test split.

    taskset -c 1 nice .venv/bin/python bench/clustered_quality.py [NAME] [--limit N]

The compiler keeps the clustered twin of a retrieved-demo candidate (the same demo pool grouped into
fixed demo sets of the same size, one cacheable prefix per group) unless retrieval clearly beats it on
dev, and since it measures the twin first, a compile of ``intent-router`` now chooses
``template+clustered7`` (dev 0.883) where the committed skill is ``template+retrieved7`` (dev 0.900).
Sixty dev cases cannot tell those apart; this benchmark measures both on the task's test split (never
shown to the compiler): the committed skill, and the same skill with ``demo_strategy: clustered`` over
the same instructions, pool and ``k``. Student only (the embedded SmolLM2-135M), no escalation: the
quality of the prompt itself. Reports each accuracy, the paired difference with its standard error,
the cases only one of them got right, and seconds per call. Results go to
``bench/results/clustered_quality.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.local import variant
from examples.tasks import ROOT, TASKS
from skillforge import Ledger, get_model, load_skill
from skillforge.evaluate import EvalResult, aevaluate_skill

STUDENT = "local:smollm2-135m"
OUT = ROOT / "bench" / "results" / "clustered_quality"


def paired(a: EvalResult, b: EvalResult) -> tuple[float, float]:
    """Mean and standard error of the per-case difference in correctness (b - a)."""
    diffs = [float(y.correct) - float(x.correct) for x, y in zip(a.cases, b.cases, strict=True)]
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
    return statistics.fmean(diffs), se


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", default="intent-router")
    parser.add_argument("--limit", type=int, default=None, help="first N test cases only")
    args = parser.parse_args()
    skill = load_skill(ROOT / "skills" / args.name, strict=True)
    if skill.settings.demo_strategy != "retrieved":
        raise SystemExit(f"{args.name} uses {skill.settings.demo_strategy!r} demos, not retrieved ones")
    _train, _dev, test = TASKS[args.name]().splits()
    test = test[: args.limit] if args.limit else test
    student = get_model(STUDENT)
    results: dict[str, EvalResult] = {}
    seconds: dict[str, float] = {}
    twin = variant(skill, "clustered", skill.settings.k, skill.demos)  # the compiler's clustered twin
    for label, sk in (("retrieved (committed)", skill), ("clustered twin", twin)):
        start = time.perf_counter()
        results[label] = asyncio.run(aevaluate_skill(sk, test, student=student, escalate=False, ledger=Ledger(None)))
        seconds[label] = round(time.perf_counter() - start, 1)
        print(f"{label:22} accuracy {results[label].student_accuracy:.3f} ({seconds[label]} s)", flush=True)
    a, b = results.values()
    gain, se = paired(a, b)
    only_a = sum(x.correct and not y.correct for x, y in zip(a.cases, b.cases, strict=True))
    only_b = sum(y.correct and not x.correct for x, y in zip(a.cases, b.cases, strict=True))
    data: dict[str, Any] = {
        "skill": args.name, "chosen": skill.manifest.metrics.chosen, "k": skill.settings.k,
        "pool": len(skill.demos), "test_cases": len(test),
        "accuracy": {k: round(r.student_accuracy, 4) for k, r in results.items()},
        "seconds_per_call": {k: round(s / len(test), 3) for k, s in seconds.items()},
        "difference": round(gain, 4), "standard_error": round(se, 4),
        "only_retrieved_right": only_a, "only_clustered_right": only_b,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    rows = "\n".join(f"| {k} | {data['accuracy'][k]:.3f} | {data['seconds_per_call'][k]:.3f} |" for k in results)
    OUT.with_suffix(".md").write_text(
        f"# {args.name}: retrieved demos against their clustered twin, out of sample\n\n"
        f"`.venv/bin/python bench/clustered_quality.py {args.name}` -- the committed skill "
        f"(`{data['chosen']}`, a pool of {data['pool']} demos, k={data['k']}) and its clustered twin, "
        f"student only ({STUDENT}), on the {len(test)} cases of the test split.\n\n"
        f"| prompt | test accuracy | s per call (one process, warm-up included) |\n|---|---|---|\n{rows}\n\n"
        f"Clustered minus retrieved: {gain:+.3f} ± {se:.3f} (paired standard error); right only with "
        f"retrieved demos: {only_a} cases, only with the clustered twin: {only_b}.\n")
    print(OUT.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
