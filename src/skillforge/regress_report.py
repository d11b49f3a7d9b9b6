"""Presenting regression results: baseline comparison, the terminal table and failing-case diffs, the
plain-text failure report (pytest, JUnit) and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from skillforge.errors import ConfigurationError
from skillforge.regress import (
    DEFAULT_TOLERANCE,
    RATE_EPSILON,
    SUMMARY_FIELDS,
    CaseFailure,
    SkillDelta,
    SkillResult,
    SuiteReport,
    meets,
)
from skillforge.report import ProgressBars


def load_report(path: str | Path) -> SuiteReport:
    """Read a ``--json`` result (e.g. for ``--baseline``). Raises :class:`ConfigurationError`."""
    try:
        return SuiteReport.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read baseline {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{path} is not a skillforge test --json result: {exc}") from None


#: Failing cases shown per skill in the terminal (``--json`` has all of them).
SHOW_CASES = 20
_VALUE_CHARS = 160


def compare_baseline(
    report: SuiteReport, baseline: SuiteReport, *, tolerance: float = DEFAULT_TOLERANCE
) -> list[SkillDelta]:
    """Per-skill changes against ``baseline`` (matched by name), by :func:`skill_delta`. Skills new in
    this run or missing from it are noted, not failed."""
    before = {s.name: s for s in baseline.skills}
    deltas = [skill_delta(now, before.pop(now.name, None), tolerance=tolerance) for now in report.skills]
    for old in before.values():
        deltas.append(SkillDelta(name=old.name, pass_rate_before=old.pass_rate, note="not in this run"))
    return deltas


def skill_delta(now: SkillResult, old: SkillResult | None, *, tolerance: float = DEFAULT_TOLERANCE) -> SkillDelta:
    """One skill against its baseline result (``None``: not in the baseline). A pass-rate drop of more
    than ``tolerance`` fails; cost (per pass over the cases, so runs with different ``--repeat``
    compare) is reported, not gated."""
    if old is None:
        return SkillDelta(name=now.name, pass_rate_after=now.pass_rate, note="not in the baseline")
    if old.error is not None or now.error is not None:
        return SkillDelta(name=now.name, ok=now.error is None, note="not compared: a run ended with an error")
    drop = old.pass_rate - now.pass_rate
    failed = drop > tolerance + RATE_EPSILON
    c_old, c_now = _per_pass(old), _per_pass(now)
    return SkillDelta(
        name=now.name, pass_rate_before=old.pass_rate, pass_rate_after=now.pass_rate,
        pass_rate_delta=round(-drop, 4), cost_before=c_old, cost_after=c_now,
        cost_delta=None if c_old is None or c_now is None else round(c_now - c_old, 8),
        ok=not failed,
        note=f"pass rate dropped by {drop:.3f} (tolerance {tolerance:g})" if failed else None,
    )


def _per_pass(result: SkillResult) -> float | None:
    return None if result.cost_usd is None else round(result.cost_usd / result.repeat, 8)


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS] + "…"


def _money(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"


def verdict(result: SkillResult) -> str:
    """One line: why the skill passed or failed."""
    if result.error is not None:
        return f"error: {result.error}"
    runs = result.cases * result.repeat
    rate_ok = meets(result.pass_rate, result.min_pass_rate)
    line = (f"pass rate {result.pass_rate:.3f} {'>=' if rate_ok else '<'} minimum {result.min_pass_rate:.3f} "
            f"({result.passed} of {runs} {'runs' if result.repeat > 1 else 'cases'} passed)")
    if result.min_field_score is not None:
        ok = meets(result.field_score, result.min_field_score)
        line += f"; field score {result.field_score:.3f} {'>=' if ok else '<'} minimum {result.min_field_score:.3f}"
    return line


def case_lines(failure: CaseFailure) -> list[str]:
    """A failing case: its input, then one line per differing field (or the error)."""
    runs = f" (failed {failure.failed_runs} of {failure.runs} runs)" if failure.runs > 1 else ""
    lines = [f"case {failure.case}{runs}: input {_value(failure.input)}"]
    if failure.error is not None:
        lines.append(f"    error: {failure.error}")
    for d in failure.diffs:
        lines.append(f"    {d.field}: got {_value(d.got)}, expected {_value(d.expected)}")
    return lines


def failure_text(result: SkillResult, delta: SkillDelta | None = None, *, limit: int | None = None) -> str:
    """Plain-text report of a skill's failures (pytest's failure section, JUnit failure bodies):
    the verdict, then each failing case with its field diffs; cases that failed only for want of a
    recording are summed up in one line per model (``--json`` keeps every case's message)."""
    lines = [f"skill {result.name!r} ({result.path}): {verdict(result)}"]
    if delta is not None and not delta.ok and delta.note:
        lines.append(f"against the baseline: {delta.note}")
    lines += [f"note: {n}" for n in result.notes]
    misses: dict[str, list[int]] = {}
    detailed = []
    for f in result.failures:
        if f.missing_recording is not None:
            misses.setdefault(f.missing_recording, []).append(f.case)
        else:
            detailed.append(f)
    shown = detailed if limit is None else detailed[:limit]
    for f in shown:
        lines += ["  " + line for line in case_lines(f)]
    if len(shown) < len(detailed):
        lines.append(f"  … and {len(detailed) - len(shown)} more failing cases")
    for model_id, cases in misses.items():
        numbers = ", ".join(map(str, cases[:10])) + (", …" if len(cases) > 10 else "")
        lines.append(f"  {len(cases)} cases have no recording for model {model_id} (cases {numbers}); "
                     f"replay never calls a model. Record them: skillforge test {result.path} --mode record")
    return "\n".join(lines)


class RichProgress(ProgressBars):
    """A rich progress bar, one task per skill; implements :class:`~skillforge.regress.ProgressSink`."""

    transient = True

    def start(self, name: str, total: int) -> None:
        self._task = self._progress.add_task(name, total=total)


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
            row: list[str | Text] = [r.name, str(r.cases), "-", f"{r.min_pass_rate:.3f}"]
            row += ["-"] * ((5 if has_k else 4) + (2 if has_fs else 0))
        else:
            rate = Text(f"{r.pass_rate:.3f}", style="green" if r.ok else "red")
            row = [r.name, str(r.cases), rate, f"{r.min_pass_rate:.3f}"]
            if has_fs:
                row += ["-", "-"] if r.min_field_score is None else [
                    Text(f"{r.field_score:.3f}", style="green" if r.ok else "red"), f"{r.min_field_score:.3f}"]
            row += [f"{r.pass_k:.3f}" if r.pass_k is not None else "-"] if has_k else []
            row += [f"{r.student_share:.0%}", str(r.escalations), _money(r.cost_usd), f"{r.tokens:,}"]
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
        for i, line in enumerate(failure_text(r, delta, limit=SHOW_CASES).splitlines()):
            style = "red" if failing and i == 0 else ("yellow" if "no recording" in line else None)
            console.print(Text(line, style=style or ""))
    passed = sum(r.ok and ((d := report.delta(r.name)) is None or d.ok) for r in report.skills)
    summary = f"{len(report.skills)} skills: {passed} passed, {len(report.skills) - passed} failed"
    console.print(Text(summary, style="bold green" if report.ok else "bold red"))


def junit_xml(report: SuiteReport) -> str:
    """JUnit XML: one testsuite, one testcase per skill; a failing skill's failure lists its cases."""
    errors = sum(r.error is not None for r in report.skills)
    failures = 0
    suite = ET.Element("testsuite", name="skillforge", tests=str(len(report.skills)))
    for r in report.skills:
        delta = report.delta(r.name)
        classname = "skillforge." + r.path.replace("/", ".")
        case = ET.SubElement(suite, "testcase", classname=classname, name=r.name, file=r.path)
        props = ET.SubElement(case, "properties")
        for key in SUMMARY_FIELDS:
            value = getattr(r, key)
            if value is not None:
                ET.SubElement(props, "property", name=key, value=str(value))
        if r.error is not None:
            ET.SubElement(case, "error", message=r.error, type="SkillError").text = failure_text(r)
        elif not r.ok or (delta is not None and not delta.ok):
            failures += 1
            message = verdict(r) if not r.ok else f"against the baseline: {delta.note if delta else ''}"
            failure = ET.SubElement(case, "failure", message=message, type="SkillRegression")
            failure.text = failure_text(r, delta)
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    root = ET.Element("testsuites", name="skillforge", tests=str(len(report.skills)), failures=str(failures),
                      errors=str(errors))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
