"""A compile killed part-way and rerun: what the answer cache saves (issue 32).

    .venv/bin/python bench/kill_rerun.py [--task intent-router] [--train 60] [--dev 30] [--kill-at 0.5]

On the embedded model (teacher and student), the task is compiled three times through the public API,
each in its own process with its own answer cache (``compile_skill(..., cache=AnswerCache(path))``):

1. **uninterrupted**, from an empty cache: the calls and the wall time a compile takes;
2. **killed**: the same compile from another empty cache, sent SIGKILL once it has made ``--kill-at`` of
   the uninterrupted run's calls (no chance to clean up: what a crash, an OOM kill or a pre-empted CI job
   does);
3. **rerun**: the killed compile started again on the cache the killed run left.

It reports the calls paid (answers not served by the cache; from each run's ledger) and the wall time of
each run, what the rerun saved against starting over, those calls priced at the reference prices
(student as Claude Haiku 5.5, teacher as Claude Opus 5.5, at SmolLM2's token counts), and whether the
rerun wrote the skill the uninterrupted compile wrote (every line but ``compiled_at``). The training and
dev sets are cut to ``--train`` / ``--dev`` examples so the three compiles fit in minutes on one core; the
result file states it. Results: bench/results/kill_rerun.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.tasks import HELD_OUT_TASKS, TASKS
from skillforge import CompileOptions, Ledger, compile_skill, get_model
from skillforge.models.answer_cache import AnswerCache
from skillforge.models.pricing import REFERENCE_STUDENT, REFERENCE_TEACHER, cost_usd, price_for

RESULTS = Path(__file__).resolve().parent / "results"
ALL_TASKS = {**TASKS, **HELD_OUT_TASKS}


def child(args: argparse.Namespace) -> None:
    """One compile, writing its ledger as it goes (the parent reads it, and kills this process)."""
    task = ALL_TASKS[args.task]()
    train, dev, _ = task.splits()
    model = get_model("local:smollm2-135m")
    skill = compile_skill(task.spec, train[: args.train], CompileOptions(seed=0), dev_examples=dev[: args.dev],
                          teacher=model, student=model, ledger=Ledger(Path(args.ledger)),
                          cache=AnswerCache(Path(args.cache)))
    skill.save(args.out)


def paid(ledger: Path) -> dict[str, Any]:
    """The calls a run paid for (not answered from the cache), by role, with their tokens at reference prices."""
    entries = [e for e in Ledger(ledger).read() if not e.cached] if ledger.exists() else []
    opus, haiku = price_for(REFERENCE_TEACHER), price_for(REFERENCE_STUDENT)
    assert opus is not None and haiku is not None
    usd = 0.0
    by_role: dict[str, int] = {}
    for e in entries:
        by_role[e.role] = by_role.get(e.role, 0) + 1
        usd += cost_usd(e.usage, opus if e.role == "teacher" else haiku)
    return {"calls": len(entries), "by_role": by_role, "usd_at_reference_prices": round(usd, 6)}


def start(args: argparse.Namespace, work: Path, name: str, cache: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--task", args.task, "--train", str(args.train),
           "--dev", str(args.dev), "--ledger", str(work / f"{name}.ledger.jsonl"), "--cache", str(work / cache),
           "--out", str(work / name)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL)


def run(args: argparse.Namespace, work: Path, name: str, cache: str, kill_after: int | None = None
        ) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = start(args, work, name, cache)
    ledger = work / f"{name}.ledger.jsonl"
    if kill_after is None:
        if proc.wait() != 0:
            raise SystemExit(f"{name}: the compile failed (exit {proc.returncode})")
    else:
        while proc.poll() is None and paid(ledger)["calls"] < kill_after:
            time.sleep(0.5)
        if proc.poll() is not None:
            raise SystemExit(f"{name}: finished before it could be killed; lower --kill-at")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return {"seconds": round(time.perf_counter() - t0, 1), **paid(ledger)}


def lines(path: Path) -> list[str]:
    return [x for x in (path / "skill.yaml").read_text(encoding="utf-8").splitlines() if "compiled_at" not in x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="intent-router", choices=sorted(ALL_TASKS))
    parser.add_argument("--train", type=int, default=60, help="training examples used (default: 60)")
    parser.add_argument("--dev", type=int, default=30, help="dev examples used (default: 30)")
    parser.add_argument("--kill-at", type=float, default=0.5, help="kill after this share of the calls (default 0.5)")
    parser.add_argument("--out", default=str(RESULTS / "kill_rerun"), help="output path without extension")
    for hidden in ("--ledger", "--cache"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="kill-rerun-") as tmp:
        work = Path(tmp)
        whole = run(args, work, "uninterrupted", "whole.sqlite")
        killed = run(args, work, "killed", "killed.sqlite", kill_after=max(1, round(whole["calls"] * args.kill_at)))
        rerun = run(args, work, "rerun", "killed.sqlite")
        same = lines(work / "uninterrupted") == lines(work / "rerun")
    saved_calls = whole["calls"] - rerun["calls"]
    doc = {
        "command": " ".join(["bench/kill_rerun.py", *sys.argv[1:]]),
        "commit": subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                                 cwd=Path(__file__).resolve().parent.parent).stdout.strip(),
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{len(os.sched_getaffinity(0))} cores, {platform.machine()}, Python {platform.python_version()}",
        "task": args.task, "train_examples": args.train, "dev_examples": args.dev, "kill_at": args.kill_at,
        "uninterrupted": whole, "killed": killed, "rerun": rerun,
        "paid_across_both_runs": killed["calls"] + rerun["calls"],
        "in_flight_bound": killed["calls"] + rerun["calls"] - whole["calls"],
        "rerun_saved": {"calls": saved_calls, "seconds": round(whole["seconds"] - rerun["seconds"], 1),
                        "usd_at_reference_prices": round(whole["usd_at_reference_prices"]
                                                         - rerun["usd_at_reference_prices"], 6)},
        "same_skill": same,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    md = [f"# A compile killed part-way and rerun ({doc['date']}, commit `{doc['commit']}`)", "",
          f"`{doc['command']}` on {doc['machine']}: task `{args.task}`, first {args.train} training and "
          f"{args.dev} dev examples, the embedded model as teacher and student, killed with SIGKILL after "
          f"{args.kill_at:.0%} of the uninterrupted run's calls.", "",
          "| run | wall time | calls paid (not from the cache) | those calls at reference prices |",
          "|---|---|---|---|"]
    for name in ("uninterrupted", "killed", "rerun"):
        r = doc[name]
        md.append(f"| {name} | {r['seconds']:.0f} s | {r['calls']} | ${r['usd_at_reference_prices']:.4f} |")
    s = doc["rerun_saved"]
    md += ["", f"Paid across the killed run and its rerun: {doc['paid_across_both_runs']} calls against "
           f"{whole['calls']} uninterrupted ({doc['in_flight_bound']:+d}: the calls in flight at the kill). "
           f"The rerun saved {s['calls']} calls, {s['seconds']:.0f} s and ${s['usd_at_reference_prices']:.4f} "
           f"against starting over. Same skill as the uninterrupted compile (but `compiled_at`): "
           f"{'yes' if same else '**no**'}.", ""]
    out.with_suffix(".md").write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
