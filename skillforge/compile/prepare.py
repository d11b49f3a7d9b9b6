"""The prepare step: every argument checked before any model is called, the models resolved and wrapped
(batching, the compile's budget, the answer cache), the data split, the answer checks learned, and the
plan of what the compile will cost (:mod:`~skillforge.compile.estimate`)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillforge.compile import steps
from skillforge.compile.budget import Budget, BudgetedModel
from skillforge.compile.estimate import CompileEstimate, Extras, estimate_compile
from skillforge.compile.state import CompileState
from skillforge.environment import read_env
from skillforge.errors import ConfigurationError, SpecError
from skillforge.format import CompileOptions
from skillforge.ledger import Clock, Ledger, utc_now
from skillforge.models.answer_cache import AnswerCache, CachedModel
from skillforge.models.base import Model, Role
from skillforge.models.batching import BatchingModel
from skillforge.models.registry import resolve_model
from skillforge.progress import NullProgress, Progress
from skillforge.run import plain_instructions, template_instructions, with_confidence
from skillforge.run.classifier import single_enum_field
from skillforge.spec import AnswerChecks, Example, SkillSpec, check_examples, learn_checks, spec_from_mapping

#: The embedded local model: the embedder a remote student borrows (``classifier_embeddings="auto"``).
EMBEDDED = "local:smollm2-135m"


@dataclass(frozen=True)
class Inputs:
    """What a compile is asked to do and with what (see :func:`~skillforge.compile.compile_skill`)."""

    spec: SkillSpec | Mapping[str, Any]
    examples: Sequence[Example | Mapping[str, Any]]
    options: CompileOptions | None = None
    dev_examples: Sequence[Example | Mapping[str, Any]] | None = None
    teacher: str | Model | None = None
    student: str | Model | None = None
    ledger: Ledger | None = None
    clock: Clock = utc_now
    progress: Progress | None = None
    tier_models: Mapping[str, Model] = field(default_factory=dict)
    cache: AnswerCache | bool = True


@dataclass(frozen=True)
class Checked:
    """The inputs checked and resolved, no model called: the spec, options, data and plain models."""

    spec: SkillSpec
    options: CompileOptions
    train: list[Example]
    dev: list[Example]
    teacher: Model
    student: Model
    embedder: Model | None
    estimate: CompileEstimate
    #: The answer checks beyond the schema, stated in the spec or learned from the examples (``None``: none).
    checks: AnswerChecks | None


def _examples(values: Sequence[Example | Mapping[str, Any]], *, spec: SkillSpec, what: str) -> list[Example]:
    out = [e if isinstance(e, Example) else Example.model_validate(e) for e in values]
    check_examples(spec, out, what=what)
    return out


def check(inputs: Inputs, *, calls: bool = True) -> Checked:
    """Every argument checked, the models resolved (not called), the data split, the cost planned.
    ``calls=False``: only the plan is wanted -- a remote model needs no API key to be priced."""
    spec = inputs.spec if isinstance(inputs.spec, SkillSpec) else spec_from_mapping(dict(inputs.spec), source="spec")
    options = inputs.options or CompileOptions()
    train_in = _examples(inputs.examples, spec=spec, what="examples")
    if not train_in:
        raise SpecError("no examples given: compile_skill needs labelled examples", field="examples")
    dev_in = None if inputs.dev_examples is None else _examples(inputs.dev_examples, spec=spec, what="dev_examples")
    unknown = set(options.comparators) - set(spec.output_schema.get("properties", {}))
    if unknown:
        raise SpecError(f"comparators for unknown output fields: {sorted(unknown)}", field="comparators")
    _check_tiers(options, inputs.tier_models)
    env = read_env()
    resolve = resolve_model if calls else _resolve_unkeyed
    teacher = resolve(inputs.teacher, env.default_teacher, role="teacher")
    student = resolve(inputs.student, env.default_student, role="student")
    for m in (teacher, student):
        m.check_schema(spec.output_schema)
    if options.teacher_batch and not teacher.supports_batch:
        raise SpecError(f"teacher_batch needs a teacher with a batch API (e.g. anthropic:...); "
                        f"{teacher.model_id} has none", field="teacher_batch")
    embedder = _classifier_embedder(options, spec, student)
    train, dev = steps.prepare(train_in, dev_in, seed=options.seed, fraction=options.search.dev_fraction,
                               max_dev=options.search.max_dev)
    second = None
    if options.search.signal_search and options.second_opinion is not None:
        second = student if options.second_opinion == "student" else resolve_model(
            options.second_opinion, options.second_opinion, role="second_opinion")
    checks = spec.checks if spec.checks is not None else learn_checks(
        [(e.input, e.expected) for e in [*train, *dev] if e.expected is not None], spec.output_schema)
    estimate = estimate_compile(spec, train, dev, options, teacher=teacher, student=student,
                                extras=Extras(wants_samples(options, student), second, not checks.empty))
    budget = options.budget_usd
    if budget is not None and budget < estimate.minimum_usd:
        raise SpecError(f"a budget of ${budget:.4f} cannot pay for what every skill needs -- the teacher's draft and "
                        f"demo pool, the baseline on dev and the calibration: at least ${estimate.minimum_usd:.4f} "
                        "(their worst case at list prices)", field="budget_usd")
    return Checked(spec, options, train, dev, teacher, student, embedder, estimate, None if checks.empty else checks)


def _resolve_unkeyed(model: str | Model | None, default: str, *, role: Role) -> Model:
    """:func:`resolve_model`, but a Claude or OpenAI-compatible id without an API key still resolves (with a
    placeholder key that is never sent): a plan prices calls, it makes none."""
    try:
        return resolve_model(model, default, role=role)
    except ConfigurationError:
        name = model if isinstance(model, str) else default
        prefix, _, rest = name.partition(":")
        if prefix == "anthropic":
            from skillforge.models.anthropic.model import AnthropicModel

            return AnthropicModel(rest, api_key="unused: a plan makes no calls").for_role(role)
        if prefix == "openai":
            from skillforge.models.openai_compat.model import OpenAIModel

            return OpenAIModel(rest, api_key="unused: a plan makes no calls").for_role(role)
        raise


def wants_samples(options: CompileOptions, student: Model) -> bool:
    """Whether the calibration measures the student's extra samples: for a student that gives no token
    probabilities (nothing else of its own ranks its answers) under signal search, unless self-consistency
    is configured (that samples every answer already)."""
    return (options.search.signal_search and options.confidence.method != "self_consistency"
            and not (student.supports_logprobs or student.supports_choice_scores))


def initial_state(inputs: Inputs) -> CompileState:
    """The state compilation starts from (the prepare step, :func:`check`), its models wrapped: the teacher
    batching when asked, both held to the budget, then the answer cache (a cached answer reserves nothing)."""
    c = check(inputs)
    env, options = read_env(), c.options
    budget = None if options.budget_usd is None else Budget(options.budget_usd)
    teacher_m, student_m = c.teacher, c.student
    if options.teacher_batch:
        teacher_m = BatchingModel(teacher_m, state_dir=env.batch_state_dir)
    if budget is not None:
        teacher_m, student_m = BudgetedModel(teacher_m, budget), BudgetedModel(student_m, budget)
    store = answer_cache(inputs.cache, env.cache_path)
    if store is not None:
        teacher_m, student_m = CachedModel(teacher_m, store), CachedModel(student_m, store)
    spec = c.spec
    return CompileState(
        spec=spec, options=options, teacher=teacher_m, student=student_m,
        # Dev answers are measured the way the skill will run: with self-consistency when configured.
        student_eval=with_confidence(student_m, options.confidence.settings()),
        ledger=inputs.ledger if inputs.ledger is not None else Ledger(env.ledger_path, clock=inputs.clock),
        progress=inputs.progress or NullProgress(), clock=inputs.clock, train=c.train, dev_examples=c.dev,
        template_text=template_instructions(spec.description, spec.output_schema),
        plain_text=plain_instructions(spec.description), tier_models=dict(inputs.tier_models),
        embedder=c.embedder, checks=c.checks, cache=store, budget=budget,
        estimate=c.estimate,
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
    if choice is None or not options.search.classifier_tier or single_enum_field(spec.output_schema) is None:
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
