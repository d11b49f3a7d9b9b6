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

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from skillforge.compile import calibrate, steps
from skillforge.compile.assemble import assemble
from skillforge.compile.estimate import CompileEstimate
from skillforge.compile.prepare import Inputs, check, initial_state
from skillforge.compile.state import CompileState
from skillforge.format import CompileOptions, StepCost
from skillforge.ledger import Clock, Ledger, utc_now
from skillforge.models.answer_cache import AnswerCache
from skillforge.models.base import Model, blocking
from skillforge.progress import Progress
from skillforge.skill import Skill
from skillforge.spec import Example, SkillSpec


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

    With ``options.budget_usd`` spend never exceeds that many dollars (:mod:`skillforge.compile.budget`):
    each call reserves its worst case first, and what the budget cuts is recorded; a budget below what
    every skill needs fails before the first call, naming the minimum (see :func:`estimate_compile_skill`).
    """
    state = initial_state(Inputs(spec, examples, options, dev_examples, teacher, student, ledger, clock, progress,
                                 dict(tier_models or {}), cache))
    for step in (steps.draft, steps.select, steps.refine, calibrate.calibrate):
        await timed(state, step)
    return assemble(state)


def estimate_compile_skill(
    spec: SkillSpec | Mapping[str, Any],
    examples: Sequence[Example | Mapping[str, Any]],
    options: CompileOptions | None = None,
    *,
    dev_examples: Sequence[Example | Mapping[str, Any]] | None = None,
    teacher: str | Model | None = None,
    student: str | Model | None = None,
) -> CompileEstimate:
    """What :func:`compile_skill` with these arguments would cost, without calling any model: the planned
    teacher and student calls and tokens per step (a range where the search can stop early), dollars at
    list prices (a local model at its role's reference Claude price), and the minimum a budget must allow
    (:mod:`skillforge.compile.estimate`)."""
    return check(Inputs(spec, examples, options, dev_examples, teacher, student), calls=False).estimate


async def timed(state: CompileState, step: Callable[[CompileState], Awaitable[None]]) -> None:
    """Run one step, recording its model calls (ledger entries) and wall time (by the compile's clock)
    in ``state.step_costs``."""
    calls, start = len(state.ledger.entries), state.clock()
    await step(state)
    seconds = max(0.0, (state.clock() - start).total_seconds())
    state.step_costs.append(StepCost(step=step.__name__, calls=len(state.ledger.entries) - calls,
                                     seconds=round(seconds, 1)))


compile_skill = blocking(acompile_skill)
