"""``compile_skill``: spec + examples -> a measured, calibrated :class:`Skill`.

1. Split off a dev set (unless given); it becomes the skill's regression cases and never supplies demos.
2. The teacher drafts instructions; the teacher answers training examples -> the demo pool.
3. Candidates (template or teacher instructions x 0..k demos) run with the student on dev.
   Then retrieved demos (per input, BM25-similar) with the better instructions, for the same demo counts.
4. The simplest candidate the best-scoring one does not clearly beat on dev wins (one-standard-error
   rule on the paired gain; the zero-shot candidate is among them). The teacher then revises the
   instructions from the student's dev failures (bounded rounds); a revision is kept only if it
   clearly beats the current choice by the same rule.
5. The escalation threshold is the lowest whose accepted answers (dev + held-out training examples)
   reach the target precision by a Wilson lower bound.
"""

from __future__ import annotations

import math
import random
from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from rich.console import Console

from skillforge import __version__
from skillforge.calibrate import DEFAULT_CONFIDENCE_LEVEL, Calibration, choose_threshold
from skillforge.candidates import (
    Candidate,
    DevCase,
    Evaluation,
    best,
    build_candidates,
    choose,
    clearly_better,
    evaluate,
    label_field,
    paired_gain,
    retrieval_candidates,
)
from skillforge.confidence import with_confidence
from skillforge.drafting import draft_instructions, teacher_demos
from skillforge.errors import SpecError
from skillforge.ledger import Clock, Ledger, utc_now
from skillforge.models.base import Model, run_sync
from skillforge.models.registry import resolve_model
from skillforge.prompt import build_request, template_instructions
from skillforge.refine import failures_of, over_budget, revise_instructions
from skillforge.report import CompileProgress, print_compile_report
from skillforge.retrieval import without_inputs
from skillforge.runtime import ask
from skillforge.scoring import Comparator
from skillforge.settings import read_env
from skillforge.skill import (
    FORMAT_VERSION,
    CandidateResult,
    ConfidenceSettings,
    Demo,
    Manifest,
    Metrics,
    Provenance,
    RefinementRound,
    RegressionCase,
    Settings,
    Skill,
)
from skillforge.spec import Example, SkillSpec, check_examples

MIN_DEV = 4


def _r(x: float) -> float:
    return round(x, 4)


def stored_threshold(cal: Calibration) -> float | None:
    """The threshold as written to skill.yaml (6 decimals), rounded in the safe direction: down when it
    sits on an accepted dev confidence (that answer stays accepted), up when it was set above every
    confidence seen (plain rounding could land below the top one and let the student answer after all)."""
    if cal.threshold is None:
        return None
    scaled = cal.threshold * 1e6
    return (math.floor(scaled) if cal.precision is not None else math.ceil(scaled)) / 1e6


def split_dev(
    examples: Sequence[Example], *, fraction: float, max_dev: int, seed: int
) -> tuple[list[Example], list[Example]]:
    """(train, dev): a seeded share of the labelled examples becomes dev (at least MIN_DEV, at most
    ``max_dev``); unlabelled examples always stay in train."""
    labelled = [e for e in examples if e.expected is not None]
    rest = [e for e in examples if e.expected is None]
    rng = random.Random(seed)
    shuffled = list(labelled)
    rng.shuffle(shuffled)
    n_dev = min(max_dev, max(MIN_DEV, round(len(shuffled) * fraction)))
    if len(shuffled) - n_dev < 1:
        raise SpecError(
            f"need at least {MIN_DEV + 1} labelled examples to split off a dev set (got {len(shuffled)}); "
            "add labelled examples or pass dev_examples="
        )
    return shuffled[n_dev:] + rest, shuffled[:n_dev]


