"""The compile estimate against what the benchmark's compiles made, with the planner of this commit.

    .venv/bin/python bench/estimate_check.py          (reads bench/results/benchmark.json)

``estimate_compile_skill`` calls no model, so the plan for each benchmark unit (task, student column, seed,
the unit's small-machine options) is drawn again here by the current planner and set against the calls and
tokens that unit's compile made (recorded in the result file, with the commit it ran at). Each figure is a
share of the plan's midpoint; issue 32 asks for every one within 0.7-1.3. Writes
bench/results/estimate_check.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchmark import ALL_TASKS, LOCAL, RESULTS, SMALL_MACHINE, commit_stamp, student_model
from skillforge import CompileOptions
from skillforge.compile import estimate_compile_skill

BAND = (0.7, 1.3)


def check(unit: dict[str, Any]) -> dict[str, Any]:
    """The current plan for ``unit`` against what its compile made."""
    task = ALL_TASKS[unit["task"]]()
    train, dev, _ = task.splits()
    options = CompileOptions(seed=unit["seed"], **{**SMALL_MACHINE.get(unit["task"], {}),
                                                   **unit.get("non_default_options", {})})
    plan = estimate_compile_skill(task.spec, train, options, dev_examples=dev, teacher=LOCAL,
                                  student=student_model(unit["student"]))
    calls = plan.total()
    tokens = plan.total("input_tokens") + plan.total("output_tokens")
    made = unit["estimate"]
    out: dict[str, Any] = {"task": unit["task"], "student": unit["student"], "seed": unit["seed"],
                           "compiled_at_commit": unit.get("commit")}
    for what, span, actual in (("calls", calls, made["calls"]["made"]), ("tokens", tokens, made["tokens"]["made"])):
        share = actual / span.mid if span.mid else None
        out[what] = {"planned": [round(span.low), round(span.high)], "made": actual,
                     "of_midpoint": None if share is None else round(share, 3),
                     "within": share is not None and BAND[0] <= share <= BAND[1]}
    return out


def markdown(doc: dict[str, Any]) -> str:
    lines = [f"# Compile estimate vs actual (planner at `{doc['planner_commit']}`)", "",
             f"Actuals from `{doc['source']}`; each figure as a share of the plan's midpoint (target "
             f"{BAND[0]}-{BAND[1]}).", "",
             "| task | student | compiled at | calls planned | made | of midpoint | tokens planned | made "
             "| of midpoint |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in doc["units"]:
        c, t = r["calls"], r["tokens"]
        lines.append(f"| {r['task']} | {r['student']} | {r['compiled_at_commit'] or '-'} | {c['planned'][0]:,}-"
                     f"{c['planned'][1]:,} | {c['made']:,} | {c['of_midpoint']} | {t['planned'][0]:,}-"
                     f"{t['planned'][1]:,} | {t['made']:,} | {t['of_midpoint']} |")
    within = sum(r["calls"]["within"] and r["tokens"]["within"] for r in doc["units"])
    lines += ["", f"{within} of {len(doc['units'])} units within the band on both calls and tokens.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=RESULTS / "benchmark.json", help="a benchmark result file")
    parser.add_argument("--out", type=Path, default=RESULTS / "estimate_check", help="output path without extension")
    args = parser.parse_args()
    source = args.source.resolve()
    bench = json.loads(source.read_text(encoding="utf-8"))
    units = [u for kinds in bench["results"].values() for runs in kinds.values() for u in runs]
    for u in units:
        u.setdefault("commit", bench["commit"])
    root = RESULTS.parent.parent
    doc = {"planner_commit": commit_stamp(),
           "source": str(source.relative_to(root)) if source.is_relative_to(root) else str(source),
           "units": [check(u) for u in units]}
    out = args.out
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(doc), encoding="utf-8")
    print(markdown(doc))


if __name__ == "__main__":
    main()
