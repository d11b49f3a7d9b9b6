"""The risk-coverage plot of an :class:`~skillforge.evaluate.EvalResult` as SVG.

The plot is hand-written SVG (a polyline and a few labels): a chart this simple does not justify
matplotlib as a dependency, and SVG text diffs and renders everywhere, including on GitHub.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from skillforge.evaluate.result import EvalResult


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
