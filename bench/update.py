"""Does ``skillforge update`` make a skill better from its own escalations? Measured on intents.

    nice -n 10 .venv/bin/python bench/update.py [--run N] [--test N] [--work DIR]   (about 65 minutes)

A small, CPU-sized run (the embedded 135M student takes seconds per call):

1. **compile** intent-router (examples/tasks.py splits) from the first TRAIN training examples, with a
   DEV-case dev set, zero-shot and retrieved-demo candidates only, no refinement;
2. **run** the skill on ``--run`` further training inputs it never saw (the "production traffic"): the
   student answers, escalations go to the teacher and are logged in escalations.jsonl;
3. **update** the skill from those escalations (stored options, default hold-out and tolerance);
4. **evaluate** the skill before and after on the first ``--test`` cases of the test split, escalating
   below the threshold.

NO TEACHER MODEL IS REACHABLE HERE: the teacher is SIMULATED BY THE GOLD LABELS (an oracle that answers
every input with its label; its drafted instructions are the spec's template). Its calls are priced as
Claude Opus (reference prices for a local teacher); the student is the embedded SmolLM2-135M.
Results: bench/results/update.json and update.md (written after every stage, so a cut-short run keeps
what it measured).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.tasks import ROOT, intent_router
from skillforge import CompileOptions, Ledger, get_model, load_skill
from skillforge.compile import SearchConfig, acompile_skill
from skillforge.evaluate import GOLD, aevaluate_skill
from skillforge.models.base import ModelRequest
from skillforge.run import read_escalations, render_input, template_instructions
from skillforge.testing import FunctionModel, skill_input
from skillforge.update import Snapshot, aupdate_skill

RESULTS = ROOT / "bench" / "results"
STUDENT = "local:smollm2-135m"
TRAIN, DEV = 60, 20
OPTIONS = CompileOptions(
    target_precision=0.9,
    search=SearchConfig(ks=(), retrieval_ks=(4,), refine_rounds=0, calibration_extra=30, max_demo_pool=16),
)


class Stages:
    """Progress to stderr: each stage with its size and the time the previous one took."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def stage(self, description: str, total: int) -> None:
        print(f"[{time.monotonic() - self.start:7.0f}s] {description} ({total})", file=sys.stderr, flush=True)

    def advance(self, steps: int = 1) -> None:
        pass


def oracle(gold: dict[str, dict[str, Any]], spec_text: str) -> FunctionModel:
    """The simulated teacher: the gold label of every input; the template as its instructions."""

    def answer(request: ModelRequest) -> Any:
        return spec_text if request.output_schema is None else gold[render_input(skill_input(request))]

    return FunctionModel(answer, model_id="gold-oracle")


def _snapshot(s: Snapshot) -> dict[str, Any]:
    return {
        "dev_score": s.dev_score,
        "dev_size": s.dev_size,
        "expected_student_share": s.expected_student_share,
        "cost_per_1k_usd": s.cost_per_1k,
        "demos": s.demos,
        "escalation_demos": s.escalation_demos,
        "regression_cases": s.regression_cases,
        "old_cases": vars(s.old_cases),
        "all_cases": vars(s.all_cases),
    }


def _test_row(r: Any) -> dict[str, Any]:
    j = r.to_json()
    return {
        "cases": j["cases"],
        "student_accuracy": j["student_accuracy"],
        **j["at_threshold"],
        "tier_shares": j["tier_shares"],
        "cost_per_1k_calls_usd": j["cost_per_1k_calls_usd"],
    }


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "update.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "update.md").write_text(markdown(results), encoding="utf-8")


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "# update on intents (teacher simulated by the gold labels)",
        "",
        f"Command: `{r['command']}`",
        "",
        f"Stages done: {', '.join(r['stages'])}; seconds: {r['seconds']}",
        "",
    ]
    if "update" in r:
        u, b, a = r["update"], r["update"]["before"], r["update"]["after"]
        lines += [
            "Regression measures: the skill's own answers (classifier tier and student, no escalation) "
            "on the same cases for both versions.",
            "",
            f"Escalations folded: {u['train']} as demo/calibration candidates, {u['holdout']} held out as new "
            f"regression cases, {u['duplicates']} duplicates; status: **{u['status']}**.",
            "",
            "| measure | before | after |",
            "|---|---|---|",
            f"| dev score (own dev set) | {b['dev_score']} (n={b['dev_size']}) | {a['dev_score']} "
            f"(n={a['dev_size']}) |",
        ]
        for key in ("old_cases", "all_cases"):
            for m in ("pass_rate", "field_score", "answered_share"):
                lines.append(
                    f"| regression {m.replace('_', ' ')}, {key.replace('_', ' ')} (n={b[key]['cases']}) | "
                    f"{b[key][m]} | {a[key][m]} |"
                )
        for m in ("expected_student_share", "cost_per_1k_usd", "demos", "escalation_demos"):
            lines.append(f"| {m.replace('_', ' ')} | {b[m]} | {a[m]} |")
    if "test_before" in r and "test_after" in r:
        b, a = r["test_before"], r["test_after"]
        lines += [
            "",
            f"Test split ({b['cases']} cases, escalating below the threshold):",
            "",
            "| measure | before | after |",
            "|---|---|---|",
        ]
        names = {
            "student_accuracy": "student accuracy (every case)",
            "student_share": "answered before the teacher (classifier tier + student)",
            "accepted_accuracy": "accuracy of those answers",
            "accuracy_after_escalation": "accuracy after escalation",
        }
        for m, label in names.items():
            lines.append(f"| {label} | {b[m]} | {a[m]} |")
        lines.append(f"| tier shares | {b['tier_shares']} | {a['tier_shares']} |")
        lines.append(
            f"| cost per 1,000 calls, mix (USD) | {b['cost_per_1k_calls_usd']['mix']} | "
            f"{a['cost_per_1k_calls_usd']['mix']} |"
        )
    return "\n".join(lines) + "\n"


