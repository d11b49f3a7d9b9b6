"""``compile_skill``: spec + examples -> a measured, calibrated :class:`~skillforge.skill.Skill`.

The steps (:mod:`skillforge.compile.steps`), each over one :class:`~skillforge.compile.state.CompileState`:

1. **prepare** -- split off a dev set (unless given); it becomes the skill's regression cases and never
   supplies demos.
2. **draft** -- the teacher drafts instructions and answers training examples: the demo pool.
3. **select** -- candidates run with the student on dev: the plain prompt (the description as one
   line, the input as plain text, no schema text: the baseline), the template instructions in each
   rendering, the teacher's in the best one, fixed demos with the two best texts, then retrieved demos
   with the best. Contenders with demos are measured over several demo draws. The plain prompt wins
   unless a candidate beats it by more than its spread over draws and the paired standard error; among
   those, the simplest candidate the best-scoring one does not clearly beat.
4. **refine** -- the teacher revises the instructions from the student's dev failures (bounded rounds);
   a revision is kept only if it clearly beats the current choice by the same rule.
5. **calibrate** -- the escalation threshold is the lowest whose accepted answers (dev + held-out
   training examples) reach the target precision by a Wilson lower bound.
6. **assemble** -- settings, metrics and provenance (with the options) into a :class:`Skill`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from skillforge.compile import ladder, steps
from skillforge.compile.assemble import assemble
from skillforge.compile.state import CompileState
from skillforge.environment import read_env
from skillforge.errors import ConfigurationError, SpecError
from skillforge.format import CompileOptions, StepCost
from skillforge.ledger import Clock, Ledger, utc_now
from skillforge.models.answer_cache import AnswerCache, CachedModel
from skillforge.models.base import Model, blocking
from skillforge.models.batching import BatchingModel
from skillforge.models.registry import resolve_model
from skillforge.progress import NullProgress, Progress
from skillforge.run import plain_instructions, template_instructions, with_confidence
from skillforge.run.classifier import single_enum_field
from skillforge.skill import Skill
from skillforge.spec import Example, SkillSpec, check_examples, learn_checks, spec_from_mapping

#: The embedded local model: the embedder a remote student borrows (``classifier_embeddings="auto"``).
EMBEDDED = "local:smollm2-135m"


def _examples(values: Sequence[Example | Mapping[str, Any]], *, spec: SkillSpec, what: str) -> list[Example]:
    out = [e if isinstance(e, Example) else Example.model_validate(e) for e in values]
    check_examples(spec, out, what=what)
    return out


def initial_state(
    spec: SkillSpec | Mapping[str, Any],
    examples: Sequence[Example | Mapping[str, Any]],
    options: CompileOptions | None,
    dev_examples: Sequence[Example | Mapping[str, Any]] | None,
    teacher: str | Model | None,
    student: str | Model | None,
    ledger: Ledger | None,
    clock: Clock,
    progress: Progress | None,
    tier_models: Mapping[str, Model] | None = None,
    cache: AnswerCache | bool = True,
) -> CompileState:
    """The state compilation starts from (the prepare step): every argument checked before any model
    is called, the models resolved, the data split. The other steps take it from here."""
    spec = spec if isinstance(spec, SkillSpec) else spec_from_mapping(dict(spec), source="spec")
    options = options or CompileOptions()
    train_in = _examples(examples, spec=spec, what="examples")
    if not train_in:
        raise SpecError("no examples given: compile_skill needs labelled examples", field="examples")
    dev_in = None if dev_examples is None else _examples(dev_examples, spec=spec, what="dev_examples")
    unknown = set(options.comparators) - set(spec.output_schema.get("properties", {}))
    if unknown:
        raise SpecError(f"comparators for unknown output fields: {sorted(unknown)}", field="comparators")
    _check_tiers(options, tier_models or {})
    env = read_env()
    teacher_m = resolve_model(teacher, env.default_teacher, role="teacher")
    student_m = resolve_model(student, env.default_student, role="student")
    for m in (teacher_m, student_m):
        m.check_schema(spec.output_schema)
    if options.teacher_batch:
        if not teacher_m.supports_batch:
            raise SpecError(f"teacher_batch needs a teacher with a batch API (e.g. anthropic:...); "
                            f"{teacher_m.model_id} has none", field="teacher_batch")
        teacher_m = BatchingModel(teacher_m, state_dir=env.batch_state_dir)
    embedder = _classifier_embedder(options, spec, student_m)
    store = answer_cache(cache, env.cache_path)
    if store is not None:
        teacher_m, student_m = CachedModel(teacher_m, store), CachedModel(student_m, store)
    train, dev_ex = steps.prepare(train_in, dev_in, seed=options.seed, fraction=options.dev_fraction,
                                  max_dev=options.max_dev)
    checks = spec.checks if spec.checks is not None else learn_checks(
        [(e.input, e.expected) for e in [*train, *dev_ex] if e.expected is not None], spec.output_schema)
    return CompileState(
        spec=spec, options=options, teacher=teacher_m, student=student_m,
        # Dev answers are measured the way the skill will run: with self-consistency when configured.
        student_eval=with_confidence(student_m, options.confidence),
        ledger=ledger if ledger is not None else Ledger(env.ledger_path, clock=clock),
        progress=progress or NullProgress(), clock=clock, train=train, dev_examples=dev_ex,
        template_text=template_instructions(spec.description, spec.output_schema),
        plain_text=plain_instructions(spec.description), tier_models=dict(tier_models or {}), embedder=embedder,
        checks=None if checks.empty else checks, cache=store,
    )


def answer_cache(cache: AnswerCache | bool, path: Path | None) -> AnswerCache | None:
    """The compile's answer cache: ``cache`` itself, or with ``True`` the environment's file (``None`` when
    that is turned off), or none with ``False``."""
    if isinstance(cache, AnswerCache):
        return cache
    return AnswerCache(path) if cache and path is not None else None


def _classifier_embedder(options: CompileOptions, spec: SkillSpec, student: Model) -> Model | None:
    """The model that embeds inputs for the classifier (``options.classifier_embeddings``), checked
    before any call: ``None`` when there is no classifier to train or no model to embed with."""
    choice = options.classifier_embeddings
    if choice is None or not options.cascade or single_enum_field(spec.output_schema) is None:
        return None
    if choice in ("student", "auto") and student.supports_embeddings:
        return student
    if choice == "student":
        return None
    if choice == "auto":
        # A remote student that gives no embeddings (Claude) borrows the embedded local model's, when it is
        # installed: free, and the classifier tier is the cheapest rung there is.
        return None if student.is_local else embedded_embedder()
    model = resolve_model(choice, choice)
    if not model.supports_embeddings:
        raise SpecError(f"classifier_embeddings: {model.model_id} gives no embeddings (the embedded local model "
                        "does: local:smollm2-135m)", field="classifier_embeddings")
    return model


def embedded_embedder() -> Model | None:
    """The embedded local model, when it is installed (``llama-cpp-python`` and its weights); else ``None``."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    try:
        model = resolve_model(EMBEDDED, EMBEDDED)
    except ConfigurationError:
        return None
    return model if model.supports_embeddings else None


