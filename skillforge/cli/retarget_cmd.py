"""``skillforge retarget``: move committed skills to new models, keeping the reviewed prompt; old vs new side
by side, written only when not worse."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skillforge.cli.progress import RichProgress
from skillforge.environment import read_env
from skillforge.ledger import Ledger
from skillforge.models.base import run_sync
from skillforge.regress.suite import find_skills
from skillforge.spec import read_examples
from skillforge.update.retarget import RetargetReport, SuiteSide, aretarget_skill

#: Regressions listed by case before the rest are counted.
SHOWN_REGRESSIONS = 10


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _rows(b: SuiteSide, a: SuiteSide) -> list[tuple[str, str, str]]:
    return [
        ("student / teacher", f"{b.student} / {b.teacher}", f"{a.student} / {a.teacher}"),
        (f"regression suite accuracy ({a.cases} cases, no escalation)", f"{b.accuracy:.3f}", f"{a.accuracy:.3f}"),
        ("field score", f"{b.field_score:.3f}", f"{a.field_score:.3f}"),
        ("answered before the teacher", _num(b.answered_share, ".1%"), _num(a.answered_share, ".1%")),
        ("accepted precision", _num(b.accepted_precision, ".1%"), _num(a.accepted_precision, ".1%")),
        ("cost per 1,000 calls, list prices (USD)", _num(b.cost_per_1k, ".4f"), _num(a.cost_per_1k, ".4f")),
    ]


def print_retarget(out: Console, report: RetargetReport) -> None:
    """The side-by-side table, the regressions by case and the verdict."""
    table = Table("measure", "old", "new", title=f"{escape(str(report.path))}: old vs new on the regression suite")
    for row in _rows(report.before, report.after):
        table.add_row(*row)
    out.print(table)
    out.print(f"fitted on {report.calibration_cases} labelled cases; accuracy change {report.accuracy_change:+.3f} "
              f"(standard error {report.accuracy_change_se:.3f}); {len(report.regressions)} regressions, "
              f"{report.improvements} improvements")
    for change in report.regressions[:SHOWN_REGRESSIONS]:
        shown = [json.dumps(v, ensure_ascii=False) for v in (change.input, change.expected, change.old, change.new)]
        out.print(f"  case {change.case}: {shown[0]} expected {shown[1]}, old {shown[2]}, new {shown[3]}",
                  markup=False, highlight=False)
    if len(report.regressions) > SHOWN_REGRESSIONS:
        out.print(f"  ... {len(report.regressions) - SHOWN_REGRESSIONS} more")
    why = escape("; ".join(report.refusals))
    if report.status == "refused":
        out.print(f"[red]refused[/]: nothing written. {why}. The kept prompt does worse on "
                  f"{escape(report.after.student)}: recompile the skill for it (skillforge compile ... --student "
                  f"{escape(report.after.student)}), or write it anyway with --force.")
    elif report.status == "dry-run":
        out.print("dry run: nothing written" + (f" (the gate would refuse: {why})" if report.refusals else ""))
    else:
        forced = f" [yellow]forced[/] past: {why};" if report.status == "forced" else ""
        recorded = report.recorded
        suite = "" if recorded is None else (f" regression suite recorded for the new models: {recorded.passed}/"
                                             f"{recorded.cases} passed ({'ok' if recorded.ok else 'FAILING'})")
        out.print(f"written to {escape(str(report.path))};{forced}{suite}")


def retarget_cmd(
    skill_dirs: Annotated[list[Path], typer.Argument(help="Skill directories (a directory holding skills "
                                                     "retargets each of them).")],
    student: Annotated[str | None, typer.Option("--student", help="The new student model id.")] = None,
    teacher: Annotated[str | None, typer.Option("--teacher", help="The new teacher model id.")] = None,
    tier: Annotated[list[str] | None, typer.Option("--tier", help="A model tier behind the student "
                                                   "(repeatable; replaces the skill's).")] = None,
    second_opinion: Annotated[str | None, typer.Option("--second-opinion", help="The second opinion's model id "
                                                       "('student': the student's own).")] = None,
    examples: Annotated[Path | None, typer.Option("--examples", help="Further labelled examples to fit on "
                                                  "(JSON Lines of {input, expected}).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Write even when the regression gate refuses "
                                        "(recorded in provenance).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Measure and show; write nothing.")] = False,
) -> None:
    """Move skills to a new student or teacher without recompiling: the reviewed prompt, demos and schema
    are kept; the new model answers the skill's labelled examples (no teacher answer is bought again),
    confidence, thresholds and tiers are fitted again, and old vs new are compared on the regression suite.

    A skill is written only when not worse (suite accuracy at least the old less one standard error, and
    accepted precision at its target) or with --force; its cassettes are then recorded for the new models.
    Exit code 0 when every skill was written (or a dry run), 1 when any was refused, 2 on a usage error."""
    extra = [e for e in read_examples(examples) if e.expected is not None] if examples is not None else []
    err = Console(stderr=True)
    out = Console()
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(width=140)
    refused = False
    ledger = Ledger(read_env().ledger_path)
    for path in find_skills(skill_dirs):
        with RichProgress(err, enabled=err.is_terminal, transient=True) as progress:
            report = run_sync(aretarget_skill(path, student=student, teacher=teacher, tiers=tier,
                                              second_opinion=second_opinion, examples=extra, force=force,
                                              dry_run=dry_run, ledger=ledger, progress=progress))
        print_retarget(out, report)
        refused = refused or report.status == "refused"
    if refused:
        raise typer.Exit(1)
