"""The embedded model with one demo set per input cluster: stored prefix KV states vs re-evaluation.

    taskset -c 1 .venv/bin/python bench/prefix_cache.py [--cases N] [--sets S]   # pinned on a shared machine

The committed ``intent-router`` skill's dev cases (skills/intent-router/tests.jsonl) are answered by the
embedded SmolLM2-135M with fixed demos, ``--sets`` different 7-demo sets (set j: the j-th pool demo of
each of the 7 intents), input i routed to set i mod S -- the worst case for llama.cpp's own reuse of the
prefix shared with the previous prompt, since consecutive calls never share a demo set. Contenders,
interleaved call by call, each with its own llama.cpp context:

- **S demo sets, prefix cache on** -- ``LocalModel`` with its default prefix-state budget, every set's
  prefix stored ahead with ``prefill`` (what a warmed runner does); each call restores its set's state;
- **S demo sets, prefix cache off** -- ``prefix_cache_bytes=0``: each call re-evaluates the demos;
- **1 demo set** -- every input with set 0 (the prefix is always live: the lower bound);
- **zero-shot** -- no demos.

Every call goes through ``Runner.arun`` (student only, no escalation, no ledger file). Reported per
contender: mean and median seconds per call, prompt tokens, dev score, the mean over zero-shot's;
and whether the cache-on and cache-off answers and confidences are identical call for call.
Results: bench/results/prefix_cache.json and prefix_cache.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skillforge import Ledger, load_skill
from skillforge.format import Demo
from skillforge.models.base import run_sync
from skillforge.models.local.model import LocalModel, _load, embedded_model_path
from skillforge.run.runtime import Runner
from skillforge.skill import Skill

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SKILL = ROOT / "skills" / "intent-router"
N_CTX = 4096


def demo_sets(pool: list[Demo], n: int) -> list[list[Demo]]:
    """``n`` disjoint 7-demo sets: set j holds the j-th pool demo of each intent."""
    by_label: dict[str, list[Demo]] = {}
    for d in pool:
        by_label.setdefault(str(d.output["intent"]), []).append(d)
    return [[group[j] for group in by_label.values()] for j in range(n)]


def fixed(skill: Skill, demos: list[Demo]) -> Skill:
    settings = skill.settings.model_copy(update={"demo_strategy": "fixed" if demos else "none", "k": len(demos)})
    manifest = skill.manifest.model_copy(update={"settings": settings})
    return Skill(manifest, skill.instructions, demos, skill.tests, path=None)


def runners(skill: Skill, sets: list[list[Demo]], model: LocalModel) -> list[Runner]:
    return [Runner(fixed(skill, demos), student=model, teacher=model, ledger=Ledger(None), escalate=False)
            for demos in sets]


def contenders(n_sets: int) -> dict[str, list[Runner]]:
    committed = load_skill(SKILL)
    sets = demo_sets(list(committed.demos), n_sets)
    path = embedded_model_path()
    # A distinct n_ctx per contender: LocalModel shares one context per (weights, n_ctx).
    on = LocalModel(path, n_ctx=N_CTX)
    off = LocalModel(path, n_ctx=N_CTX + 256, prefix_cache_bytes=0)
    return {
        f"{n_sets} demo sets, prefix cache on": runners(committed, sets, on),
        f"{n_sets} demo sets, prefix cache off": runners(committed, sets, off),
        "1 demo set": runners(committed, sets[:1], LocalModel(path, n_ctx=N_CTX + 512)),
        "zero-shot": runners(committed, [[]], LocalModel(path, n_ctx=N_CTX + 768)),
    }


def call(runner: Runner, value: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    result = run_sync(runner.arun(value))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "prompt_tokens": sum(u.input_tokens for u in result.usage.values()),
            "output": dict(result.output), "confidence": [a.confidence for a in result.attempts]}


def measure(named: dict[str, list[Runner]], cases: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Prefill the cached contender's sets, warm every contender with one call, then every case through
    every contender in turn, case i with demo set i mod S."""
    cached = next(iter(named.values()))
    for runner in cached:
        runner.student.prefill_sync(runner.request_for(cases[0]["input"]))
    for group in named.values():
        call(group[-1], cases[0]["input"])
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in named}
    for i, case in enumerate(cases):
        for name, group in named.items():
            row = call(group[i % len(group)], case["input"])
            row["correct"] = row["output"] == case["expected"]
            rows[name].append(row)
        print(f"case {i + 1}/{len(cases)}", file=sys.stderr, flush=True)
    return rows


