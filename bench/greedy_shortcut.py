"""Greedy decoding under a grammar: the local model's shortcut (the most likely tokens checked against
the grammar first) against llama-cpp-python's sampler chain (the grammar checked against the whole
vocabulary for every token), on the same requests in interleaved rounds.

    taskset -c 1 .venv/bin/python bench/greedy_shortcut.py [--calls 30] [--rounds 3]

The requests are intent-router's first dev inputs, zero-shot with its committed instructions. Reported:
median seconds per call with and without the shortcut, and whether every answer was identical.
Results: bench/results/greedy_shortcut.json and .md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.tasks import ROOT, TASKS
from skillforge import load_skill
from skillforge.models.local import model as local
from skillforge.run.prompt import lean_request

RESULTS = ROOT / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    task = TASKS["intent-router"]()
    _train, dev, _test = task.splits()
    skill = load_skill(ROOT / "skills" / "intent-router")
    # The skill's own lean request (its rendering), with a short answer budget: what the shortcut is timed on.
    requests = [lean_request(skill, e.input).model_copy(update={"max_tokens": 64}) for e in dev[: args.calls]]
    model = local.LocalModel(local.embedded_model_path())
    llm = local._load(model.path, model.n_ctx)[0]
    for r in requests[:3]:  # warm-up: the system prefix in the cache
        model.request_sync(r)
    seconds: dict[bool, list[float]] = {True: [], False: []}
    texts: dict[bool, list[str]] = {}
    tokens = 0
    for _ in range(args.rounds):
        for on in (True, False):
            llm.greedy_shortcut = on
            start = time.perf_counter()
            out = [model.request_sync(r) for r in requests]
            seconds[on].append((time.perf_counter() - start) / len(requests))
            texts[on] = [o.text for o in out]
            tokens = sum(o.usage.output_tokens for o in out)
    llm.greedy_shortcut = True
    row = {"calls": len(requests), "rounds": args.rounds, "output_tokens_per_round": tokens,
           "ms_per_call_shortcut": round(1000 * statistics.median(seconds[True]), 1),
           "ms_per_call_chain": round(1000 * statistics.median(seconds[False]), 1),
           "identical_answers": texts[True] == texts[False]}
    row["ms_saved_per_output_token"] = round(
        (row["ms_per_call_chain"] - row["ms_per_call_shortcut"]) * len(requests) / max(1, tokens), 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "greedy_shortcut.json").write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    md = ("# Greedy decoding under a grammar\n\n`taskset -c 1 .venv/bin/python bench/greedy_shortcut.py`\n\n"
          "| | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in row.items()))
    (RESULTS / "greedy_shortcut.md").write_text(md, encoding="utf-8")
    print(md)


if __name__ == "__main__":
    main()
