"""Running at volume: batch throughput on the embedded model, and the per-call cost of ``Skill.run``.

    nice .venv/bin/python bench/batch.py [--limit N] [--repeat R] [--only per-call|throughput]

1. **Throughput.** ``skillforge.batch.run_batch`` (the engine behind ``skillforge batch``: journal,
   fsync'd group commits, output written at the end) runs the committed ``intent-router`` skill (a
   copy, so its escalation log stays clean) on the first ``--limit`` inputs of the task's TEST split,
   with the embedded SmolLM2-135M as student and teacher, at concurrency 1, 2 and 4. The model is
   loaded and warmed up before timing; each level starts from an empty journal.
2. **Per-call time of ``Skill.run``**, with a zero-latency test double (``FunctionModel``, always
   confident, so no escalation): the committed ``intent-router`` skill's 60 regression inputs, ``--repeat``
   passes, after one warm-up call, in a fresh process per version of the code:

   - ``before reuse`` -- the parent of 5742b64, as the issue describes it: a new ``Runner`` per call
     (a new BM25 demo index, model wrappers, ledger) and a new event loop per call;
   - ``main`` -- 401a7a0: runners cached per skill and models, still a new event loop per sync call and
     a BM25 scan of every demo per input;
   - ``after`` -- HEAD (commit first): one event loop per thread kept across sync calls, an inverted BM25 index.

   Each version runs its own committed ``intent-router`` skill (the file format changed in between)
   from a ``git archive`` of that commit. The same three are then timed with the real Anthropic
   provider (SDK and httpx) against a zero-latency Messages API on 127.0.0.1, where a new event loop
   per call also means a new HTTP client and a new TCP connection per call.

Results: bench/results/batch.json and batch.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.tasks import ROOT, TASKS
from skillforge import Ledger, get_model, load_skill
from skillforge.batch import run_batch

RESULTS = ROOT / "bench" / "results"
SKILL = "intent-router"
VERSIONS = {"before reuse": "5742b64^", "main": "401a7a0", "after": "HEAD"}

# Runs inside each version's tree (cwd), so it may only use API all three versions have.
PER_CALL = r"""
import json, statistics, sys, time
from skillforge import load_skill
from skillforge.ledger import Ledger
from skillforge.testing import FunctionModel
mode, repeat, url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
skill = load_skill("skills/intent-router")
label = skill.manifest.output_schema["properties"]["intent"]["enum"][0]
if mode == "double":
    model = FunctionModel(lambda request: {"intent": label}, logprob=0.0)
else:
    from skillforge.models.anthropic.model import AnthropicModel
    model = AnthropicModel("claude-haiku-4-5", api_key="sk-ant-bench", base_url=url)
inputs = [json.loads(line)["input"] for line in open("skills/intent-router/tests.jsonl", encoding="utf-8")]
ledger = Ledger(None)
skill.run(inputs[0], student=model, teacher=model, ledger=ledger)
times = []
for _ in range(repeat):
    for value in inputs:
        start = time.perf_counter()
        skill.run(value, student=model, teacher=model, ledger=ledger)
        times.append(time.perf_counter() - start)
times.sort()
print(json.dumps({"calls": len(times), "median_ms": 1000 * statistics.median(times),
                  "mean_ms": 1000 * statistics.fmean(times), "p90_ms": 1000 * times[int(0.9 * len(times))]}))
"""


class _Messages(BaseHTTPRequestHandler):
    """A zero-latency Messages API: every request gets the same valid answer, over keep-alive HTTP/1.1."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[set[tuple[str, int]]] = set()

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm holds the body
        # until the client's delayed ACK (~40 ms), which would swamp what is measured here.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        _Messages.connections.add(self.client_address)
        body = json.dumps({
            "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": json.dumps({"intent": "add_to_playlist"})}],
            "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 900, "output_tokens": 8, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _tree(ref: str, workdir: Path) -> Path:
    """The code and committed skill of ``ref``."""
    dest = workdir / ref.replace("^", "-parent")
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "skillforge", f"skills/{SKILL}"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def per_call(repeat: int) -> dict[str, Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Messages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, ref in VERSIONS.items():
            tree = _tree(ref, Path(tmp))
            commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], check=True,
                                    capture_output=True, text=True).stdout.strip()
            row: dict[str, Any] = {"ref": f"{ref} ({commit})" if commit != ref else ref}
            for mode in ("double", "anthropic"):
                _Messages.connections.clear()
                env = {**os.environ, "PYTHONPATH": str(tree)}
                env.pop("ANTHROPIC_API_KEY", None)
                done = subprocess.run([sys.executable, "-c", PER_CALL, mode, str(repeat), url], cwd=tree, env=env,
                                      check=True, capture_output=True, text=True)
                row[mode] = json.loads(done.stdout.strip().splitlines()[-1])
                if mode == "anthropic":
                    row[mode]["tcp_connections"] = len(_Messages.connections)
            out[name] = row
            print(name, json.dumps(row), flush=True)
    server.shutdown()
    return out


