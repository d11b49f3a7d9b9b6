"""Retargeting a committed skill to a student that behaves as Claude does, on the embedded model.

    .venv/bin/python bench/retarget.py [--skill intent-router]

A copy of ``skills/<skill>`` (compiled for the embedded SmolLM2-135M as student and teacher) is retargeted
with :func:`skillforge.update.retarget.retarget_skill` to :class:`skillforge.testing.ClaudeLike` over the
same model: no logprobs, no class probabilities, no embeddings, every call sampled at Claude's default
temperature, priced as Claude Haiku 5.5. What it shows is what a team moving a skill from a logprob student
to a Claude student is told: old vs new on the regression suite, the calls the re-fit made (and that the
teacher made none), and the wall time on this machine. Results: bench/results/retarget.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchmark import LOCAL, RESULTS, ROOT, commit_stamp
from skillforge import Ledger, get_model
from skillforge.testing import ClaudeLike
from skillforge.update.retarget import RetargetReport, retarget_skill


def run(skill: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp()) / skill
    shutil.copytree(ROOT / "skills" / skill, work)
    ledger = Ledger(None)
    student = ClaudeLike(get_model(LOCAL))
    start = time.perf_counter()
    report: RetargetReport = retarget_skill(work, student=student, ledger=ledger)
    seconds = time.perf_counter() - start
    by_role: dict[str, int] = {}
    for e in ledger.entries:
        by_role[e.role] = by_role.get(e.role, 0) + 1
    return {
        "skill": skill, "commit": commit_stamp(), "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{os.cpu_count()} cores", "new_student": student.model_id, "status": report.status,
        "before": asdict(report.before), "after": asdict(report.after),
        "calibration_cases": report.calibration_cases, "accuracy_change": report.accuracy_change,
        "accuracy_change_se": report.accuracy_change_se, "regressions": len(report.regressions),
        "improvements": report.improvements, "refusals": report.refusals,
        "calls_by_role": by_role, "teacher_calls": by_role.get("teacher", 0),
        "suite_recorded": None if report.recorded is None else {"passed": report.recorded.passed,
                                                                "cases": report.recorded.cases,
                                                                "ok": report.recorded.ok},
        "seconds": round(seconds, 1),
    }


def markdown(r: dict[str, Any]) -> str:
    b, a = r["before"], r["after"]

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    rows = [("student", b["student"], a["student"]),
            ("regression suite accuracy (no escalation)", f"{b['accuracy']:.3f}", f"{a['accuracy']:.3f}"),
            ("answered before the teacher", pct(b["answered_share"]), pct(a["answered_share"])),
            ("accepted precision", pct(b["accepted_precision"]), pct(a["accepted_precision"])),
            ("cost per 1,000 calls, list prices (USD)", str(b["cost_per_1k"]), str(a["cost_per_1k"]))]
    lines = [f"# Retarget: skills/{r['skill']} to a Claude-like student", "",
             f"Commit `{r['commit']}`, {r['date']}, {r['machine']}; `bench/retarget.py --skill {r['skill']}`.", "",
             "| measure | old | new |", "|---|---|---|", *[f"| {m} | {o} | {n} |" for m, o, n in rows], "",
             f"Verdict: **{r['status']}**" + (f" ({'; '.join(r['refusals'])})" if r["refusals"] else "") +
             f". Fitted on {r['calibration_cases']} labelled cases; accuracy change {r['accuracy_change']:+.3f} "
             f"(SE {r['accuracy_change_se']:.3f}), {r['regressions']} regressions, {r['improvements']} improvements. "
             f"Calls by role: {json.dumps(r['calls_by_role'])} (teacher: {r['teacher_calls']}). "
             f"Wall time {r['seconds'] / 60:.1f} min.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skill", default="intent-router")
    args = parser.parse_args()
    result = run(args.skill)
    out = RESULTS / "retarget"
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
