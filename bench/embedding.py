"""What the classifier tier's input embedding costs: seconds per input with the embedded model.

    taskset -c 1 nice .venv/bin/python bench/embedding.py [NAME ...] [--limit N]

A classifier that reads embeddings (``CompileOptions.classifier_embeddings``) embeds every input once
with a local model before the tier answers: one forward pass of SmolLM2-135M over the input text alone
(no prompt, no generation). This benchmark embeds each input of the task's test split, one call per
input as the runtime does, after one warm-up call (the weights load), and reports the median, mean and
95th percentile seconds per input, the mean tokens per input, and the same for the student's whole
call on the committed skill (``Skill.run`` without escalation) on the first inputs for scale. Results
go to ``bench/results/embedding.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.tasks import ROOT, TASKS
from skillforge import EscalationFailed, Ledger, load_skill
from skillforge.models.local.model import LocalModel
from skillforge.run.classifier import embedding_text

STUDENT = "smollm2-135m"
OUT = ROOT / "bench" / "results" / "embedding"
#: Student calls timed per task, for scale (each is a whole generation).
STUDENT_CALLS = 30


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"median_s": round(statistics.median(ordered), 4), "mean_s": round(statistics.fmean(ordered), 4),
            "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 4)}


def run_task(name: str, limit: int | None) -> dict[str, Any]:
    _, _, test = TASKS[name]().splits()
    test = test[:limit] if limit else test
    model = LocalModel.named(STUDENT)
    texts = [embedding_text(e.input) for e in test]
    asyncio.run(model.embed(texts[:1]))  # loads the weights
    seconds = []
    for text in texts:
        start = time.perf_counter()
        asyncio.run(model.embed([text]))
        seconds.append(time.perf_counter() - start)
    skill = load_skill(ROOT / "skills" / name)
    student = []
    for e in test[:STUDENT_CALLS]:
        start = time.perf_counter()
        with contextlib.suppress(EscalationFailed):  # an invalid answer took its time all the same
            skill.run(e.input, student=model, ledger=Ledger(None), escalate=False)
        student.append(time.perf_counter() - start)
    return {"task": name, "inputs": len(texts),
            "mean_tokens": round(statistics.fmean(model.count_tokens(t) for t in texts), 1),
            "embedding": _summary(seconds), "student_calls": len(student), "student_call": _summary(student)}


def markdown(rows: list[dict[str, Any]]) -> str:
    out = ["| task | inputs | mean tokens | embedding: median / mean / p95 s | student call: median / mean / p95 s |",
           "|---|---|---|---|---|"]
    for r in rows:
        e, s = r["embedding"], r["student_call"]
        out.append(f"| {r['task']} | {r['inputs']} | {r['mean_tokens']} | {e['median_s']} / {e['mean_s']} / "
                   f"{e['p95_s']} | {s['median_s']} / {s['mean_s']} / {s['p95_s']} ({r['student_calls']} calls) |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=["intent-router", "review-sentiment"])
    parser.add_argument("--limit", type=int, default=None, help="test inputs per task (default: all)")
    args = parser.parse_args()
    rows = [run_task(n, args.limit) for n in args.names]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    OUT.with_suffix(".md").write_text(markdown(rows), encoding="utf-8")
    print(markdown(rows))


if __name__ == "__main__":
    main()