def throughput(limit: int) -> list[dict[str, Any]]:
    _, _, test = TASKS[SKILL]().splits()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        skill_dir = Path(tmp) / SKILL
        shutil.copytree(ROOT / "skills" / SKILL, skill_dir)
        inputs = Path(tmp) / "in.jsonl"
        inputs.write_text("".join(json.dumps(e.input) + "\n" for e in test[:limit]), encoding="utf-8")
        skill = load_skill(skill_dir)
        model = get_model("local:smollm2-135m")
        skill.run(test[-1].input, student=model, teacher=model, ledger=Ledger(None))  # load and warm up
        for concurrency in (1, 2, 4):
            out = Path(tmp) / f"out-{concurrency}.jsonl"
            start = time.perf_counter()
            summary = run_batch(skill, inputs, out, concurrency=concurrency, student=model, teacher=model,
                                ledger=Ledger(None))
            seconds = time.perf_counter() - start
            row = {"concurrency": concurrency, "inputs": summary.total, "answered": summary.answered,
                   "failed": summary.failed, "escalated": summary.escalated, "seconds": round(seconds, 2),
                   "inputs_per_s": round(summary.total / seconds, 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Machine: {result['machine']}, 2 cores shared with other work (other sessions' builds and tests ran "
             "at the same time), so treat differences under ~30% as noise.", ""]
    t = result.get("throughput")
    if t:
        lines += [f"Batch throughput (`{t['command']}`, {t['time']}): `run_batch` on the first {t['limit']} inputs "
                  "of the intent-router TEST split, embedded SmolLM2-135M as student and teacher (escalations "
                  "included; one llama.cpp context, so calls to the model itself are serialised).", "",
                  "| concurrency | inputs | escalated | failed | seconds | inputs/s |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['concurrency']} | {r['inputs']} | {r['escalated']} | {r['failed']} | {r['seconds']} | "
                  f"{r['inputs_per_s']} |" for r in t["rows"]]
        lines.append("")
    p = result.get("per_call")
    if p:
        lines += [f"Per-call time of `Skill.run` (`{p['command']}`, {p['time']}): intent-router (retrieved demos), "
                  f"60 inputs x {p['repeat']} after one warm-up call; a zero-latency test double, and the real "
                  "Anthropic provider against a zero-latency Messages API on 127.0.0.1.", "",
                  "| code | ref | double: median ms | double: mean ms | Anthropic: median ms | Anthropic: mean ms "
                  "| TCP connections |", "|---|---|---|---|---|---|---|"]
        for name, row in p["rows"].items():
            d, a = row["double"], row["anthropic"]
            lines.append(f"| {name} | {row['ref']} | {d['median_ms']:.2f} | {d['mean_ms']:.2f} | "
                         f"{a['median_ms']:.2f} | {a['mean_ms']:.2f} | {a['tcp_connections']} |")
    return "\n".join(lines) + "\n"


def _previous() -> dict[str, Any]:
    """The results file as it is, so a run of one section keeps the other."""
    try:
        old: dict[str, Any] = json.loads((RESULTS / "batch.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    if "command" in old:  # the first layout (one command for both sections): measure both again
        return {}
    return old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=40, help="inputs for the throughput runs")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the 60 inputs per per-call timing")
    parser.add_argument("--only", choices=("per-call", "throughput"), help="run one section, keep the other's results")
    args = parser.parse_args()
    command = "nice .venv/bin/python bench/batch.py" + "".join(f" {a}" for a in sys.argv[1:])
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    measured: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}
    if args.only != "throughput":
        measured["per_call"] = {"command": command, "time": now, "repeat": args.repeat,
                                "rows": per_call(args.repeat)}
    if args.only != "per-call":
        measured["throughput"] = {"command": command, "time": now, "limit": args.limit,
                                  "rows": throughput(args.limit)}
    # Read at the end, so a run of the other section that finished meanwhile is kept.
    result = {**(_previous() if args.only else {}), **measured}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "batch.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "batch.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
