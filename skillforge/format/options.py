"""The knobs of compilation, in one frozen object recorded in every skill's provenance, and the
confidence settings a skill runs with."""

from __future__ import annotations

import copy as _copy
import warnings
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_serializer, model_validator

from skillforge.spec.config import UserConfig
from skillforge.spec.scoring import Comparator
from skillforge.stats.intervals import DEFAULT_CONFIDENCE_LEVEL

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


#: Where each option that moved into :class:`SearchConfig` used to be set (``CompileOptions(ks=...)``):
#: still read, with a :class:`DeprecationWarning` once per name per process, until the next release.
MOVED_TO_SEARCH = frozenset({"ks", "dev_fraction", "max_dev", "max_demo_pool", "retrieval", "retrieval_ks", "clustered",
                             "max_retrieval_pool", "refine_rounds", "refine_budget_usd", "selection_z",
                             "calibration_extra", "signal_search", "cascade", "renderings", "draws"})
#: Moved options whose name changed on the way (old name -> its name in :class:`SearchConfig`).
RENAMED_IN_SEARCH = {"cascade": "classifier_tier"}
#: Old options that no longer do anything (read and dropped, with a warning).
RETIRED = frozenset({"redraw_top"})
#: The options every skill file written before the move records: a mapping holding them all is such a record,
#: written back as it was read (a partial one is someone's code, written in the new layout).
_OLD_RECORD = frozenset({"target_precision", "confidence_level", "comparators", "ks", "dev_fraction", "max_dev",
                         "max_demo_pool", "retrieval", "retrieval_ks", "refine_rounds", "selection_z",
                         "calibration_extra", "confidence", "max_tokens", "seed"})
_warned: set[str] = set()


class ConfidenceOptions(UserConfig):
    """What a user may ask of the student's confidence. By default the compile measures every signal the
    student gives (and, for a student without token probabilities, the agreement of further samples) and
    keeps what costs least; ``self_consistency`` makes every answer the majority of ``samples`` samples
    at ``temperature`` (``None``: the model's own sampling, for a model that takes no temperature)."""

    method: Literal["logprob", "self_consistency"] = "logprob"
    samples: int = Field(default=5, ge=1, le=MAX_SAMPLES)
    temperature: float | None = Field(default=0.7, ge=0.0, le=MAX_TEMPERATURE)

    def settings(self) -> ConfidenceSettings:
        """As a skill's confidence settings start out (the compile fills in what it chose)."""
        return ConfidenceSettings(method=self.method, samples=self.samples, temperature=self.temperature)


class SearchConfig(UserConfig):
    """The search's internals: which candidates are tried and how they are raced. The defaults suit
    every task measured (docs/benchmarks.md); a test or a small machine may narrow them. Recorded in a
    skill's provenance with the options."""

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
    #: Retrieved-demo counts to try (default: as ``ks``).
    retrieval_ks: tuple[int, ...] | None = None
    #: Also try each retrieved-demo candidate's pool grouped into fixed demo sets (one cacheable prompt
    #: prefix per group).
    clustered: bool = True
    #: Retrieved demos are drawn from at most this many examples.
    max_retrieval_pool: int = Field(default=200, ge=1)
    #: Rounds of the teacher revising the instructions from the student's dev failures.
    refine_rounds: int = Field(default=2, ge=0)
    #: Stop refining once the teacher has cost this much (``None``: no limit; ``budget_usd`` bounds the whole).
    refine_budget_usd: float | None = Field(default=None, ge=0.0)
    #: A more complex candidate (or a revision) must beat a simpler one by this many standard errors
    #: of the paired dev-score gain; 1 is the one-standard-error rule, 0 the plain best score.
    selection_z: float = Field(default=1.0, ge=0.0)
    #: Held-out training examples added to the calibration set (``None``: every labelled training example
    #: the chosen prompt does not show as a fixed demo, up to 1,000; see :mod:`skillforge.compile.calibrate`).
    calibration_extra: int | None = Field(default=None, ge=0)
    #: Measure every free confidence signal and keep the cheapest confidence; off: ``confidence`` as given.
    signal_search: bool = True
    #: For single-enum outputs, train a text classifier tier on the labelled examples (kept where the ladder
    #: with it costs less per call).
    classifier_tier: bool = True
    #: Renderings the template instructions are tried in zero-shot (the plain prompt is always tried).
    renderings: tuple[RenderingName, ...] = RENDERINGS
    #: Demo draws of the leading contender with demos: it must beat the plain prompt by more than its spread
    #: over them (1: no redraws).
    draws: int = Field(default=3, ge=1)


