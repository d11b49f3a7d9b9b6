"""``skillforge report``: one self-contained HTML file per set of skills (see :mod:`skillforge.observe.charts`).

Per skill: the status table, drift and break-even, then charts -- inputs and the student's share over
time against the compiled share, cumulative cost against the teacher-only counterfactual, escalation
reasons, latency per model, and from the compile metrics the risk-coverage curve and the candidates.
Regression results (``skillforge test --json``) add a table and a pass-rate chart.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from skillforge.errors import ConfigurationError
from skillforge.format import check_creatable
from skillforge.observe.charts import BLUE, GREEN, GREY, ORANGE, RED, Chart, Series, page, table
from skillforge.observe.status import HOUR, SkillStatus
from skillforge.observe.summary import break_even_line, drift_lines, latency_rows, summary_rows
from skillforge.run.drift import REASONS
from skillforge.textfiles import write_atomic

#: Beyond this many hours of traffic the time charts use days.
DAILY_AFTER_HOURS = 72


def _buckets(s: SkillStatus) -> list[tuple[str, float, float, float]]:
    """(period start, inputs, answered before the teacher, cost), hourly or daily."""
    hours = sorted(s.hourly)
    if not hours:
        return []
    step = 24 if hours[-1] - hours[0] > DAILY_AFTER_HOURS else 1
    merged: dict[int, list[float]] = {}
    for h in hours:
        b = merged.setdefault(h - h % step, [0, 0, 0.0])
        for i, v in enumerate(s.hourly[h]):
            b[i] += v
    fmt = "%Y-%m-%d" if step == 24 else "%Y-%m-%d %H:00"
    return [(datetime.fromtimestamp(k * HOUR, UTC).strftime(fmt), *v) for k, v in sorted(merged.items())]  # type: ignore[misc]


def traffic_chart(s: SkillStatus) -> Chart:
    rows = _buckets(s)
    x = [r[0] for r in rows]
    chart = Chart(f"{s.skill}: inputs and student share over time", [
        Series("inputs", x, [r[1] for r in rows], kind="bar", color=GREY),
        Series("student share", x, [r[2] / r[1] if r[1] else None for r in rows], color=BLUE, axis="y2"),
    ], x_title="time (UTC)", y_title="inputs", y2_title="student share")
    if s.expected_student_share is not None:
        chart.series.append(Series("compiled share", [x[0], x[-1]] if x else [], [s.expected_student_share] * 2
                                   if x else [], color=RED, dash="dash", axis="y2"))
    return chart


def cost_chart(s: SkillStatus) -> Chart:
    rows = _buckets(s)
    unit = s.all_time.teacher_only_per_input or 0.0
    start = s.compile_cost if s.compile_calls else 0.0
    cost, counterfactual, xs, ys, zs = start, 0.0, [], [], []
    for when, inputs, _, spent in rows:
        cost += spent
        counterfactual += inputs * unit
        xs.append(when)
        ys.append(cost)
        zs.append(counterfactual)
    label = "cost incl. compile" if s.compile_calls else "cost"
    return Chart(f"{s.skill}: cumulative cost vs teacher-only ({s.teacher_priced_as})", [
        Series(label, xs, ys, color=BLUE), Series("teacher-only", xs, zs, color=RED, dash="dot"),
    ], x_title="time (UTC)", y_title="US dollars")


def escalation_chart(s: SkillStatus) -> Chart:
    names = [r.replace("_", " ") for r in REASONS]
    return Chart(f"{s.skill}: escalations by reason", [
        Series("all time", names, [s.all_time.escalations[r] for r in REASONS], kind="bar", color=GREY),
        Series(f"last {s.window}", names, [s.recent.escalations[r] for r in REASONS], kind="bar", color=ORANGE),
    ], y_title="inputs", x_is_category=True)


def latency_chart(s: SkillStatus) -> Chart:
    models = sorted(s.all_time.latency)
    hists = [s.all_time.latency[m] for m in models]
    return Chart(f"{s.skill}: latency per model (all time)", [
        Series("p50", models, [h.quantile(0.5) for h in hists], kind="bar", color=BLUE),
        Series("p95", models, [h.quantile(0.95) for h in hists], kind="bar", color=RED),
    ], y_title="seconds", x_is_category=True)


def compile_charts(s: SkillStatus) -> list[Chart | str]:
    """The risk-coverage curve and the candidates from the skill's compile metrics."""
    if s.manifest is None:
        return ['<p class="note">No skill directory given: compile metrics are not shown.</p>']
    m, settings = s.manifest.metrics, s.manifest.settings
    out: list[Chart | str] = []
    if m.risk_coverage:
        rc = Chart(f"{s.skill}: risk-coverage at compile time ({m.calibration_size or m.dev_size} cases)", [
            Series("accuracy of accepted answers", [p.coverage for p in m.risk_coverage],
                   [p.accuracy for p in m.risk_coverage], color=BLUE)],
            x_title="coverage (most confident first)", y_title="accuracy", y_range=(0, 1.05),
            hlines=[(settings.target_precision, f"target {settings.target_precision:.0%}")])
        if settings.expected_student_share is not None and m.accepted_precision is not None:
            rc.series.append(Series("threshold", [settings.expected_student_share], [m.accepted_precision],
                                    kind="marker", color=RED, text=["threshold"]))
        out.append(rc)
    else:
        out.append('<p class="note">This skill was compiled before the risk-coverage curve was recorded; '
                   "recompile it, or run <code>skillforge eval --plot</code>.</p>")
    if m.candidates:
        out.append(Chart(f"{s.skill}: candidates (dev score; chosen: {m.chosen})", [
            Series("dev score", [c.name for c in m.candidates], [c.dev_score for c in m.candidates], kind="bar",
                   color=GREEN, text=["chosen" if c.name == m.chosen else "" for c in m.candidates])],
            y_title="dev score", y_range=(0, 1.05), x_is_category=True))
    return out


