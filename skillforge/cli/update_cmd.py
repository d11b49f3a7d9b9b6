"""``skillforge update``: fold a skill's escalations into it, recompile, show before/after and the diff."""

from __future__ import annotations

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
from skillforge.spec import read_examples
from skillforge.update import DEFAULT_HOLDOUT, DEFAULT_TOLERANCE, Snapshot, UpdateReport, aupdate_skill

#: Diff lines shown before the rest is summarised (--diff-lines).
DEFAULT_DIFF_LINES = 200


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def _rows(b: Snapshot, a: Snapshot) -> list[tuple[str, str, str]]:
    return [
        ("dev score (compile-time dev set)", f"{b.dev_score:.3f} (n={b.dev_size})",
         f"{a.dev_score:.3f} (n={a.dev_size})"),
        ("regression pass rate, old cases", _num(b.old_cases.pass_rate), _num(a.old_cases.pass_rate)),
        ("regression field score, old cases", _num(b.old_cases.field_score), _num(a.old_cases.field_score)),
        (f"regression pass rate, all {a.all_cases.cases} cases", _num(b.all_cases.pass_rate),
         _num(a.all_cases.pass_rate)),
        ("regression field score, all cases", _num(b.all_cases.field_score), _num(a.all_cases.field_score)),
        ("answered before the teacher, all cases", _num(b.all_cases.answered_share, ".1%"),
         _num(a.all_cases.answered_share, ".1%")),
        ("expected student share (calibrated)", _num(b.expected_student_share, ".1%"),
         _num(a.expected_student_share, ".1%")),
        ("cost per 1,000 calls (USD)", _num(b.cost_per_1k, ".4f"), _num(a.cost_per_1k, ".4f")),
        ("demos (from escalations)", f"{b.demos} ({b.escalation_demos})", f"{a.demos} ({a.escalation_demos})"),
        ("regression cases", str(b.regression_cases), str(a.regression_cases)),
    ]


def print_update(out: Console, report: UpdateReport, *, diff_lines: int = DEFAULT_DIFF_LINES) -> None:
    """The fold, the before/after table, the diff of the skill files and the verdict."""
    plan = report.plan
    out.print(f"{escape(str(report.path))}: {len(plan.train)} escalations as demo-pool/calibration candidates, "
              f"{len(plan.holdout)} held out as new regression cases, {len(plan.duplicates)} duplicates of "
              f"regression cases or demos set aside, {plan.skipped} skipped (already folded, not from the "
              "teacher, or invalid)")
    if report.before is None or report.after is None:
        out.print("nothing to fold: the skill is unchanged")
        return
    table = Table("measure", "before", "after", title="before / after (skill's own answers, no escalation)")
    for row in _rows(report.before, report.after):
        table.add_row(*row)
    out.print(table)
    shown = report.diff[:diff_lines]
    out.print("".join(shown), markup=False, highlight=False, end="")
    if len(report.diff) > len(shown):
        out.print(f"... {len(report.diff) - len(shown)} more diff lines (--diff-lines)")
    if report.status == "refused":
        out.print("[red]refused[/]: nothing written. " + escape("; ".join(report.refusals)))
    elif report.status == "dry-run":
        out.print("dry run: nothing written")
    else:
        out.print(f"written to {escape(str(report.path))}; re-record its cassettes: "
                  f"skillforge test {escape(str(report.path))} --mode record")


def update_cmd(
    skill_dir: Annotated[Path, typer.Argument(help="The skill directory, e.g. skills/NAME.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Recompile and show what would change; "
                                          "write nothing.")] = False,
    tolerance: Annotated[float, typer.Option("--tolerance", min=0.0, help="Largest allowed drop in "
                                             "regression pass rate or field score.")] = DEFAULT_TOLERANCE,
    holdout: Annotated[float, typer.Option("--holdout", min=0.0, max=0.95, help="Share of new escalations "
                                           "held out as new regression cases.")] = DEFAULT_HOLDOUT,
    examples: Annotated[Path | None, typer.Option("--examples", help="Further labelled training examples "
                                                  "(JSON Lines of {input, expected}).")] = None,
    teacher: Annotated[str | None, typer.Option("--teacher", help="Teacher model id (default: the skill's).")] = None,
    student: Annotated[str | None, typer.Option("--student", help="Student model id (default: the skill's).")] = None,
    diff_lines: Annotated[int, typer.Option("--diff-lines", min=0, help="Diff lines to show.")] = DEFAULT_DIFF_LINES,
) -> None:
    """Fold the skill's teacher-verified escalations into it (demos, calibration, new regression cases),
    recompile with its stored options, and write it unless its regression cases got worse.

    Exit code 0 when written (or a dry run, or nothing to fold), 1 when refused, 2 on a usage error."""
    extra = [e for e in read_examples(examples) if e.expected is not None] if examples is not None else []
    err = Console(stderr=True)
    with RichProgress(err, enabled=err.is_terminal, transient=True) as progress:
        report = run_sync(aupdate_skill(skill_dir, teacher=teacher, student=student, examples=extra,
                                        tolerance=tolerance, holdout_fraction=holdout, dry_run=dry_run,
                                        ledger=Ledger(read_env().ledger_path), progress=progress))
    out = Console()
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(width=120)
    print_update(out, report, diff_lines=diff_lines)
    if report.status == "refused":
        raise typer.Exit(1)
