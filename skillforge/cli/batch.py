"""``skillforge batch``: a skill over a JSON Lines file, crash-safe and resumable (engine:
:mod:`skillforge.batch`); this module only parses options and shows progress."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from skillforge.batch import BatchStats, BatchSummary, run_batch
from skillforge.cli.progress import RichProgress
from skillforge.skill import load_skill

err = Console(stderr=True)


class _RateColumn(ProgressColumn):
    """Inputs per second over rich's recent window (this run's inputs only)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- /s" if speed is None else f"{speed:.1f}/s", style="progress.data.speed")


class BatchProgress(RichProgress):
    """One bar: done/total, rate, ETA, failures, escalations and the running cost. Pass it as
    ``on_progress``."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        super().__init__(console, enabled=enabled, columns=(
            TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
            TextColumn("eta"), TimeRemainingColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[escalated]} escalated · {task.fields[failed]} failed · {task.fields[cost]}"),
        ))
        self._bar = self._progress.add_task("batch", total=None, escalated=0, failed=0, cost="$0.0000")
        self._seen = 0

    def __call__(self, stats: BatchStats) -> None:
        cost = "cost unknown" if stats.cost_usd is None else f"${stats.cost_usd:.4f}"
        if self._progress.tasks[0].total is None:
            # Inputs done by an earlier run are counted at once, without inflating the rate.
            self._progress.update(self._bar, total=stats.total, completed=stats.done)
        else:
            self._progress.advance(self._bar, stats.done - self._seen)
        self._seen = stats.done
        self._progress.update(self._bar, escalated=stats.escalated, failed=stats.failed, cost=cost)


def batch_cmd(
    skill_dir: Annotated[Path, typer.Argument(help="The skill directory, e.g. skills/NAME.")],
    inputs: Annotated[Path, typer.Argument(help="JSON Lines: one input object per line.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write one result line per input.")],
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Inputs in flight at once.")] = 4,
    id_field: Annotated[str | None, typer.Option(
        "--id-field", help="Input field holding each input's id (default: the line number).")] = None,
    teacher: Annotated[str | None, typer.Option("--teacher", help="Teacher model id (default: the skill's).")] = None,
    student: Annotated[str | None, typer.Option("--student", help="Student model id (default: the skill's).")] = None,
    no_escalate: Annotated[bool, typer.Option("--no-escalate", help="Never call the teacher.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse a skill whose files changed.")] = False,
) -> None:
    """Run a skill over every line of INPUTS, writing OUT (one line per input, in input order).

    Crash-safe: each finished input is recorded in OUT.journal; run the same command again after an
    interruption (even kill -9) and only the unfinished inputs run. Failed inputs are listed with
    their reason in OUT.failures.jsonl; run-time failures are retried by the next run, invalid inputs
    are not. Exit code 1 when some inputs failed.
    """
    skill = load_skill(skill_dir, strict=strict)
    with BatchProgress(err, enabled=err.is_terminal) as progress:
        summary = run_batch(skill, inputs, output, concurrency=concurrency, id_field=id_field, student=student,
                            teacher=teacher, escalate=not no_escalate, on_progress=progress)
    _report(summary)
    if summary.failed:
        raise typer.Exit(1)


def _report(s: BatchSummary) -> None:
    cost = "unknown" if s.cost_usd is None else f"${s.cost_usd:.4f}"
    err.print(f"{s.total} inputs: {s.skipped} done before, {s.answered} answered now ({s.escalated} escalated), "
              f"{s.failed} failed; cost of this run {cost}", highlight=False)
    err.print(f"results: [bold]{escape(str(s.paths.output))}[/]", highlight=False, soft_wrap=True)
    if s.failed:
        err.print(f"failures: [bold]{escape(str(s.paths.failures))}[/] (run-time failures are retried by "
                  "running the same command again)", highlight=False, soft_wrap=True)
