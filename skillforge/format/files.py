"""Reading and writing a skill directory.

``skills/<name>/`` holds text only, so a skill diffs well in code review:

- ``skill.yaml``        -- format version, name, description, schemas, settings, provenance, metrics
- ``instructions.md``   -- the instructions the student follows
- ``examples.jsonl``    -- demos, one ``{"input", "output", "source"}`` object per line
- ``tests.jsonl``       -- regression cases, one ``{"input", "expected"}`` object per line
- ``classifier.json``   -- the classifier tier's weights, when the skill has one
- ``escalations.jsonl`` -- appended by the runtime: accepted teacher answers (not hashed)

Writing is deterministic, so write -> read -> write is byte-identical. Reading validates every file
and raises :class:`~skillforge.errors.SkillFormatError` naming the file, line and field.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from skillforge.errors import SkillFormatError, SkillIntegrityError, SkillIntegrityWarning, SpecError
from skillforge.format.classifier import ClassifierWeights
from skillforge.format.manifest import (
    CLASSIFIER,
    DEMOS,
    FORMAT_VERSION,
    INSTRUCTIONS,
    LATER_METRICS,
    MANIFEST,
    TESTS,
    Demo,
    Manifest,
    Metrics,
    RegressionCase,
    Settings,
)
from skillforge.format.safety import check_links, read_skill_file
from skillforge.jsonl import dump_rows, lines
from skillforge.spec.config import nested_validation
from skillforge.spec.limits import clip, json_value_problem
from skillforge.spec.schema import schema_from, sha256_text, validation_errors
from skillforge.spec.spec import SkillSpec
from skillforge.textfiles import TextFileError, dump_yaml, load_yaml, write_atomic

T = TypeVar("T", bound=BaseModel)


def dump_manifest(manifest: Manifest) -> str:
    """The text of ``skill.yaml``: fields in model order, unicode kept readable. A metric added later
    (:data:`LATER_METRICS`, a candidate's ``cases_measured``) that is unknown is left out, so a skill
    compiled before it saves unchanged."""
    data = manifest.model_dump(mode="json")
    for name in LATER_METRICS:
        if data["metrics"][name] in (None, [], {}):
            del data["metrics"][name]
    # Options recorded before the search's internals moved come back in their old layout, as read
    # (CompileOptions writes them so); options added later are in the new layout only.
    options = data["provenance"].get("options") or {}
    for holder in (data["settings"]["confidence"], options, options.get("confidence") or {}):
        if holder.get("second_opinion", "") is None:
            del holder["second_opinion"]
    if data["settings"].get("demo_groups", "") is None:
        del data["settings"]["demo_groups"]
    if data["settings"].get("model_tiers", None) == []:
        del data["settings"]["model_tiers"]
    for name, default in (("ask_student", True), ("repair", True), ("checks", None)):
        if name in data["settings"] and data["settings"][name] == default:
            del data["settings"][name]
    if not data["provenance"].get("retargeted_from"):  # written once a skill has been retargeted
        data["provenance"].pop("retargeted_from", None)
    for tier in data["settings"].get("model_tiers", []):
        if tier["confidence"].get("second_opinion", "") is None:
            del tier["confidence"]["second_opinion"]
    for step in data["metrics"].get("compile_steps") or []:  # wall time: the compile's report only
        step.pop("seconds", None)
    for ladder in data["metrics"]["ladders"]:  # alternatives' labels, written only where set
        for name in ("confidence", "repair"):
            if ladder.get(name, "") is None:
                del ladder[name]
    # Written only for a measurement stopped early: a fully measured one saves as before.
    for row in [*data["metrics"]["candidates"], *data["metrics"]["refinement"]]:
        if row.get("cases_measured") is None:
            row.pop("cases_measured", None)
    return dump_yaml(data)


def content_hash(instructions: str, demos_text: str, tests_text: str, classifier_text: str | None = None) -> str:
    """The hash recorded in ``provenance.content_hash``: of the files a run depends on, not of
    ``skill.yaml`` (whose settings are meant to be edited). ``classifier.json`` counts when present."""
    parts = [(INSTRUCTIONS, instructions), (DEMOS, demos_text), (TESTS, tests_text)]
    if classifier_text is not None:
        parts.append((CLASSIFIER, classifier_text))
    return sha256_text("\0".join(f"{name}\0{text}" for name, text in parts))


@dataclass
class SkillDefinition:
    """A compiled skill's content: manifest, instructions, demos and regression cases."""

    manifest: Manifest
    instructions: str
    demos: list[Demo]
    tests: list[RegressionCase] = field(default_factory=list)
    #: The classifier tier's weights (``classifier.json``), when the skill has one.
    classifier: ClassifierWeights | None = None

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def settings(self) -> Settings:
        return self.manifest.settings

    @cached_property
    def spec(self) -> SkillSpec:
        """The spec the skill answers (built once: it checks both schemas)."""
        m = self.manifest
        return SkillSpec(name=m.name, description=m.description, input_schema=m.input_schema,
                         output_schema=m.output_schema)

    def hashed_manifest(self) -> Manifest:
        """A copy of the manifest recording the content hash of the other files as they are now."""
        digest = content_hash(self.instructions, dump_rows(self.demos), dump_rows(self.tests),
                              None if self.classifier is None else self.classifier.to_text())
        provenance = self.manifest.provenance.model_copy(update={"content_hash": digest})
        return self.manifest.model_copy(update={"provenance": provenance})

    def file_texts(self) -> dict[str, str]:
        """Exactly the text of each file a save writes (the manifest as :meth:`hashed_manifest`; the
        in-memory manifest is not changed)."""
        texts = {MANIFEST: dump_manifest(self.hashed_manifest()), INSTRUCTIONS: self.instructions,
                 DEMOS: dump_rows(self.demos), TESTS: dump_rows(self.tests)}
        if self.classifier is not None:
            texts[CLASSIFIER] = self.classifier.to_text()
        return texts


def write_files(path: Path, texts: dict[str, str]) -> None:
    """Write each ``name -> text`` into directory ``path`` (created if needed), write-then-rename so a
    crash never leaves a half-written skill file behind. Every text is encoded before the first file
    is touched, so text that cannot be written as UTF-8 fails before anything changes on disk."""
    for name, text in texts.items():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SkillFormatError(f"cannot be written as UTF-8: {exc.reason} at character {exc.start}",
                                   file=name) from None
    path.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        write_atomic(path / name, text)


def _field_of(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    return ".".join(str(p) for p in err["loc"]) or "(root)", clip(str(err["msg"]), 200)


def _check_row(row: BaseModel, spec: SkillSpec, name: str, n: int) -> None:
    data = row.model_dump()
    for key, schema in (("input", spec.input_schema), ("output", spec.output_schema),
                        ("expected", spec.output_schema)):
        if key in data:
            problem = json_value_problem(data[key])
            if problem is not None:
                raise SkillFormatError(problem, file=name, line=n, field=key)
            errors = validation_errors(schema, data[key])
            if errors:
                raise SkillFormatError(
                    f"does not match the {'input' if key == 'input' else 'output'} schema: " + "; ".join(errors),
                    file=name, line=n, field=key,
                )


def _read_jsonl(path: Path, name: str, model: type[T], spec: SkillSpec) -> tuple[list[T], str]:
    text = read_skill_file(path, name)
    rows: list[T] = []
    for n, line in lines(text):
        if not line.strip():
            raise SkillFormatError("blank line", file=name, line=n)
        try:
            row = model.model_validate_json(line, strict=True)
        except ValidationError as exc:
            field_name, msg = _field_of(exc)
            raise SkillFormatError(msg, file=name, line=n, field=field_name) from None
        _check_row(row, spec, name, n)
        rows.append(row)
    return rows, text


def _read_manifest(path: Path) -> Manifest:
    text = read_skill_file(path, MANIFEST)
    try:
        data: Any = load_yaml(text)
    except TextFileError as exc:
        message = f"not valid YAML{'' if exc.column is None else f' (column {exc.column})'}: {exc.problem}"
        raise SkillFormatError(message, file=MANIFEST, line=exc.line) from None
    if not isinstance(data, dict):
        raise SkillFormatError("must be a YAML mapping", file=MANIFEST)
    version = data.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise SkillFormatError(
            f"unsupported format version {clip(repr(version), 40)} (this skillforge reads {FORMAT_VERSION})",
            file=MANIFEST, field="format_version",
        )
    try:
        with nested_validation():
            manifest = Manifest.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        field_name, msg = _field_of(exc)
        raise SkillFormatError(msg, file=MANIFEST, field=field_name) from None
    _check_complete(data, text)
    return manifest


def _check_complete(data: dict[str, Any], text: str) -> None:
    """A ``skill.yaml`` cut short can still parse: the writer always ends it with a newline and writes
    every field of ``metrics``, the last section, so a missing newline or metrics field means the file
    was truncated (or hand-trimmed), not that defaults apply."""
    if not text.endswith("\n"):
        raise SkillFormatError("does not end with a newline: the file looks cut short", file=MANIFEST)
    missing = [name for name in Metrics.model_fields if name not in data["metrics"] and name not in LATER_METRICS]
    if missing:
        raise SkillFormatError(
            f"metrics lacks {', '.join(missing)}: the file looks cut short (the compiler writes every field)",
            file=MANIFEST, field=f"metrics.{missing[0]}",
        )


def _spec_of(manifest: Manifest) -> SkillSpec:
    try:
        spec = SkillSpec(
            name=manifest.name, description=manifest.description,
            input_schema=schema_from(manifest.input_schema, field="input_schema"),
            output_schema=schema_from(manifest.output_schema, field="output_schema"),
        )
    except SpecError as exc:
        message = str(exc).removeprefix(f"{exc.field}: ") if exc.field else str(exc)
        raise SkillFormatError(message, file=MANIFEST, field=exc.field) from None
    props = set(spec.output_schema.get("properties", {}))
    checks = manifest.settings.checks
    if checks is not None and (unknown := checks.unknown_fields(spec.output_schema)):
        raise SkillFormatError(f"checks name fields that are not output fields: {unknown}", file=MANIFEST,
                               field="settings.checks")
    for name in manifest.settings.comparators:
        if name not in props:
            raise SkillFormatError(f"comparator for {name!r}, which is not an output field", file=MANIFEST,
                                   field=f"settings.comparators.{name}")
    return spec


def _check_k(settings: Settings, n_demos: int) -> None:
    if settings.demo_strategy == "clustered":
        _check_groups(settings, n_demos)
        return
    if settings.demo_groups is not None:
        raise SkillFormatError(f"demo_groups is set but demo strategy is {settings.demo_strategy!r} (only "
                               "'clustered' uses groups)", file=MANIFEST, field="settings.demo_groups")
    if settings.demo_strategy == "retrieved":
        if not 1 <= settings.k <= n_demos:
            raise SkillFormatError(
                f"k is {settings.k} but demo strategy 'retrieved' needs 1 <= k <= the {n_demos} demos "
                f"in {DEMOS}", file=MANIFEST, field="settings.k",
            )
    elif settings.k != (expected_k := 0 if settings.demo_strategy == "none" else n_demos):
        raise SkillFormatError(
            f"k is {settings.k} but demo strategy {settings.demo_strategy!r} with {n_demos} demos in "
            f"{DEMOS} means k = {expected_k}", file=MANIFEST, field="settings.k",
        )


def _check_groups(settings: Settings, n_demos: int) -> None:
    """``clustered``: the groups partition the demos' positions, and ``k`` is the largest group."""
    groups, field = settings.demo_groups, "settings.demo_groups"
    if not groups or any(not g for g in groups):
        raise SkillFormatError("demo strategy 'clustered' needs demo_groups: non-empty lists of positions in "
                               f"{DEMOS}", file=MANIFEST, field=field)
    flat = [p for g in groups for p in g]
    if sorted(flat) != list(range(n_demos)):
        wrong = sorted({p for p in flat if not 0 <= p < n_demos} | {p for p in flat if flat.count(p) > 1})
        missing = sorted(set(range(n_demos)) - set(flat))
        raise SkillFormatError(
            f"demo_groups must hold each of the {n_demos} demos in {DEMOS} (positions 0..{n_demos - 1}) exactly "
            f"once: out of range or repeated {wrong[:10]}, missing {missing[:10]}", file=MANIFEST, field=field)
    if settings.k != max(len(g) for g in groups):
        raise SkillFormatError(f"k is {settings.k} but the largest demo group has {max(len(g) for g in groups)} "
                               "demos", file=MANIFEST, field="settings.k")


def _read_classifier(path: Path, manifest: Manifest) -> tuple[ClassifierWeights | None, str | None]:
    """``classifier.json`` when present; required when a classifier tier is configured."""
    if not (path / CLASSIFIER).exists():
        if any(t.kind == "classifier" for t in manifest.settings.tiers):
            raise SkillFormatError("file is missing (settings.tiers has a classifier tier)", file=CLASSIFIER)
        return None, None
    text = read_skill_file(path, CLASSIFIER)
    try:
        weights = ClassifierWeights.model_validate_json(text)
    except ValidationError as exc:
        field_name, msg = _field_of(exc)
        raise SkillFormatError(msg, file=CLASSIFIER, field=field_name) from None
    props = manifest.output_schema.get("properties") or {}
    allowed = (props.get(weights.field) or {}).get("enum") if isinstance(props.get(weights.field), dict) else None
    if allowed is None or weights.classes != allowed:
        raise SkillFormatError(f"classes must be the enum of output field {weights.field!r}", file=CLASSIFIER,
                               field="classes")
    return weights, text


def read_definition(path: Path, *, strict: bool = False) -> SkillDefinition:
    """Read and validate the skill directory ``path``.

    Raises :class:`SkillFormatError` naming the file and field of the first problem. A file changed
    since compile (content hash mismatch) warns with :class:`SkillIntegrityWarning`, or raises
    :class:`SkillIntegrityError` when ``strict``.
    """
    if not path.is_dir():
        raise SkillFormatError(f"no skill directory at {path}", file=str(path))
    check_links(path)
    manifest = _read_manifest(path)
    spec = _spec_of(manifest)
    instructions = read_skill_file(path, INSTRUCTIONS)
    demos, demos_text = _read_jsonl(path, DEMOS, Demo, spec)
    tests, tests_text = _read_jsonl(path, TESTS, RegressionCase, spec)
    _check_k(manifest.settings, len(demos))
    classifier, classifier_text = _read_classifier(path, manifest)
    actual = content_hash(instructions, demos_text, tests_text, classifier_text)
    if actual != manifest.provenance.content_hash:
        message = (
            f"{path}: {INSTRUCTIONS}, {DEMOS} or {TESTS} changed since the skill was compiled "
            f"(content hash {actual[:19]}… != recorded {manifest.provenance.content_hash[:19]}…)"
        )
        if strict:
            raise SkillIntegrityError(message, file=str(path), field="provenance.content_hash")
        warnings.warn(message, SkillIntegrityWarning, stacklevel=3)
    definition = SkillDefinition(manifest, instructions, demos, tests, classifier)
    definition.__dict__["spec"] = spec  # already built and checked above: seed the cached property
    return definition
