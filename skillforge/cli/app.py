"""The ``skillforge`` command line. Errors are one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import inspect
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from skillforge._version import __version__
from skillforge.cli.batch import batch_cmd
from skillforge.cli.compile_report import print_compile_report, print_estimate
from skillforge.cli.eval_report import print_eval
from skillforge.cli.progress import RichProgress
from skillforge.cli.regress_report import print_report
from skillforge.cli.report_cmd import report
from skillforge.cli.status_cmd import status
from skillforge.compile import CompileOptions, compile_skill, estimate_compile_skill
from skillforge.environment import CLAUDE_STUDENT, CLAUDE_TEACHER, LOCAL_DEFAULT, read_env
from skillforge.errors import InputValidationError, SkillforgeError, SpecError
from skillforge.evaluate import aevaluate_skill, write_plot
from skillforge.format import check_destination
from skillforge.ledger import Ledger
from skillforge.models.base import run_sync
from skillforge.regress import arun_suite, junit_xml, load_report
from skillforge.run import Runner, RunResult
from skillforge.skill import Skill, load_skill
from skillforge.spec import DEFAULT_LIMITS, SkillSpec, clip, parse_json, read_examples

app = typer.Typer(
    help="Compile tasks into skills a cheap model runs, with verified escalation to a teacher.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)

#: The order ``skillforge --help`` lists the commands in: the job first, then checking, then operating.
COMMANDS = ("compile", "run", "batch", "eval", "test", "update", "retarget", "status", "report", "cache", "export",
            "import", "serve")


def _print_version(value: bool) -> None:
    if value:
        print(f"skillforge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", "-V", help="Print the version and exit.", is_eager=True, callback=_print_version)] = False,
) -> None:
    """Compile tasks into skills a cheap model runs, with verified escalation to a teacher."""


_DEFAULT_MODEL = ("default: $SKILLFORGE_{role}, else {claude} when ANTHROPIC_API_KEY is set, else the embedded "
                  f"{LOCAL_DEFAULT}")
TeacherOpt = Annotated[str | None, typer.Option(
    "--teacher", help="Teacher model id (" + _DEFAULT_MODEL.format(role="TEACHER", claude=CLAUDE_TEACHER) + ").")]
StudentOpt = Annotated[str | None, typer.Option(
    "--student", help="Student model id (" + _DEFAULT_MODEL.format(role="STUDENT", claude=CLAUDE_STUDENT) + ").")]


def _note_defaults(teacher: str | None, student: str | None) -> None:
    env = read_env()
    if (teacher is None or student is None) and not env.anthropic_api_key and not (env.teacher and env.student):
        err.print(
            "[dim]note: ANTHROPIC_API_KEY is not set, so the default teacher and student are the embedded "
            f"local model ({env.default_teacher}).[/]"
        )


@app.command("compile")
def compile_cmd(
    spec: Annotated[Path, typer.Argument(help="SPEC.yaml: name, description, input_schema, output_schema.")],
    examples: Annotated[Path, typer.Option("--examples", help="JSON Lines of {input, expected?}.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the skill to, e.g. skills/NAME.")],
    dev: Annotated[Path | None, typer.Option("--dev", help="JSON Lines dev set (default: split off).")] = None,
    teacher: TeacherOpt = None,
    student: StudentOpt = None,
    target_precision: Annotated[float, typer.Option(help="Precision the escalation threshold aims for.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed for the dev split and demo choice.")] = 0,
    teacher_batch: Annotated[bool, typer.Option(
        "--teacher-batch", help="Send the teacher's calls through its batch API (half price, slower; resumable).")
    ] = False,
    tier: Annotated[list[str] | None, typer.Option(
        "--tier", help="A model to measure behind the student, before the teacher, e.g. "
        "anthropic:claude-haiku-5-5 (repeatable, in ladder order); kept only where it lowers the cost per call.")
    ] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Ask every model afresh: neither reuse nor keep answers in the answer cache.")] = False,
    budget_usd: Annotated[float | None, typer.Option(
        "--budget-usd", help="Spend at most this many dollars on the whole compile (list prices; every call "
        "reserves its worst case first). Below what every skill needs, nothing is called.")] = None,
    estimate: Annotated[bool, typer.Option(
        "--estimate", help="Only print what the compile would cost (calls, tokens, dollars per step); call nothing.")
    ] = False,
) -> None:
    """Compile a skill from a spec and labelled examples, then write it to --out."""
    _note_defaults(teacher, student)
    skill_spec = SkillSpec.from_file(spec)
    train = read_examples(examples)
    dev_set = read_examples(dev) if dev is not None else None
    options = CompileOptions(target_precision=target_precision, seed=seed, teacher_batch=teacher_batch,
                             model_tiers=tuple(tier or ()), budget_usd=budget_usd)
    if estimate:
        print_estimate(Console(), estimate_compile_skill(skill_spec, train, options, dev_examples=dev_set,
                                                         teacher=teacher, student=student))
        return
    check_destination(out)  # before anything is spent on models
    ledger = Ledger(read_env().ledger_path)
    with RichProgress(err) as progress:
        skill = compile_skill(skill_spec, train, options, dev_examples=dev_set, teacher=teacher, student=student,
                              ledger=ledger, progress=progress, cache=not no_cache)
    print_compile_report(err, skill, ledger)
    path = _save_paid_for(skill, out)
    err.print(f"skill written to [bold]{escape(str(path))}[/]")


def _save_paid_for(skill: Skill, out: Path) -> Path:
    """Save a compiled skill to ``out``; if that fails (the disk changed since the check), save it to a
    fresh temporary directory instead, say where, and exit 2: a paid-for compilation is never lost."""
    try:
        return skill.save(out)
    except (OSError, SkillforgeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        rescue = skill.save(tempfile.mkdtemp(prefix=f"skillforge-{skill.name}-"))
        err.print(f"[red]error:[/] cannot write the skill to {escape(str(out))} ({escape(one_line(reason))}); "
                  f"the compiled skill was saved to [bold]{escape(str(rescue))}[/] instead", soft_wrap=True)
        raise typer.Exit(2) from None


def _result_line(result: RunResult) -> str:
    return json.dumps({
        "output": result.output, "escalated": result.escalated, "answered_by": result.answered_by,
        "confidence": None if result.confidence is None else round(result.confidence, 4),
        "cost_usd": result.cost_usd,
    }, ensure_ascii=False)


@app.command("run")
def run_cmd(
    skill_dir: Annotated[Path, typer.Argument(help="The skill directory, e.g. skills/NAME.")],
    input: Annotated[str | None, typer.Option("--input", help="One input as JSON (else JSON Lines on stdin).")] = None,
    teacher: TeacherOpt = None,
    student: StudentOpt = None,
    no_escalate: Annotated[bool, typer.Option("--no-escalate", help="Never call the teacher.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse a skill whose files changed.")] = False,
) -> None:
    """Run a skill: prints one JSON result per input (output, escalated, answered_by, confidence, cost).

    With JSON Lines on stdin, a bad line prints {"error": ..., "line": N} and the rest still run;
    the exit code is then 1.
    """
    skill = load_skill(skill_dir, strict=strict)
    runner = skill.runner(student=student, teacher=teacher, escalate=not no_escalate)
    if input is not None:
        value = _parse_input(input, where="--input")
        typer.echo(_result_line(_run_one(runner, value)))
        return
    failures = 0
    for n, raw in _stdin_lines(sys.stdin, DEFAULT_LIMITS.max_bytes):
        try:
            if raw is None:
                raise InputValidationError(f"stdin line {n} is larger than the {DEFAULT_LIMITS.max_bytes}-byte limit")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputValidationError(f"stdin line {n} is not UTF-8 text") from None
            if not line.strip():
                continue
            value = _parse_input(line, where=f"stdin line {n}")
            typer.echo(_result_line(_run_one(runner, value)))
        except SkillforgeError as exc:
            failures += 1
            typer.echo(json.dumps({"error": one_line(str(exc)), "line": n}, ensure_ascii=False))
    if failures:
        raise typer.Exit(1)


def _stdin_lines(stream: IO[str], max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes)`` of ``stream``'s lines; ``None`` for a line longer than ``max_bytes``
    (read past in bounded chunks, never held in memory whole)."""
    source: IO[bytes] | None = getattr(stream, "buffer", None)
    n = 0
    while True:
        raw = source.readline(max_bytes + 1) if source is not None else stream.readline().encode("utf-8")
        if not raw:
            return
        n += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = source.readline(max_bytes + 1) if source is not None else b""
            yield n, None
        else:
            yield n, raw


