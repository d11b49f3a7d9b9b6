"""Showing an :class:`~skillforge.evaluate.evaluate.EvalResult` as terminal tables (the risk-coverage
chart of ``--plot`` is :mod:`skillforge.evaluate.plot`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from skillforge.cli.format import ESCALATION_PROMPTS, money, percent
from skillforge.evaluate import STUDENT_REFERENCE, TEACHER_REFERENCE, EvalResult


def print_eval(console: Console, r: EvalResult) -> None:
    """Student accuracy, risk-coverage, the threshold's operating point and costs per 1,000 calls."""
    console.rule(f"[bold]eval {r.skill!r} on {r.n} labelled cases")
    console.print(f"student {r.student}: accuracy {percent(r.student_accuracy)} (field score "
                  f"{percent(r.student_field_score)}); confidence AUROC "
                  f"{'-' if r.auroc is None else f'{r.auroc:.3f}'}")
    signals = r.signal_auroc()
    if signals:
        console.print("AUROC per signal: " + ", ".join(f"{k} {v:.3f}" for k, v in signals.items()))
    for signal, by_field in r.field_auroc().items():
        console.print(f"per-field AUROC of {signal}: " + ", ".join(f"{f} {a:.3f}" for f, a in by_field.items()))
    if not r.student_asked:
        console.print("[yellow]the skill does not ask its student:[/] its answers are measured here, never used "
                      "(every input the classifier does not answer goes straight to the teacher)")
    rc = Table(title="Risk-coverage: accuracy of the student's most confident answers", show_edge=False,
               min_width=64)
    for col in ("coverage", "answered", "accuracy"):
        rc.add_column(col, justify="right")
    for row in r.risk_coverage():
        rc.add_row(f"{row.coverage:.0%}", str(row.answered), percent(row.accuracy))
    console.print(rc)
    op = Table(title=f"At the skill's threshold ({'none' if r.threshold is None else f'{r.threshold:.4f}'}, "
                     f"target precision {r.target_precision})", show_edge=False)
    op.add_column("measure")
    op.add_column("value", justify="right")
    op.add_row("share answered before the teacher", percent(r.student_share))
    for tier, share in r.tier_shares().items():
        op.add_row(f"  answered by the {tier}", percent(share))
    op.add_row("accuracy of accepted student answers", percent(r.accepted_accuracy))
    if r.escalate:
        op.add_row(f"accuracy after escalation ({r.teacher})", percent(r.final_accuracy))
    console.print(op)
    costs = r.costs_per_1k()
    ct = Table(title="Cost per 1,000 calls (list prices, token counts of the real prompts, no caching credit)",
               show_edge=False)
    ct.add_column("deployment")
    ct.add_column(f"student as {r.student}", justify="right")
    ct.add_column(f"student as {STUDENT_REFERENCE}", justify="right")
    ct.add_row("student only (no escalation)", money(costs["student_only"]), money(costs["student_only_as_haiku"]))
    if r.escalate:
        ct.add_row("student + escalation", money(costs["mix"]), money(costs["mix_student_as_haiku"]))
    teacher_name = TEACHER_REFERENCE if r.teacher_as_reference else r.teacher
    ct.add_row(f"teacher only ({teacher_name})", money(costs["teacher_only"]), money(costs["teacher_only"]))
    console.print(ct)
    console.print(f"escalations send the teacher the {r.escalation_prompt} prompt "
                  f"({ESCALATION_PROMPTS.get(r.escalation_prompt, r.escalation_prompt)}); teacher-only sends every "
                  "input with the plain prompt")
    refusals = r.refusals
    if refusals["student"] or refusals["teacher"]:
        console.print(f"refusals (stop_reason 'refusal'): the student refused {refusals['student']} case(s), "
                      f"escalated like invalid answers; the teacher refused {refusals['teacher']}")
    if r.student_calls_per_input > 1:
        console.print(f"confidence by self-consistency: {r.student_calls_per_input} student calls per input, "
                      "all counted above")
    if r.teacher_simulated:
        console.print("[yellow]note:[/] the teacher is SIMULATED by the gold labels (always right); its cost is "
                      f"priced as {TEACHER_REFERENCE} on the real prompt's tokens.")
    elif r.escalate and r.teacher_as_reference:
        console.print(f"note: escalations were answered by the local teacher {r.teacher}; priced as "
                      f"{TEACHER_REFERENCE} for comparison.")