class CompileOptions(UserConfig):
    """How :func:`~skillforge.compile.compile_skill` searches, selects and calibrates: the choices a user
    has a reason to make. Frozen; an invalid value raises :class:`~skillforge.errors.SpecError` naming the
    field. Written to ``provenance.options`` in every skill's ``skill.yaml``. The search's internals live in
    :class:`SearchConfig` (``search``); their old names here still work, with a deprecation warning."""

    #: Accepted student answers must reach this precision on the calibration cases.
    target_precision: float = Field(default=0.95, gt=0.0, le=1.0)
    #: Level of the one-sided Wilson lower bound the threshold's precision must reach the target by;
    #: ``None``: the point estimate.
    confidence_level: float | None = Field(default=DEFAULT_CONFIDENCE_LEVEL, ge=0.5, lt=1.0)
    #: Per-output-field comparison for scoring (default: exact), stored in the skill's settings.
    comparators: dict[str, Comparator] = Field(default_factory=dict)
    #: Self-consistency, where a student needs it (:class:`ConfidenceOptions`).
    confidence: ConfidenceOptions = Field(default_factory=ConfidenceOptions)
    #: A second opinion to measure as a confidence signal: ``"student"`` (the student's own model under a
    #: different, zero-shot prompt) or a model id (e.g. ``local:smollm2-135m`` for a Claude student). Kept
    #: only where it lowers the cost per call. ``None``: not measured.
    second_opinion: str | None = Field(default=None, min_length=1)
    #: What the classifier reads beside the input's words: the input text's embedding by ``"auto"`` (the
    #: student's own model when it gives embeddings, and for a remote student that gives none, like
    #: Claude, the embedded local model when it is installed), ``"student"``, a model id, or ``None`` (words
    #: only). See docs/confidence.md, "The classifier tier".
    classifier_embeddings: str | None = Field(default="auto", min_length=1)
    #: Models to measure as tiers after the student and before the teacher, in this order (e.g.
    #: ``("anthropic:claude-haiku-5-5",)`` behind the embedded model); each kept only where the ladder with
    #: it costs less per call (see :mod:`skillforge.compile.model_tiers`).
    model_tiers: tuple[str, ...] = ()
    #: Answer budget of student and teacher calls, stored in the skill's settings.
    max_tokens: int = Field(default=256, gt=0, le=MAX_TOKENS)
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
    #: The search's internals (:class:`SearchConfig`).
    search: SearchConfig = Field(default_factory=SearchConfig)

    _legacy: tuple[dict[str, Any], str] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _read_moved(cls, data: Any, handler: Any) -> Any:
        """Options written before the search's internals moved into ``search`` (old skill files, old code):
        read into their new place, with one deprecation warning per name. A skill file's options are
        written back as they were read, so an old skill saves byte for byte."""
        if isinstance(data, dict) and isinstance(data.get("confidence"), ConfidenceSettings):
            # A skill's settings passed as the options (the type these options had before): what it asks for.
            data = {**data, "confidence": data["confidence"].model_dump(include={"method", "samples", "temperature"})}
        if not isinstance(data, dict) or not (moved := (set(data) & (MOVED_TO_SEARCH | RETIRED))):
            return handler(data)
        record = set(data) >= _OLD_RECORD  # an old skill file's options: read quietly, written back as read
        for name in sorted(moved - _warned) if not record else ():
            _warned.add(name)
            where = "no longer has any effect" if name in RETIRED else \
                f"moved to CompileOptions(search=SearchConfig({RENAMED_IN_SEARCH.get(name, name)}=...))"
            warnings.warn(f"CompileOptions({name}=...) {where}; the old name is read until the next release",
                          DeprecationWarning, stacklevel=4)
        new = {k: v for k, v in data.items() if k not in MOVED_TO_SEARCH | RETIRED}
        search = {RENAMED_IN_SEARCH.get(k, k): v for k, v in data.items() if k in MOVED_TO_SEARCH}
        if isinstance(new.get("search"), SearchConfig):
            new["search"] = new["search"].model_copy(update=search)
        else:
            new["search"] = {**search, **(new.get("search") or {})}
        if isinstance(new.get("confidence"), dict):  # the fitted parts never belonged to the options
            new["confidence"] = {k: v for k, v in new["confidence"].items() if k not in ("combiner", "second_opinion")}
        out = handler(new)
        if record:
            out._legacy = (dict(data), out.model_dump_json())
        return out

    @model_serializer(mode="wrap")
    def _write_as_read(self, handler: Any) -> Any:
        # Unchanged since it was read from an old layout: written back in that layout, as it was.
        legacy = self._legacy
        current = handler(self)
        if legacy is not None:
            raw, as_read = legacy
            copy = self.model_copy()
            copy._legacy = None
            if copy.model_dump_json() == as_read:
                return _copy.deepcopy(raw)
        return current
