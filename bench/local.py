"""The embedded model: skillforge against raw llama-cpp-python, and what the retrieved-demo prompt costs.

    nice .venv/bin/python bench/local.py [--cases N]

Every contender answers the committed ``intent-router`` skill's dev cases (skills/intent-router/tests.jsonl,
the first ``--cases`` of its 60) with the embedded SmolLM2-135M, one input at a time, contenders
interleaved call by call (input 1 through every contender, then input 2, ...) so that load on the
machine hits all of them alike. Each contender has its *own* llama.cpp context (a separate ``Llama``
instance), so each one's KV-cache prefix reuse is what it would be serving that traffic alone:

- **skillforge** -- ``Runner.arun`` (student only, no escalation, a ledger that writes nowhere) on the
  committed skill in several prompt shapes: zero-shot; the committed 7 demos retrieved per input (BM25
  over the 150-demo pool); 3 retrieved demos; 7 fixed demos (one demo set for every input: the shape a
  cached demo prefix gives, the lower bound on what any "demo set reused across inputs" strategy costs);
  the pool in 7-demo groups (``demo_strategy: clustered``), each group's KV state prepared once by
  ``Runner.warm()`` and restored per call by the local model's prefix-state cache;
- **raw llama-cpp-python** -- ``Llama.create_chat_completion`` with the identical messages (those the
  skillforge runner built for that input), the same JSON-Schema grammar, max_tokens, temperature and seed,
  for the zero-shot and the 7-retrieved shapes: the parity check.

Reported per contender: mean and median seconds per call, prompt tokens, the dev score (exact intent)
and, for each shape, its mean call over the zero-shot one and the paired standard error of its score
difference to the committed 7-retrieved shape. Results: bench/results/local.json and local.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skillforge import Ledger, load_skill
from skillforge.format import Demo
from skillforge.models.base import run_sync
from skillforge.models.local.model import LocalModel, embedded_model_path
from skillforge.run import demo_groups
from skillforge.run.runtime import Runner
from skillforge.skill import Skill

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SKILL = ROOT / "skills" / "intent-router"
#: The clustered shape's warm-up: prefixes prepared and seconds, once per process.
WARM: dict[str, Any] = {}
#: One (answer, seconds, prompt tokens) per call.
Call = Callable[[dict[str, Any]], tuple[dict[str, Any], float, int]]


def variant(skill: Skill, strategy: str, k: int, demos: list[Demo]) -> Skill:
    """``skill`` with another demo strategy, ``k`` and demos (``clustered``: grouped as the compiler does)."""
    groups = demo_groups([d.input for d in demos], k, [d.output for d in demos]) if strategy == "clustered" else None
    settings = skill.settings.model_copy(update={"demo_strategy": strategy, "k": k, "demo_groups": groups})
    manifest = skill.manifest.model_copy(update={"settings": settings})
    return Skill(manifest, skill.instructions, demos, skill.tests, path=None)


def _one_per_label(demos: list[Demo], k: int) -> list[Demo]:
    """``k`` demos from the pool, covering the labels round-robin (a sensible fixed demo set)."""
    by_label: dict[str, list[Demo]] = {}
    for d in demos:
        by_label.setdefault(str(d.output["intent"]), []).append(d)
    out: list[Demo] = []
    while len(out) < k:
        for group in by_label.values():
            if group and len(out) < k:
                out.append(group.pop(0))
    return out


def _model(slot: int) -> LocalModel:
    # LocalModel shares one Llama per (weights, n_ctx) in a process; a distinct n_ctx per contender gives
    # each its own context, so no contender's KV cache is overwritten by another's calls.
    return LocalModel(embedded_model_path(), n_ctx=4096 + 256 * slot)


def skillforge_call(runner: Runner) -> Call:
    def call(value: dict[str, Any]) -> tuple[dict[str, Any], float, int]:
        start = time.perf_counter()
        result = run_sync(runner.arun(value))
        seconds = time.perf_counter() - start
        return dict(result.output), seconds, sum(u.input_tokens for u in result.usage.values())
    return call


def raw_call(runner: Runner, slot: int) -> Call:
    """Raw llama-cpp-python on the messages skillforge builds for the same input (built outside the timer)."""
    from llama_cpp import Llama
    from llama_cpp.llama_grammar import LlamaGrammar

    cpus = len(os.sched_getaffinity(0))
    # The thread counts LocalModel uses (llama-cpp-python's default for prompt processing is every CPU of
    # the machine, which on a pinned process would handicap the raw contender).
    llm = Llama(model_path=str(embedded_model_path()), n_ctx=4096 + 256 * slot, n_threads=cpus, n_threads_batch=cpus,
                logits_all=False, seed=0, verbose=False)
    skill = runner.skill
    grammar = LlamaGrammar.from_json_schema(json.dumps(skill.manifest.output_schema, sort_keys=True), verbose=False)

    def call(value: dict[str, Any]) -> tuple[dict[str, Any], float, int]:
        request = runner.request_for(value)
        messages: Any = [{"role": "system", "content": request.system}] + [
            {"role": m.role, "content": m.content} for m in request.messages]
        start = time.perf_counter()
        out: Any = llm.create_chat_completion(messages=messages, grammar=grammar, max_tokens=request.max_tokens,
                                              temperature=request.temperature, seed=0)
        seconds = time.perf_counter() - start
        text = out["choices"][0]["message"].get("content") or "{}"
        return json.loads(text), seconds, int(out["usage"]["prompt_tokens"])
    return call


def contenders(parity: bool = False) -> dict[str, Call]:
    """Every contender; with ``parity``, only the two shapes raw llama-cpp-python also runs."""
    committed = load_skill(SKILL)
    assert committed.settings.demo_strategy == "retrieved" and committed.settings.k == 7
    shapes = {
        "zero-shot": variant(committed, "none", 0, []),
        "7 retrieved (committed)": committed,
        "3 retrieved": variant(committed, "retrieved", 3, committed.demos),
        "7 fixed": variant(committed, "fixed", 7, _one_per_label(list(committed.demos), 7)),
        "7 clustered": variant(committed, "clustered", 7, committed.demos),
    }
    if parity:
        shapes = {n: shapes[n] for n in ("zero-shot", "7 retrieved (committed)")}
    runners = {name: Runner(skill, student=_model(i), teacher=_model(i), ledger=Ledger(None), escalate=False)
               for i, (name, skill) in enumerate(shapes.items())}
    # Every demo group's KV state computed once, before traffic (what a server does at start-up).
    if "7 clustered" in runners:
        start = time.perf_counter()
        WARM["prefixes"] = run_sync(runners["7 clustered"].warm())
        WARM["seconds"] = round(time.perf_counter() - start, 1)
    calls: dict[str, Call] = {f"skillforge, {n}": skillforge_call(r) for n, r in runners.items()}
    calls["raw llama-cpp-python, zero-shot"] = raw_call(runners["zero-shot"], len(shapes))
    calls["raw llama-cpp-python, 7 retrieved (committed)"] = raw_call(runners["7 retrieved (committed)"],
                                                                     len(shapes) + 1)
    return calls


def measure(calls: dict[str, Call], cases: list[dict[str, Any]],
            done: Callable[[dict[str, list[dict[str, Any]]]], None]) -> dict[str, list[dict[str, Any]]]:
    """Every case through every contender in turn (after one warm-up call each); ``done`` gets the rows so
    far after each case (results are written as they come, so a run cut short still reports its cases)."""
    for call in calls.values():
        call(cases[0]["input"])
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in calls}
    for n, case in enumerate(cases):
        for name, call in calls.items():
            answer, seconds, tokens = call(case["input"])
            rows[name].append({"seconds": seconds, "prompt_tokens": tokens, "correct": answer == case["expected"]})
        print(f"case {n + 1}/{len(cases)}", file=sys.stderr, flush=True)
        done(rows)
    return rows


def summarize(rows: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    base = rows["skillforge, zero-shot"]
    ref = rows["skillforge, 7 retrieved (committed)"]
    out: dict[str, dict[str, Any]] = {}
    for name, calls in rows.items():
        secs = [c["seconds"] for c in calls]
        diffs = [int(c["correct"]) - int(r["correct"]) for c, r in zip(calls, ref, strict=True)]
        out[name] = {
            "mean_s": statistics.fmean(secs), "median_s": statistics.median(secs),
            "prompt_tokens_mean": statistics.fmean(c["prompt_tokens"] for c in calls),
            "dev_score": statistics.fmean(int(c["correct"]) for c in calls),
            "vs_zero_shot_mean": statistics.fmean(secs) / statistics.fmean(c["seconds"] for c in base),
            "score_diff_vs_committed": statistics.fmean(diffs),
            "cases": len(calls),
            "paired_se_vs_committed": statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0,
        }
    for shape in ("zero-shot", "7 retrieved (committed)"):
        sf, raw = out[f"skillforge, {shape}"], out[f"raw llama-cpp-python, {shape}"]
        sf["vs_raw_mean"] = sf["mean_s"] / raw["mean_s"]
        sf["vs_raw_median"] = sf["median_s"] / raw["median_s"]
    return out


def write(summary: dict[str, dict[str, Any]], args: argparse.Namespace, load: tuple[float, float]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {"cases": summary["skillforge, zero-shot"]["cases"], "python": platform.python_version(),
                            "cpus": len(os.sched_getaffinity(0)),
            "loadavg_1min_before_after": list(load), "command": f"python bench/local.py --cases {args.cases}",
            "clustered_warm_up": WARM}
    if meta["cases"] < args.cases:
        meta["command"] += f" (stopped after {meta['cases']} cases)"
    stem = "local_parity" if args.parity else "local"
    if args.parity:
        meta["command"] = meta["command"].replace("--cases", "--parity --cases")
    (RESULTS / f"{stem}.json").write_text(json.dumps({"meta": meta, "rows": summary}, indent=2) + "\n")
    lines = [
        "# Embedded model (SmolLM2-135M): skillforge vs raw llama-cpp-python, and prompt shapes",
        "",
        f"`{meta['command']}` -- {meta['cases']} intent-router dev cases,"
        " contenders interleaved call by call, each with its own "
        f"llama.cpp context; {meta['cpus']} CPUs, 1-min load average {load[0]:.1f} before / {load[1]:.1f} after "
        "(the machine was shared with other CPU-heavy jobs: compare ratios, not absolute times).",
        "",
        *([f"The clustered shape's {WARM['prefixes']} demo-group prefixes were prepared before the first call "
           f"(`Runner.warm()`, {WARM['seconds']} s once per process, not in the table).", ""] if WARM else []),
        "| contender | mean s | median s | prompt tokens | dev score | vs zero-shot (mean) "
        "| score - committed ± paired SE | vs raw (mean / median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in summary.items():
        raw = f"{r['vs_raw_mean']:.3f} / {r['vs_raw_median']:.3f}" if "vs_raw_mean" in r else ""
        lines.append(f"| {name} | {r['mean_s']:.3f} | {r['median_s']:.3f} | {r['prompt_tokens_mean']:.0f} "
                     f"| {r['dev_score']:.3f} | {r['vs_zero_shot_mean']:.2f}x "
                     f"| {r['score_diff_vs_committed']:+.3f} ± {r['paired_se_vs_committed']:.3f} | {raw} |")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=60, help="how many of the skill's 60 dev cases")
    parser.add_argument("--parity", action="store_true",
                        help="only skillforge vs raw llama-cpp-python (zero-shot, 7 retrieved); local_parity.md")
    args = parser.parse_args()
    cases = [json.loads(line) for line in (SKILL / "tests.jsonl").read_text(encoding="utf-8").splitlines() if line]
    load_before = os.getloadavg()[0]
    calls = contenders(args.parity)
    measure(calls, cases[: args.cases],
            lambda rows: write(summarize(rows), args, (load_before, os.getloadavg()[0])))
    print((RESULTS / ("local_parity.md" if args.parity else "local.md")).read_text())


if __name__ == "__main__":
    main()