def _check_tiers(options: CompileOptions, injected: Mapping[str, Model]) -> None:
    names = options.model_tiers
    if len(set(names)) != len(names):
        raise SpecError(f"model_tiers names a model twice: {list(names)}", field="model_tiers")
    if unknown := sorted(set(injected) - set(names)):
        raise SpecError(f"tier_models given for models not in options.model_tiers: {unknown}", field="tier_models")


async def acompile_skill(
    spec: SkillSpec | Mapping[str, Any],
    examples: Sequence[Example | Mapping[str, Any]],
    options: CompileOptions | None = None,
    *,
    dev_examples: Sequence[Example | Mapping[str, Any]] | None = None,
    teacher: str | Model | None = None,
    student: str | Model | None = None,
    ledger: Ledger | None = None,
    clock: Clock = utc_now,
    progress: Progress | None = None,
    tier_models: Mapping[str, Model] | None = None,
    cache: AnswerCache | bool = True,
) -> Skill:
    """Compile a skill: see the module docstring for the steps.

    ``options`` holds every knob of the search (:class:`~skillforge.format.CompileOptions`, recorded
    in the skill's provenance). ``dev_examples`` default to a split of ``examples``.
    ``teacher``/``student`` are model ids or instances (``None``: the defaults, see
    :mod:`skillforge.environment`). Every model call is appended to ``ledger`` (default: the
    environment's ledger path); ``progress`` receives a stage per teacher or student pass (the CLI
    shows bars; :func:`skillforge.cli.print_compile_report` prints the summary).

    With ``options.teacher_batch`` the teacher's calls go through its batch API
    (:class:`~skillforge.models.batching.BatchingModel`, state in ``.skillforge/batches/`` next to the
    ledger): a compile interrupted while waiting for a batch resumes it when run again with the same
    arguments. The compiled skill's teacher is the plain model (escalations are not batched).

    ``options.model_tiers`` names models to measure behind the student (e.g. Claude Haiku behind the
    embedded model); ``tier_models`` gives instances for some of those ids (the rest are resolved from
    the registry). See :mod:`skillforge.compile.model_tiers`.

    Every model answer is kept in the answer ``cache`` (:mod:`skillforge.models.answer_cache`; ``True``: the
    environment's file, ``.skillforge/cache.sqlite`` next to the ledger; ``False``: none): a compile
    killed part-way and run again, or run again with other options, pays only for requests it has not
    asked before. Answers served from it are marked in the ledger (cost 0, the original cost noted).
    """
    state = initial_state(spec, examples, options, dev_examples, teacher, student, ledger, clock, progress,
                          tier_models, cache)
    for step in (steps.draft, steps.select, steps.refine, ladder.calibrate):
        await timed(state, step)
    return assemble(state)


async def timed(state: CompileState, step: Callable[[CompileState], Awaitable[None]]) -> None:
    """Run one step, recording its model calls (ledger entries) and wall time (by the compile's clock)
    in ``state.step_costs``."""
    calls, start = len(state.ledger.entries), state.clock()
    await step(state)
    seconds = max(0.0, (state.clock() - start).total_seconds())
    state.step_costs.append(StepCost(step=step.__name__, calls=len(state.ledger.entries) - calls,
                                     seconds=round(seconds, 1)))


compile_skill = blocking(acompile_skill)
