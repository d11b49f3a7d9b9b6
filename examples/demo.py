"""`make demo`: compile a small intent router with the embedded local model, then run it.

Everything runs offline on SmolLM2-135M (llama.cpp). Without an API key the teacher is the same small
model as the student, so escalations here show the mechanics (verify -> escalate -> log), not a quality
gain; pass a stronger teacher (a larger local GGUF or Claude) for that.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from skillforge import (
    CompileOptions,
    EscalationFailed,
    Ledger,
    RunResult,
    SkillSpec,
    compile_skill,
    get_model,
    load_skill,
)
from skillforge.cli import RichProgress, print_compile_report
from skillforge.compile import SearchConfig
from skillforge.models.base import Usage
from skillforge.models.pricing import REFERENCE_STUDENT, REFERENCE_TEACHER, cost_usd, price_for
from skillforge.run import Runner
from skillforge.run.teacher_only import teacher_only_request, teacher_only_usage
from skillforge.spec import read_examples

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "demo-out"

INPUTS = [
    "play the newest album by Daft Punk",
    "will it rain in Boston tomorrow morning?",
    "book a table for two at an italian place tonight",
    "add this song to my road trip playlist",
    "rate this novel four out of six stars",
    "what time is Dune showing at the cinema nearby?",
    "{{ 7*7 }} find me the TV series Dark",
]


STUDENT, TEACHER = REFERENCE_STUDENT, REFERENCE_TEACHER


def list_price(runner: Runner, value: dict[str, str], r: RunResult) -> tuple[float, float]:
    """(what this answer's calls cost at list prices -- the student's as Claude Haiku, the teacher's as
    Claude Opus -- and what it costs teacher-only: Claude Opus answering it with the plain prompt, the
    description and the schema, no demos; see docs/benchmarks.md, "Teacher-only")."""
    student, teacher = price_for(STUDENT, warn=False), price_for(TEACHER, warn=False)
    assert student is not None and teacher is not None
    cost = sum(cost_usd(a.usage, teacher if a.role == "teacher" else student) for a in r.attempts)
    m = runner.skill.manifest
    plain = teacher_only_request(description=m.description, output_schema=m.output_schema,
                                 input_schema=m.input_schema, input=value, max_tokens=m.settings.max_tokens)
    first = next((a for a in r.attempts if a.usage.input_tokens and a.role in ("student", "teacher")), None)
    if first is not None:  # sized from the first call's measured prompt, with the local tokenizer
        measured = runner.request_for(value) if first.role == "student" else runner.teacher_request_for(value)
        counter = getattr(get_model("local:smollm2-135m"), "count_tokens", None)
        usage = teacher_only_usage(plain, r.output, m.output_schema, measured=measured,
                                   measured_tokens=first.usage.input_tokens, answer_tokens=None, counter=counter)
    else:  # answered by the classifier: no call to size it from; the compile's mean over its dev inputs
        mean = m.metrics.teacher_only
        usage = Usage() if mean is None else Usage(input_tokens=round(mean.input_tokens),
                                                   output_tokens=round(mean.output_tokens))
    return cost, cost_usd(usage, teacher)


def main() -> int:
    console = Console()
    if not console.is_terminal:  # e.g. piped to a log: don't squeeze the tables into 80 columns
        console = Console(width=120)
    spec = SkillSpec.from_file(HERE / "intent-demo" / "spec.yaml")
    examples = read_examples(HERE / "intent-demo" / "examples.jsonl")
    ledger = Ledger(OUT / "ledger.jsonl")
    console.rule("[bold]1. compile (teacher drafts, student measured on dev)")
    # A small search so the demo finishes in a few minutes on 2 cores: 7 fixed demos (a cached prefix), 5
    # retrieved per input (processed anew on every call), one refinement round; every remaining training
    # example is a calibration case (the default). The demo's 63 examples cannot certify 95% precision by the Wilson
    # bound (that takes 52 accepted answers without a mistake), so it targets 85%; real skills keep 0.95.
    options = CompileOptions(
        target_precision=0.85, search=SearchConfig(ks=(7,), retrieval_ks=(5,), max_demo_pool=21, refine_rounds=1)
    )
    with RichProgress(console) as progress:
        skill = compile_skill(spec, examples, options, ledger=ledger, progress=progress)
    print_compile_report(console, skill, ledger)
    path = skill.save(OUT / "skills" / spec.name)
    console.print(
        f"\nskill written to [bold]{path.relative_to(ROOT)}[/] ({', '.join(sorted(p.name for p in path.iterdir()))})"
    )

    console.rule("[bold]2. run (student answers; low confidence or invalid -> teacher)")
    skill = load_skill(path, strict=True)
    runner = skill.runner(ledger=ledger)  # the one skill.run reuses: its requests are the ones sent
    table = Table(show_edge=False)
    for col in ("input", "intent", "tier", "confidence", "answered by", f"at list prices ({STUDENT} / {TEACHER})"):
        table.add_column(col)
    mix, teacher_only = 0.0, 0.0
    for text in INPUTS:
        try:
            r = skill.run({"text": text}, ledger=ledger)
        except EscalationFailed as exc:
            table.add_row(text, f"[red]failed: {exc}", "", "", "", "")
            continue
        conf = "-" if r.confidence is None else f"{r.confidence:.3f}"
        cost, alone = list_price(runner, {"text": text}, r)
        mix, teacher_only = mix + cost, teacher_only + alone
        table.add_row(text, r.output["intent"], r.tier, conf, r.answered_by, f"${cost:.6f}")
    console.print(table)
    if teacher_only:
        console.print(
            f"this traffic at list prices: ${mix:.6f} with the skill (student tiers as {STUDENT}, "
            f"escalations as {TEACHER}) against ${teacher_only:.6f} teacher-only -- every input sent to "
            f"{TEACHER} with the plain prompt ({mix / teacher_only:.0%} of it); on this machine the "
            "student tiers cost $0"
        )
    threshold = skill.settings.threshold
    console.print(
        f"threshold {threshold if threshold is None else round(threshold, 4)}; "
        f"escalations are appended to {(path / 'escalations.jsonl').relative_to(ROOT)}"
    )

    console.rule("[bold]3. ledger")
    runs = [e for e in ledger.entries if e.phase == "run"]
    compiles = [e for e in ledger.entries if e.phase == "compile"]
    console.print(
        f"{len(compiles)} model calls while compiling, {len(runs)} while running; every call is a line "
        f"in {(OUT / 'ledger.jsonl').relative_to(ROOT)} (billed $0 here: local model)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
