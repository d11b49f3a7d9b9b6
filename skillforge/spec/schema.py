"""JSON Schema helpers: checking a schema, validating a value, and the canonical JSON that is hashed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jsonschema
from pydantic import BaseModel

from skillforge.errors import SpecError


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
