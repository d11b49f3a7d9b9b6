"""What a user asks for: a :class:`SkillSpec` (name, description, schemas) and :class:`Example`s."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from skillforge.errors import InputValidationError, SpecError
from skillforge.jsonl import lines
from skillforge.spec.checks import AnswerChecks
from skillforge.spec.config import UserConfig
from skillforge.spec.limits import DEFAULT_LIMITS, InputLimits, clip, json_value_problem
from skillforge.spec.schema import canonical_json, schema_from, sha256_text, validation_errors
from skillforge.textfiles import TextFileError, load_yaml, read_text

NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class SkillSpec(UserConfig):
    """What the skill must do. Schemas may be given as pydantic model classes or JSON Schema dicts;
    they are stored as JSON Schema dicts."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    #: Checks of an answer beyond its schema (:mod:`skillforge.spec.checks`): ``None`` (the default) learns
    #: them from the labelled examples at compile time; given, exactly these are used (empty: none).
    checks: AnswerChecks | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if len(value) > 64 or not NAME_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid skill name: use lowercase letters, digits and single hyphens, "
                "at most 64 characters"
            )
        return value

    @field_validator("description")
    @classmethod
    def _check_description(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("description must not be empty")
        problem = json_value_problem(value)
        if problem is not None:
            raise ValueError(problem.removeprefix("(root): "))
        return value

    @field_validator("input_schema", "output_schema", mode="before")
    @classmethod
    def _to_schema(cls, value: Any, info: Any) -> dict[str, Any]:
        return schema_from(value, field=str(info.field_name))

    @field_validator("checks")
    @classmethod
    def _check_checks(cls, value: AnswerChecks | None, info: ValidationInfo) -> AnswerChecks | None:
        schema = info.data.get("output_schema")
        unknown = [] if value is None or schema is None else value.unknown_fields(schema)
        if unknown:
            raise ValueError(f"names fields the output schema does not have: {unknown}")
        return value

    def spec_hash(self) -> str:
        """Hash of what the skill was asked to do; recorded in the skill's provenance."""
        # A spec without stated checks hashes as specs did before they could state them.
        return sha256_text(canonical_json(self.model_dump(mode="json", exclude={"checks"} if self.checks is None
                                                          else None)))

    def check_input(self, value: Any, limits: InputLimits = DEFAULT_LIMITS) -> dict[str, Any]:
        """Validate a run input: first that it is a JSON value within ``limits`` (size, depth, types,
        encodable text), then against the input schema. Raises :class:`InputValidationError` naming
        every problem; nothing else is done with an input that fails."""
        problem = json_value_problem(value, limits)
        if problem is not None:
            raise InputValidationError(f"input rejected by skill {self.name!r}: {problem}", errors=[problem])
        errors = validation_errors(self.input_schema, value)
        if errors:
            raise InputValidationError(
                f"input does not match the input schema of skill {self.name!r}: " + "; ".join(errors[:10]),
                errors=errors,
            )
        assert isinstance(value, dict)  # the schema says type: object
        return value

    @classmethod
    def from_file(cls, path: str | Path) -> SkillSpec:
        """Load a spec from YAML or JSON with keys name, description, input_schema, output_schema."""
        path = Path(path)
        try:
            text = read_text(path)
        except OSError as exc:
            raise SpecError(f"cannot read spec file {path}: {exc.strerror or exc}") from None
        except TextFileError as exc:
            raise SpecError(f"{path}: {exc}") from None
        try:
            data = load_yaml(text)
        except TextFileError as exc:
            raise SpecError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise SpecError(f"{path} must hold a mapping with name, description, input_schema, output_schema")
        return spec_from_mapping(data, source=str(path))


def spec_from_mapping(data: dict[str, Any], *, source: str) -> SkillSpec:
    """Build a spec from a plain mapping; errors name ``source`` and the field."""
    try:
        return SkillSpec(**data)
    except SpecError as exc:
        raise SpecError(f"{source}: {str(exc).removeprefix(f'{exc.field}: ')}", field=exc.field) from None


class Example(BaseModel):
    """One input, optionally with the answer expected for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: dict[str, Any]
    expected: dict[str, Any] | None = None


def check_examples(spec: SkillSpec, examples: list[Example], *, what: str) -> None:
    """Every example's input (and expected output, when present) must match the spec's schemas."""
    for i, ex in enumerate(examples):
        for part, value in (("input", ex.input), ("expected", ex.expected)):
            problem = json_value_problem(value)
            if problem is not None:
                raise SpecError(f"{what}[{i}].{part}: {problem}")
        errors = validation_errors(spec.input_schema, ex.input)
        if errors:
            raise SpecError(f"{what}[{i}].input does not match the input schema: " + "; ".join(errors))
        if ex.expected is not None:
            errors = validation_errors(spec.output_schema, ex.expected)
            if errors:
                raise SpecError(
                    f"{what}[{i}].expected does not match the output schema: " + "; ".join(errors)
                )


def read_examples(path: str | Path) -> list[Example]:
    """Read examples from JSON Lines: one object per line with ``input`` and optional ``expected``."""
    path = Path(path)
    try:
        text = read_text(path)
    except OSError as exc:
        raise SpecError(f"cannot read examples file {path}: {exc.strerror or exc}") from None
    except TextFileError as exc:
        raise SpecError(f"{path}:{exc.line}: {exc.problem}" if exc.line else f"{path}: {exc}") from None
    examples = []
    for n, line in lines(text):
        if not line.strip():
            continue
        try:
            example = Example.model_validate_json(line)
        except ValueError as exc:
            raise SpecError(f"{path}:{n}: not an example object ({_first_error(exc)})") from None
        for part, value in (("input", example.input), ("expected", example.expected)):
            problem = json_value_problem(value)
            if problem is not None:
                raise SpecError(f"{path}:{n}: {part}: {problem}")
        examples.append(example)
    return examples


def _first_error(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc']) or 'line'}: {clip(str(err['msg']), 200)}"
    return clip(str(exc), 200)

