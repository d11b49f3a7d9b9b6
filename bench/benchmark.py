"""The benchmark: every task compiled from scratch with default options, then measured out of sample.

    make bench                                    (= .venv/bin/python bench/benchmark.py)
    .venv/bin/python bench/benchmark.py --tasks intent-router --students local --seeds 0 --limit 50

For each task of examples/tasks.py -- intents, sentiment and addresses (the committed skills' tasks, used
to choose the compiler's defaults) and the never-tuned ones (sports plausibility, social support, person
names: public labelled data no default was chosen on) -- and each student column:

- ``local``: the embedded SmolLM2-135M as it is (logprobs, class probabilities, embeddings);
- ``claude``: the same model behaving as a Claude student does (:class:`skillforge.testing.ClaudeLike`: no
  logprobs, no class probabilities, no embeddings, every call sampled at Claude's default temperature),
  priced as Claude Haiku 5.5 for every call its confidence needs,

the task is compiled through the public API (``compile_skill`` with ``CompileOptions(seed=...)`` and
nothing else unless the table states a small-machine setting) from its train split, with its dev split
as ``dev_examples`` and the embedded model as teacher; then on the task's test split (never seen) the
student answers three ways: the **plain prompt** (the description as one line, the input as text, the
answer constrained by the schema), **naive few-shot** (the plain prompt with 8 labelled training
examples drawn at random) and the **compiled skill**, whose answers then go through its ladder (a
classifier tier, the student gated by its calibrated confidence) with every escalation answered by a
teacher SIMULATED BY THE GOLD LABELS (always right: accuracy after escalation is an upper bound).

Costs are per call at list prices, as a share of **teacher-only** (docs/benchmarks.md, "Teacher-only"):
each input answered by Claude Opus 5.5 with the plain prompt a user would write without skillforge. The
local student is shown at $0 and priced as Claude Haiku 5.5; escalations are priced at what they send.
Token counts are SmolLM2's tokenizer's for both columns. Each (task, column, seed) runs as its own
process, pinned to one core (``--jobs`` at a time). Results: bench/results/benchmark.json and .md,
stamped with the commit and date; per-unit files under ``.bench/<commit>/`` (``--resume`` reuses them).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.tasks import HELD_OUT_TASKS, ROOT, SPLIT_SEED, TASKS, Task
from skillforge import CompileOptions, Example, Ledger, SkillSpec, compile_skill, get_model
from skillforge.compile import estimate_compile_skill
from skillforge.compile.estimate import CompileEstimate
from skillforge.evaluate import GOLD, EvalResult, aevaluate_skill
from skillforge.format import FORMAT_VERSION, Demo, Manifest, Metrics, Provenance, Settings, StepCost
from skillforge.ledger import LedgerEntry
from skillforge.models import Model
from skillforge.models.answer_cache import AnswerCache
from skillforge.models.pricing import REFERENCE_STUDENT, REFERENCE_TEACHER, cost_usd, price_for
from skillforge.run.prompt import plain_instructions
from skillforge.skill import Skill
from skillforge.stats import mean_se, two_sided_z, wilson_interval
from skillforge.testing import ClaudeLike

RESULTS = ROOT / "bench" / "results"
WORK = ROOT / ".bench"
LOCAL = "local:smollm2-135m"
ALL_TASKS = {**TASKS, **HELD_OUT_TASKS}
#: Tasks no default was chosen on (the others are the committed skills' tasks, which the defaults were tuned on).
NEVER_TUNED = tuple(HELD_OUT_TASKS)
STUDENTS = ("local", "claude")
#: Settings a user on a 2-core machine would pass, stated in the result table (nothing else is set).
SMALL_MACHINE: dict[str, dict[str, Any]] = {
    # An address answer is ~70 tokens; the 135M model sometimes loops inside a string until max_tokens.
    "address-parser": {"max_tokens": 128},
    "person-names": {"max_tokens": 128},
}
K_NAIVE = 8
WILSON_LEVEL = 0.95


# -- the measured prompts besides the compiled skill -------------------------------------------------


def baseline_skill(spec: SkillSpec, demos: list[Demo], max_tokens: int) -> Skill:
    """The plain prompt as a skill (one instruction line, plain input, the schema left to the grammar),
    with ``demos`` fixed in front of the input; answered by the student alone (no threshold)."""
    settings = Settings(instructions_source="plain", demo_strategy="fixed" if demos else "none", k=len(demos),
                        max_tokens=max_tokens, input_format="plain", schema_in_prompt=False)
    manifest = Manifest(
        format_version=FORMAT_VERSION, name=spec.name, description=spec.description, input_schema=spec.input_schema,
        output_schema=spec.output_schema, settings=settings,
        provenance=Provenance(teacher=LOCAL, student=LOCAL, skillforge_version="bench", spec_hash="",
                              content_hash="", compiled_at=""),
        metrics=Metrics(dev_size=0, dev_score=0.0, zero_shot_dev_score=0.0, chosen="baseline"))
    return Skill(manifest, plain_instructions(spec.description), demos, [])


def naive_demos(train: Sequence[Example], seed: int) -> list[Demo]:
    labelled = [e for e in train if e.expected is not None]
    return [Demo(input=e.input, output=e.expected or {}, source="label")
            for e in random.Random(1000 + seed).sample(labelled, min(K_NAIVE, len(labelled)))]


def student_model(kind: str) -> Model:
    local = get_model(LOCAL)
    return local if kind == "local" else ClaudeLike(local)


# -- statistics ---------------------------------------------------------------------------------------


def paired(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Mean of ``b - a`` and its standard error."""
    return mean_se([y - x for x, y in zip(a, b, strict=True)])


