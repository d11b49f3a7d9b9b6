"""What a user asks for: a :class:`SkillSpec` (name, description, schemas) and :class:`Example`s."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from skillforge.errors import InputValidationError, SpecError

NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def schema_from(value: Any, *, field: str) -> dict[str, Any]:
    """A JSON Schema dict from a pydantic model class or a JSON Schema dict; checked for validity."""
    if isinstance(value, type) and issubclass(value, BaseModel):
        schema = value.model_json_schema()
    elif isinstance(value, dict):
        schema = value
    else:
        raise SpecError(
            f"expected a pydantic model class or a JSON Schema dict, got {type(value).__name__}", field=field
        )
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SpecError(f"not a valid JSON Schema: {exc.message}", field=field) from None
    if schema.get("type") != "object":
        raise SpecError('the schema must describe a JSON object ("type": "object")', field=field)
    return schema


def canonical_json(value: Any) -> str:
    """Compact, key-sorted JSON: the form hashed and compared."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def validation_errors(schema: dict[str, Any], value: Any) -> list[str]:
    """Human-readable jsonschema errors (``path: message``), empty when ``value`` is valid."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = []
    for err in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in err.absolute_path) or "(root)"
        errors.append(f"{path}: {err.message}")
    return errors


class SkillSpec(BaseModel):
    """What the skill must do. Schemas may be given as pydantic model classes or JSON Schema dicts;
    they are stored as JSON Schema dicts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]

    def __init__(self, **data: Any) -> None:
        # One error type for every spec mistake: SpecError naming the field, not pydantic's.
        try:
            super().__init__(**data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            raise SpecError(str(first["msg"]).removeprefix("Value error, "), field=field) from None

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
        return value

    @field_validator("input_schema", "output_schema", mode="before")
    @classmethod
    def _to_schema(cls, value: Any, info: Any) -> dict[str, Any]:
        return schema_from(value, field=str(info.field_name))

    def spec_hash(self) -> str:
        """Hash of what the skill was asked to do; recorded in the skill's provenance."""
        return sha256_text(canonical_json(self.model_dump(mode="json")))

    def check_input(self, value: Any) -> dict[str, Any]:
        """Validate a run input; raises :class:`InputValidationError` naming every problem."""
        errors = validation_errors(self.input_schema, value)
        if errors:
            raise InputValidationError(
                f"input does not match the input schema of skill {self.name!r}: " + "; ".join(errors),
                errors=errors,
            )
        assert isinstance(value, dict)  # the schema says type: object
        return value

    @classmethod
    def from_file(cls, path: str | Path) -> SkillSpec:
        """Load a spec from YAML or JSON with keys name, description, input_schema, output_schema."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SpecError(f"cannot read spec file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
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
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SpecError(f"cannot read examples file {path}: {exc.strerror}") from None
    examples = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            examples.append(Example.model_validate_json(line))
        except ValueError as exc:
            raise SpecError(f"{path}:{n}: not an example object ({_first_error(exc)})") from None
    return examples


def _first_error(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc']) or 'line'}: {err['msg']}"
    return str(exc)

