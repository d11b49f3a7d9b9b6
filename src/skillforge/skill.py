"""A compiled skill and its on-disk form.

``skills/<name>/`` holds text only, so a skill diffs well in code review:

- ``skill.yaml``      -- format version, name, description, schemas, settings, provenance, dev metrics
- ``instructions.md`` -- the instructions the student follows
- ``examples.jsonl``  -- demos, one ``{"input", "output", "source"}`` object per line
- ``tests.jsonl``     -- regression cases, one ``{"input", "expected"}`` object per line
- ``escalations.jsonl`` -- appended by the runtime: accepted teacher answers (not hashed)

Saving is deterministic, so save -> load -> save is byte-identical.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from skillforge.errors import SkillFormatError, SkillIntegrityError, SkillIntegrityWarning, SpecError
from skillforge.scoring import Comparator
from skillforge.spec import SkillSpec, schema_from, sha256_text, validation_errors

if TYPE_CHECKING:
    from skillforge.ledger import Ledger
    from skillforge.models.base import Model
    from skillforge.runtime import RunResult

FORMAT_VERSION = 1
MANIFEST = "skill.yaml"
INSTRUCTIONS = "instructions.md"
DEMOS = "examples.jsonl"
TESTS = "tests.jsonl"
ESCALATIONS = "escalations.jsonl"

DemoSource = Literal["teacher", "label", "escalation"]
DemoStrategy = Literal["none", "fixed", "retrieved"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Demo(_Strict):
    """A worked example shown to the student, with where its answer came from."""

    input: dict[str, Any]
    output: dict[str, Any]
    source: DemoSource


class RegressionCase(_Strict):
    """A held-back dev case and its expected answer."""

    input: dict[str, Any]
    expected: dict[str, Any]


class ConfidenceSettings(_Strict):
    """Where the student's confidence comes from.

    - ``logprob``: the joint probability of the answer's value tokens (one call; needs logprobs).
    - ``self_consistency``: ``samples`` answers at ``temperature``; the share agreeing with the
      majority answer is the confidence (``samples`` calls per input: for models without logprobs).
    """

    method: Literal["logprob", "self_consistency"] = "logprob"
    samples: int = Field(default=5, ge=1)
    temperature: float = Field(default=0.7, ge=0.0)


class Settings(_Strict):
    """How the skill runs. Editable by hand; not covered by the content hash."""

    instructions_source: Literal["teacher", "template"]
    #: ``none``: zero-shot; ``fixed``: every demo in examples.jsonl, in order; ``retrieved``: per
    #: input, the ``k`` demos of examples.jsonl most similar to it (BM25, see retrieval.py).
    demo_strategy: DemoStrategy
    #: Number of demos in the prompt.
    k: int = Field(ge=0)
    #: Student answers with confidence below this are escalated; ``None``: no confidence gate.
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    target_precision: float = Field(default=0.95, gt=0.0, le=1.0)
    #: Share of dev inputs the student answered at the threshold (what to expect in production).
    expected_student_share: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Re-asks of the student with validation feedback after invalid output.
    max_reasks: int = Field(default=1, ge=0)
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=256, gt=0)
    #: Per-output-field comparison used when scoring (default: exact).
    comparators: dict[str, Comparator] = Field(default_factory=dict)
    #: Regression cases must pass at least this share (set from the dev score at compile time).
    min_pass_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: And their mean field score (partial credit per output field) at least this; ``None``: no such gate.
    #: Set at compile time for multi-field outputs, where exact whole-answer matches are rare.
    min_field_score: float | None = Field(default=None, ge=0.0, le=1.0)
    #: What an escalated input is sent to the teacher with. ``lean``: the instructions and the input,
    #: no demos -- the prompt the teacher answered the demos with at compile time, and the cheapest;
    #: ``student``: the student's own prompt, demos included.
    escalation_prompt: Literal["lean", "student"] = "lean"
    #: How the student's confidence is measured (default: logprobs).
    confidence: ConfidenceSettings = Field(default_factory=ConfidenceSettings)


class Provenance(_Strict):
    teacher: str
    student: str
    skillforge_version: str
    spec_hash: str
    #: Hash of instructions.md, examples.jsonl and tests.jsonl as written.
    content_hash: str
    compiled_at: str


class CandidateResult(_Strict):
    name: str
    instructions_source: Literal["teacher", "template"]
    demo_strategy: DemoStrategy
    k: int
    dev_score: float
    dev_accuracy: float
    mean_confidence: float | None = None


class RefinementRound(_Strict):
    """One round of the teacher revising instructions from the student's dev failures."""

    round: int
    failures_shown: int
    dev_score_before: float
    #: ``None`` when the teacher produced no usable revision.
    dev_score_after: float | None = None
    kept: bool = False


