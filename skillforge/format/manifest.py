"""The skill format: what ``skill.yaml``, ``examples.jsonl`` and ``tests.jsonl`` hold.

``skills/<name>/`` holds text only, so a skill diffs well in code review:

- ``skill.yaml``      -- format version, name, description, schemas, settings, provenance, dev metrics
- ``instructions.md`` -- the instructions the student follows
- ``examples.jsonl``  -- demos, one ``{"input", "output", "source"}`` object per line
- ``tests.jsonl``     -- regression cases, one ``{"input", "expected"}`` object per line
- ``escalations.jsonl`` -- appended by the runtime: accepted teacher answers (not hashed)

Every model is strict (unknown fields are errors). :mod:`skillforge.format.files` reads and writes them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from skillforge.format.options import MAX_TEMPERATURE, MAX_TOKENS, CompileOptions, ConfidenceSettings, InputFormat
from skillforge.jsonl import StrictModel
from skillforge.spec.checks import AnswerChecks
from skillforge.spec.scoring import Comparator

FORMAT_VERSION = 1
MANIFEST = "skill.yaml"
INSTRUCTIONS = "instructions.md"
DEMOS = "examples.jsonl"
TESTS = "tests.jsonl"
CLASSIFIER = "classifier.json"
ESCALATIONS = "escalations.jsonl"
#: Upper bounds of settings a hand-edited (or hostile) skill.yaml could otherwise set to make every run
#: cost without limit.
MAX_REASKS = 10

DemoSource = Literal["teacher", "label", "escalation"]
DemoStrategy = Literal["none", "fixed", "retrieved", "clustered"]
#: Where the instructions come from: the spec's description alone (one line), the description plus a
#: list of the output fields (``template``), or the teacher's draft.
InstructionsSource = Literal["plain", "teacher", "template"]


class Demo(StrictModel):
    """A worked example shown to the student, with where its answer came from."""

    input: dict[str, Any]
    output: dict[str, Any]
    source: DemoSource


class RegressionCase(StrictModel):
    """A held-back dev case and its expected answer."""

    input: dict[str, Any]
    expected: dict[str, Any]


class TierSettings(StrictModel):
    """A cheap tier tried before the student. ``classifier``: the linear text classifier in
    ``classifier.json`` (microseconds, no model call); it answers when its probability reaches
    ``threshold``, else the next tier does."""

    kind: Literal["classifier"] = "classifier"
    #: ``None``: the tier never answers (kept for measurement only).
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Share of calibration inputs it answered at the threshold.
    expected_share: float | None = Field(default=None, ge=0.0, le=1.0)


class ModelTier(StrictModel):
    """A model tried after the student and before the teacher (e.g. Claude Haiku behind the embedded
    model). It answers with the student's prompt (``prompt: student``) or the teacher's lean one
    (instructions and input only); its answer is accepted when its own ``confidence`` reaches
    ``threshold``, else the next tier (finally the teacher) answers. ``model`` is a model id, resolved
    like the student's and overridable per run."""

    model: str = Field(min_length=1)
    prompt: Literal["student", "lean"] = "student"
    confidence: ConfidenceSettings = Field(default_factory=ConfidenceSettings)
    #: ``None``: the tier never answers (kept for measurement only).
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Share of calibration inputs it answered at the threshold (of all inputs, not only those reaching it).
    expected_share: float | None = Field(default=None, ge=0.0, le=1.0)


