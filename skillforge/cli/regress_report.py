"""Regression results in the terminal: a table row per skill, then failing cases with field diffs."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from skillforge.cli.format import money
from skillforge.regress import SkillDelta, SuiteReport, failure_text
from skillforge.regress.text import SHOW_CASES


def _delta_cells(delta: SkillDelta | None) -> list[str | Text]:
    if delta is None or delta.pass_rate_delta is None:
        return ["-" if delta is None else (delta.note or "-"), "-"]
    style = "green" if delta.ok else "red"
    cost = "-" if delta.cost_delta is None else f"{delta.cost_delta:+.4f}"
    return [Text(f"{delta.pass_rate_delta:+.3f}", style=style), cost]


def print_report(console: Console, report: SuiteReport, *, verbose: bool = False) -> None:
    """The summary table (a row per skill), then failing cases with field-level diffs: every failing
    case of a failing skill (up to :data:`SHOW_CASES`); of passing skills only with ``verbose``."""
    has_k = report.repeat > 1
    has_base = report.baseline is not None
    title = f"skillforge test: mode {report.mode}" + ("" if report.escalate else ", no escalation")
    if has_k:
        title += f", {report.repeat} runs per case"
    table = Table(title=title, show_edge=False)
    has_fs = any(r.min_field_score is not None for r in report.skills)
    cols = ["skill", "cases", "pass rate", "min"] + (["field score", "min fs"] if has_fs else [])
    cols += ["pass^K"] if has_k else []
    cols += ["student", "escalated", "cost", "tokens"]
    cols += ["Δ pass", "Δ cost"] if has_base else []
    for c in [*cols, "result"]:
        table.add_column(c, justify="left" if c in ("skill", "result") else "right", no_wrap=c == "skill")
    for r in report.skills:
        delta = report.delta(r.name)
        ok = r.ok and (delta is None or delta.ok)
        status = Text("PASS", style="bold green") if ok else Text(
            "ERROR" if r.error else "FAIL", style="bold red")
        if r.error is not None:
            # Names are Text, never markup: an unreadable skill is named after its directory, which can be anything.
            row: list[str | Text] = [Text(r.name), str(r.cases), "-", f"{r.min_pass_rate:.3f}"]
            row += ["-"] * ((5 if has_k else 4) + (2 if has_fs else 0))
        else:
            rate = Text(f"{r.pass_rate:.3f}", style="green" if r.ok else "red")
            row = [Text(r.name), str(r.cases), rate, f"{r.min_pass_rate:.3f}"]
            if has_fs:
                row += ["-", "-"] if r.min_field_score is None else [
                    Text(f"{r.field_score:.3f}", style="green" if r.ok else "red"), f"{r.min_field_score:.3f}"]
            row += [f"{r.pass_k:.3f}" if r.pass_k is not None else "-"] if has_k else []
            row += [f"{r.student_share:.0%}", str(r.escalations), money(r.cost_usd), f"{r.tokens:,}"]
        row += _delta_cells(delta) if has_base else []
        table.add_row(*row, status)
    console.print(table)
    for r in report.skills:
        delta = report.delta(r.name)
        failing = not r.ok or (delta is not None and not delta.ok)
        if not failing and not verbose:
            for n in r.notes:
                console.print(Text(f"{r.name}: note: {n}", style="yellow"))
            if r.failures:
                console.print(Text(f"{r.name}: {len(r.failures)} failing cases, within the minimum "
                                   "(details: --json FILE or -v)", style="dim"))
            continue
        console.rule(Text(f"{r.name} ({r.path})", style="bold red" if failing else "bold"))
        for i, line in enumerate(failure_text(r, delta, limit=SHOW_CASES).split("\n")):
            style = "red" if failing and i == 0 else ("yellow" if "no recording" in line else None)
            console.print(Text(line, style=style or ""))
    passed = sum(r.ok and ((d := report.delta(r.name)) is None or d.ok) for r in report.skills)
    summary = f"{len(report.skills)} skills: {passed} passed, {len(report.skills) - passed} failed"
    console.print(Text(summary, style="bold green" if report.ok else "bold red"))


