"""``compile_skill``: spec + examples -> a measured, calibrated :class:`Skill`.

1. Split off a dev set (unless given); it becomes the skill's regression cases and never supplies demos.
2. The teacher drafts instructions; the teacher answers training examples -> the demo pool.
3. Candidates (template or teacher instructions x 0..k demos) run with the student on dev.
4. The best on dev wins (the zero-shot candidate is among them, so the result is never worse).
5. The escalation threshold is the lowest whose accepted dev answers reach the target precision.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console

from skillforge import __version__
from skillforge.calibrate import choose_threshold
from skillforge.candidates import DevCase, Evaluation, best, build_candidates, evaluate, label_field
from skillforge.drafting import draft_instructions, teacher_demos
from skillforge.errors import SpecError
from skillforge.ledger import Clock, Ledger, utc_now
from skillforge.models.base import Model, run_sync
from skillforge.models.registry import resolve_model
from skillforge.prompt import build_request, template_instructions
from skillforge.report import CompileProgress, print_compile_report
from skillforge.runtime import ask
from skillforge.scoring import Comparator
from skillforge.settings import read_env
from skillforge.skill import (
    FORMAT_VERSION,
    CandidateResult,
    Manifest,
    Metrics,
    Provenance,
    RegressionCase,
    Settings,
    Skill,
)
from skillforge.spec import Example, SkillSpec, check_examples

MIN_DEV = 4


def _r(x: float) -> float:
    return round(x, 4)


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
    pool = [e for e in train if e.expected is not None]
    rng.shuffle(pool)
    if label is None:
        return pool[:n]
    seen: dict[str, int] = {}
    out = []
    for e in pool:
        key = str((e.expected or {}).get(label))
        if seen.get(key, 0) < max(1, n // 7):
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
    comparators: Mapping[str, Comparator] | None = None,
    ks: Sequence[int] | None = None,
    dev_fraction: float = 0.3,
    max_dev: int = 60,
    max_demo_pool: int = 32,
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
    examples = [e if isinstance(e, Example) else Example.model_validate(e) for e in examples]
    if not examples:
        raise SpecError("no examples given: compile_skill needs labelled examples", field="examples")
    check_examples(spec, examples, what="examples")
    comparators = dict(comparators or {})
    unknown = set(comparators) - set(spec.output_schema.get("properties", {}))
    if unknown:
        raise SpecError(f"comparators for unknown output fields: {sorted(unknown)}", field="comparators")
    env = read_env()
    teacher_m = resolve_model(teacher, env.default_teacher)
    student_m = resolve_model(student, env.default_student)
    for m in (teacher_m, student_m):
        m.check_schema(spec.output_schema)
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
    train_pool = train[:max_demo_pool]
    t_conc = 1 if teacher_m.is_local else 8
    s_conc = 1 if student_m.is_local else 8
    name = spec.name

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
                                demos=[], input=e.input, max_tokens=256)
            out = await ask(teacher_m, "teacher", req, schema=spec.output_schema, threshold=None,
                            max_reasks=1, ledger=ledger, skill=name, phase="compile")
            bar.advance()
            if out.accepted and out.output is not None:
                dev.append(DevCase(e.input, out.output))
        if not dev:
            raise SpecError("no dev case has a reference answer (no labels, and the teacher failed on all)")

        bar.stage("teacher: answering training examples", len(train_pool))
        pool, dropped = await teacher_demos(
            teacher_m, spec, teacher_text or template_text, train_pool, comparators=comparators,
            ledger=ledger, concurrency=t_conc, on_case=bar.advance,
        )

        candidates = build_candidates(template_text=template_text, teacher_text=teacher_text, pool=pool,
                                      output_schema=spec.output_schema, ks=ks, seed=seed)
        evaluations: list[Evaluation] = []
        for cand in candidates:
            bar.stage(f"student: candidate {cand.name} on dev", len(dev))
            evaluations.append(await evaluate(
                cand, dev, student=student_m, output_schema=spec.output_schema, comparators=comparators,
                max_tokens=256, max_reasks=1, ledger=ledger, skill=name, concurrency=s_conc,
                on_case=bar.advance,
            ))

    chosen = best(evaluations)
    zero_shot = evaluations[0]  # template instructions, no demos: the plain zero-shot prompt
    cal = choose_threshold([c.confidence for c in chosen.cases], [c.correct for c in chosen.cases],
                           target_precision=target_precision)
    valid_share = sum(c.output is not None for c in chosen.cases) / len(chosen.cases)
    cand = chosen.candidate
    settings = Settings(
        instructions_source=cand.instructions_source,
        demo_strategy="fixed" if cand.demos else "none",
        k=cand.k,
        threshold=None if cal.threshold is None else round(cal.threshold, 6),
        target_precision=target_precision,
        expected_student_share=_r(cal.student_share if cal.threshold is not None else valid_share),
        comparators=comparators,
        # Regression gate: the dev accuracy less a small margin for numeric noise across builds.
        min_pass_rate=max(0.0, round(chosen.accuracy - 0.05, 2)),
    )
    metrics = Metrics(
        dev_size=len(dev), dev_score=_r(chosen.score), zero_shot_dev_score=_r(zero_shot.score),
        chosen=cand.name, accepted_precision=None if cal.precision is None else _r(cal.precision),
        candidates=[
            CandidateResult(name=e.candidate.name, instructions_source=e.candidate.instructions_source,
                            demo_strategy="fixed" if e.candidate.demos else "none", k=e.candidate.k,
                            dev_score=_r(e.score), dev_accuracy=_r(e.accuracy),
                            mean_confidence=None if e.mean_confidence is None else _r(e.mean_confidence))
            for e in evaluations
        ],
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
    instances; ``None``: the defaults), ``target_precision`` (default 0.95), ``comparators``, ``ks``
    (demo counts to try), ``seed``, ``ledger``, ``clock``, ``console``, ``progress``.
    """
    return run_sync(acompile_skill(spec, examples, **kwargs))