def wilson(successes: int, n: int) -> list[float] | None:
    if n == 0:
        return None
    lo, hi = wilson_interval(successes, n, two_sided_z(WILSON_LEVEL))
    return [round(lo, 4), round(hi, 4)]


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def row_stats(result: EvalResult) -> dict[str, Any]:
    acc, acc_se = mean_se([float(c.correct) for c in result.cases])
    fs, fs_se = mean_se([c.score for c in result.cases])
    return {"accuracy": _r(acc), "accuracy_se": _r(acc_se), "field_score": _r(fs), "field_score_se": _r(fs_se)}


def per_field(result: EvalResult) -> dict[str, float]:
    """Per output field: the share of cases whose value (or absence) matches the label."""
    fields = sorted({k for c in result.cases for k in (*c.expected, *(c.output or {}))})
    out = {}
    for f in fields:
        hits = [(c.output or {}).get(f) == c.expected.get(f) for c in result.cases]
        out[f] = round(sum(hits) / len(hits), 4)
    return out


def ladder_stats(result: EvalResult) -> dict[str, Any]:
    """Who answered, how precisely (Wilson interval), after escalation, and cost against teacher-only."""
    tiers: dict[str, dict[str, Any]] = {}
    for name, tier_share in result.tier_shares().items():
        cases = [c for c in result.cases if (c.tier if c.accepted else "teacher") == name]
        right = sum(c.final_correct for c in cases)
        tiers[name] = {"share": _r(tier_share), "answered": len(cases),
                       "precision": _r(right / len(cases)) if cases and name != "teacher" else None,
                       "precision_wilson95": wilson(right, len(cases)) if name != "teacher" else None}
    accepted = [c for c in result.cases if c.accepted]
    right = sum(c.final_correct for c in accepted)
    student_right = [c for c in result.cases if c.correct]
    costs = result.costs_per_1k()
    only = costs["teacher_only"] or 0.0

    def relative(x: float | None) -> float | None:
        return None if x is None or not only else round(x / only, 4)

    return {
        "answered_before_teacher": _r(result.student_share), "answered": len(accepted),
        # Of the inputs the student alone gets wholly right, the share the cheap tiers answer.
        "answered_of_student_right": _r(sum(c.accepted for c in student_right) / len(student_right))
        if student_right else None,
        "accepted_precision": _r(right / len(accepted)) if accepted else None,
        "accepted_precision_wilson95": wilson(right, len(accepted)),
        "tiers": tiers,
        "accuracy_after_escalation_upper_bound": _r(result.final_accuracy),
        "field_score_after_escalation_upper_bound": _r(result.final_field_score),
        "auroc_test": _r(result.auroc), "signal_auroc_test": {k: _r(v) for k, v in result.signal_auroc().items()},
        "cost_per_1k_usd": {k: _r(v, 6) for k, v in costs.items()},
        "cost_vs_teacher_only": relative(costs["mix"]),
        "cost_vs_teacher_only_student_as_haiku": relative(costs["mix_student_as_haiku"]),
    }


def compile_cost(entries: Sequence[LedgerEntry]) -> dict[str, Any]:
    """Calls and tokens by role, and dollars at reference list prices: a call's own price where its model
    bills one, else the teacher's calls as Claude Opus 5.5 and every other call as Claude Haiku 5.5."""
    opus, haiku = price_for(REFERENCE_TEACHER), price_for(REFERENCE_STUDENT)
    assert opus is not None and haiku is not None
    by_role: dict[str, dict[str, float]] = {}
    total = 0.0
    for e in entries:
        cost = e.cost_usd if e.cost_usd else cost_usd(e.usage, opus if e.role == "teacher" else haiku)
        row = by_role.setdefault(e.role, {"calls": 0, "input_tokens": 0, "output_tokens": 0, "usd": 0.0})
        row["calls"] += 1
        row["input_tokens"] += e.usage.input_tokens
        row["output_tokens"] += e.usage.output_tokens
        row["usd"] += cost
        total += cost
    for row in by_role.values():
        row["usd"] = round(row["usd"], 6)
    return {"calls": len(entries), "by_role": by_role, "usd_at_reference_prices": round(total, 6)}