def skill_section(s: SkillStatus) -> list[Chart | str]:
    head = (f'<h2 id="{html.escape(s.skill)}">{html.escape(s.skill)}</h2>'
            f'<p>compiled student share: {_pct(s.expected_student_share)}; {html.escape(break_even_line(s))}</p>')
    marks = "".join(f'<p class="{"drift" if s.drifting else "ok"}">{html.escape(line)}</p>' for line in drift_lines(s))
    tables = (table(("", "all time", f"last {s.window}"), summary_rows(s))
              + table(("model", "calls", "p50", "p95"), latency_rows(s)))
    charts: list[Chart | str] = [traffic_chart(s), cost_chart(s), escalation_chart(s), latency_chart(s)]
    return [head, marks, tables, '<div class="grid">', *charts, *compile_charts(s), "</div>"]


def tests_section(results: Sequence[Mapping[str, Any]]) -> list[Chart | str]:
    """Regression results: one row and one bar per skill of a ``skillforge test --json`` file."""
    rows = [(r.get("name"), r.get("cases"), _pct(r.get("pass_rate")), _pct(r.get("min_pass_rate")),
             _pct(r.get("student_share")), "pass" if r.get("ok") else "FAIL") for r in results]
    names = [str(r.get("name")) for r in results]
    return ["<h2>Regression results</h2>",
            table(("skill", "cases", "pass rate", "minimum", "student share", "gate"), rows),
            Chart("regression pass rate per skill", [
                Series("pass rate", names, [float(r.get("pass_rate") or 0.0) for r in results], kind="bar",
                       color=GREEN),
                Series("minimum", names, [float(r.get("min_pass_rate") or 0.0) for r in results], kind="bar",
                       color=GREY)], y_title="share of cases", y_range=(0, 1.05), x_is_category=True)]


def _pct(x: object) -> str:
    return f"{x:.1%}" if isinstance(x, int | float) else "-"


def render_report(statuses: Sequence[SkillStatus], *, tests: Sequence[Mapping[str, Any]] | None = None,
                  ledgers: Sequence[str | Path] = ()) -> str:
    """The whole report as one self-contained HTML document."""
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sources = ", ".join(html.escape(str(p)) for p in ledgers) or "-"
    blocks: list[Chart | str] = [
        "<h1>skillforge report</h1>",
        f'<p class="note">Generated {made} from {sources}. Costs at list prices; teacher-only prices every '
        "input as one call to the teacher. Drift: the recent window against the compiled expectation "
        "(Wilson interval and a 5-point minimum effect).</p>",
    ]
    if not statuses:
        blocks.append("<p>No skills and no run calls in the ledger.</p>")
    for s in statuses:
        blocks += skill_section(s)
    if tests:
        blocks += tests_section(tests)
    return page("skillforge report", blocks)


def check_report_destination(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` if a report can be written there, else
    :class:`~skillforge.errors.ConfigurationError` naming what is wrong: it is a directory, or its
    nearest existing parent is not a writable directory. Checked before the ledger is read."""
    out = Path(path)
    if out.is_dir():
        raise ConfigurationError(f"cannot write the report to {out}: it is a directory; give a file path, "
                                 f"e.g. {out / 'report.html'}")
    check_creatable(out, "the report")
    return out


def write_report(path: str | Path, statuses: Sequence[SkillStatus], **kw: Any) -> Path:
    """Write :func:`render_report` to ``path`` (directories created), replacing it whole: a failed
    write leaves the previous report as it was. :class:`~skillforge.errors.ConfigurationError` when it
    cannot be written (see :func:`check_report_destination`; the ``OSError`` is its cause)."""
    out = check_report_destination(path)
    text = render_report(statuses, **kw)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, text)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the report to {out}: {exc.strerror or exc}") from exc
    return out
