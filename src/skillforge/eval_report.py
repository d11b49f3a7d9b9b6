"""Showing an :class:`~skillforge.evaluate.EvalResult`: terminal tables and a risk-coverage SVG.

The plot is hand-written SVG (a polyline and a few labels): a chart this simple does not justify
matplotlib as a dependency, and SVG text diffs and renders everywhere, including on GitHub.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from rich.console import Console
from rich.table import Table

from skillforge.evaluate import STUDENT_REFERENCE, TEACHER_REFERENCE, EvalResult


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _usd(x: float | None) -> str:
    return "unknown" if x is None else f"${x:.4f}"


def print_eval(console: Console, r: EvalResult) -> None:
    """Student accuracy, risk-coverage, the threshold's operating point and costs per 1,000 calls."""
    console.rule(f"[bold]eval {r.skill!r} on {r.n} labelled cases")
    console.print(f"student {r.student}: accuracy {_pct(r.student_accuracy)} (field score "
                  f"{_pct(r.student_field_score)}); confidence AUROC "
                  f"{'-' if r.auroc is None else f'{r.auroc:.3f}'}")
    rc = Table(title="Risk-coverage: accuracy of the student's most confident answers", show_edge=False,
               min_width=64)
    for col in ("coverage", "answered", "accuracy"):
        rc.add_column(col, justify="right")
    for row in r.risk_coverage():
        rc.add_row(f"{row.coverage:.0%}", str(row.answered), _pct(row.accuracy))
    console.print(rc)
    op = Table(title=f"At the skill's threshold ({'none' if r.threshold is None else f'{r.threshold:.4f}'}, "
                     f"target precision {r.target_precision})", show_edge=False)
    op.add_column("measure")
    op.add_column("value", justify="right")
    op.add_row("share answered by the student", _pct(r.student_share))
    op.add_row("accuracy of accepted student answers", _pct(r.accepted_accuracy))
    if r.escalate:
        op.add_row(f"accuracy after escalation ({r.teacher})", _pct(r.final_accuracy))
    console.print(op)
    costs = r.costs_per_1k()
    ct = Table(title="Cost per 1,000 calls (list prices, token counts of the real prompts, no caching credit)",
               show_edge=False)
    ct.add_column("deployment")
    ct.add_column(f"student as {r.student}", justify="right")
    ct.add_column(f"student as {STUDENT_REFERENCE}", justify="right")
    ct.add_row("student only (no escalation)", _usd(costs["student_only"]), _usd(costs["student_only_as_haiku"]))
    if r.escalate:
        ct.add_row("student + escalation", _usd(costs["mix"]), _usd(costs["mix_student_as_haiku"]))
    teacher_name = TEACHER_REFERENCE if r.teacher_as_reference else r.teacher
    ct.add_row(f"teacher only ({teacher_name})", _usd(costs["teacher_only"]), _usd(costs["teacher_only"]))
    console.print(ct)
    what = ("instructions + input, no demos" if r.escalation_prompt == "lean"
            else "the student's prompt, demos included")
    console.print(f"escalations and teacher-only send the teacher the {r.escalation_prompt} prompt ({what})")
    if r.student_calls_per_input > 1:
        console.print(f"confidence by self-consistency: {r.student_calls_per_input} student calls per input, "
                      "all counted above")
    if r.teacher_simulated:
        console.print("[yellow]note:[/] the teacher is SIMULATED by the gold labels (always right); its cost is "
                      f"priced as {TEACHER_REFERENCE} on the real prompt's tokens.")
    elif r.escalate and r.teacher_as_reference:
        console.print(f"note: escalations were answered by the local teacher {r.teacher}; priced as "
                      f"{TEACHER_REFERENCE} for comparison.")


def risk_coverage_svg(r: EvalResult, *, width: int = 480, height: int = 320) -> str:
    """The full risk-coverage curve (every coverage from 1 to n answers) with the threshold's
    operating point and the target precision line."""
    left, right, top, bottom = 56, 16, 36, 44
    pw, ph = width - left - right, height - top - bottom
    order = sorted(range(r.n), key=lambda i: (r.cases[i].confidence is None, -(r.cases[i].confidence or 0.0), i))

    def x(cov: float) -> float:
        return left + cov * pw

    def y(acc: float) -> float:
        return top + (1.0 - acc) * ph

    pts, hits = [], 0
    for m, i in enumerate(order, start=1):
        hits += r.cases[i].correct
        pts.append(f"{x(m / r.n):.1f},{y(hits / m):.1f}")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:.0f}" y="18" text-anchor="middle" font-size="13">'
        f'{escape(r.skill)}: risk-coverage ({r.n} cases, student {escape(r.student)})</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>',
    ]
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{x(t):.1f}" y1="{top + ph}" x2="{x(t):.1f}" y2="{top + ph + 4}" stroke="#888"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{top + ph + 16}" text-anchor="middle">{t:.0%}</text>')
        parts.append(f'<line x1="{left - 4}" y1="{y(t):.1f}" x2="{left}" y2="{y(t):.1f}" stroke="#888"/>')
        parts.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:.0%}</text>')
    parts.append(f'<text x="{left + pw / 2:.0f}" y="{height - 8}" text-anchor="middle">coverage (share of inputs '
                 'the student answers, most confident first)</text>')
    parts.append(f'<text x="14" y="{top + ph / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + ph / 2:.0f})">accuracy of accepted answers</text>')
    tp = r.target_precision
    parts.append(f'<line x1="{left}" y1="{y(tp):.1f}" x2="{left + pw}" y2="{y(tp):.1f}" stroke="#c33" '
                 f'stroke-dasharray="4 3"/><text x="{left + pw - 4}" y="{y(tp) - 4:.1f}" text-anchor="end" '
                 f'fill="#c33">target {tp:.0%}</text>')
    if pts:
        parts.append(f'<polyline fill="none" stroke="#1f5fbf" stroke-width="2" points="{" ".join(pts)}"/>')
    acc = r.accepted_accuracy
    if r.student_share > 0 and acc is not None:
        parts.append(f'<circle cx="{x(r.student_share):.1f}" cy="{y(acc):.1f}" r="4" fill="#c33"/>'
                     f'<text x="{x(r.student_share) + 6:.1f}" y="{y(acc) + 14:.1f}">threshold: '
                     f'{r.student_share:.0%} answered, {acc:.0%} right</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_svg(r: EvalResult, path: str | Path) -> Path:
    """Write :func:`risk_coverage_svg` to ``path`` (directories created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(risk_coverage_svg(r), encoding="utf-8")
    return out