class Settings(StrictModel):
    """How the skill runs. Editable by hand; not covered by the content hash."""

    instructions_source: InstructionsSource
    #: ``none``: zero-shot; ``fixed``: every demo in examples.jsonl, in order; ``retrieved``: per
    #: input, the ``k`` demos of examples.jsonl most similar to it (BM25, see retrieval.py);
    #: ``clustered``: the demos of one of ``demo_groups``, the group holding the demo most similar to the input.
    demo_strategy: DemoStrategy
    #: Number of demos in the prompt (``clustered``: in the largest group).
    k: int = Field(ge=0)
    #: ``clustered`` only: examples.jsonl positions (from 0) partitioned into demo sets, each shown in
    #: this order. A fixed set per group is a prompt prefix a local model caches; retrieval's is not.
    demo_groups: list[list[int]] | None = None
    #: Student answers with confidence below this are escalated; ``None``: no confidence gate.
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    target_precision: float = Field(default=0.95, gt=0.0, le=1.0)
    #: Share of dev inputs the student answered at the threshold (what to expect in production).
    expected_student_share: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Re-asks of the student with validation feedback after invalid output.
    max_reasks: int = Field(default=1, ge=0, le=MAX_REASKS)
    temperature: float = Field(default=0.0, ge=0.0, le=MAX_TEMPERATURE)
    max_tokens: int = Field(default=256, gt=0, le=MAX_TOKENS)
    #: Per-output-field comparison used when scoring (default: exact).
    comparators: dict[str, Comparator] = Field(default_factory=dict)
    #: Regression cases must pass at least this share (set from the dev score at compile time).
    min_pass_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: And their mean field score (partial credit per output field) at least this; ``None``: no such gate.
    #: Set at compile time for multi-field outputs, where exact whole-answer matches are rare.
    min_field_score: float | None = Field(default=None, ge=0.0, le=1.0)
    #: What an escalated input is sent to the teacher with. ``plain``: the teacher-only prompt -- the
    #: description and the output schema, no compiled instructions, no demos
    #: (:mod:`skillforge.run.teacher_only`), so an escalated input costs exactly what it would cost
    #: teacher-only; ``lean``: the skill's instructions and the input, no demos; ``student``: the student's
    #: own prompt, demos included (for a teacher that needs them).
    escalation_prompt: Literal["plain", "lean", "student"] = "lean"
    #: How the student's prompt renders the input and the demos' inputs (see :data:`InputFormat`).
    input_format: InputFormat = "json"
    #: The output schema's text in the system prompt; ``False``: instructions only, the answer's format
    #: left to the student's constrained decoding (the schema is always sent as the grammar).
    schema_in_prompt: bool = True
    #: How the student's confidence is measured (default: logprobs).
    confidence: ConfidenceSettings = Field(default_factory=ConfidenceSettings)
    #: Cheap tiers tried in order before the student (empty: the student answers first).
    tiers: list[TierSettings] = Field(default_factory=list)
    #: Models tried in order after the student and before the teacher (empty: escalations go to the teacher).
    model_tiers: list[ModelTier] = Field(default_factory=list)
    #: Checks of the student's answers beyond the schema (:mod:`skillforge.spec.checks`), learned from the
    #: labelled examples at compile time (or stated in the spec): an answer that breaks one is invalid.
    checks: AnswerChecks | None = None
    #: An answer that breaks a check is asked again once, told what it broke, before the teacher is called;
    #: ``False``: it goes straight on. The compiler keeps the repair only where it lowers the cost per call.
    repair: bool = True
    #: ``False``: the student is not asked. What the classifier tier does not answer (every input, without
    #: one) goes straight to the teacher. The compiler sets it when no student answer could be certified at
    #: the target precision, or when asking the student would cost more per call than it saves.
    ask_student: bool = True


class Lineage(StrictModel):
    """A skill this one was retargeted from (``skillforge retarget``): its models and when it was made."""

    student: str
    teacher: str
    compiled_at: str
    #: Its content hash (instructions, demos, regression cases and classifier as then written).
    content_hash: str
    #: Written although the regression gate refused it (``--force``), and why it refused.
    forced: bool = False
    refusals: list[str] = Field(default_factory=list)


