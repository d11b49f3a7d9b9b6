"""An agent step delegated to a skill, measured through the MCP server and read off the ledger.

    .venv/bin/python bench/agent_step.py [NAME ...]        (default: every committed skill)

The agent's side is the MCP SDK's own client: it starts `skillforge serve skills/ --replay` as a
subprocess over stdio and calls the skill's tool once per regression case (tests.jsonl), one call at a
time, exactly as an agent would. `--replay` answers from the skills' recorded cassettes: the runtime
(input check, student, verifier, escalation, ledger) runs for real, the model answers are the ones
SmolLM2-135M (student and teacher) gave when the cassettes were recorded, so the run is offline and
deterministic. After each call the new ledger lines are that call's model calls.

Reported per skill: calls, tool errors, who answered (tier), answers equal to the expected ones, the
ledger's tokens and recorded cost (local models: $0), and the cost per 1,000 delegated steps priced AS IF
the student were Claude Haiku 5.5 and the teacher Claude Opus 5.5 (list prices in
skillforge.models.pricing, on the ledger's token counts, which are SmolLM2's tokenizer's), against the
agent's own model (Opus 5.5) doing every step with the same prompt (each call's first student request,
priced at Opus rates). Also measured: what the agent's model reads for the delegation (the tool
definition, the tool_use input and the tool_result, in bytes) and the MCP round trip per call.
Results: bench/results/agent_step.json and agent_step.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skillforge import load_skill  # noqa: E402
from skillforge.ledger import Ledger, LedgerEntry  # noqa: E402
from skillforge.models.pricing import default_table  # noqa: E402

STUDENT_AS, TEACHER_AS, AGENT_MODEL = "claude-haiku-5-5", "claude-opus-5-5", "claude-opus-5-5"
RESULTS = ROOT / "bench" / "results"


def price(entries: list[LedgerEntry], *, student: str, teacher: str) -> float:
    table = default_table()
    return sum(table.cost_usd(student if e.role == "student" else teacher, e.usage) or 0.0 for e in entries)


async def measure(names: list[str], ledger_path: Path) -> dict[str, Any]:
    args = ["-m", "skillforge", "serve", "skills", "--replay", "--ledger", str(ledger_path)]
    params = StdioServerParameters(command=sys.executable, cwd=ROOT, args=args)
    ledger = Ledger(ledger_path)
    out: dict[str, Any] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for name in names:
            skill = load_skill(ROOT / "skills" / name)
            calls: list[dict[str, Any]] = []
            for case in skill.tests:
                before = len(ledger.read())
                start = time.perf_counter()
                result = await client.call_tool(name, case.input)
                elapsed = time.perf_counter() - start
                entries = ledger.read()[before:]
                calls.append({"result": result, "entries": entries, "seconds": elapsed, "case": case})
            definition = tools[name].model_dump(by_alias=True, exclude_none=True, mode="json")
            out[name] = summarize(calls, definition)
    return out


def summarize(calls: list[dict[str, Any]], definition: dict[str, Any]) -> dict[str, Any]:
    n = len(calls)
    ok = [c for c in calls if not c["result"].is_error]
    tiers: dict[str, int] = {}
    for c in ok:
        tier = c["result"].meta["skillforge/run"]["tier"]
        tiers[tier] = tiers.get(tier, 0) + 1
    entries = [e for c in calls for e in c["entries"]]
    firsts = [c["entries"][0] for c in calls if c["entries"]]
    tokens = {role: {"input": sum(e.usage.input_tokens for e in entries if e.role == role),
                     "output": sum(e.usage.output_tokens for e in entries if e.role == role),
                     "calls": sum(e.role == role for e in entries)} for role in ("student", "teacher")}
    delegated = price(entries, student=STUDENT_AS, teacher=TEACHER_AS)
    inline = price(firsts, student=AGENT_MODEL, teacher=AGENT_MODEL)
    texts = [c["result"].content[0].text for c in ok]
    return {
        "calls": n,
        "tool_errors": n - len(ok),
        "tiers": tiers,
        "student_share": round(tiers.get("student", 0) / n, 4),
        "correct": sum(c["result"].structured_content == c["case"].expected for c in ok),
        "ledger_lines": len(entries),
        "tokens": tokens,
        "recorded_cost_usd": sum(e.cost_usd or 0.0 for e in entries),
        "per_1000_delegated_usd": round(1000 * delegated / n, 4),
        "per_1000_agent_inline_usd": round(1000 * inline / n, 4),
        "delegated_vs_inline": round(delegated / inline, 4) if inline else None,
        "agent_reads_bytes": {
            "tool_definition": len(json.dumps(definition)),
            "tool_use_input_mean": round(statistics.mean(len(json.dumps(c["case"].input)) for c in calls), 1),
            "tool_result_text_mean": round(statistics.mean(len(t) for t in texts), 1) if texts else None,
            "structured_content_mean": round(statistics.mean(
                len(json.dumps(c["result"].structured_content)) for c in ok), 1) if ok else None,
        },
        "round_trip_ms_median": round(1000 * statistics.median(c["seconds"] for c in calls), 1),
    }


def markdown(results: dict[str, Any]) -> str:
    rows = ["| skill | calls | tool errors | student / teacher | correct | ledger lines | student tokens in/out "
            "| teacher tokens in/out | recorded cost | per 1,000 delegated (as Haiku/Opus) | per 1,000 inline (Opus) "
            "| ratio | round trip (median) |", "|" + "---|" * 13]
    for name, r in results.items():
        t = r["tokens"]
        rows.append(
            f"| {name} | {r['calls']} | {r['tool_errors']} | {r['tiers'].get('student', 0)} / "
            f"{r['tiers'].get('teacher', 0)} | {r['correct']} | {r['ledger_lines']} | "
            f"{t['student']['input']:,}/{t['student']['output']:,} | "
            f"{t['teacher']['input']:,}/{t['teacher']['output']:,} | ${r['recorded_cost_usd']:.4f} | "
            f"${r['per_1000_delegated_usd']:.2f} | ${r['per_1000_agent_inline_usd']:.2f} | "
            f"{r['delegated_vs_inline']:.1%} | {r['round_trip_ms_median']:.1f} ms |")
    sizes = ["| skill | tool definition | tool_use input (mean) | tool_result text (mean) "
             "| structured content (mean) |",
             "|---|---|---|---|---|"]
    for name, r in results.items():
        b = r["agent_reads_bytes"]
        sizes.append(f"| {name} | {b['tool_definition']:,} B | {b['tool_use_input_mean']} B | "
                     f"{b['tool_result_text_mean']} B | {b['structured_content_mean']} B |")
    return ("# An agent step delegated to a skill (bench/agent_step.py)\n\n"
            "Through `skillforge serve skills/ --replay` and the MCP SDK's stdio client, one call per regression "
            "case. Costs priced as if the student were Claude Haiku 5.5 and the teacher Claude Opus 5.5, on the "
            "ledger's token counts; inline = the agent's Opus 5.5 answering each step with the same prompt.\n\n"
            + "\n".join(rows) + "\n\nWhat the agent's model reads for the delegation:\n\n" + "\n".join(sizes) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    committed = sorted(p.parent.name for p in (ROOT / "skills").glob("*/skill.yaml"))
    parser.add_argument("names", nargs="*", default=committed)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = anyio.run(measure, args.names, Path(tmp) / "ledger.jsonl")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "agent_step.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "agent_step.md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))


if __name__ == "__main__":
    main()