def estimate_vs_actual(plan: CompileEstimate, entries: Sequence[LedgerEntry], steps: Sequence[StepCost]
                       ) -> dict[str, Any]:
    """The plan made before the compile against what it made: calls per step, and calls and tokens in all,
    each as a share of the plan's midpoint."""
    actual_calls = {s.step: s.calls for s in steps}
    # The ledger holds the compile's calls in step order: each step's tokens are its run of entries.
    actual_tokens, start = {}, 0
    for s in steps:
        run = entries[start:start + s.calls]
        actual_tokens[s.step] = sum(e.usage.input_tokens + e.usage.output_tokens for e in run)
        start += s.calls
    per_step = {}
    for s in plan.steps():
        mid = (s.calls[0] + s.calls[1]) / 2
        tok = (s.input_tokens[0] + s.output_tokens[0], s.input_tokens[1] + s.output_tokens[1])
        per_step[s.step] = {"planned": list(s.calls), "made": actual_calls.get(s.step, 0),
                            "of_midpoint": _r(actual_calls.get(s.step, 0) / mid) if mid else None,
                            "tokens_planned": list(tok), "tokens_made": actual_tokens.get(s.step, 0)}
    tokens = sum(e.usage.input_tokens + e.usage.output_tokens for e in entries)
    calls, tok = plan.total(), plan.total("input_tokens") + plan.total("output_tokens")
    return {"steps": per_step, "calls": {"planned": [round(calls.low), round(calls.high)], "made": len(entries),
                                         "of_midpoint": _r(len(entries) / calls.mid) if calls.mid else None},
            "tokens": {"planned": [round(tok.low), round(tok.high)], "made": tokens,
                       "of_midpoint": _r(tokens / tok.mid) if tok.mid else None},
            "usd_planned": [round(plan.total("usd").low, 6), round(plan.total("usd").high, 6)]}


def signals_chosen(skill: Skill) -> dict[str, Any]:
    """What the compile chose the skill's confidence and ladder from."""
    s = skill.settings
    c = s.confidence
    classifier = skill.classifier
    return {
        "confidence_method": c.method,
        "combiner_signals": list(c.combiner.signals) if c.combiner is not None else [],
        "samples": c.samples if c.method == "self_consistency" or (
            c.combiner is not None and any(n.startswith("sample") for n in c.combiner.signals)) else None,
        "second_opinion": None if c.second_opinion is None else (c.second_opinion.model or "student"),
        "tiers": ([t.kind for t in s.tiers] + (["student"] if s.ask_student else [])
                  + [t.model for t in s.model_tiers]) or ["teacher"],
        "checks": None if s.checks is None else {"copied": len(s.checks.copied), "required": len(s.checks.required),
                                                 "order": len(s.checks.order), "repair": s.repair},
        "classifier": None if classifier is None else {
            "tier": bool(s.tiers),
            "embedding_model": None if classifier.embedding is None else classifier.embedding.model},
        "threshold": s.threshold, "expected_student_share": s.expected_student_share,
    }


# -- one unit: a task, a student column, a seed --------------------------------------------------------


async def _evaluate(skill: Skill, test: list[Example], student: Model, *, escalate: bool) -> EvalResult:
    counter = get_model(LOCAL).count_tokens  # type: ignore[attr-defined]
    return await aevaluate_skill(skill, test, student=student, teacher=GOLD, escalate=escalate, ledger=Ledger(None),
                                 count_tokens=counter)


