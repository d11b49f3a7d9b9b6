"""The library's own cost per call: skillforge against DSPy and instructor on the same work.

    nice .venv/bin/python bench/overhead.py [--calls N] [--rounds R]

Needs the benchmark-only peers: ``pip install -e '.[bench]'`` (DSPy and instructor; the Makefile does
not install them). Every contender answers the committed ``intent-router`` task (input ``{"text": ...}``,
output ``{"intent": <one of 7 labels>}``) on the skill's 60 regression inputs with a zero-latency model,
so what is timed is the library alone:

- **skillforge** -- the committed skill with a :class:`~skillforge.testing.FunctionModel` (always
  confident, so never escalated) as student and teacher, a ledger that writes nowhere: ``Skill.run``,
  a reused ``Runner`` (``run_sync(runner.arun(...))``) and ``Skill.run_many`` (concurrency 4, time per
  input), each zero-shot, with 7 fixed demos and with 7 demos retrieved per input from the skill's pool
  (the committed skill's own setting);
- **DSPy** -- ``dspy.Predict`` on a signature with the same fields (the intent a ``Literal`` of the 7
  labels) and ``dspy.utils.DummyLM`` (which answers in DSPy's own field format), zero-shot and with the
  same 7 fixed demos;
- **instructor** -- ``instructor.from_openai`` on an OpenAI client whose HTTP transport is an
  ``httpx.MockTransport`` returning a canned completion (the same pydantic output model), zero-shot and
  with the 7 demos as chat turns.

Rounds are interleaved (every contender runs ``--calls`` calls per round, in turn) so that load on the
machine hits all of them alike. Reported: median and p90 per call, and each one's ratio to DSPy on the
same demos. Results: bench/results/overhead.json and overhead.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skillforge import Ledger, load_skill
from skillforge.format import Demo
from skillforge.models.base import run_sync
from skillforge.skill import Skill
from skillforge.testing import FunctionModel

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SKILL = ROOT / "skills" / "intent-router"
K = 7
Call = Callable[[dict[str, Any]], Any]


def _peers() -> tuple[Any, Any, Any, Any]:
    try:
        import dspy
        import httpx
        import instructor
        import openai
    except ImportError as exc:
        sys.exit(f"bench/overhead.py needs the benchmark-only peers ({exc.name} is missing): "
                 "pip install -e '.[bench]'")
    return dspy, instructor, openai, httpx


def _variant(skill: Skill, strategy: str, demos: list[Demo]) -> Skill:
    k = len(demos) if strategy != "none" else 0
    settings = skill.settings.model_copy(update={"demo_strategy": strategy, "k": k})
    manifest = skill.manifest.model_copy(update={"settings": settings})
    return Skill(manifest, skill.instructions, demos, skill.tests, path=None)


def skillforge_calls(labels: list[str]) -> dict[str, Call]:
    committed = load_skill(SKILL)
    assert committed.settings.demo_strategy == "retrieved" and committed.settings.k == K
    model = FunctionModel(lambda request: {"intent": labels[0]}, logprob=0.0)
    ledger = Ledger(None)
    kw: dict[str, Any] = {"student": model, "teacher": model, "ledger": ledger}
    skills = {"zero-shot": _variant(committed, "none", []),
              f"{K} fixed demos": _variant(committed, "fixed", committed.demos[:K]),
              f"{K} retrieved demos": committed}
    calls: dict[str, Call] = {}
    for mode, skill in skills.items():
        runner = skill.runner(**kw)
        calls[f"skillforge Skill.run, {mode}"] = lambda v, s=skill: s.run(v, **kw)
        calls[f"skillforge reused Runner, {mode}"] = lambda v, r=runner: run_sync(r.arun(v))
        calls[f"skillforge run_many, {mode}"] = lambda vs, s=skill: s.run_many(vs, concurrency=4, **kw)
    # Models record every request; a benchmark of millions of calls must not grow that list.
    model.requests = _Discard()
    return calls


class _Discard(list[Any]):
    def append(self, item: Any) -> None:
        pass


def dspy_calls(dspy: Any, labels: list[str], demos: list[Demo]) -> dict[str, Call]:
    from dspy.utils import DummyLM

    intent_type = Literal[tuple(labels)]  # type: ignore[valid-type]

    # Built from a field dict, not a class body: this module's annotations are strings (PEP 563).
    route = dspy.Signature({"text": (str, dspy.InputField()), "intent": (intent_type, dspy.OutputField())},
                           "Classify the intent of a voice-assistant utterance.")
    answer = {"intent": labels[0]}

    lm = DummyLM([answer])
    lm.answers = _Forever(answer)  # its list form runs dry; the same answer to every call
    dspy.configure(lm=lm)
    zero = dspy.Predict(route)
    fixed = dspy.Predict(route)
    fixed.demos = [dspy.Example(text=d.input["text"], intent=d.output["intent"]) for d in demos]
    return {"DSPy Predict + DummyLM, zero-shot": lambda v: zero(text=v["text"]),
            f"DSPy Predict + DummyLM, {K} fixed demos": lambda v: fixed(text=v["text"])}


class _Forever:
    """An endless answer source in the shape DummyLM iterates over."""

    def __init__(self, answer: dict[str, str]) -> None:
        self.answer = answer

    def __iter__(self) -> _Forever:
        return self

    def __next__(self) -> dict[str, str]:
        return self.answer


def instructor_calls(instructor: Any, openai: Any, httpx: Any, labels: list[str], demos: list[Demo],
                     instructions: str) -> dict[str, Call]:
    from pydantic import create_model

    intent_model = create_model("Intent", intent=(Literal[tuple(labels)], ...))  # type: ignore[arg-type]
    body = json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": None, "tool_calls": [{
                "id": "call_0", "type": "function",
                "function": {"name": "Intent", "arguments": json.dumps({"intent": labels[0]})}}]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 8, "total_tokens": 108},
    }).encode()

    def handler(request: Any) -> Any:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    client = openai.OpenAI(api_key="sk-bench", base_url="http://bench.invalid/v1", max_retries=0,
                           http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    patched = instructor.from_openai(client)
    shots: list[dict[str, str]] = []
    for d in demos:
        shots += [{"role": "user", "content": d.input["text"]}, {"role": "assistant", "content": json.dumps(d.output)}]

    def call(value: dict[str, Any], shots: list[dict[str, str]]) -> Any:
        messages = [{"role": "system", "content": instructions}, *shots, {"role": "user", "content": value["text"]}]
        return patched.chat.completions.create(model="gpt-4o-mini", response_model=intent_model,
                                               messages=messages, max_retries=0)

    return {"instructor + mocked OpenAI, zero-shot": lambda v: call(v, []),
            f"instructor + mocked OpenAI, {K} fixed demos": lambda v: call(v, shots)}


def measure(calls: dict[str, Call], inputs: list[dict[str, Any]], n: int, rounds: int) -> dict[str, list[float]]:
    """Per-call seconds of every contender over ``rounds`` interleaved rounds of ``n`` calls each."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for name, call in calls.items():  # warm-up: caches, lazy imports, first-call set-up
        _once(name, call, inputs[:8])
    for _ in range(rounds):
        for name, call in calls.items():
            times[name] += _once(name, call, [inputs[i % len(inputs)] for i in range(n)])
    return times


