"""``skillforge status``: per skill, what the ledger says about production (see :mod:`skillforge.observe`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skillforge.environment import read_env
from skillforge.errors import ConfigurationError
from skillforge.format import Manifest, read_definition
from skillforge.observe import SkillStatus, compute_status, parse_window
from skillforge.observe.stream import parse_time
from skillforge.observe.summary import break_even_line, drift_lines, latency_rows, summary_rows
from skillforge.regress.suite import find_skills

SkillsArg = Annotated[list[Path] | None, typer.Argument(
    help="Skill directories, or folders to search (default: every skill in the ledger, with skills/ for "
    "their compiled expectations).")]
LedgerOpt = Annotated[list[Path] | None, typer.Option(
    "--ledger", help="Ledger file(s) to read (default: SKILLFORGE_LEDGER or .skillforge/ledger.jsonl).")]
WindowOpt = Annotated[str, typer.Option("--window", help="The recent window: 30m, 24h, 7d, 2w.")]
NowOpt = Annotated[str | None, typer.Option("--now", help="End the window at this ISO time (default: now).")]


def load_statuses(skills: list[Path] | None, ledgers: list[Path] | None, window: str,
                  now: str | None) -> tuple[list[SkillStatus], list[Path]]:
    """The statuses the ``status`` and ``report`` commands show, and the ledgers they were read from."""
    length = parse_window(window)
    try:
        until = parse_time(now) if now is not None else None
    except ValueError:
        raise ConfigurationError(f"--now {now!r} is not an ISO time (e.g. 2026-11-28T12:00:00+00:00)") from None
    dirs = find_skills(skills) if skills else find_skills(["skills"]) if Path("skills").is_dir() else []
    manifests: dict[str, Manifest | None] = {}
    for d in dirs:
        manifest = read_definition(d).manifest
        manifests[manifest.name] = manifest
    paths = ledgers or [read_env().ledger_path]
    statuses = compute_status(paths, manifests, only_given=bool(skills), window=length, window_text=window,
                              now=until)
    return statuses, paths


def print_status(console: Console, s: SkillStatus) -> None:
    """One skill's status as terminal tables."""
    console.rule(f"[bold]{escape(s.skill)}")
    expected = "-" if s.expected_student_share is None else f"{s.expected_student_share:.1%}"
    console.print(f"compiled student share {expected}; teacher-only priced as {escape(s.teacher_priced_as)}")
    table = Table("", "all time", f"last {escape(s.window)}")
    for row in summary_rows(s):
        table.add_row(*(escape(c) for c in row))
    console.print(table)
    latency = Table("model", "calls", "p50", "p95", title="latency (all time)")
    for cells in latency_rows(s):
        latency.add_row(*(escape(c) for c in cells))
    if latency.row_count:
        console.print(latency)
    console.print(escape(break_even_line(s)))
    for line in drift_lines(s):
        console.print(f"[red bold]{escape(line)}[/]" if s.drifting else escape(line), soft_wrap=True)


def status(
    skills: SkillsArg = None,
    ledger: LedgerOpt = None,
    window: WindowOpt = "7d",
    now: NowOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")] = False,
) -> None:
    """Per skill, from the ledger: calls, student share against the compiled share, escalations by
    reason, cost against teacher-only, break-even, latency per model, and drift in the recent window."""
    statuses, _ = load_statuses(skills, ledger, window, now)
    if json_out:
        typer.echo(json.dumps({"skills": [s.to_json() for s in statuses]}, indent=2))
        return
    console = Console()
    if not statuses:
        console.print("no skills and no run calls in the ledger")
    for s in statuses:
        print_status(console, s)