class Metrics(_Strict):
    dev_size: int
    dev_score: float
    zero_shot_dev_score: float
    chosen: str
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


class Manifest(_Strict):
    format_version: int
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    settings: Settings
    provenance: Provenance
    metrics: Metrics


def dump_jsonl(rows: Sequence[BaseModel]) -> str:
    return "".join(json.dumps(r.model_dump(mode="json"), ensure_ascii=False) + "\n" for r in rows)


def dump_manifest(manifest: Manifest) -> str:
    return yaml.safe_dump(
        manifest.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=100, indent=2
    )


def content_hash(instructions: str, demos_text: str, tests_text: str) -> str:
    parts = [(INSTRUCTIONS, instructions), (DEMOS, demos_text), (TESTS, tests_text)]
    return sha256_text("\0".join(f"{name}\0{text}" for name, text in parts))


class Skill:
    """A compiled skill: manifest, instructions, demos and regression cases. Run it with
    :meth:`run` / :meth:`arun`; write it with :meth:`save`; read one with :func:`load_skill`."""

    def __init__(
        self,
        manifest: Manifest,
        instructions: str,
        demos: list[Demo],
        tests: list[RegressionCase],
        path: Path | None = None,
    ) -> None:
        self.manifest = manifest
        self.instructions = instructions
        self.demos = demos
        self.tests = tests
        #: Directory the skill was loaded from or saved to (escalations are logged there).
        self.path = path
        #: Model instances to use when run() gets none: set by compile_skill to the instances it
        #: compiled with; a loaded skill resolves the ids in its provenance instead.
        self.default_student: Model | None = None
        self.default_teacher: Model | None = None

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def settings(self) -> Settings:
        return self.manifest.settings

    @property
    def spec(self) -> SkillSpec:
        m = self.manifest
        return SkillSpec(
            name=m.name, description=m.description, input_schema=m.input_schema, output_schema=m.output_schema
        )

    def file_texts(self) -> dict[str, str]:
        """Exactly the text of each file :meth:`save` writes."""
        demos_text, tests_text = dump_jsonl(self.demos), dump_jsonl(self.tests)
        self.manifest.provenance.content_hash = content_hash(self.instructions, demos_text, tests_text)
        return {
            MANIFEST: dump_manifest(self.manifest),
            INSTRUCTIONS: self.instructions,
            DEMOS: demos_text,
            TESTS: tests_text,
        }

    def save(self, path: str | Path) -> Path:
        """Write the skill to directory ``path`` (created if needed); returns the path."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name, text in self.file_texts().items():
            # Write-then-rename: a crash never leaves a half-written skill file behind.
            tmp = path / f".{name}.tmp"
            tmp.write_text(text, encoding="utf-8", newline="\n")
            tmp.replace(path / name)
        self.path = path
        return path

    def run(
        self,
        input: dict[str, Any],
        *,
        student: str | Model | None = None,
        teacher: str | Model | None = None,
        ledger: Ledger | None = None,
        escalate: bool = True,
    ) -> RunResult:
        """Answer one input (blocking). See :meth:`arun`."""
        from skillforge.models.base import run_sync

        return run_sync(self.arun(input, student=student, teacher=teacher, ledger=ledger, escalate=escalate))

    async def arun(
        self,
        input: dict[str, Any],
        *,
        student: str | Model | None = None,
        teacher: str | Model | None = None,
        ledger: Ledger | None = None,
        escalate: bool = True,
    ) -> RunResult:
        """Answer one input: the student answers, the verifier checks, the teacher takes over when the
        answer is invalid or not confident. ``student``/``teacher`` default to the models the skill
        was compiled with; ``ledger`` defaults to ``.skillforge/ledger.jsonl``."""
        from skillforge.runtime import Runner

        runner = Runner(self, student=student or self.default_student,
                        teacher=teacher or self.default_teacher, ledger=ledger, escalate=escalate)
        return await runner.arun(input)


T = TypeVar("T", bound=BaseModel)


def _read(path: Path, name: str) -> str:
    try:
        return (path / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SkillFormatError("file is missing", file=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SkillFormatError(f"cannot read: {exc}", file=name) from None


def _field_of(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    return ".".join(str(p) for p in err["loc"]) or "(root)", str(err["msg"])


def _read_jsonl(path: Path, name: str, model: type[T], spec: SkillSpec) -> tuple[list[T], str]:
    text = _read(path, name)
    rows: list[T] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            raise SkillFormatError("blank line", file=name, line=n)
        try:
            row = model.model_validate_json(line)
        except ValidationError as exc:
            field, msg = _field_of(exc)
            raise SkillFormatError(msg, file=name, line=n, field=field) from None
        data = row.model_dump()
        for key, schema in (("input", spec.input_schema), ("output", spec.output_schema),
                            ("expected", spec.output_schema)):
            if key in data:
                errors = validation_errors(schema, data[key])
                if errors:
                    raise SkillFormatError(
                        f"does not match the {'input' if key == 'input' else 'output'} schema: "
                        + "; ".join(errors),
                        file=name, line=n, field=key,
                    )
        rows.append(row)
    return rows, text


def load_skill(path: str | Path, *, strict: bool = False) -> Skill:
    """Read and validate a skill directory.

    Raises :class:`SkillFormatError` naming the file and field of the first problem. A file changed
    since compile (content hash mismatch) warns with :class:`SkillIntegrityWarning`, or raises
    :class:`SkillIntegrityError` when ``strict``.
    """
    path = Path(path)
    if not path.is_dir():
        raise SkillFormatError(f"no skill directory at {path}", file=str(path))
    raw = _read(path, MANIFEST)
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise SkillFormatError(f"not valid YAML: {exc}", file=MANIFEST) from None
    if not isinstance(data, dict):
        raise SkillFormatError("must be a YAML mapping", file=MANIFEST)
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise SkillFormatError(
            f"unsupported format version {version!r} (this skillforge reads {FORMAT_VERSION})",
            file=MANIFEST, field="format_version",
        )
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        field, msg = _field_of(exc)
        raise SkillFormatError(msg, file=MANIFEST, field=field) from None
    try:
        spec = SkillSpec(
            name=manifest.name, description=manifest.description,
            input_schema=schema_from(manifest.input_schema, field="input_schema"),
            output_schema=schema_from(manifest.output_schema, field="output_schema"),
        )
    except (SpecError, ValidationError) as exc:
        raise SkillFormatError(str(exc), file=MANIFEST) from None
    props = set(spec.output_schema.get("properties", {}))
    for field in manifest.settings.comparators:
        if field not in props:
            raise SkillFormatError(
                f"comparator for {field!r}, which is not an output field", file=MANIFEST,
                field=f"settings.comparators.{field}",
            )
    instructions = _read(path, INSTRUCTIONS)
    demos, demos_text = _read_jsonl(path, DEMOS, Demo, spec)
    tests, tests_text = _read_jsonl(path, TESTS, RegressionCase, spec)
    settings = manifest.settings
    if settings.demo_strategy == "retrieved":
        if not 1 <= settings.k <= len(demos):
            raise SkillFormatError(
                f"k is {settings.k} but demo strategy 'retrieved' needs 1 <= k <= the {len(demos)} demos "
                f"in {DEMOS}", file=MANIFEST, field="settings.k",
            )
    elif settings.k != (expected_k := 0 if settings.demo_strategy == "none" else len(demos)):
        raise SkillFormatError(
            f"k is {settings.k} but demo strategy {settings.demo_strategy!r} with {len(demos)} demos in "
            f"{DEMOS} means k = {expected_k}", file=MANIFEST, field="settings.k",
        )
    actual = content_hash(instructions, demos_text, tests_text)
    if actual != manifest.provenance.content_hash:
        message = (
            f"{path}: {INSTRUCTIONS}, {DEMOS} or {TESTS} changed since the skill was compiled "
            f"(content hash {actual[:19]}… != recorded {manifest.provenance.content_hash[:19]}…)"
        )
        if strict:
            raise SkillIntegrityError(message, file=str(path), field="provenance.content_hash")
        warnings.warn(message, SkillIntegrityWarning, stacklevel=2)
    return Skill(manifest, instructions, demos, tests, path=path)
