"""The explicit state compilation's steps read and write (see :mod:`skillforge.compile.pipeline`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from skillforge.compile.budget import Budget, BudgetedModel
from skillforge.compile.candidates import Candidate
from skillforge.compile.classifier_tier import ClassifierFit, LadderCosts
from skillforge.compile.confidence_fit import ConfidenceChoice
from skillforge.compile.drafting import TeacherPool
from skillforge.compile.estimate import CompileEstimate
from skillforge.compile.ladder import TierPlan
from skillforge.compile.measure import Answer, Answerer, CaseResult, DevCase, Measurement, measure
from skillforge.compile.selection import Scored
from skillforge.format import CompileOptions, ConfidenceSettings, Demo, RefinementRound, StepCost, ToCertify
from skillforge.ledger import CallSite, Clock, Ledger
from skillforge.models.answer_cache import AnswerCache, CachedModel
from skillforge.models.base import Model, Usage
from skillforge.models.batching import BatchingModel
from skillforge.progress import Progress
from skillforge.spec import AnswerChecks, Example, SkillSpec
from skillforge.stats import Calibration

#: Concurrent teacher calls with a batching teacher (the Message Batches API takes 100,000 per batch).
BATCH_CONCURRENCY = 10_000


def wrappers(model: Model) -> list[Model]:
    """``model`` and every model it wraps (answer cache, budget, batching), outermost first."""
    out = [model]
    while isinstance(out[-1], CachedModel | BudgetedModel | BatchingModel):
        out.append(out[-1].inner)
    return out


def unwrapped(model: Model) -> Model:
    """The provider model inside the compile's wrappers."""
    return wrappers(model)[-1]


@dataclass(frozen=True)
class Drafted:
    """The draft step's result: the teacher's instructions (``None``: nothing usable), the dev cases with
    their references, and the demo pool."""

    teacher_text: str | None
    dev: list[DevCase]
    taught: TeacherPool


@dataclass(frozen=True)
class Selected:
    """The select step's result, which the refine step replaces when a revision is kept: every candidate
    with its draws (the plain prompt first: the baseline), the choice (its committed draw), why, and each
    refinement round."""

    scored: list[Scored]
    chosen: Measurement
    why: str
    rounds: list[RefinementRound] = field(default_factory=list)


@dataclass(frozen=True)
class Calibrated:
    """The calibrate step's result: the answers the thresholds were set on, whether a broken check is
    repaired, the confidence, the ladder (tiers and threshold), what a student ask and an escalation cost,
    each per-field signal's AUROC, and -- when the student answers nothing -- what more labelled data would
    let it."""

    cases: list[CaseResult]
    repair: bool
    confidence: ConfidenceChoice
    plan: TierPlan
    calibration: Calibration
    costs: LadderCosts
    field_auroc: dict[str, dict[str, float]]
    to_certify: ToCertify | None


@dataclass(frozen=True)
class Kept:
    """What a retarget (:mod:`skillforge.update.retarget`) keeps from the reviewed skill instead of deriving it
    again: its classifier (fitted on the inputs alone, so no student changes it; ``None``: the skill has none,
    and none is trained on its demos), what its escalations send the teacher, and the teacher-only call's
    mean tokens measured when it was compiled (``None``: not recorded)."""

    classifier: ClassifierFit | None
    escalation_prompt: Literal["plain", "lean", "student"]
    teacher_only: Usage | None


