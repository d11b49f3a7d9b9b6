"""Regression results as plain text: the verdict line, failing cases with field diffs (pytest's failure
section, JUnit failure bodies), and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from skillforge.regress.results import SUMMARY_FIELDS, CaseFailure, SkillDelta, SkillResult, SuiteReport, meets

#: Failing cases shown per skill in the terminal (``--json`` has all of them).
SHOW_CASES = 20
_VALUE_CHARS = 160


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS] + "…"


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
    if result.refusals:
        line += f"; {result.refusals} refused call{'s' if result.refusals != 1 else ''}"
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
