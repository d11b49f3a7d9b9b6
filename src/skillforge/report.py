"""Terminal output for compilation: a rich progress bar and the end-of-compile report."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from skillforge.ledger import Ledger

if TYPE_CHECKING:
    from skillforge.skill import Skill


class ProgressBars:
    """Rich progress bars, one task at a time; a no-op when disabled. Subclasses name the steps."""

    transient = False

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=self.transient, disable=not enabled,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        self._progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def advance(self) -> None:
        if self._task is not None:
            self._progress.advance(self._task)


class CompileProgress(ProgressBars):
    """One progress bar per compile stage, kept on screen when done."""

    def stage(self, description: str, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[-1].total)
        self._task = self._progress.add_task(description, total=max(total, 0))


def _money(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"


def print_compile_report(
    console: Console, skill: Skill, ledger: Ledger, *, teacher_demo_drops: int, pool_size: int,
    same_model: bool,
) -> None:
    """Tokens and cost per role, every candidate's dev score, the choice, threshold and share."""
    m, s, p = skill.manifest.metrics, skill.settings, skill.manifest.provenance
    console.print()
    console.rule(f"[bold]compiled skill {skill.name!r}")
    usage = Table(title="Model calls during compilation", show_edge=False)
    for col in ("role", "model", "calls", "input tok", "output tok", "cache read tok", "cost"):
        usage.add_column(col, justify="right" if col not in ("role", "model") else "left")
    calls: dict[tuple[str, str], int] = {}
    for e in ledger.entries:
        if e.skill == skill.name and e.phase == "compile":
            calls[(e.role, e.model_id)] = calls.get((e.role, e.model_id), 0) + 1
    for (role, model), (u, cost) in sorted(ledger.totals().items()):
        if (role, model) not in calls:
            continue
        usage.add_row(role, model, str(calls[(role, model)]), f"{u.input_tokens:,}", f"{u.output_tokens:,}",
                      f"{u.cache_read_input_tokens:,}", _money(cost))
    console.print(usage)

    cands = Table(title=f"Candidates on the dev set ({m.dev_size} cases, student {p.student})", show_edge=False)
    for col in ("candidate", "instructions", "demos", "dev score", "dev accuracy", "mean confidence"):
        cands.add_column(col, justify="left" if col in ("candidate", "instructions") else "right")
    for c in m.candidates:
        mark = " [green]<- chosen" if c.name == m.chosen else ""
        conf = "-" if c.mean_confidence is None else f"{c.mean_confidence:.3f}"
        cands.add_row(c.name + mark, c.instructions_source, str(c.k), f"{c.dev_score:.3f}",
                      f"{c.dev_accuracy:.3f}", conf)
    console.print(cands)
    for r in m.refinement:
        after = "no usable revision" if r.dev_score_after is None else f"dev {r.dev_score_after:.3f}"
        console.print(f"refinement round {r.round}: {r.failures_shown} failures shown, dev {r.dev_score_before:.3f} "
                      f"-> {after}, {'kept' if r.kept else 'discarded'}")
    if s.confidence.method == "self_consistency":
        console.print(f"confidence: self-consistency, {s.confidence.samples} samples at temperature "
                      f"{s.confidence.temperature} per student call ({s.confidence.samples}x the student's calls "
                      "and tokens above)")
    console.print(f"demo pool: {pool_size} demos ({teacher_demo_drops} teacher answers dropped or replaced "
                  "by labels)")
    console.print(f"chosen: [bold]{m.chosen}[/]  dev score {m.dev_score:.3f} "
                  f"(zero-shot {m.zero_shot_dev_score:.3f})")
    if m.selection:
        console.print(f"selection: {m.selection}")
    lean = "" if m.teacher_lean_score is None else f" (teacher with instructions alone: {m.teacher_lean_score:.3f})"
    how = ("instructions + input, no demos" if s.escalation_prompt == "lean"
           else "the student's prompt, demos included")
    console.print(f"escalation prompt: {s.escalation_prompt}: {how}{lean}")
    if s.threshold is None:
        console.print("escalation threshold: none (the student gives no confidence signal); "
                      "only invalid answers escalate")
    else:
        prec = "-" if m.accepted_precision is None else f"{m.accepted_precision:.3f}"
        bound = ("" if m.precision_lower_bound is None or m.confidence_level is None
                 else f", {m.confidence_level:.0%} Wilson lower bound {m.precision_lower_bound:.3f}")
        console.print(f"escalation threshold: {s.threshold:.4f} for target precision {s.target_precision} "
                      f"(accepted precision {prec}{bound}, on {m.calibration_size or m.dev_size} calibration cases)")
        if m.accepted_precision is None:
            console.print("[yellow]note:[/] no threshold reached the target by the bound: every call escalates. "
                          "More dev data, a lower target or a lower confidence level would let the student answer.")
    share = "-" if s.expected_student_share is None else f"{s.expected_student_share:.0%}"
    console.print(f"expected student share: {share} of calls answered by {p.student}")
    if same_model:
        console.print(
            f"[yellow]note:[/] teacher and student are the same model ({p.teacher}); escalation here shows "
            "the mechanics, not a quality gain. Pass a stronger teacher (a larger local GGUF or Claude) "
            "for real escalations."
        )