@dataclass
class CompileState:
    """What one compilation knows: its inputs and the resources its steps share (models, ledger, answer
    memo, cache, budget), then each step's frozen result (:class:`Drafted`, :class:`Selected`,
    :class:`Calibrated`), set once by the step that makes it."""

    spec: SkillSpec
    options: CompileOptions
    teacher: Model
    #: The student as compiled (what the skill records).
    student: Model
    #: The student as dev answers are measured: wrapped for self-consistency when configured.
    student_eval: Model
    ledger: Ledger
    progress: Progress
    clock: Clock
    #: prepare: training examples (dev inputs removed) and the dev examples.
    train: list[Example]
    dev_examples: list[Example]
    #: prepare: instructions written from the spec alone (the description plus the output fields).
    template_text: str
    #: prepare: the plain prompt's instructions (the description as one line).
    plain_text: str = ""
    #: Each step's result (``None`` until it has run).
    drafted: Drafted | None = None
    selected: Selected | None = None
    calibrated: Calibrated | None = None
    #: Every measurement made (each demo draw and revision), in order.
    measurements: list[Measurement] = field(default_factory=list)
    #: Each step's model calls and wall time, as the steps finish.
    step_costs: list[StepCost] = field(default_factory=list)
    #: The student's answers by request, shared between candidates (see :func:`measure`).
    answers: dict[str, Answer] = field(default_factory=dict)
    #: Models injected for ``options.model_tiers`` ids (the rest are resolved from the registry).
    tier_models: dict[str, Model] = field(default_factory=dict)
    #: prepare: the model that embeds the inputs for the classifier (``None``: it reads words only).
    embedder: Model | None = None
    #: prepare: the answer checks beyond the schema, stated in the spec or learned from the labelled
    #: examples (:mod:`skillforge.spec.checks`); ``None``: none. Every student answer is held to them.
    checks: AnswerChecks | None = None
    #: The answer cache every model call of the compile goes through (``None``: none).
    cache: AnswerCache | None = None
    #: The compile's budget (``None``: none), and the plan it was checked against.
    budget: Budget | None = None
    estimate: CompileEstimate | None = None
    #: A retarget's state: what is kept from the skill rather than derived (``None``: a compile).
    kept: Kept | None = None

    # Read access to the steps' results, by the names the steps and the assembly use.

    @property
    def teacher_text(self) -> str | None:
        return None if self.drafted is None else self.drafted.teacher_text

    @property
    def dev(self) -> list[DevCase]:
        """The dev cases with references (empty before ``draft``)."""
        return [] if self.drafted is None else self.drafted.dev

    @property
    def taught(self) -> TeacherPool | None:
        return None if self.drafted is None else self.drafted.taught

    @property
    def scored(self) -> list[Scored]:
        return [] if self.selected is None else self.selected.scored

    @property
    def why(self) -> str:
        return "" if self.selected is None else self.selected.why

    @property
    def rounds(self) -> list[RefinementRound]:
        return [] if self.selected is None else self.selected.rounds

    @property
    def calibration_cases(self) -> list[CaseResult]:
        return [] if self.calibrated is None else self.calibrated.cases

    @property
    def confidence(self) -> ConfidenceChoice | None:
        return None if self.calibrated is None else self.calibrated.confidence

    @property
    def calibration(self) -> Calibration | None:
        return None if self.calibrated is None else self.calibrated.calibration

    @property
    def costs(self) -> LadderCosts | None:
        return None if self.calibrated is None else self.calibrated.costs

    @property
    def repair(self) -> bool:
        return True if self.calibrated is None else self.calibrated.repair

    @property
    def field_auroc(self) -> dict[str, dict[str, float]]:
        return {} if self.calibrated is None else self.calibrated.field_auroc

    @property
    def to_certify(self) -> ToCertify | None:
        return None if self.calibrated is None else self.calibrated.to_certify

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def site(self) -> CallSite:
        """Where the compile's calls are written down."""
        return CallSite(self.ledger, self.name, "compile")

    @property
    def pool(self) -> list[Demo]:
        """The teacher-checked demo pool (empty before ``draft``)."""
        return [] if self.taught is None else self.taught.demos

    def teacher_concurrency(self) -> int:
        # One llama.cpp context serves one call at a time (and keeps its KV prefix warm in order). A
        # batching teacher sends whatever is asked at once as one batch: let every call join it.
        if any(isinstance(m, BatchingModel) for m in wrappers(self.teacher)):
            return BATCH_CONCURRENCY
        return 1 if self.teacher.is_local else 8

    def plain_teacher(self) -> Model:
        """The teacher without the compile's wrappers (cache, budget, batching): what the skill escalates to."""
        return unwrapped(self.teacher)

    def plain_student(self) -> Model:
        """The student without the compile's wrappers (cache, budget): what the compiled skill runs with."""
        return unwrapped(self.student)

    def cached(self, model: Model) -> Model:
        """``model`` as the compile calls it: held to the budget, through the answer cache."""
        if isinstance(model, CachedModel | BudgetedModel):
            return model
        if self.budget is not None:
            model = BudgetedModel(model, self.budget)
        return model if self.cache is None else CachedModel(model, self.cache)

    def student_concurrency(self) -> int:
        return 1 if self.student.is_local else 8

    def the_calibration(self) -> Calibrated:
        """The calibrate step's result (after ``calibrate``)."""
        if self.calibrated is None:
            raise RuntimeError("no tiers planned yet: run the calibrate step first")
        return self.calibrated

    def the_plan(self) -> TierPlan:
        """The chosen ladder of tiers (after ``calibrate``)."""
        return self.the_calibration().plan

    def confidence_settings(self) -> ConfidenceSettings:
        """How the skill's student confidence is computed (the options' unless calibrate chose)."""
        return self.options.confidence.settings() if self.confidence is None else self.confidence.settings

    def escalation_prompt(self) -> Literal["plain", "lean", "student"]:
        """What an escalation sends the teacher: the teacher-only prompt (``plain``: the description and the
        schema, no demos -- an escalated input then costs exactly what it costs teacher-only) unless the
        teacher measurably needs the demos: without them it must score at least what the student scores
        on dev with its prompt. A strong teacher clears that easily; a teacher no stronger than the student
        (offline: the same 135M model) does not, and gets the student's prompt. A retarget keeps the skill's."""
        if self.kept is not None:
            return self.kept.escalation_prompt
        lean_score = None if self.taught is None else self.taught.score
        return "plain" if lean_score is None or lean_score >= self.the_choice().score else "student"

    def the_selection(self) -> Selected:
        """The select step's result (after ``select``; refined by ``refine``)."""
        if self.selected is None:
            raise RuntimeError("no candidate chosen yet: run the select step first")
        return self.selected

    def the_choice(self) -> Measurement:
        """The chosen candidate's measurement (after ``select``)."""
        if self.selected is None:
            raise RuntimeError("no candidate chosen yet: run the select step first")
        return self.selected.chosen

    async def measure(
        self, candidate: Candidate, cases: list[DevCase], what: str | None, *, choice_scores: bool = False,
        sampling: ConfidenceSettings | None = None,
    ) -> Measurement:
        """The student's answers to ``cases`` with ``candidate``'s prompt, scored; a progress stage named
        by ``what`` (``None``: the caller's stage goes on). A request asked before is answered from
        :attr:`answers` unless the answers are sampled (self-consistency wraps the student); ``sampling``
        adds the sample-agreement signals (:func:`~skillforge.compile.measure.measure`)."""
        if what is not None:
            self.progress.stage(f"student: {candidate.name} on {what}", len(cases))
        o = self.options
        memo = self.answers if self.student_eval is self.student else None
        answerer = Answerer(self.student_eval, self.spec.output_schema, self.spec.input_schema, o.comparators,
                            o.max_tokens, self.site, self.student_concurrency(), self.progress, checks=self.checks)
        return await measure(candidate, cases, answerer, choice_scores=choice_scores, memo=memo, sampling=sampling)