def run_unit(name: str, kind: str, seed: int, limit: int | None, overrides: dict[str, Any] | None = None,
             cache: Path | None = None, save_to: Path | None = None) -> dict[str, Any]:
    commit = commit_stamp()  # at the start: the code this unit imports
    task: Task = ALL_TASKS[name]()
    train, dev, test = task.splits()
    test = test[:limit] if limit else test
    student = student_model(kind)
    extra = SMALL_MACHINE.get(name, {})
    options = CompileOptions(seed=seed, **{**extra, **(overrides or {})})
    ledger = Ledger(None)
    plan = estimate_compile_skill(task.spec, train, options, dev_examples=dev, teacher=LOCAL, student=student)
    start = time.perf_counter()
    # From scratch: no answer cache unless a development run asks for one (--cache; stated in the result).
    skill = compile_skill(task.spec, train, options, dev_examples=dev, teacher=LOCAL, student=student, ledger=ledger,
                          cache=AnswerCache(cache) if cache is not None else False)
    compile_seconds = time.perf_counter() - start
    if save_to is not None:  # for reading what was compiled; the work directory is not committed
        skill.save(save_to)
    compiled_prompt = skill.settings.escalation_prompt
    # Escalations are answered by a teacher simulated by the labels: always right, so by the compiler's own
    # rule (a teacher that needs no demos gets the teacher-only prompt) they go out plain. Offline the
    # compile-time teacher is the 135M model itself, which needs the student's demos.
    skill.manifest.settings = skill.settings.model_copy(update={"escalation_prompt": "plain"})
    max_tokens = options.max_tokens
    rows: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    results: dict[str, EvalResult] = {}
    naive = baseline_skill(task.spec, naive_demos(train, seed), max_tokens)
    for label, sk, escalate in (("plain", baseline_skill(task.spec, [], max_tokens), False),
                                ("naive_few_shot", naive, False), ("compiled", skill, True)):
        t0 = time.perf_counter()
        results[label] = asyncio.run(_evaluate(sk, test, student, escalate=escalate))
        seconds[label] = round(time.perf_counter() - t0, 1)
        rows[label] = row_stats(results[label])
        print(f"{name} {kind} seed {seed}: {label} accuracy {rows[label]['accuracy']} "
              f"field score {rows[label]['field_score']} ({seconds[label]} s)", flush=True)
    plain, comp = results["plain"], results["compiled"]
    key = "field_score" if task_multi_field(task) else "accuracy"
    pick = (lambda c: c.score) if key == "field_score" else (lambda c: float(c.correct))
    diff, diff_se = paired([pick(c) for c in plain.cases], [pick(c) for c in comp.cases])
    m = skill.manifest.metrics
    return {
        "task": name, "student": kind, "seed": seed, "commit": commit, "test_cases": len(test),
        "train_examples": len(train),
        "dev_cases": len(dev), "never_tuned": name in NEVER_TUNED, "small_machine_options": extra,
        "non_default_options": overrides or {}, "answer_cache": None if cache is None else str(cache),
        "metric": key, "rows": rows, "per_field": {k: per_field(r) for k, r in results.items()} if key == "field_score"
        else None,
        "compiled_minus_plain": {"diff": _r(diff), "paired_se": _r(diff_se),
                                 "compiled_ge_plain_minus_1se": diff >= -diff_se},
        "ladder": ladder_stats(comp),
        "signals": {**signals_chosen(skill), "escalation_prompt_compiled": compiled_prompt},
        "estimate": estimate_vs_actual(plan, ledger.entries, m.compile_steps),
        "compile": {"seconds": round(compile_seconds, 1), **compile_cost(ledger.entries),
                    "chosen": m.chosen, "dev_score": m.dev_score, "baseline_dev_score": m.zero_shot_dev_score,
                    "calibration_cases": m.calibration_size,
                    "steps": [s.model_dump() for s in m.compile_steps]},
        "eval_seconds": seconds,
    }


def task_multi_field(task: Task) -> bool:
    return len(task.spec.output_schema.get("properties", {})) > 1


# -- orchestration -------------------------------------------------------------------------------------


def commit_stamp() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return head + ("-dirty" if dirty else "")


def unit_path(work: Path, name: str, kind: str, seed: int, limit: int | None, options: str = "{}") -> Path:
    tag = "" if options == "{}" else "." + hashlib.sha256(options.encode()).hexdigest()[:8]
    return work / f"{name}.{kind}.seed{seed}{f'.limit{limit}' if limit else ''}{tag}.json"


def run_units(units: list[tuple[str, str, int]], *, work: Path, limit: int | None, jobs: int, resume: bool,
              options: str = "{}", cache: Path | None = None) -> None:
    """Each unit in its own process (a fresh model state), ``jobs`` at a time, each pinned to one core."""
    todo = [u for u in units if not (resume and unit_path(work, *u, limit, options).exists())]
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    slots = [cores[i % len(cores)] for i in range(max(1, jobs))]
    lock = threading.Lock()
    failures: list[str] = []

    def worker(core: int) -> None:
        while True:
            with lock:
                if not todo:
                    return
                unit = todo.pop(0)
            name, kind, seed = unit
            cmd = [sys.executable, str(Path(__file__).resolve()), "--unit", f"{name}:{kind}:{seed}",
                   "--work", str(work), "--options", options] + (["--cache", str(cache)] if cache else [])
            if limit:
                cmd += ["--limit", str(limit)]
            if jobs > 1:
                cmd = ["taskset", "-c", str(core), *cmd]
            log = work / f"{name}.{kind}.seed{seed}.log"
            with log.open("w") as out:
                code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
            print(f"[{datetime.now(UTC):%H:%M:%S}] {name} {kind} seed {seed}: "
                  f"{'done' if code == 0 else f'FAILED ({code}), see {log}'}", flush=True)
            if code != 0:
                with lock:
                    failures.append(f"{name}:{kind}:{seed}")

    threads = [threading.Thread(target=worker, args=(core,)) for core in slots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"units failed: {', '.join(failures)}")


def product_units(tasks: Sequence[str], students: str, seeds: str) -> list[tuple[str, str, int]]:
    """Every (task, student, seed) of the product, checked against the known tasks and student columns."""
    kinds = [k for k in students.split(",") if k]
    unknown = sorted(set(tasks) - set(ALL_TASKS))
    if unknown or set(kinds) - set(STUDENTS):
        raise ValueError(f"unknown tasks {unknown} or students {kinds}: tasks are {list(ALL_TASKS)}, "
                         f"students {STUDENTS}")
    return [(t, k, int(s)) for t in tasks for k in kinds for s in seeds.split(",") if s]


