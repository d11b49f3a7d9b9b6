"""``skillforge status`` on a generated 1,000,000-line ledger: time and peak memory.

    .venv/bin/python bench/status_scale.py [--lines N]

Writes a ledger of N lines (default 1,000,000; 3 skills, 30 days, a realistic mix of student
answers, re-asks, escalations and teacher calls) to a temporary directory, then:

1. runs ``python -m skillforge status --ledger FILE --json`` in a fresh process, timing it and reading
   its peak resident memory (``ru_maxrss`` of the child);
2. repeats that on a quarter of the lines: a streamed read holds the same memory at either size;
3. runs :func:`skillforge.observe.compute_status` in-process under ``tracemalloc`` for the peak of
   Python allocations during the read.

Results go to bench/results/status_scale.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SKILLS = ("intents", "sentiment", "addresses")
STUDENT, TEACHER = "local:smollm2-135m", "claude-opus-5-5"


def _line(skill: str, t: float, role: str, model: str, outcome: str, tokens: tuple[int, int], cost: float,
          latency: float, reask: int = 0) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}+00:00"
    extra = f', "reask": {reask}' if reask else ""
    return (f'{{"time": "{stamp}", "skill": "{skill}", "phase": "run", "role": "{role}", "model_id": "{model}", '
            f'"usage": {{"input_tokens": {tokens[0]}, "output_tokens": {tokens[1]}, "cache_creation_input_tokens": 0, '
            f'"cache_read_input_tokens": 0}}, "cost_usd": {cost}, "latency_s": {latency}, "outcome": "{outcome}"'
            f"{extra}}}\n")


def write_ledger(path: Path, lines: int, seed: int = 0) -> int:
    """About ``lines`` ledger lines over 30 days; returns how many were written."""
    rng = random.Random(seed)
    start, span = 1_790_000_000.0, 30 * 86400.0
    written = 0
    with path.open("w", encoding="utf-8") as fh:
        while written < lines:
            t = start + span * written / lines
            skill = rng.choice(SKILLS)
            tokens = (rng.randint(300, 1500), rng.randint(5, 40))
            r = rng.random()
            if r < 0.75:
                batch = [_line(skill, t, "student", STUDENT, "accepted", tokens, 0.0, round(rng.uniform(0.05, 0.4), 4))]
            else:
                verdict = "low_confidence" if r < 0.95 else "invalid"
                batch = [_line(skill, t, "student", STUDENT, verdict, tokens, 0.0, 0.2)]
                if verdict == "invalid":
                    batch.append(_line(skill, t, "student", STUDENT, "invalid", tokens, 0.0, 0.2, reask=1))
                cost = round((tokens[0] // 3 * 4 + tokens[1] * 20) / 1e6, 8)
                batch.append(_line(skill, t, "teacher", TEACHER, "accepted", (tokens[0] // 3, tokens[1]), cost,
                                   round(rng.uniform(0.8, 3.0), 4)))
            fh.writelines(batch)
            written += len(batch)
    return written


def _cli(ledger: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "skillforge", "status", "--ledger", str(ledger), "--json",
                          "--now", "2026-10-22T00:00:00+00:00"], env=env, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    inputs = sum(s["all_time"]["inputs"] for s in json.loads(out.stdout)["skills"])
    return {"seconds": round(seconds, 2), "max_rss_mib": round(peak_kib / 1024, 1),
            "max_rss_grew": peak_kib > before, "inputs": inputs}


def _traced(ledger: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from skillforge.observe import compute_status

    tracemalloc.start()
    t0 = time.perf_counter()
    statuses = compute_status([ledger])
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds_under_tracemalloc": round(seconds, 2), "python_peak_mib": round(peak / 2**20, 2),
            "skills": len(statuses)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "ledger.jsonl", Path(tmp) / "quarter.jsonl"
        n_big = write_ledger(big, args.lines)
        n_small = write_ledger(small, args.lines // 4)
        # The smaller run first: RUSAGE_CHILDREN's max is over all children so far.
        small_run = _cli(small)
        big_run = _cli(big)
        traced = _traced(big)
        result = {
            "command": "python bench/status_scale.py" + ("" if args.lines == 1_000_000 else f" --lines {args.lines}"),
            "lines": n_big, "ledger_mib": round(big.stat().st_size / 2**20, 1),
            "status_cli": big_run, "quarter": {"lines": n_small, **small_run}, "in_process": traced,
            "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "status_scale.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    md = [
        "| ledger lines | file size | `skillforge status --json` wall time | peak RSS (whole process) | "
        "Python heap peak (tracemalloc) |",
        "|---|---|---|---|---|",
        f"| {n_small:,} | - | {small_run['seconds']} s | {small_run['max_rss_mib']} MiB | - |",
        f"| {n_big:,} | {result['ledger_mib']} MiB | {big_run['seconds']} s | {big_run['max_rss_mib']} MiB | "
        f"{traced['python_peak_mib']} MiB |",
        "",
        f"Command: `{result['command']}` (Python {result['python']}, {result['cpus']} CPUs shared with other jobs).",
    ]
    (RESULTS / "status_scale.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