def _once(name: str, call: Call, batch: list[dict[str, Any]]) -> list[float]:
    if "run_many" in name:
        # One batch call; what a caller pays per input is the batch's time over its size.
        out: list[float] = []
        for start in range(0, len(batch), 20):
            chunk = batch[start : start + 20]
            t = time.perf_counter()
            results = call(chunk)  # type: ignore[arg-type]
            elapsed = time.perf_counter() - t
            assert all(r.error is None for r in results), results
            out += [elapsed / len(chunk)] * len(chunk)
        return out
    out = []
    for value in batch:
        t = time.perf_counter()
        call(value)
        out.append(time.perf_counter() - t)
    return out


def summarize(times: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for name, ts in times.items():
        ts = sorted(ts)
        rows[name] = {"calls": len(ts), "median_ms": round(1000 * statistics.median(ts), 4),
                      "p90_ms": round(1000 * ts[int(0.9 * (len(ts) - 1))], 4)}
    for name, row in rows.items():
        peer = "DSPy Predict + DummyLM, " + ("zero-shot" if "zero-shot" in name else f"{K} fixed demos")
        row["vs_dspy"] = round(row["median_ms"] / rows[peer]["median_ms"], 3) if peer in rows else None
    fixed = rows.get(f"skillforge reused Runner, {K} fixed demos")
    retrieved = rows.get(f"skillforge reused Runner, {K} retrieved demos")
    if fixed and retrieved:
        rows["_retrieval_cost_ms"] = {"reused Runner": round(retrieved["median_ms"] - fixed["median_ms"], 4)}
    return rows


def write(rows: dict[str, dict[str, Any]], args: argparse.Namespace, versions: dict[str, str]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"calls_per_round": args.calls, "rounds": args.rounds, "python": platform.python_version(),
            "machine": platform.machine(), "versions": versions}
    (RESULTS / "overhead.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Library overhead per call (zero-latency models)", "",
        f"`python bench/overhead.py --calls {args.calls} --rounds {args.rounds}`: {args.rounds} interleaved rounds "
        f"of {args.calls} calls per contender, intent-router's 60 regression inputs. "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + f", Python {meta['python']}.", "",
        "| contender | median ms/call | p90 ms/call | vs DSPy (same demos) |", "|---|---:|---:|---:|",
    ]
    for name, row in rows.items():
        if name.startswith("_"):
            continue
        ratio = "" if row["vs_dspy"] is None else f"{row['vs_dspy']:.2f}x"
        lines.append(f"| {name} | {row['median_ms']:.3f} | {row['p90_ms']:.3f} | {ratio} |")
    extra = rows.get("_retrieval_cost_ms")
    if extra:
        lines += ["", "Retrieved demos over fixed ones (reused Runner, medians): "
                  f"{extra['reused Runner']:+.3f} ms per call."]
    (RESULTS / "overhead.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per contender per round")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    args = parser.parse_args()
    dspy, instructor, openai, httpx = _peers()
    committed = load_skill(SKILL)
    labels = list(committed.manifest.output_schema["properties"]["intent"]["enum"])
    demos = committed.demos[:K]
    inputs = [dict(case.input) for case in committed.tests]
    calls = {**skillforge_calls(labels), **dspy_calls(dspy, labels, demos),
             **instructor_calls(instructor, openai, httpx, labels, demos, committed.instructions)}
    from importlib.metadata import version

    versions = {p: version(p) for p in ("skillforge", "dspy", "instructor", "openai")}
    rows = summarize(measure(calls, inputs, args.calls, args.rounds))
    write(rows, args, versions)
    print((RESULTS / "overhead.md").read_text())


if __name__ == "__main__":
    main()
