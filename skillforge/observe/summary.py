"""A :class:`~skillforge.observe.status.SkillStatus` as rows of text, shared by the terminal
(``skillforge status``) and the HTML report, so both say the same thing in the same words."""

from __future__ import annotations

from skillforge.observe.status import SkillStatus
from skillforge.observe.tally import Tally
from skillforge.run.drift import REASONS


def money(x: float | None) -> str:
    """``$1.2345`` (4 decimals under a dollar, else 2); ``-`` when unknown."""
    if x is None:
        return "-"
    return f"-${-x:,.4f}" if -1 < x < 0 else f"${x:,.4f}" if abs(x) < 1 else f"${x:,.2f}"


def share(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _cost(t: Tally) -> str:
    return money(t.cost) + (f" (+{t.unpriced_calls} unpriced calls)" if t.unpriced_calls else "")


def summary_rows(s: SkillStatus) -> list[tuple[str, str, str]]:
    """(what, all time, recent window) rows: traffic, share, escalations, cost and saving."""
    a, r = s.all_time, s.recent
    rows = [
        ("model calls", str(a.calls), str(r.calls)),
        ("inputs", str(a.inputs), str(r.inputs)),
        ("student share (answered before the teacher)", share(a.student_share), share(r.student_share)),
    ]
    if a.by_classifier:
        rows.append(("  of which by the classifier tier", str(a.by_classifier), str(r.by_classifier)))
    if a.by_tiers:
        rows.append(("  of which by model tiers behind the student", str(a.by_tiers), str(r.by_tiers)))
    ea, er = a.escalations, r.escalations
    rows += [(f"escalated: {reason.replace('_', ' ')}", str(ea[reason]), str(er[reason])) for reason in REASONS]
    rows += [
        ("cost", _cost(a), _cost(r)),
        (f"teacher-only ({s.teacher_priced_as})", money(a.teacher_only), money(r.teacher_only)),
        ("saving", money(a.saving), money(r.saving)),
    ]
    return rows


def latency_rows(s: SkillStatus) -> list[tuple[str, str, str, str]]:
    """(model, calls, p50, p95) over all time."""
    out = []
    for model, h in sorted(s.all_time.latency.items()):
        p50, p95 = h.quantile(0.5), h.quantile(0.95)
        out.append((model, str(h.n), "-" if p50 is None else f"{p50:.3f}s", "-" if p95 is None else f"{p95:.3f}s"))
    return out


def break_even_line(s: SkillStatus) -> str:
    """``compiled for $0.42; paid back on 2026-11-20`` or ``... ~1,234 more inputs to pay back``."""
    b = s.break_even()
    if b.compile_cost is None:
        return f"break-even: unknown ({b.note})"
    head = f"compiled for {money(b.compile_cost)} ({s.compile_calls} calls)"
    if b.paid_back_on is not None:
        return f"{head}; paid back on {b.paid_back_on}"
    if b.inputs_to_go is not None:
        return (f"{head}; about {b.inputs_to_go:,} more inputs to pay back at {money(b.saving_per_input)} "
                "saved per input")
    return f"{head}; not paid back: {b.note}"


def drift_lines(s: SkillStatus) -> list[str]:
    """One line per drifting rate, or why nothing was tested, or that nothing drifts."""
    window = f"window {s.window} ({s.since:%Y-%m-%d %H:%M} to {s.until:%Y-%m-%d %H:%M} UTC, {s.recent.inputs} inputs)"
    if not s.drift:
        return [f"drift: not tested, {window}: too few inputs or no compiled expectation"]
    if not s.drifting:
        return [f"drift: none, {window}: " + "; ".join(t.describe() for t in s.drift)]
    return [f"DRIFT, {window}: " + t.describe() for t in s.drifting]
