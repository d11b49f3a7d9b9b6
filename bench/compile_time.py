"""Compile time: one committed example skill compiled with its build settings, time and calls per stage.

    nice .venv/bin/python bench/compile_time.py [NAME] [--label after] [--out bench/results]

Compiles ``NAME`` (default ``intent-router``) exactly as ``examples/build_example_skills.py`` does
(teacher and student both the embedded SmolLM2-135M, the task's fixed train/dev splits, the build
options), but writes the skill to a temporary directory and the ledger to memory. Wall time and the
process's CPU time (all threads: less sensitive to other jobs on the machine) are both recorded. Every progress stage
(a teacher pass or one candidate on dev) is timed, and the model calls it made are counted from the
ledger; stages are grouped into the compile's steps (draft, select, refine, calibrate). Calls are
deterministic (temperature 0), wall time depends on the machine's load: both are reported.

The run is stored under ``--label`` in ``compile_time.json`` (other labels already there are kept, so a
``before`` run on the previous code and an ``after`` run compare in one table) and the table is
rewritten to ``compile_time.md``. ``--merge FILE --no-run`` only adds the runs of another results file
(say, one written by this script in a checkout of the previous code).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.build_example_skills import options
from examples.tasks import TASKS
from skillforge import Ledger, compile_skill

STEPS = ("draft", "select", "refine", "calibrate")


def step_of(description: str) -> str:
    """The compile step a progress stage belongs to."""
    if description.startswith("teacher: refinement") or "~r" in description:
        return "refine"
    if "calibration cases" in description or "class probabilities" in description:
        return "calibrate"
    if description.startswith("teacher:"):
        return "draft"
    return "select"


class StageClock:
    """A progress receiver that times each stage and counts the ledger's calls in it."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.stages: list[dict[str, Any]] = []
        self._start = time.perf_counter()
        self._calls = 0
        self._steps = 0

    def _close(self) -> None:
        if self.stages:
            now, calls = time.perf_counter(), len(self.ledger.entries)
            last = self.stages[-1]
            last["seconds"] = round(now - self._start, 2)
            last["calls"] = calls - self._calls
            last["cases"] = self._steps
            self._start, self._calls = now, calls

    def stage(self, description: str, total: int) -> None:
        self._close()
        if not self.stages:
            self._start, self._calls = time.perf_counter(), len(self.ledger.entries)
        self.stages.append({"stage": description, "step": step_of(description), "total": total})
        self._steps = 0

    def advance(self, steps: int = 1) -> None:
        self._steps += steps

    def finish(self) -> None:
        self._close()


def run(name: str) -> dict[str, Any]:
    task = TASKS[name]()
    train, dev, _test = task.splits()
    ledger = Ledger(None)
    clock = StageClock(ledger)
    start, cpu = time.perf_counter(), time.process_time()
    skill = compile_skill(task.spec, train, options(name), dev_examples=dev, teacher="local:smollm2-135m",
                          student="local:smollm2-135m", ledger=ledger, progress=clock)
    clock.finish()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    with tempfile.TemporaryDirectory() as tmp:
        skill.save(Path(tmp) / name)
    m = skill.manifest.metrics
    steps = {s: {"calls": sum(st["calls"] for st in clock.stages if st["step"] == s),
                 "seconds": round(sum(st["seconds"] for st in clock.stages if st["step"] == s), 1)} for s in STEPS}
    return {
        "skill": name, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "calls": len(ledger.entries),
        "student_calls": sum(e.role == "student" for e in ledger.entries),
        "teacher_calls": sum(e.role == "teacher" for e in ledger.entries),
        "chosen": m.chosen if m else None, "dev_score": m.dev_score if m else None,
        "steps": steps, "stages": clock.stages,
        "machine": {"cpus": os.cpu_count(), "load_at_end": os.getloadavg()[0], "python": platform.python_version()},
    }


def table(runs: dict[str, dict[str, Any]]) -> str:
    labels = list(runs)
    head = "| | " + " | ".join(labels) + " |\n|---|" + "---|" * len(labels) + "\n"
    rows = [("wall time (s)", [f"{r['seconds']:.0f}" for r in runs.values()]),
            ("CPU time, all threads (s)", [f"{r['cpu_seconds']:.0f}" if "cpu_seconds" in r else "-"
                                           for r in runs.values()]),
            ("model calls", [str(r["calls"]) for r in runs.values()])]
    for s in STEPS:
        rows.append((f"{s}: calls / s", [f"{r['steps'][s]['calls']} / {r['steps'][s]['seconds']:.0f}"
                                         for r in runs.values()]))
    rows += [("chosen", [f"`{r['chosen']}`" for r in runs.values()]),
             ("dev score", [str(r["dev_score"]) for r in runs.values()]),
             ("load average at end", [f"{r['machine']['load_at_end']:.1f}" for r in runs.values()])]
    return head + "".join(f"| {k} | " + " | ".join(v) + " |\n" for k, v in rows)


def write(out: Path, name: str, runs: dict[str, Any]) -> None:
    """``compile_time.json`` (every run by label) and the table in ``compile_time.md``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "compile_time.json").write_text(json.dumps(runs, indent=1) + "\n")
    md = (f"# Compile time: {name} with its build settings\n\n"
          f"`nice .venv/bin/python bench/compile_time.py {name} --label LABEL`\n\n{table(runs)}\n"
          "Per progress stage: model calls, seconds, cases measured of those planned.\n")
    for label, r in runs.items():
        md += f"\n## {label}\n\n| stage | step | calls | s | cases |\n|---|---|---|---|---|\n"
        md += "".join(f"| {st['stage']} | {st['step']} | {st['calls']} | {st['seconds']:.1f} | "
                      f"{st.get('cases', 0)}/{st['total']} |\n" for st in r["stages"])
    (out / "compile_time.md").write_text(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", nargs="?", default="intent-router", choices=sorted(TASKS))
    ap.add_argument("--label", default="after", help="the run's name in the results (e.g. before, after)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    ap.add_argument("--merge", type=Path, nargs="*", default=[],
                    help="also take the runs in these compile_time.json files (e.g. from a checkout of older code)")
    ap.add_argument("--no-run", action="store_true", help="only merge and rewrite the results")
    args = ap.parse_args()
    path = args.out / "compile_time.json"
    runs: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for other in args.merge:
        runs.update(json.loads(other.read_text()))
    if not args.no_run:
        runs[args.label] = run(args.name)
        print(table({args.label: runs[args.label]}))
    write(args.out, args.name, runs)


if __name__ == "__main__":
    main()