def _run_one(runner: Runner, value: dict[str, Any]) -> RunResult:
    return run_sync(runner.arun(value))


def _parse_input(text: str, *, where: str) -> dict[str, Any]:
    """One input from JSON text; any problem (invalid JSON, too large or deep, not an object) is an
    :class:`InputValidationError` with a one-line reason, before any model is called."""
    try:
        value = parse_json(text, limits=DEFAULT_LIMITS)
    except ValueError as exc:
        reason = str(exc)
        raise InputValidationError(f"{where} is {reason}" if reason.startswith("not valid JSON")
                                   else f"{where}: {reason}") from None
    if not isinstance(value, dict):
        raise InputValidationError(f"{where} must be a JSON object, got {type(value).__name__}")
    return value


def one_line(text: str) -> str:
    """``text`` with its line breaks folded: every error skillforge prints is one line."""
    return clip(text, 2000)


@app.command("eval")
def eval_cmd(
    skill_dir: Annotated[Path, typer.Argument(help="The skill directory, e.g. skills/NAME.")],
    data: Annotated[Path, typer.Option("--data", help="JSON Lines of {input, expected} to measure on.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write a risk-coverage chart here (a self-contained HTML page).")] = None,
    no_escalate: Annotated[bool, typer.Option("--no-escalate", help="Measure the student alone.")] = False,
    teacher: Annotated[str | None, typer.Option(
        "--teacher", help="Teacher model id for escalations, or 'gold' to simulate the teacher by the labels "
        "(offline measurement; labelled as simulated in the output).")] = None,
    student: StudentOpt = None,
) -> None:
    """Measure a skill on labelled data: student accuracy, risk-coverage, the threshold's operating point
    (student share, accuracy accepted and after escalation) and cost per 1,000 calls vs teacher-only."""
    skill = load_skill(skill_dir)
    rows = [e for e in read_examples(data) if e.expected is not None]
    if not rows:
        raise SpecError(f"{data}: no labelled cases (each line needs an 'expected')")
    with RichProgress(err, enabled=err.is_terminal, transient=True) as progress:
        result = run_sync(aevaluate_skill(skill, rows, student=student, teacher=teacher, escalate=not no_escalate,
                                          progress=progress))
    out = Console()
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(width=120)
    print_eval(out, result)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    if plot is not None:
        write_plot(result, plot)