def summarize(rows: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    base = statistics.fmean(r["seconds"] for r in rows["zero-shot"])
    out = {}
    for name, calls in rows.items():
        secs = [c["seconds"] for c in calls]
        out[name] = {"mean_s": statistics.fmean(secs), "median_s": statistics.median(secs),
                     "prompt_tokens_mean": statistics.fmean(c["prompt_tokens"] for c in calls),
                     "dev_score": statistics.fmean(int(c["correct"]) for c in calls),
                     "vs_zero_shot_mean": statistics.fmean(secs) / base, "cases": len(calls)}
    return out


def write(summary: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "prefix_cache.json").write_text(json.dumps({"meta": meta, "rows": summary}, indent=2) + "\n")
    load = meta["loadavg_1min_before_after"]
    lines = [
        "# Embedded model: one demo set per input cluster, stored prefix KV states vs re-evaluation", "",
        f"`{meta['command']}` -- {meta['cases']} intent-router dev cases, input i with demo set i mod "
        f"{meta['sets']}, contenders interleaved call by call, each with its own llama.cpp context; "
        f"{meta['cpus']} CPU(s) ({meta['threads']} llama.cpp thread(s)), 1-min load average {load[0]:.1f} "
        f"before / {load[1]:.1f} after (the machine was shared with other CPU-heavy jobs: compare ratios, "
        "not absolute times).", "",
        f"Cache on vs off, call for call: identical answers and confidences: **{meta['identical_on_off']}**. "
        f"Stored prefix states: {meta['prefix_states']}.", "",
        "| contender | mean s | median s | prompt tokens | dev score | vs zero-shot (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in summary.items():
        lines.append(f"| {name} | {r['mean_s']:.3f} | {r['median_s']:.3f} | {r['prompt_tokens_mean']:.0f} "
                     f"| {r['dev_score']:.3f} | {r['vs_zero_shot_mean']:.2f}x |")
    (RESULTS / "prefix_cache.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=40, help="how many of the skill's 60 dev cases")
    parser.add_argument("--sets", type=int, default=4, help="how many 7-demo sets the inputs alternate between")
    args = parser.parse_args()
    cases = [json.loads(line) for line in (SKILL / "tests.jsonl").read_text(encoding="utf-8").splitlines() if line]
    load_before = os.getloadavg()[0]
    named = contenders(args.sets)
    rows = measure(named, cases[: args.cases])
    on, off = (rows[f"{args.sets} demo sets, prefix cache {s}"] for s in ("on", "off"))
    states = _load(embedded_model_path(), N_CTX)[0].prefix_states
    cpus = sorted(os.sched_getaffinity(0))
    pinned = f"taskset -c {','.join(map(str, cpus))} " if len(cpus) < (os.cpu_count() or 1) else ""
    meta: dict[str, Any] = {
        "cases": len(cases[: args.cases]), "sets": args.sets, "python": platform.python_version(),
        "cpus": len(os.sched_getaffinity(0)), "threads": _load(embedded_model_path(), N_CTX)[0].n_threads,
        "loadavg_1min_before_after": [load_before, os.getloadavg()[0]],
        "command": f"{pinned}python bench/prefix_cache.py --cases {args.cases} --sets {args.sets}",
        "identical_on_off": all((a["output"], a["confidence"]) == (b["output"], b["confidence"])
                                for a, b in zip(on, off, strict=True)),
        "prefix_states": {"stored": len(states), "MB": round(states.bytes / 2**20, 1), "restored": states.hits,
                          "evaluated_and_stored": states.stores, "already_live": states.live},
    }
    write(summarize(rows), meta)
    print((RESULTS / "prefix_cache.md").read_text())


if __name__ == "__main__":
    main()