def parse_units(text: str) -> list[tuple[str, str, int]]:
    """``task:student:seed`` units, comma-separated."""
    units = []
    for item in (u.strip() for u in text.split(",") if u.strip()):
        parts = item.split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            raise ValueError(f"unit {item!r}: expected task:student:seed, e.g. address-parser:local:0")
        units += product_units([parts[0]], parts[1], parts[2])
    return units


def merge_units(earlier: dict[str, Any], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The earlier file's units (stamped with its commit where they carry none) with the new ones replacing
    the same (task, student, seed)."""
    key = lambda u: (u["task"], u["student"], u["seed"])  # noqa: E731
    fresh = {key(u) for u in new}
    kept = [{"commit": earlier["commit"], **u} for runs in earlier["results"].values() for us in runs.values()
            for u in us if key(u) not in fresh]
    return kept + new


def summarise(units: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (task, student): each seed's figures and their mean."""
    out: dict[str, Any] = {}
    for u in units:
        out.setdefault(u["task"], {}).setdefault(u["student"], []).append(u)
    return out


def _mean(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return round(sum(vals) / len(vals), 4) if vals else None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ci(w: list[float] | None) -> str:
    return "" if not w else f" [{100 * w[0]:.1f}, {100 * w[1]:.1f}]"


def targets(by_task: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 30's done-when, checked on the measured figures (means over seeds)."""
    def get(task: str, kind: str, *path: str) -> Any:
        runs = by_task.get(task, {}).get(kind, [])
        vals = []
        for r in runs:
            v: Any = r
            for p in path:
                v = v[p] if isinstance(v, dict) else None
            vals.append(v)
        return _mean(vals)

    out = []
    for task, share, precision, cost in (("intent-router", 0.90, 0.95, 0.10), ("review-sentiment", 0.60, 0.95, None)):
        if "local" not in by_task.get(task, {}):
            continue
        s = get(task, "local", "ladder", "answered_before_teacher")
        p = get(task, "local", "ladder", "accepted_precision")
        c = get(task, "local", "ladder", "cost_vs_teacher_only")
        ok = s is not None and s >= share and p is not None and p >= precision and (cost is None or (c or 1) <= cost)
        want = f">= {share:.0%} answered at >= {precision:.0%}" + (f", cost <= {cost:.0%}" if cost else "")
        out.append({"target": f"{task}, local student: {want}", "measured":
                    f"{_pct(s)} at {_pct(p)}" + (f", cost {_pct(c)}" if cost else ""), "met": ok})
    if "claude" in by_task.get("intent-router", {}):
        s = get("intent-router", "claude", "ladder", "answered_before_teacher")
        p = get("intent-router", "claude", "ladder", "accepted_precision")
        out.append({"target": "intent-router, Claude-like student: >= 85% answered at >= 95%",
                    "measured": f"{_pct(s)} at {_pct(p)}", "met": bool(s and p and s >= 0.85 and p >= 0.95)})
    out += extraction_targets(by_task)
    for task, kinds in by_task.items():
        for kind, runs in kinds.items():
            ok = all(r["compiled_minus_plain"]["compiled_ge_plain_minus_1se"] for r in runs)
            diffs = ", ".join(f"{r['compiled_minus_plain']['diff']:+.3f} ± {r['compiled_minus_plain']['paired_se']:.3f}"
                              for r in runs)
            out.append({"target": f"{task}, {kind}: compiled >= plain - 1 SE (every seed)", "measured": diffs,
                        "met": ok})
    return out


def extraction_targets(by_task: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 31's done-when on every multi-field task: never dearer than teacher-only (the student priced as
    Haiku); where the student is wholly right on at least 30% of the test inputs, accepted precision at least
    90% and the cheap tiers answering at least half of those inputs (each seed)."""
    out = []
    for task, kinds in by_task.items():
        for kind, runs in kinds.items():
            if runs[0]["metric"] != "field_score":
                continue
            key = "cost_vs_teacher_only" if kind == "claude" else "cost_vs_teacher_only_student_as_haiku"
            costs = [r["ladder"][key] for r in runs]
            out.append({"target": f"{task}, {kind}: cost <= teacher-only (student as Haiku)",
                        "measured": ", ".join(_pct(c) for c in costs),
                        "met": all(c is not None and c <= 1.0 for c in costs)})
            for r in runs:
                if (r["rows"]["compiled"]["accuracy"] or 0.0) < 0.30:
                    continue
                lad = r["ladder"]
                p, half = lad["accepted_precision"], lad["answered_of_student_right"]
                out.append({"target": f"{task}, {kind}, seed {r['seed']} (student wholly right on "
                                      f"{_pct(r['rows']['compiled']['accuracy'])}): accepted precision >= 90%, "
                                      "cheap tiers answer >= half of the wholly-right inputs",
                            "measured": f"{_pct(p)} precision, {_pct(half)} of the wholly-right answered",
                            "met": p is not None and p >= 0.90 and half is not None and half >= 0.5})
    return out


def markdown(doc: dict[str, Any], level: int = 2) -> str:
    """The result tables; section headings at ``level``."""
    h = "#" * level
    by_task = doc["results"]
    lines = [f"Commit `{doc['commit']}`, {doc['date']}, {doc['machine']}; wall time {doc['wall_seconds'] / 3600:.1f} h "
             f"with {doc['jobs']} unit(s) at a time. Command: `{doc['command']}`.", "",
             "Teacher at compile time: the embedded SmolLM2-135M. Escalations answered by a teacher SIMULATED BY "
             "THE GOLD LABELS: accuracy after escalation is an upper bound. Teacher-only: Claude Opus 5.5 answering "
             "every input with the plain prompt. Figures are means over the seeds; Wilson intervals are 95%, "
             "two-sided, on the first seed's test run.", ""]
    if doc.get("answer_cache"):
        lines += [f"**Compiled through an answer cache** ({doc['answer_cache']}): a development run, its compile "
                  "times and calls are not from scratch.", ""]
    if doc.get("non_default_options"):
        lines += [f"**Not the defaults:** every compile here set {json.dumps(doc['non_default_options'])} "
                  "(an ablation).", ""]
    lines += [f"{h} Quality (student alone, test split)", "",
              "| task | student | metric | plain prompt | naive few-shot | compiled | compiled - plain (± paired SE) | "
              "compiled >= plain - 1 SE |", "|---|---|---|---|---|---|---|---|"]
    for task, kinds in by_task.items():
        for kind, runs in kinds.items():
            key = runs[0]["metric"]
            cells = []
            for row in ("plain", "naive_few_shot", "compiled"):
                m = _mean([r["rows"][row][key] for r in runs])
                se = _mean([r["rows"][row][f"{key}_se"] for r in runs])
                cells.append(f"{m:.3f} ± {se:.3f}")
            diffs = ", ".join(f"{r['compiled_minus_plain']['diff']:+.3f} ± {r['compiled_minus_plain']['paired_se']:.3f}"
                              for r in runs)
            ok = all(r["compiled_minus_plain"]["compiled_ge_plain_minus_1se"] for r in runs)
            tag = " (never tuned)" if runs[0]["never_tuned"] else ""
            lines.append(f"| {task}{tag} ({runs[0]['test_cases']}) | {kind} | {key.replace('_', ' ')} | "
                         + " | ".join(cells) + f" | {diffs} | {'yes' if ok else '**no**'} |")
    lines += ["", f"{h} The ladder (compiled skill, test split)", "",
              "| task | student | answered before the teacher | accepted precision [Wilson 95%] | by tier | "
              "after escalation (upper bound) | cost vs teacher-only (student local / as Haiku) | signals chosen |",
              "|---|---|---|---|---|---|---|---|"]
    for task, kinds in by_task.items():
        for kind, runs in kinds.items():
            first = runs[0]["ladder"]
            share = _mean([r["ladder"]["answered_before_teacher"] for r in runs])
            prec = _mean([r["ladder"]["accepted_precision"] for r in runs])
            after = _mean([r["ladder"]["accuracy_after_escalation_upper_bound"] for r in runs])
            cost = _mean([r["ladder"]["cost_vs_teacher_only"] for r in runs])
            haiku = _mean([r["ladder"]["cost_vs_teacher_only_student_as_haiku"] for r in runs])
            tiers = "; ".join(f"{t} {_pct(v['share'])}" + (f" at {_pct(v['precision'])}{_ci(v['precision_wilson95'])}"
                                                           if v["precision"] is not None else "")
                              for t, v in first["tiers"].items())
            sig = runs[0]["signals"]
            chosen = (f"ladder {' > '.join(sig['tiers'])}"
                      + (f"; {sig['confidence_method']}" if "student" in sig["tiers"] else "")
                      + (f" ({', '.join(sig['combiner_signals'])})" if sig["combiner_signals"] and "student" in
                         sig["tiers"] else "")
                      + (f"; checks {sig['checks']['copied']} copied / {sig['checks']['required']} required / "
                         f"{sig['checks']['order']} order, repair {'on' if sig['checks']['repair'] else 'off'}"
                         if sig.get("checks") else "")
                      + (f"; second opinion {sig['second_opinion']}" if sig["second_opinion"] else "")
                      + (f"; classifier reads {sig['classifier']['embedding_model']}"
                         if sig["classifier"] and sig["classifier"]["embedding_model"] else ""))
            costs = f"{_pct(cost)} / {_pct(haiku)}" if kind == "local" else f"{_pct(cost)} (as Haiku)"
            seeds = "" if len(runs) == 1 else " (" + ", ".join(
                _pct(r["ladder"]["answered_before_teacher"]) for r in runs) + ")"
            ci = _ci(first["accepted_precision_wilson95"])
            lines.append(f"| {task} | {kind} | {_pct(share)}{seeds} | {_pct(prec)}{ci} | {tiers} | {_pct(after)} | "
                         f"{costs} | {chosen} |")
    multi = [(t, k, r) for t, ks in by_task.items() for k, rs in ks.items() for r in rs[:1] if r["per_field"]]
    if multi:
        lines += ["", f"{h} Per field (share of test cases whose field matches the label, student alone)", ""]
        for task, kind, r in multi:
            fields = list(r["per_field"]["compiled"])
            lines += [f"{task}, {kind}:", "", "| row | " + " | ".join(fields) + " |", "|---" * (len(fields) + 1) + "|"]
            for row in ("plain", "naive_few_shot", "compiled"):
                lines.append(f"| {row} | " + " | ".join(f"{r['per_field'][row].get(f, 0):.3f}" for f in fields) + " |")
            lines.append("")
    lines += ["", f"{h} Compile cost", "",
              "| task | student | seed | wall time | calls (teacher / student / other) | cost at reference prices | "
              "chosen (dev score; plain's) | small-machine setting |", "|---|---|---|---|---|---|---|---|"]
    for task, kinds in by_task.items():
        for kind, runs in kinds.items():
            for r in runs:
                c = r["compile"]
                roles = c["by_role"]
                other = sum(v["calls"] for k, v in roles.items() if k not in ("teacher", "student"))
                teacher, student = roles.get("teacher", {}).get("calls", 0), roles.get("student", {}).get("calls", 0)
                setting = json.dumps(r["small_machine_options"]) if r["small_machine_options"] else "-"
                lines.append(f"| {task} | {kind} | {r['seed']} | {c['seconds']:.0f} s | {teacher} / {student} / "
                             f"{other} | ${c['usd_at_reference_prices']:.4f} | {c['chosen']} ({c['dev_score']:.3f}; "
                             f"{c['baseline_dev_score']:.3f}) | {setting} |")
    lines += ["", f"{h} Estimate before the compile vs what it made", "",
              "| task | student | seed | calls planned | calls made (of the midpoint) | tokens planned | "
              "tokens made (of the midpoint) | dollars planned |", "|---|---|---|---|---|---|---|---|"]
    for task, kinds in by_task.items():
        for kind, runs in kinds.items():
            for r in runs:
                e = r.get("estimate")
                if not e:
                    continue
                c, t = e["calls"], e["tokens"]
                lines.append(f"| {task} | {kind} | {r['seed']} | {c['planned'][0]:,}-{c['planned'][1]:,} | "
                             f"{c['made']:,} ({_pct(c['of_midpoint'])}) | {t['planned'][0]:,}-{t['planned'][1]:,} | "
                             f"{t['made']:,} ({_pct(t['of_midpoint'])}) | ${e['usd_planned'][0]:.4f}-"
                             f"${e['usd_planned'][1]:.4f} |")
    lines += ["", f"{h} Targets (issue 30)", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |" for t in doc["targets"]]
    return "\n".join(lines) + "\n"


def headline(doc: dict[str, Any]) -> str:
    """The README's one table: per task and student, the plain prompt against the compiled skill, who
    answered before the teacher and how precisely, and the cost as a share of teacher-only."""
    lines = [f"Commit `{doc['commit']}`, {doc['date']}, {doc['machine']}: `{doc['command']}`.", "",
             "| task | student | plain prompt | compiled skill | answered before the teacher | "
             "accepted precision [Wilson 95%] | cost vs teacher-only, student as Haiku 5.5 |",
             "|---|---|---|---|---|---|---|"]
    for task, kinds in doc["results"].items():
        for kind, runs in kinds.items():
            key = runs[0]["metric"]
            plain = _mean([r["rows"]["plain"][key] for r in runs])
            compiled = _mean([r["rows"]["compiled"][key] for r in runs])
            share = _mean([r["ladder"]["answered_before_teacher"] for r in runs])
            prec = _mean([r["ladder"]["accepted_precision"] for r in runs])
            haiku = _mean([r["ladder"]["cost_vs_teacher_only_student_as_haiku"] for r in runs])
            tag = " (never tuned)" if runs[0]["never_tuned"] else ""
            metric = "exact" if key == "accuracy" and runs[0]["per_field"] else key.replace("_", " ")
            lines.append(f"| {task}{tag} | {kind} | {plain:.3f} {metric} | {compiled:.3f} | {_pct(share)} | "
                         f"{_pct(prec)}{_ci(runs[0]['ladder']['accepted_precision_wilson95'])} | {_pct(haiku)} |")
    return "\n".join(lines) + "\n"


DOCS = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"
HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"
NOTE = "<!-- written by bench/benchmark.py from bench/results/benchmark.json: do not edit by hand -->\n\n"


def blocks(doc: dict[str, Any] | None) -> dict[Path, tuple[str, str, str]]:
    """What each page holds between its markers, rendered from the result file (``None``: no result file,
    so nothing: no figure without the file it comes from)."""
    def body(text: str) -> str:
        return "" if doc is None else NOTE + text
    return {DOCS: (START, END, body(markdown(doc, level=4) if doc else "")),
            README: (HEADLINE_START, HEADLINE_END, body(headline(doc) if doc else ""))}


def between(text: str, start: str, end: str) -> str:
    """The text between a page's markers (without the newline after the start marker)."""
    return text.split(start, 1)[1].split(end, 1)[0].removeprefix("\n")


def write(doc: dict[str, Any], out: Path) -> None:
    """The result file (JSON and Markdown); for the benchmark's own file, the tables of docs/benchmarks.md
    and the README's headline table between their markers."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(doc), encoding="utf-8")
    if out.resolve() != (RESULTS / "benchmark").resolve():
        return
    for page, (start, end, body) in blocks(doc).items():
        text = page.read_text(encoding="utf-8")
        if start in text and end in text:
            head, rest = text.split(start, 1)
            _, tail = rest.split(end, 1)
            page.write_text(f"{head}{start}\n{body}{end}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=list(ALL_TASKS), help=f"default: {' '.join(ALL_TASKS)}")
    parser.add_argument("--students", default=",".join(STUDENTS), help="comma-separated: local, claude")
    parser.add_argument("--seeds", default="0,1", help="compile seeds (default: 0,1)")
    parser.add_argument("--limit", type=int, default=None, help="first N test cases per task (default: all)")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="units at a time")
    parser.add_argument("--resume", action="store_true", help="reuse unit results of this commit in .bench/")
    parser.add_argument("--out", default=str(RESULTS / "benchmark"), help="output path without extension")
    parser.add_argument("--render", action="store_true",
                        help="only redraw benchmark.md and docs/benchmarks.md from the JSON (no run)")
    parser.add_argument("--options", default="{}",
                        help="CompileOptions fields to set besides the defaults, as JSON (an ablation: stated in the "
                             "result file; the benchmark's own figures use none)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="an answer cache to compile through (development runs: compile times then mean "
                             "nothing; the benchmark's own figures compile from scratch)")
    parser.add_argument("--units", default=None,
                        help="comma-separated task:student:seed units to run instead of the tasks x students x seeds "
                             "product, e.g. address-parser:local:0,person-names:claude:0")
    parser.add_argument("--merge", action="store_true",
                        help="add the units run to the existing result file (replacing the same units), each unit "
                             "keeping the commit it ran at; without it the file holds only this run's units")
    parser.add_argument("--unit", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.unit:
        name, kind, seed = args.unit.split(":")
        path = unit_path(Path(args.work), name, kind, int(seed), args.limit, args.options)
        result = run_unit(name, kind, int(seed), args.limit, json.loads(args.options), args.cache,
                          save_to=path.with_suffix(".skill"))
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return
    if args.render:
        doc = json.loads(Path(args.out).with_suffix(".json").read_text(encoding="utf-8"))
        doc["targets"] = targets(doc["results"])
        write(doc, Path(args.out))
        return
    try:
        units = parse_units(args.units) if args.units else product_units(args.tasks, args.students, args.seeds)
    except ValueError as exc:
        parser.error(str(exc))
    commit = commit_stamp()
    work = WORK / commit
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    options = json.dumps(json.loads(args.options), sort_keys=True)
    run_units(units, work=work, limit=args.limit, jobs=args.jobs, resume=args.resume, options=options,
              cache=args.cache)
    results = [json.loads(unit_path(work, *u, args.limit, options).read_text()) for u in units]
    command = " ".join(["bench/benchmark.py", *sys.argv[1:]])
    wall = round(time.perf_counter() - start, 1)
    if args.merge:
        earlier = json.loads(Path(args.out).with_suffix(".json").read_text(encoding="utf-8"))
        results = merge_units(earlier, results)
        command = f"{earlier['command']}; then {command}"
        wall = round(earlier["wall_seconds"] + wall, 1)
    by_task = summarise(results)
    doc = {
        "commit": ", ".join(dict.fromkeys(r["commit"] for r in results)), "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "command": command, "jobs": args.jobs,
        "non_default_options": json.loads(options), "answer_cache": None if args.cache is None else str(args.cache),
        "wall_seconds": wall, "split_seed": SPLIT_SEED,
        "teacher_only": f"{REFERENCE_TEACHER} answering every input with the plain prompt (docs/benchmarks.md)",
        "student_prices": f"local $0, and as {REFERENCE_STUDENT}; the Claude-like student as {REFERENCE_STUDENT}",
        "results": by_task, "targets": targets(by_task),
    }
    write(doc, Path(args.out))
    print(markdown(doc))


if __name__ == "__main__":
    main()