def _samples(train: Sequence[Example], schema: Mapping[str, Any], n: int, seed: int) -> list[Example]:
    """Up to ``n`` labelled examples for the teacher's draft, spread over label values."""
    label = label_field(schema)
    rng = random.Random(seed + 1)
    n_labels = len(schema["properties"][label].get("enum", [])) if label is not None else 0
    per_label = max(1, n // max(1, n_labels))
    pool = [e for e in train if e.expected is not None]
    rng.shuffle(pool)
    if label is None:
        return pool[:n]
    seen: dict[str, int] = {}
    out = []
    for e in pool:
        key = str((e.expected or {}).get(label))
        if seen.get(key, 0) < per_label:
            out.append(e)
            seen[key] = seen.get(key, 0) + 1
    return out[:n]


async def acompile_skill(
    spec: SkillSpec | Mapping[str, Any],
    examples: Sequence[Example],
    *,
    dev_examples: Sequence[Example] | None = None,
    teacher: str | Model | None = None,
    student: str | Model | None = None,
    target_precision: float = 0.95,
    confidence_level: float | None = DEFAULT_CONFIDENCE_LEVEL,
    comparators: Mapping[str, Comparator] | None = None,
    ks: Sequence[int] | None = None,
    dev_fraction: float = 0.3,
    max_dev: int = 60,
    max_demo_pool: int = 32,
    retrieval: bool = True,
    retrieval_ks: Sequence[int] | None = None,
    max_retrieval_pool: int = 200,
    refine_rounds: int = 2,
    refine_budget_usd: float | None = None,
    selection_z: float = 1.0,
    calibration_extra: int = 100,
    confidence: ConfidenceSettings | None = None,
    max_tokens: int = 256,
    seed: int = 0,
    ledger: Ledger | None = None,
    clock: Clock = utc_now,
    console: Console | None = None,
    progress: bool = True,
) -> Skill:
    """Async :func:`compile_skill`."""
    if not isinstance(spec, SkillSpec):
        from skillforge.spec import spec_from_mapping

        spec = spec_from_mapping(dict(spec), source="spec")
    if not 0.0 < target_precision <= 1.0:
        raise SpecError("target_precision must be in (0, 1]", field="target_precision")
    if not selection_z >= 0.0:
        raise SpecError("selection_z must be >= 0", field="selection_z")
    examples = [e if isinstance(e, Example) else Example.model_validate(e) for e in examples]
    if not examples:
        raise SpecError("no examples given: compile_skill needs labelled examples", field="examples")
    check_examples(spec, examples, what="examples")
    comparators = dict(comparators or {})
    unknown = set(comparators) - set(spec.output_schema.get("properties", {}))
    if unknown:
        raise SpecError(f"comparators for unknown output fields: {sorted(unknown)}", field="comparators")
    confidence = confidence or ConfidenceSettings()
    env = read_env()
    teacher_m = resolve_model(teacher, env.default_teacher)
    student_m = resolve_model(student, env.default_student)
    for m in (teacher_m, student_m):
        m.check_schema(spec.output_schema)
    # Dev answers are measured the way the skill will run: with self-consistency when configured.
    student_eval = with_confidence(student_m, confidence)
    ledger = ledger if ledger is not None else Ledger(env.ledger_path, clock=clock)
    console = console or Console(stderr=True)

    if dev_examples is None:
        train, dev_ex = split_dev(examples, fraction=dev_fraction, max_dev=max_dev, seed=seed)
    else:
        dev_ex = [e if isinstance(e, Example) else Example.model_validate(e) for e in dev_examples]
        check_examples(spec, dev_ex, what="dev_examples")
        if not dev_ex:
            raise SpecError("dev_examples is empty", field="dev_examples")
        train = list(examples)
    # Overfitting guard: a dev (= regression) input never doubles as a demo, even when the caller's
    # dev set overlaps the examples; repeated training inputs are kept once.
    train = without_inputs(train, [e.input for e in dev_ex])
    if not train:
        raise SpecError("no training examples are left once the dev inputs are removed", field="examples")
    train_pool = train[:max_demo_pool]
    t_conc = 1 if teacher_m.is_local else 8
    s_conc = 1 if student_m.is_local else 8
    name = spec.name

    def run_eval(cand: Candidate, cases: Sequence[DevCase], bar: CompileProgress,
                 what: str) -> Coroutine[Any, Any, Evaluation]:
        bar.stage(f"student: {cand.name} on {what}", len(cases))
        return evaluate(cand, cases, student=student_eval, output_schema=spec.output_schema,
                        comparators=comparators, max_tokens=max_tokens, max_reasks=1, ledger=ledger, skill=name,
                        concurrency=s_conc, on_case=bar.advance)

    rounds: list[RefinementRound] = []
    with CompileProgress(console, enabled=progress) as bar:
        bar.stage("teacher: drafting instructions", 1)
        teacher_text = await draft_instructions(teacher_m, spec, _samples(train, spec.output_schema, 8, seed),
                                                ledger=ledger)
        bar.advance()
        template_text = template_instructions(spec.description, spec.output_schema)

        # Dev cases need a reference answer: the label, else the teacher's answer.
        unlabelled = [e for e in dev_ex if e.expected is None]
        if unlabelled:
            bar.stage("teacher: answering unlabelled dev cases", len(unlabelled))
        dev: list[DevCase] = []
        for e in dev_ex:
            if e.expected is not None:
                dev.append(DevCase(e.input, e.expected))
                continue
            req = build_request(instructions=teacher_text or template_text, output_schema=spec.output_schema,
                                demos=[], input=e.input, max_tokens=max_tokens)
            out = await ask(teacher_m, "teacher", req, schema=spec.output_schema, threshold=None,
                            max_reasks=1, ledger=ledger, skill=name, phase="compile")
            bar.advance()
            if out.accepted and out.output is not None:
                dev.append(DevCase(e.input, out.output))
        if not dev:
            raise SpecError("no dev case has a reference answer (no labels, and the teacher failed on all)")

        bar.stage("teacher: answering training examples", len(train_pool))
        taught = await teacher_demos(
            teacher_m, spec, teacher_text or template_text, train_pool, comparators=comparators,
            ledger=ledger, concurrency=t_conc, on_case=bar.advance, max_tokens=max_tokens,
        )

        pool, dropped = taught.demos, taught.dropped
        candidates = build_candidates(template_text=template_text, teacher_text=teacher_text, pool=pool,
                                      output_schema=spec.output_schema, ks=ks, seed=seed)
        evaluations: list[Evaluation] = [await run_eval(c, dev, bar, "dev") for c in candidates]

        # Retrieved demos draw on a larger pool: the teacher-checked demos plus further labelled
        # training examples (labels need no teacher call). Tried with the better instruction text only,
        # which keeps the grid linear in the demo counts.
        retrieval_pool = without_inputs(
            pool + [Demo(input=e.input, output=e.expected, source="label")
                    for e in train[max_demo_pool:] if e.expected is not None],
            [c.input for c in dev],
        )[:max_retrieval_pool]
        if retrieval and retrieval_pool:
            lead = best(evaluations).candidate
            for cand in retrieval_candidates(source=lead.instructions_source, instructions=lead.instructions,
                                             pool=retrieval_pool, output_schema=spec.output_schema,
                                             ks=retrieval_ks if retrieval_ks is not None else ks):
                evaluations.append(await run_eval(cand, dev, bar, "dev"))
        chosen, why = choose(evaluations, z=selection_z)

        spent: float | None = 0.0
        for n in range(1, refine_rounds + 1):
            failures = failures_of(chosen, dev, limit=12)
            if not failures or over_budget(spent, refine_budget_usd):
                break
            bar.stage(f"teacher: refinement round {n}", 1)
            text, cost = await revise_instructions(teacher_m, spec, chosen.candidate.instructions, failures,
                                                   ledger=ledger)
            bar.advance()
            spent = None if spent is None or cost is None else spent + cost
            if text is None:
                rounds.append(RefinementRound(round=n, failures_shown=len(failures),
                                              dev_score_before=_r(chosen.score)))
                break
            base = chosen.candidate
            revised = Candidate(f"{base.name}~r{n}", "teacher", text, base.demos, base.retrieve_k)
            ev = await run_eval(revised, dev, bar, "dev")
            evaluations.append(ev)
            kept = clearly_better(ev, chosen, selection_z)
            rounds.append(RefinementRound(round=n, failures_shown=len(failures), dev_score_before=_r(chosen.score),
                                          dev_score_after=_r(ev.score), kept=kept))
            if not kept:
                break  # the same failures would get the same revision from a deterministic teacher
            gain, se = paired_gain(ev, chosen)
            why += f"; revision r{n} kept: {gain:+.3f} \u00b1 {se:.3f}"
            chosen = ev

        # Calibrate on dev plus held-out training examples the chosen prompt does not show (retrieval
        # leaves each case's own input out): 60 dev cases alone cannot certify 95% by a lower bound.
        cand = chosen.candidate
        shown = [d.input for d in cand.demos] if cand.retrieve_k is None else []
        extra_pool = [DevCase(e.input, e.expected) for e in without_inputs(train, shown) if e.expected is not None]
        random.Random(seed + 2).shuffle(extra_pool)
        extra = extra_pool[:calibration_extra]
        cal_cases = list(chosen.cases)
        if extra:
            cal_cases += (await run_eval(cand, extra, bar, "calibration cases")).cases

    zero_shot = evaluations[0]  # template instructions, no demos: the plain zero-shot prompt
    # Escalations go out lean (instructions + input) unless the teacher measurably needs the demos:
    # with the instructions alone it must score at least what the student scores on dev with its
    # prompt. A strong teacher clears that easily; a teacher no stronger than the student (offline:
    # the same 135M model) does not, and gets the student's prompt.
    lean_ok = taught.score is None or taught.score >= chosen.score
    escalation_prompt: Literal["lean", "student"] = "lean" if lean_ok else "student"
    cal = choose_threshold([c.confidence for c in cal_cases], [c.correct for c in cal_cases],
                           target_precision=target_precision, confidence_level=confidence_level)
    valid_share = sum(c.output is not None for c in cal_cases) / len(cal_cases)
    settings = Settings(
        instructions_source=cand.instructions_source,
        demo_strategy=cand.demo_strategy,
        k=cand.k,
        threshold=stored_threshold(cal),
        target_precision=target_precision,
        expected_student_share=_r(cal.student_share if cal.threshold is not None else valid_share),
        comparators=comparators,
        # Regression gate: the dev accuracy less a small margin for numeric noise across builds.
        min_pass_rate=max(0.0, round(chosen.accuracy - 0.05, 2)),
        # Multi-field answers rarely match whole; gate their partial credit too.
        min_field_score=max(0.0, round(chosen.score - 0.05, 2)) if len(spec.output_schema.get("properties", {})) > 1
        else None,
        escalation_prompt=escalation_prompt,
        confidence=confidence,
        max_tokens=max_tokens,
    )
    metrics = Metrics(
        dev_size=len(dev), dev_score=_r(chosen.score), zero_shot_dev_score=_r(zero_shot.score),
        chosen=cand.name, selection=why, accepted_precision=None if cal.precision is None else _r(cal.precision),
        precision_lower_bound=None if cal.lower_bound is None else _r(cal.lower_bound),
        confidence_level=confidence_level, calibration_size=len(cal_cases),
        teacher_lean_score=None if taught.score is None else _r(taught.score),
        candidates=[
            CandidateResult(name=e.candidate.name, instructions_source=e.candidate.instructions_source,
                            demo_strategy=e.candidate.demo_strategy, k=e.candidate.k,
                            dev_score=_r(e.score), dev_accuracy=_r(e.accuracy),
                            mean_confidence=None if e.mean_confidence is None else _r(e.mean_confidence))
            for e in evaluations
        ],
        refinement=rounds,
    )
    compiled_at: datetime = clock()
    manifest = Manifest(
        format_version=FORMAT_VERSION, name=name, description=spec.description,
        input_schema=spec.input_schema, output_schema=spec.output_schema, settings=settings,
        provenance=Provenance(teacher=teacher_m.model_id, student=student_m.model_id,
                              skillforge_version=__version__, spec_hash=spec.spec_hash(), content_hash="",
                              compiled_at=compiled_at.isoformat(timespec="seconds")),
        metrics=metrics,
    )
    skill = Skill(manifest, cand.instructions, cand.demos,
                  [RegressionCase(input=c.input, expected=c.expected) for c in dev])
    skill.file_texts()  # fills in the content hash
    skill.default_student, skill.default_teacher = student_m, teacher_m
    if progress:
        print_compile_report(console, skill, ledger, teacher_demo_drops=dropped, pool_size=len(pool),
                             same_model=teacher_m.model_id == student_m.model_id)
    return skill


def compile_skill(
    spec: SkillSpec | Mapping[str, Any],
    examples: Sequence[Example],
    **kwargs: Any,
) -> Skill:
    """Compile a skill (blocking). Keyword arguments as :func:`acompile_skill`:

    ``dev_examples`` (default: split from ``examples``), ``teacher``/``student`` (model ids or
    instances; ``None``: the defaults), ``target_precision`` (default 0.95), ``confidence_level``
    (of the Wilson lower bound the threshold must reach the target with; default 0.95, ``None``: the
    point estimate), ``comparators``, ``ks`` (demo counts to try), ``retrieval`` (also try per-input
    retrieved demos; default on) with ``retrieval_ks`` demo counts (default: as ``ks``; retrieved
    demos are not cacheable, so large counts cost prompt processing on every call),
    ``max_retrieval_pool``, ``refine_rounds`` (teacher revisions of the instructions from dev
    failures; default 2) and ``refine_budget_usd``, ``selection_z`` (a more complex candidate or a
    revision must beat the simpler one by this many standard errors of the paired dev-score gain;
    default 1, the one-standard-error rule; 0: the plain best score), ``calibration_extra``
    (held-out training examples added to the calibration set; default 100), ``confidence``
    (:class:`~skillforge.skill.ConfidenceSettings`; self-consistency for students without logprobs),
    ``max_tokens`` (answer budget of student and teacher calls, stored in the settings; default 256),
    ``seed``, ``ledger``, ``clock``, ``console``, ``progress``.
    """
    return run_sync(acompile_skill(spec, examples, **kwargs))