async def main(args: argparse.Namespace) -> None:
    task = intent_router()
    train, dev, test = task.splits()
    gold = {render_input(e.input): e.expected for e in train + dev + test if e.expected is not None}
    teacher = oracle(gold, template_instructions(task.spec.description, task.spec.output_schema))
    student = get_model(STUDENT)
    work = Path(args.work)
    skill_dir, before_dir = work / "intent-router", work / "before"
    progress, ledger = Stages(), Ledger(None)
    results: dict[str, Any] = {
        "command": " ".join(["bench/update.py", *sys.argv[1:]]),
        "stages": [],
        "seconds": {},
        "teacher": "gold labels (simulated)",
        "student": STUDENT,
        "options": OPTIONS.model_dump(mode="json"),
        "train": TRAIN,
        "dev": DEV,
    }

    async def stage(name: str, coro: Any) -> Any:
        t0 = time.monotonic()
        out = await coro
        results["stages"].append(name)
        results["seconds"][name] = round(time.monotonic() - t0)
        write(results)
        return out

    if not (skill_dir / "skill.yaml").exists():
        skill = await stage(
            "compile",
            acompile_skill(
                task.spec,
                train[:TRAIN],
                OPTIONS,
                dev_examples=dev[:DEV],
                teacher=teacher,
                student=student,
                ledger=ledger,
                progress=progress,
            ),
        )
        skill.save(skill_dir)
    skill = load_skill(skill_dir)
    traffic = train[TRAIN : TRAIN + args.run]

    async def run_traffic() -> int:
        progress.stage("run: production traffic", len(traffic))
        for e in traffic:
            await skill.arun(e.input, student=student, teacher=teacher, ledger=ledger)
        return len(read_escalations(skill_dir / "escalations.jsonl"))

    if not (skill_dir / "escalations.jsonl").exists():
        results["escalations"] = await stage("run", run_traffic())
        shutil.copytree(skill_dir, before_dir, dirs_exist_ok=True)
    results["run_inputs"] = len(traffic)
    results["escalations"] = len(read_escalations(skill_dir / "escalations.jsonl"))
    report = await stage(
        "update", aupdate_skill(skill_dir, teacher=teacher, student=student, ledger=ledger, progress=progress)
    )
    assert report.before is not None and report.after is not None
    results["update"] = {
        "status": report.status,
        "train": len(report.plan.train),
        "holdout": len(report.plan.holdout),
        "duplicates": len(report.plan.duplicates),
        "before": _snapshot(report.before),
        "after": _snapshot(report.after),
        "refusals": report.refusals,
    }
    write(results)
    cases = test[: args.test]
    after_skill = report.skill if report.skill is not None else load_skill(skill_dir)
    for key, s in (("test_before", load_skill(before_dir)), ("test_after", after_skill)):
        r = await stage(key, aevaluate_skill(s, cases, student=student, teacher=GOLD, ledger=ledger, progress=progress))
        results[key] = _test_row(r)
        write(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=int, default=80, help="production inputs (unused training inputs)")
    parser.add_argument("--test", type=int, default=60, help="test-split cases to evaluate before and after on")
    parser.add_argument("--report", action="store_true", help="only rewrite update.md from update.json")
    parser.add_argument("--work", default=str(ROOT / ".skillforge" / "bench-update"), help="working directory")
    parsed = parser.parse_args()
    if parsed.report:
        (RESULTS / "update.md").write_text(markdown(json.loads((RESULTS / "update.json").read_text())))
    else:
        asyncio.run(main(parsed))