class Provenance(StrictModel):
    teacher: str
    student: str
    skillforge_version: str
    spec_hash: str
    #: Hash of instructions.md, examples.jsonl and tests.jsonl as written.
    content_hash: str
    compiled_at: str
    #: The options the skill was compiled with (``None`` for skills compiled before they were recorded).
    options: CompileOptions | None = None
    #: The skills this one was retargeted from, oldest first (empty: compiled as it is).
    retargeted_from: list[Lineage] = Field(default_factory=list)


class CandidateResult(StrictModel):
    name: str
    instructions_source: InstructionsSource
    demo_strategy: DemoStrategy
    k: int
    #: Mean over the demo draws measured (one draw: that draw's score).
    dev_score: float
    dev_accuracy: float
    mean_confidence: float | None = None
    input_format: InputFormat = "json"
    schema_in_prompt: bool = True
    #: Dev score of each demo draw measured (empty: one draw, or nothing drawn).
    draw_scores: list[float] = Field(default_factory=list)
    #: Standard deviation of the dev score over the draws (0 without demos: nothing is drawn;
    #: ``None``: one draw of demos only, spread not measured).
    spread: float | None = None
    #: Dev cases measured when the candidate was stopped early, once it could no longer win, or was
    #: screened on part of dev and could not be chosen (its scores are over these cases; ``None``:
    #: measured on every dev case).
    cases_measured: int | None = None


class RefinementRound(StrictModel):
    """One round of the teacher revising instructions from the student's dev failures."""

    round: int
    failures_shown: int
    dev_score_before: float
    #: ``None`` when the teacher produced no usable revision.
    dev_score_after: float | None = None
    kept: bool = False
    #: Dev cases the revision was measured on when it was stopped early, once it could no longer
    #: clearly beat the choice (``dev_score_after`` is over these; ``None``: every dev case).
    cases_measured: int | None = None


class StepCost(StrictModel):
    """What one compile step cost: the model calls it made and its wall time."""

    #: ``draft``, ``select``, ``refine`` or ``calibrate``.
    step: str
    calls: int = Field(ge=0)
    #: Wall time, known to the compile that measured it; not written to ``skill.yaml`` (two compiles of the
    #: same inputs write identical files), so ``None`` in a loaded skill.
    seconds: float | None = Field(default=None, ge=0.0)


class LadderOption(StrictModel):
    """One cascade the compiler priced: the tiers before the teacher, and what they would do."""

    tiers: list[str]
    #: Share of calibration inputs answered before the teacher, and by each tier.
    student_share: float
    tier_shares: dict[str, float] = Field(default_factory=dict)
    #: Expected cost per 1,000 calls at list prices (reference prices for local models); ``None``: unknown.
    cost_per_1k: float | None = None
    chosen: bool = False
    #: The student's confidence this ladder was priced with (``None``: the chosen one), and whether answers
    #: breaking a learned check were repaired (``None``: the skill has no checks): the alternatives priced.
    confidence: str | None = None
    repair: bool | None = None


class TokenCounts(StrictModel):
    """Mean tokens of one call."""

    input_tokens: float = Field(ge=0.0)
    output_tokens: float = Field(ge=0.0)


class StepEstimate(StrictModel):
    """What the compile planned for one step before it started (:mod:`skillforge.compile.estimate`): each
    quantity as ``[low, high]``."""

    step: str
    calls: tuple[int, int]
    input_tokens: tuple[int, int]
    output_tokens: tuple[int, int]
    usd: tuple[float, float]


class BudgetReport(StrictModel):
    """A compile budget (``CompileOptions.budget_usd``): the limit, what was spent, and what it cut."""

    limit_usd: float
    spent_usd: float
    cuts: list[str] = Field(default_factory=list)


class ToCertify(StrictModel):
    """What more labelled data would let the calibration certify student answers (see
    :func:`skillforge.stats.examples_to_certify`)."""

    #: The share of inputs the student would answer, and the precision its calibration answers showed there.
    share: float = Field(ge=0.0, le=1.0)
    precision: float = Field(ge=0.0, le=1.0)
    #: Further labelled examples like these the bound would need (``None``: no share is precise enough).
    more_examples: int | None = Field(default=None, ge=0)


