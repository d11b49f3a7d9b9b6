"""``skillforge status``: per skill, what the ledger says about production (see :mod:`skillforge.observe`), and
whether the models it pins are deprecated or retired (see :mod:`skillforge.models.lifecycle`)."""

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
from skillforge.models.lifecycle import LifecycleNotice, LifecycleTable, default_lifecycle_table, retired_error
from skillforge.observe import SkillStatus, compute_status, parse_window
from skillforge.observe.stream import parse_time
from skillforge.observe.summary import break_even_line, drift_lines, latency_rows, summary_rows
from skillforge.regress.suite import display_path, find_skills
from skillforge.run.pinned import pinned_models

SkillsArg = Annotated[list[Path] | None, typer.Argument(
    help="Skill directories, or folders to search (default: every skill in the ledger, with skills/ for "
    "their compiled expectations).")]
LedgerOpt = Annotated[list[Path] | None, typer.Option(
    "--ledger", help="Ledger file(s) to read (default: SKILLFORGE_LEDGER or .skillforge/ledger.jsonl).")]
WindowOpt = Annotated[str, typer.Option("--window", help="The recent window: 30m, 24h, 7d, 2w.")]
NowOpt = Annotated[str | None, typer.Option("--now", help="End the window at this ISO time (default: now).")]


def find_manifests(skills: list[Path] | None) -> dict[str, tuple[Path, Manifest]]:
    """Skill name -> (directory, manifest) of the skills under ``skills`` (default: ``skills/``, if there)."""
    dirs = find_skills(skills) if skills else find_skills(["skills"]) if Path("skills").is_dir() else []
    return {m.name: (d, m) for d in dirs for m in [read_definition(d).manifest]}


def load_statuses(skills: list[Path] | None, ledgers: list[Path] | None, window: str, now: str | None, *,
                  found: dict[str, tuple[Path, Manifest]] | None = None) -> tuple[list[SkillStatus], list[Path]]:
    """The statuses the ``status`` and ``report`` commands show, and the ledgers they were read from
    (``found``: the skills' :func:`find_manifests`, when already read)."""
    length = parse_window(window)
    try:
        until = parse_time(now) if now is not None else None
    except ValueError:
        raise ConfigurationError(f"--now {now!r} is not an ISO time (e.g. 2026-11-28T12:00:00+00:00)") from None
    found = found if found is not None else find_manifests(skills)
    manifests: dict[str, Manifest | None] = {name: m for name, (_, m) in found.items()}
    paths = ledgers or [read_env().ledger_path]
    statuses = compute_status(paths, manifests, only_given=bool(skills), window=length, window_text=window,
                              now=until)
    return statuses, paths


def model_notices(s: SkillStatus, table: LifecycleTable | None = None) -> list[LifecycleNotice]:
    """The deprecated or retired models the skill's manifest pins, judged on the day its window ends (``--now``,
    else today); none for a skill known only from the ledger."""
    if s.manifest is None:
        return []
    table = table if table is not None else default_lifecycle_table()
    return table.notices(pinned_models(s.manifest), today=s.until.date())


def print_status(console: Console, s: SkillStatus, notices: list[LifecycleNotice] | None = None,
                 skill_dir: str | None = None) -> None:
    """One skill's status as terminal tables, then a line per deprecated (yellow) or retired (red) model
    (``skill_dir``: where the skill is, for the retarget command line)."""
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
    for n in notices or []:
        style = "red bold" if n.state == "retired" else "yellow"
        console.print(f"[{style}]{n.state.upper()}: {escape(n.message(s.skill, skill_dir))}[/]", soft_wrap=True)


def status(
    skills: SkillsArg = None,
    ledger: LedgerOpt = None,
    window: WindowOpt = "7d",
    now: NowOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")] = False,
) -> None:
    """Per skill, from the ledger: calls, student share against the compiled share, escalations by
    reason, cost against teacher-only, break-even, latency per model, and drift in the recent window; and
    each model the skill pins that is deprecated (a warning) or retired (an error, exit code 2), with the
    model to retarget to."""
    found = find_manifests(skills)
    statuses, _ = load_statuses(skills, ledger, window, now, found=found)
    notices = {s.skill: model_notices(s) for s in statuses}
    dirs = {name: display_path(d) for name, (d, _) in found.items()}
    if json_out:
        typer.echo(json.dumps({"skills": [{**s.to_json(), "model_lifecycle": [n.to_json() for n in notices[s.skill]]}
                                          for s in statuses]}, indent=2))
    else:
        console = Console()
        if not statuses:
            console.print("no skills and no run calls in the ledger")
        for s in statuses:
            print_status(console, s, notices[s.skill], dirs.get(s.skill))
    # Everything is shown first; then a retired model fails the command (main prints it, exit code 2).
    for s in statuses:
        error = retired_error(notices[s.skill], s.skill, dirs.get(s.skill))
        if error is not None:
            raise error
