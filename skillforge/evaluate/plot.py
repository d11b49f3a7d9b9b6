"""The risk-coverage plot of an :class:`~skillforge.evaluate.EvalResult`: a Plotly chart in one
self-contained HTML file (:mod:`skillforge.observe.charts`; the ``report`` extra)."""

from __future__ import annotations

from pathlib import Path

from skillforge.evaluate.result import EvalResult
from skillforge.observe.charts import BLUE, RED, Chart, Series, page
from skillforge.stats import confidence_order


def risk_coverage_chart(r: EvalResult) -> Chart:
    """The full risk-coverage curve (every coverage from 1 to n answers) with the threshold's
    operating point and the target precision line."""
    xs, ys, hits = [], [], 0
    for m, i in enumerate(confidence_order([c.confidence for c in r.cases]), start=1):
        hits += r.cases[i].correct
        xs.append(m / r.n)
        ys.append(hits / m)
    chart = Chart(f"{r.skill}: risk-coverage ({r.n} cases, student {r.student})",
                  [Series("accuracy of accepted answers", xs, ys, color=BLUE)],
                  x_title="coverage (share of inputs the student answers, most confident first)",
                  y_title="accuracy of accepted answers", y_range=(0, 1.05),
                  hlines=[(r.target_precision, f"target {r.target_precision:.0%}")])
    acc = r.accepted_accuracy
    if r.student_share > 0 and acc is not None:
        chart.series.append(Series("threshold", [r.student_share], [acc], kind="marker", color=RED,
                                   text=[f"threshold: {r.student_share:.0%} answered, {acc:.0%} right"]))
    return chart


def write_plot(r: EvalResult, path: str | Path) -> Path:
    """Write :func:`risk_coverage_chart` as a self-contained HTML page to ``path`` (directories created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(f"{r.skill}: risk-coverage", [risk_coverage_chart(r)]), encoding="utf-8")
    return out
