"""``skillforge report``: the status of skills as one self-contained HTML file with charts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from skillforge.cli.status_cmd import LedgerOpt, NowOpt, SkillsArg, WindowOpt, load_statuses
from skillforge.errors import ConfigurationError
from skillforge.observe.report import check_report_destination, write_report
from skillforge.regress import load_report


def report(
    skills: SkillsArg = None,
    out: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")] = Path("report.html"),
    ledger: LedgerOpt = None,
    window: WindowOpt = "7d",
    now: NowOpt = None,
    tests: Annotated[Path | None, typer.Option(
        "--tests", help="A `skillforge test --json` results file to include.")] = None,
) -> None:
    """Write one HTML file (opens offline) with, per skill: traffic and student share over time, cost vs
    teacher-only, escalation reasons, latency, drift, and the compile metrics' risk-coverage curve and
    candidates; with --tests, the regression results."""
    check_report_destination(out)  # before the ledger is read
    try:
        results = load_report(tests).skills if tests is not None else None
    except ConfigurationError as exc:  # its message speaks of a baseline
        raise ConfigurationError(f"--tests: {str(exc).replace('cannot read baseline', 'cannot read')}") from None
    statuses, paths = load_statuses(skills, ledger, window, now)
    path = write_report(out, statuses, tests=[r.model_dump() for r in results] if results else None, ledgers=paths)
    Console(stderr=True).print(f"report written to [bold]{escape(str(path))}[/]")
