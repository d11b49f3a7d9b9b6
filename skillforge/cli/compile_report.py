"""The end-of-compile report in the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from skillforge.cli.format import ESCALATION_PROMPTS, money
from skillforge.compile.estimate import CompileEstimate
from skillforge.format import SkillDefinition, ToCertify
from skillforge.ledger import Ledger


def _usage_table(skill: SkillDefinition, ledger: Ledger) -> Table:
    usage = Table(title="Model calls during compilation", show_edge=False)
    for col in ("role", "model", "calls", "input tok", "output tok", "cache read tok", "cost"):
        usage.add_column(col, justify="right" if col not in ("role", "model") else "left")
    calls: dict[tuple[str, str], int] = {}
    for e in ledger.entries:
        if e.skill == skill.name and e.phase == "compile":
            calls[(e.role, e.model_id)] = calls.get((e.role, e.model_id), 0) + 1
    for (role, model), (u, cost) in sorted(ledger.totals().items()):
        if (role, model) in calls:
            usage.add_row(role, model, str(calls[(role, model)]), f"{u.input_tokens:,}", f"{u.output_tokens:,}",
                          f"{u.cache_read_input_tokens:,}", money(cost))
    return usage


def _candidates_table(skill: SkillDefinition) -> Table:
    m, p = skill.manifest.metrics, skill.manifest.provenance
    cands = Table(title=f"Candidates on the dev set ({m.dev_size} cases, student {p.student})", show_edge=False)
    for col in ("candidate", "instructions", "rendering", "demos", "dev score", "spread (draws)", "vs baseline",
                "dev accuracy", "mean confidence"):
        cands.add_column(col, justify="left" if col in ("candidate", "instructions", "rendering") else "right")
    base = next((c for c in m.candidates if c.name == m.baseline), None)
    for c in m.candidates:
        mark = " [green]<- chosen" if c.name == m.chosen else (" (baseline)" if c is base else "")
        conf = "-" if c.mean_confidence is None else f"{c.mean_confidence:.3f}"
        rendering = f"{c.input_format}{'+schema' if c.schema_in_prompt else ''}"
        spread = "-" if c.spread is None else f"{c.spread:.3f}" + (f" ({len(c.draw_scores)})" if c.draw_scores else "")
        vs = "-" if base is None or c is base else f"{c.dev_score - base.dev_score:+.3f}"
        score = f"{c.dev_score:.3f}" + ("" if c.cases_measured is None else f" (on {c.cases_measured} cases)")
        cands.add_row(c.name + mark, c.instructions_source, rendering, str(c.k), score, spread, vs,
                      f"{c.dev_accuracy:.3f}", conf)
    return cands


def _call_notes(skill: SkillDefinition, ledger: Ledger) -> list[str]:
    """Refused calls and batched calls during this compile, when there were any."""
    mine = [e for e in ledger.entries if e.skill == skill.name and e.phase == "compile"]
    out = []
    refused = {role: sum(e.outcome == "refused" and e.role == role for e in mine) for role in ("teacher", "student")}
    if any(refused.values()):
        out.append(f"[yellow]refusals:[/] the teacher refused {refused['teacher']} call(s), the student "
                   f"{refused['student']} (stop_reason 'refusal'; counted as failed answers)")
    batched = sum(e.batch for e in mine)
    if batched:
        out.append(f"batched: {batched} teacher call(s) answered through the batch API, priced at its discount")
    cached = [e for e in mine if e.cached]
    if cached:
        saved = sum(e.original_cost_usd or 0.0 for e in cached)
        out.append(f"answer cache: {len(cached)} of {len(mine)} answers reused from earlier compiles (cost "
                   f"nothing now; {money(saved)} when bought)")
    return out


def _threshold_lines(skill: SkillDefinition) -> list[str]:
    m, s = skill.manifest.metrics, skill.settings
    if not s.ask_student:
        first = "what the classifier tier does not answer" if s.tiers else "every input"
        out = [f"[yellow]the student is not asked:[/] {first} goes straight to the teacher -- no student answer "
               f"could be certified at precision {s.target_precision} on {m.calibration_size} calibration cases, "
               "or asking it would cost more per call than it saves (the ladders above)"]
        return out + _certify_lines(m.to_certify, s.target_precision)
    if s.threshold is None:
        return ["escalation threshold: none (the student gives no confidence signal); only invalid answers escalate"]
    prec = "-" if m.accepted_precision is None else f"{m.accepted_precision:.3f}"
    bound = ("" if m.precision_lower_bound is None or m.confidence_level is None
             else f", {m.confidence_level:.0%} Wilson lower bound {m.precision_lower_bound:.3f}")
    out = [f"escalation threshold: {s.threshold:.4f} for target precision {s.target_precision} "
           f"(accepted precision {prec}{bound}, on {m.calibration_size or m.dev_size} calibration cases)"]
    if m.accepted_precision is None:
        out.append("[yellow]note:[/] no threshold reached the target by the bound: every call escalates. "
                   "More dev data, a lower target or a lower confidence level would let the student answer.")
    return out


def _certify_lines(hint: ToCertify | None, target: float) -> list[str]:
    if hint is None:
        return []
    if hint.more_examples is None:
        return [f"what it would take: even the student's most confident answers were right {hint.precision:.0%} of "
                f"the time, below {target}: more examples alone would not certify it (a better prompt, a stronger "
                "student or a lower target would)"]
    return [f"what it would take: about {hint.more_examples:,} more labelled examples like these would let the "
            f"bound certify the student on {hint.share:.0%} of inputs (its answers there were right "
            f"{hint.precision:.0%} of the time)"]


def _check_lines(skill: SkillDefinition) -> list[str]:
    s, m = skill.settings, skill.manifest.metrics
    out = []
    if s.checks is not None:
        order = ", ".join(f"{a} before {b}" for a, b in s.checks.order)
        out.append("answer checks: " + "; ".join(part for part in (
            f"copied from the input: {', '.join(s.checks.copied)}" if s.checks.copied else "",
            f"always present: {', '.join(s.checks.required)}" if s.checks.required else "",
            f"in the input's order: {order}" if order else "") if part)
            + f"; an answer that breaks one is {'asked again once, told what it broke' if s.repair else 'escalated'}")
    for signal, by_field in m.field_auroc.items():
        out.append(f"per-field AUROC of {signal}: " + ", ".join(f"{f} {a:.3f}" for f, a in by_field.items()))
    return out


def _confidence_lines(skill: SkillDefinition) -> list[str]:
    m, s = skill.manifest.metrics, skill.settings
    out = []
    if m.signal_auroc:
        aurocs = ", ".join(f"{k} {v:.3f}" for k, v in sorted(m.signal_auroc.items(), key=lambda kv: -kv[1]))
        out.append(f"confidence signals (AUROC on the calibration cases, cross-fitted): {aurocs}")
    method = s.confidence.method + ("" if s.confidence.combiner is None
                                    else f" ({', '.join(s.confidence.combiner.signals)})")
    out.append(f"confidence: {method}")
    if (second := s.confidence.second_opinion) is not None:
        who = second.model or "the student's model"
        out.append(f"second opinion: {who}, zero-shot ({second.input_format} input"
                   f"{', schema text' if second.schema_in_prompt else ''}): one extra call per student answer")
    for ladder in m.ladders:
        cost = "unknown" if ladder.cost_per_1k is None else f"${ladder.cost_per_1k:.4f}"
        shares = ", ".join(f"{k} {v:.0%}" for k, v in ladder.tier_shares.items()) or "nothing"
        mark = "  [green]<- chosen[/]" if ladder.chosen else ""
        priced = "" if ladder.confidence is None else f" [dim](with confidence {ladder.confidence}" + (
            "" if ladder.repair is None else f", repair {'on' if ladder.repair else 'off'}") + ")[/]"
        out.append(f"ladder {' > '.join([*ladder.tiers, 'teacher'])}: {shares} before the teacher; "
                   f"{cost} per 1,000 calls (local tiers priced as Claude){priced}{mark}")
    reads = "words" if skill.classifier is None or skill.classifier.embedding is None else \
        f"words and the input's embedding by {skill.classifier.embedding.model} (one forward pass per input)"
    for tier in s.tiers:
        threshold = "none" if tier.threshold is None else f"{tier.threshold:.4f}"
        out.append(f"{tier.kind} tier: threshold {threshold}, expected share {tier.expected_share or 0:.0%}; "
                   f"reads {reads}")
    for mt in s.model_tiers:
        threshold = "none" if mt.threshold is None else f"{mt.threshold:.4f}"
        reads = mt.confidence.method + ("" if mt.confidence.combiner is None
                                        else f" ({', '.join(mt.confidence.combiner.signals)})")
        out.append(f"model tier {mt.model} behind the student: confidence {reads}, threshold {threshold}, "
                   f"expected share {mt.expected_share or 0:.0%}")
    return out


def print_estimate(console: Console, plan: CompileEstimate) -> None:
    """What a compile would cost (:func:`~skillforge.compile.estimate_compile_skill`), per step and role."""
    table = Table(title=f"What the compile would cost (teacher {plan.teacher}, student {plan.student})",
                  show_edge=False)
    for col in ("step", "role", "calls", "input tokens", "output tokens", "dollars (list prices)"):
        table.add_column(col, justify="left" if col in ("step", "role") else "right")

    def fmt(x: float, money_: bool) -> str:
        return f"${x:.4f}" if money_ else f"{x:,.0f}"

    def span(lo: float, hi: float, money_: bool = False) -> str:
        return fmt(lo, money_) if round(lo, 6) == round(hi, 6) else f"{fmt(lo, money_)} - {fmt(hi, money_)}"

    for ln in plan.lines:
        table.add_row(ln.step, ln.role, span(ln.calls.low, ln.calls.high), span(ln.input_tokens.low,
                      ln.input_tokens.high), span(ln.output_tokens.low, ln.output_tokens.high),
                      span(ln.usd.low, ln.usd.high, True))
    total = plan.total("usd")
    table.add_row("all", "", span(plan.total().low, plan.total().high), span(plan.total("input_tokens").low,
                  plan.total("input_tokens").high), span(plan.total("output_tokens").low,
                  plan.total("output_tokens").high), span(total.low, total.high, True))
    console.print(table)
    for line in plan.assumptions:
        console.print(f"[dim]{line}[/]")
    console.print(f"minimum budget (what every skill needs, worst case): ${plan.minimum_usd:.4f}")


def _estimate_lines(skill: SkillDefinition) -> list[str]:
    m = skill.manifest.metrics
    out = []
    actual = {c.step: c.calls for c in m.compile_steps}
    for e in m.estimate:
        if e.step in actual:
            mid = (e.calls[0] + e.calls[1]) / 2
            out.append(f"{e.step}: planned {e.calls[0]}-{e.calls[1]} calls, made {actual[e.step]}"
                       + (f" ({actual[e.step] / mid:.0%} of the midpoint)" if mid else ""))
    if m.budget is not None:
        cut = "; cut: " + "; ".join(m.budget.cuts) if m.budget.cuts else "; nothing cut"
        out.append(f"budget: ${m.budget.spent_usd:.4f} spent of ${m.budget.limit_usd:.4f}{cut}")
    return (["estimate vs actual: " + "; ".join(out[:-1] if m.budget else out)] if m.estimate else []) + (
        [out[-1]] if m.budget is not None else [])


def print_compile_report(console: Console, skill: SkillDefinition, ledger: Ledger) -> None:
    """What a compile did and chose: tokens and cost per role (from ``ledger``), every candidate's dev
    score, the refinement rounds, the choice, the threshold and the expected student share."""
    m, s, p = skill.manifest.metrics, skill.settings, skill.manifest.provenance
    console.print()
    console.rule(f"[bold]compiled skill {skill.name!r}")
    console.print(_usage_table(skill, ledger))
    console.print(_candidates_table(skill))
    for r in m.refinement:
        after = "no usable revision" if r.dev_score_after is None else f"dev {r.dev_score_after:.3f}"
        if r.cases_measured is not None:
            after += (f" on {r.cases_measured} of {m.dev_size} cases, the choice's misses first"
                      " (stopped: it could no longer clearly win)")
        console.print(f"refinement round {r.round}: {r.failures_shown} failures shown, dev {r.dev_score_before:.3f} "
                      f"-> {after}, {'kept' if r.kept else 'discarded'}")
    if m.compile_steps:
        steps = [f"{c.step} {c.calls} calls" + ("" if c.seconds is None else f" {c.seconds:.0f} s")
                 for c in m.compile_steps]
        console.print("compile time: " + "; ".join(steps))
    if s.confidence.method == "self_consistency":
        t = s.confidence.temperature
        at = "the model's own sampling" if t is None else f"temperature {t}"
        console.print(f"confidence: self-consistency, {s.confidence.samples} samples at {at} per student call "
                      f"({s.confidence.samples}x the student's calls and tokens above)")
    for line in _estimate_lines(skill) + _call_notes(skill, ledger):
        console.print(line)
    if m.demo_pool_size is not None:
        console.print(f"demo pool: {m.demo_pool_size} demos ({m.teacher_answers_replaced} teacher answers dropped "
                      "or replaced by labels)")
    base = f"plain prompt {m.baseline}" if m.baseline else "zero-shot"
    schema = "in the prompt" if s.schema_in_prompt else "left to constrained decoding"
    console.print(f"chosen: [bold]{m.chosen}[/]  dev score {m.dev_score:.3f} ({base} {m.zero_shot_dev_score:.3f}); "
                  f"rendering: input {s.input_format}, schema text {schema}")
    if m.selection:
        console.print(f"selection: {m.selection}")
    lean = "" if m.teacher_lean_score is None else f" (teacher with instructions alone: {m.teacher_lean_score:.3f})"
    how = ESCALATION_PROMPTS[s.escalation_prompt]
    console.print(f"escalation prompt: {s.escalation_prompt}: {how}{lean}")
    for line in _confidence_lines(skill) + _check_lines(skill) + _threshold_lines(skill):
        console.print(line)
    share = "-" if s.expected_student_share is None else f"{s.expected_student_share:.0%}"
    before = "the cheap tiers" if s.tiers or s.model_tiers else p.student
    console.print(f"expected student share: {share} of calls answered by {before}")
    if p.teacher == p.student:
        console.print(
            f"[yellow]note:[/] teacher and student are the same model ({p.teacher}); escalation here shows "
            "the mechanics, not a quality gain. Pass a stronger teacher (a larger local GGUF or Claude) "
            "for real escalations."
        )