class CoveragePoint(StrictModel):
    """One point of the risk-coverage curve: accuracy of the most confident ``coverage`` share."""

    coverage: float
    answered: int
    accuracy: float | None = None


class Metrics(StrictModel):
    dev_size: int
    dev_score: float
    #: Dev score of the baseline: the plain zero-shot prompt (``baseline``) in skills compiled with
    #: rendering search, the template zero-shot prompt before.
    zero_shot_dev_score: float
    chosen: str
    #: The candidate every other one is compared against (the plain prompt).
    baseline: str | None = None
    #: Why ``chosen`` won: the best dev score, and its paired margin over simpler candidates.
    selection: str | None = None
    #: Precision of accepted dev answers at the threshold.
    accepted_precision: float | None = None
    #: One-sided Wilson lower bound on that precision, at ``confidence_level``.
    precision_lower_bound: float | None = None
    confidence_level: float | None = None
    #: Cases the threshold was calibrated on: the dev set plus held-out training examples.
    calibration_size: int | None = None
    #: The teacher's mean score on labelled training examples with the instructions alone (decides
    #: ``settings.escalation_prompt``).
    teacher_lean_score: float | None = None
    candidates: list[CandidateResult] = Field(default_factory=list)
    #: Teacher-reflective refinement rounds, in order (kept or not).
    refinement: list[RefinementRound] = Field(default_factory=list)
    #: Demos the teacher-checked pool held, and how many of the teacher's answers were wrong, invalid
    #: or missing (replaced by the label, or dropped when there was none).
    demo_pool_size: int | None = None
    teacher_answers_replaced: int | None = None
    #: AUROC of each confidence signal (and ``combined``) on the calibration cases, cross-fitted.
    signal_auroc: dict[str, float] = Field(default_factory=dict)
    #: Accuracy of the student's most confident calibration answers at coverages 10%, 20%, ..., 100%.
    risk_coverage: list[CoveragePoint] = Field(default_factory=list)
    #: Share of calibration inputs the student gave no valid answer to: the expected share of
    #: ``invalid`` escalations (``skillforge status`` tests live traffic against it).
    invalid_share: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Model calls (teacher and student) and wall time of each compile step, in order.
    compile_steps: list[StepCost] = Field(default_factory=list)
    #: The plan made before the first call, per step (compare ``compile_steps``).
    estimate: list[StepEstimate] = Field(default_factory=list)
    #: The compile's budget and what it cut (``None``: no budget).
    budget: BudgetReport | None = None
    #: For a skill whose student answers nothing: what more labelled data would let it certify a share.
    to_certify: ToCertify | None = None
    #: Per-field AUROC of each per-field signal (``field_prob``, ``sample``, ``second``: each field's own,
    #: against whether that field is right) on the calibration cases.
    field_auroc: dict[str, dict[str, float]] = Field(default_factory=dict)
    #: Mean tokens of the teacher-only call over the dev inputs (the plain prompt and the expected answer,
    #: :mod:`skillforge.run.teacher_only`): what ``skillforge status`` and ``report`` price teacher-only at.
    teacher_only: TokenCounts | None = None
    #: The cascades priced at compile time (kept last: a skill.yaml without it was cut short).
    ladders: list[LadderOption] = Field(default_factory=list)


#: Metrics fields added after skills were first committed: a skill.yaml compiled before them lacks them
#: without being cut short (each sits before ``ladders``, which a cut-short file loses first).
LATER_METRICS = frozenset({"risk_coverage", "invalid_share", "compile_steps", "teacher_only", "to_certify",
                           "field_auroc", "estimate", "budget"})


class Manifest(StrictModel):
    format_version: int
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    settings: Settings
    provenance: Provenance
    metrics: Metrics