def main() -> None:
    """Console-script entry point: runs the app, turning skillforge errors into one line + exit 2."""
    try:
        app()
    except SkillforgeError as exc:
        # Escaped: an error can quote a server's text or a file's content, which must not be read as markup.
        err.print(f"[red]error:[/] {escape(one_line(str(exc)))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


class _TestMode(StrEnum):
    replay = "replay"
    record = "record"
    live = "live"
    auto = "auto"


@app.command("test")
def test_cmd(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Skill directories, or folders to search for skills (default: skills/).")] = None,
    mode: Annotated[_TestMode, typer.Option(
        "--mode", help="replay: recorded answers only, never calls a model (deterministic, for CI); "
        "record: call models and rewrite the recordings; live: call models, write nothing; "
        "auto: replay what is recorded, record the rest.")] = _TestMode.replay,
    no_escalate: Annotated[bool, typer.Option("--no-escalate", help="Never call the teacher: "
                                              "measure the student alone.")] = False,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Run each case K times; reports pass^K "
                                        "(all K runs pass) next to the mean.")] = 1,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    junit_out: Annotated[Path | None, typer.Option("--junit-xml", help="Write JUnit XML here.")] = None,
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", help="A previous --json result: report per-skill deltas; a pass-rate drop "
        "beyond --tolerance fails the run.")] = None,
    tolerance: Annotated[float, typer.Option("--tolerance", min=0.0, help="Allowed pass-rate drop "
                                             "against --baseline.")] = 0.02,
    teacher: Annotated[str | None, typer.Option(
        "--teacher", help="Run with this teacher instead of the skill's (recordings are per model id).")] = None,
    student: Annotated[str | None, typer.Option(
        "--student", help="Run with this student instead of the skill's (recordings are per model id).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show failing cases of passing "
                                          "skills too.")] = False,
) -> None:
    """Run every skill's regression cases and gate on its minimum pass rate (and field score, when set).

    Exit code 0 when every skill reaches its minimum (and none dropped against --baseline), 1 when
    one does not, 2 on a usage error. A skill that runs a model past its retirement date fails, naming the
    successor to retarget to; a deprecated one passes with a note. Re-record after changing a skill or its
    models: `skillforge test skills/ --mode record`.
    """
    base = load_report(baseline) if baseline is not None else None
    with RichProgress(err, enabled=err.is_terminal, transient=True) as progress:
        report = run_sync(arun_suite(
            paths or [Path("skills")], mode=mode.value, escalate=not no_escalate, repeat=repeat,
            student=student, teacher=teacher, baseline=base, tolerance=tolerance, progress=progress,
        ))
    out = Console()
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(width=120)  # CI logs: room for the whole table instead of rich's default 80
    print_report(out, report, verbose=verbose)
    if json_out is not None:
        report.write_json(json_out)
    if junit_out is not None:
        junit_out.parent.mkdir(parents=True, exist_ok=True)
        junit_out.write_text(junit_xml(report), encoding="utf-8")
    if not report.ok:
        raise typer.Exit(1)


# Commands in their own modules (cli/<name>_cmd.py), registered here, then listed in COMMANDS order.
from skillforge.cli.cache_cmd import cache_cmd  # noqa: E402
from skillforge.cli.export_cmd import export_cmd, import_cmd  # noqa: E402
from skillforge.cli.retarget_cmd import retarget_cmd  # noqa: E402
from skillforge.cli.serve import serve_cmd  # noqa: E402
from skillforge.cli.update_cmd import update_cmd  # noqa: E402

app.command("batch")(batch_cmd)
app.command("status")(status)
app.command("report")(report)
app.command("serve")(serve_cmd)
app.command("cache")(cache_cmd)
app.command("update")(update_cmd)
app.command("retarget")(retarget_cmd)
app.command("export")(export_cmd)
app.command("import")(import_cmd)
app.registered_commands.sort(key=lambda command: COMMANDS.index(command.name or ""))


def _as_help(doc: str) -> str:
    """A docstring as help text: each paragraph's lines joined, so the terminal wraps it at its own width
    (typer keeps a docstring's line breaks, which wrap raggedly in any width but the source's)."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


for _command in app.registered_commands:
    if _command.help is None and _command.callback is not None and _command.callback.__doc__:
        _command.help = _as_help(_command.callback.__doc__)
