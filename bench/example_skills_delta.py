"""Before/after dev scores of the example skills: the issue-2 compiler vs the current one.

    .venv/bin/python bench/example_skills_delta.py

"Before" is bench/results/example_skills_before.json (the metrics blocks of skills/*/skill.yaml as
compiled before retrieval, refinement and Wilson calibration existed, copied before recompiling);
"after" is the current skills/*/skill.yaml. Where no "before" build on the same dev set is on record, it
is derived from the current build's zero-shot and fixed-demo candidates by the old rule (best dev
score). Writes bench/results/example_skills_delta.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _share(settings: dict[str, Any]) -> str:
    share = settings.get("expected_student_share")
    return "-" if share is None else f"{share:.0%}"


def _round_text(r: dict[str, Any]) -> str:
    after = "no revision" if r["dev_score_after"] is None else f"{r['dev_score_after']:.3f}"
    return f"{r['dev_score_before']:.3f} -> {after}, {'kept' if r['kept'] else 'discarded'}"


def _old_choice(candidates: list[dict[str, Any]]) -> dict[str, Any]:
    old = [(i, c) for i, c in enumerate(candidates)
           if c["demo_strategy"] in ("none", "fixed") and "~r" not in c["name"]]
    _, c = min(old, key=lambda ic: (-ic[1]["dev_score"], ic[1]["k"], ic[1]["instructions_source"] != "template",
                                    ic[0]))
    return {"chosen": c["name"], "dev_score": c["dev_score"]}


def main() -> None:
    before = json.loads((RESULTS / "example_skills_before.json").read_text())
    lines = ["| skill | dev cases | zero-shot dev | before: chosen | before: dev score | after: chosen | "
             "after: dev score | before: expected student share | after: expected student share "
             "(Wilson bound, calibration cases) | refinement rounds (dev before -> after, kept) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    names = sorted(p.parent.name for p in (ROOT / "skills").glob("*/skill.yaml"))
    for name in names:
        after = yaml.safe_load((ROOT / "skills" / name / "skill.yaml").read_text())
        a = after["metrics"]
        if name in before and before[name]["metrics"]["dev_size"] == a["dev_size"]:
            b, b_share = before[name]["metrics"], _share(before[name]["settings"])
        else:
            # No pre-change build on the same dev set: the old compiler's choice is the best of this
            # build's fixed-demo/zero-shot candidates (same grid, pool and seed; ties to fewer demos,
            # then template).
            b = _old_choice(a["candidates"])
            name += " (before derived from the same build's fixed-demo candidates)"
            b_share = "n/a"
        bound = a.get("precision_lower_bound")
        cal = f" ({'-' if bound is None else f'{bound:.3f}'}, {a.get('calibration_size')})"
        rounds = "; ".join(_round_text(r) for r in a.get("refinement", [])) or "none"
        lines.append(f"| {name} | {a['dev_size']} | {a['zero_shot_dev_score']:.3f} | {b['chosen']} | "
                     f"{b['dev_score']:.3f} | {a['chosen']} | {a['dev_score']:.3f} | "
                     f"{b_share} | {_share(after['settings'])}{cal} | {rounds} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "example_skills_delta.md").write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
