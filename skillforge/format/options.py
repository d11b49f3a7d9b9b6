"""The knobs of compilation, in one frozen object recorded in every skill's provenance, and the
confidence settings a skill runs with."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from skillforge.spec.config import UserConfig
from skillforge.spec.scoring import Comparator

DEFAULT_CONFIDENCE_LEVEL = 0.95
#: Upper bounds a skill's settings are held to: samples per input, answer tokens, sampling temperature.
MAX_SAMPLES = 100
MAX_TOKENS = 1_000_000
MAX_TEMPERATURE = 2.0


#: The signals a student's answer can be scored by (see :mod:`skillforge.run.signals`).
Signal = Literal["value_prob", "field_min_prob", "class_prob", "class_margin", "classifier_prob", "neighbour_vote",
                 "reasked",
                 "second_prob", "second_agreement", "student_agreement", "sample_agreement",
                 "sample_field_agreement"]
#: How an input (and every demo's input) is shown to the model. ``json``: compact JSON, keys sorted;
#: ``plain``: the text itself when the input schema has exactly one property, a string, else one
#: readable ``field: value`` line per field (schema order).
InputFormat = Literal["json", "plain"]


class Combiner(UserConfig):
    """A logistic model over signals: ``confidence = 1 / (1 + exp(-(bias + sum(w * (x - mean) / scale))))``.
    Plain numbers, fitted at compile time on the calibration cases; a missing signal counts as its mean."""

    signals: tuple[Signal, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

#: A prompt rendering: the input as ``json`` or ``plain`` text, with ``+schema`` the output schema's text
#: in the system prompt (without: the format is left to constrained decoding).
RenderingName = Literal["json+schema", "plain+schema", "json", "plain"]
RENDERINGS: tuple[RenderingName, ...] = ("json+schema", "plain+schema", "json", "plain")


class SecondOpinion(UserConfig):
    """A second, independent look at each input the student answers: ``model`` (``None``: the student's
    own model) answers it zero-shot with ``instructions`` in its own rendering, and how much it backs the
    student's answer becomes two signals (``second_prob``, ``second_agreement``; see
    :mod:`skillforge.run.second_opinion`). One extra call per student answer: free with a local model
    (the embedded model as a second opinion for a Claude student), and kept by the compiler only where
    it lets the student answer more at the target precision."""

    model: str | None = None
    instructions: str = Field(min_length=1)
    input_format: InputFormat = "plain"
    schema_in_prompt: bool = False


class ConfidenceSettings(UserConfig):
    """Where the student's confidence comes from.

    - ``logprob``: the joint probability of the answer's value tokens (one call; needs logprobs).
    - ``distribution``: the probability of the chosen value among every allowed value of the enum or
      boolean output fields (one call; needs a provider that scores choices, else ``logprob``).
    - ``combined``: ``combiner`` over several signals (class probability, margin, the probability the skill's
      text classifier gives the same answer, re-asks), fitted at compile time.
    - ``self_consistency``: ``samples`` answers at ``temperature``; the share agreeing with the
      majority answer is the confidence (``samples`` calls per input: for models without logprobs).
      ``temperature: null`` samples a model that takes no temperature (Claude's 5 generation) at its
      own fixed settings; a number for such a model is refused (see :mod:`skillforge.run.confidence`).
    """

    method: Literal["logprob", "distribution", "combined", "self_consistency"] = "logprob"
    samples: int = Field(default=5, ge=1, le=MAX_SAMPLES)
    temperature: float | None = Field(default=0.7, ge=0.0, le=MAX_TEMPERATURE)
    #: For ``combined``: the fitted model (``None`` otherwise).
    combiner: Combiner | None = None
    #: For ``combined``: the second opinion whose signals the combiner reads (``None``: no extra call).
    second_opinion: SecondOpinion | None = None


class CompileOptions(UserConfig):
    """How :func:`~skillforge.compile.compile_skill` searches, selects and calibrates. Frozen; an
    invalid value raises :class:`~skillforge.errors.SpecError` naming the field. The options a skill
    was compiled with are written to ``provenance.options`` in its ``skill.yaml``."""

    #: Accepted student answers must reach this precision on the calibration cases.
    target_precision: float = Field(default=0.95, gt=0.0, le=1.0)
    #: Level of the one-sided Wilson lower bound the threshold's precision must reach the target by;
    #: ``None``: the point estimate.
    confidence_level: float | None = Field(default=DEFAULT_CONFIDENCE_LEVEL, ge=0.5, lt=1.0)
    #: Per-output-field comparison for scoring (default: exact), stored in the skill's settings.
    comparators: dict[str, Comparator] = Field(default_factory=dict)
    #: Fixed-demo counts to try besides zero-shot (default: 1, 2 and 4 per class for enum outputs,
    #: else 2, 4 and 8).
    ks: tuple[int, ...] | None = None
    #: Share of the labelled examples split off as the dev set (when no ``dev_examples`` are given).
    dev_fraction: float = Field(default=0.3, gt=0.0, lt=1.0)
    #: At most this many dev cases are split off.
    max_dev: int = Field(default=60, ge=1)
    #: Training examples the teacher answers to build the demo pool.
    max_demo_pool: int = Field(default=32, ge=1)
    #: Also try per-input retrieved demos (BM25-similar to each input).
    retrieval: bool = True
    #: Retrieved-demo counts to try (default: as ``ks``). Retrieved demos are not cacheable, so large
    #: counts cost prompt processing on every call.
    retrieval_ks: tuple[int, ...] | None = None
    #: Also try each retrieved-demo candidate's pool grouped into fixed demo sets (``clustered``), measured
    #: first: one cacheable prompt prefix per group, kept unless per-input retrieval clearly scores higher.
    clustered: bool = True
    #: Retrieved demos are drawn from at most this many examples.
    max_retrieval_pool: int = Field(default=200, ge=1)
    #: Rounds of the teacher revising the instructions from the student's dev failures.
    refine_rounds: int = Field(default=2, ge=0)
    #: Stop refining once the teacher has cost this much (``None``: no budget).
    refine_budget_usd: float | None = Field(default=None, ge=0.0)
    #: A more complex candidate (or a revision) must beat a simpler one by this many standard errors
    #: of the paired dev-score gain; 1 is the one-standard-error rule, 0 the plain best score.
    selection_z: float = Field(default=1.0, ge=0.0)
    #: Held-out training examples added to the calibration set (``None``: every labelled training example
    #: the chosen prompt does not show as a fixed demo, up to 1,000; see :mod:`skillforge.compile.ladder`).
    calibration_extra: int | None = Field(default=None, ge=0)
    #: How the student's confidence is measured (self-consistency for students without logprobs).
    confidence: ConfidenceSettings = Field(default_factory=ConfidenceSettings)
    #: Measure every free confidence signal on the calibration cases and keep the method (value-token
    #: probability, class probability, or a combination fitted with cross-fitting) that lets the
    #: student answer the most at the target precision. Off: ``confidence`` as given.
    signal_search: bool = True
    #: For single-enum outputs, train a text classifier tier on the labelled examples and put it before
    #: the student when that lowers the expected cost per call at the target precision.
    cascade: bool = True
    #: What else the classifier reads, beside the input's words: the input text's embedding by
    #: ``"auto"`` (the student's own model when it gives embeddings -- the embedded local model does --
    #: and for a remote student that gives none, like Claude, the embedded local model when it is
    #: installed), ``"student"`` (the student's own model only), or a model id that gives them (e.g.
    #: ``local:smollm2-135m``; every run then embeds each input with it). ``None``: words only. An
    #: embedding costs one forward pass of that model per input and no generation; it lifts the
    #: classifier from word counting to what the words mean in context (see docs/confidence.md, "The
    #: classifier tier").
    classifier_embeddings: str | None = Field(default="auto", min_length=1)
    #: A second opinion to measure as a confidence signal (:class:`SecondOpinion`): ``"student"`` (the
    #: student's own model under a different, zero-shot prompt) or a model id (e.g. ``local:smollm2-135m``
    #: for a Claude student). Kept in the skill only when the combined confidence with it lets the
    #: student answer more at the target precision than without. ``None``: not measured.
    second_opinion: str | None = Field(default=None, min_length=1)
    #: Models to measure as tiers after the student and before the teacher, in this order (e.g.
    #: ``("anthropic:claude-haiku-5-5",)`` behind the embedded model): each answers the calibration
    #: inputs with the student's prompt, gets its own confidence and threshold, and is kept only where the
    #: ladder with it costs less per call at the target precision (see :mod:`skillforge.compile.model_tiers`).
    model_tiers: tuple[str, ...] = ()
    #: Answer budget of student and teacher calls, stored in the skill's settings.
    max_tokens: int = Field(default=256, gt=0, le=MAX_TOKENS)
    #: Renderings the template instructions are tried in zero-shot; the best one is used for the demo
    #: rounds (the plain prompt -- description line, plain input, no schema text -- is always tried).
    renderings: tuple[RenderingName, ...] = RENDERINGS
    #: Demo draws per contending candidate: a candidate with demos that beats the plain prompt on its
    #: first draw is measured again with ``draws - 1`` other draws (other fixed demos, or retrieval from
    #: another subsample of the pool), and must beat the plain prompt by more than its spread over them.
    #: 1: no redraws (spread not measured; selection as before).
    draws: int = Field(default=3, ge=1)
    #: At most this many contenders (the best on their first draw) are redrawn; the others cannot win.
    redraw_top: int = Field(default=1, ge=1)
    #: Spend at most this many dollars on the whole compile (``None``: no budget): every call reserves its
    #: worst case first; when the budget runs out the compile finishes with the best skill measured so far
    #: and says what was cut. Below what every skill needs, the compile fails before its first call.
    budget_usd: float | None = Field(default=None, gt=0.0)
    #: Send the teacher's compile-time calls (drafting, answering training examples, refinement)
    #: through its batch API at the batch discount (Claude's Message Batches: half price, results in
    #: minutes to hours). Needs a teacher with a batch API; resumable after an interruption.
    teacher_batch: bool = False
    #: Seed of the dev split, the demo choice and the calibration sample.
    seed: int = 0
