"""JSON Schema helpers: checking a schema, validating a value, and the canonical JSON that is hashed.

This is the one place validators are built. A schema's ``$ref`` s may only point inside the schema
itself (``#/$defs/...``, ``#anchor``): validators resolve through a ``referencing`` registry whose
retrieval always refuses, so no schema can make skillforge fetch a URL or read a file, and
:func:`schema_from` rejects any other ref (and any local ref that does not resolve, or that loops)
up front, naming the field (:mod:`skillforge.spec.refs`). A schema no value can satisfy
(``enum: []``, a required field that can never validate) is rejected there too
(:mod:`skillforge.spec.satisfiable`). Schema checks and validators are cached per schema: running a
skill validates every input and answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jsonschema
import referencing.exceptions
from pydantic import BaseModel

from skillforge.errors import SpecError
from skillforge.spec.limits import clip, short
from skillforge.spec.refs import REGISTRY, ref_problems
from skillforge.spec.satisfiable import never_valid_reason

#: Characters of a single validation error kept (jsonschema quotes the offending value).
MAX_ERROR_CHARS = 300


def schema_from(value: Any, *, field: str) -> dict[str, Any]:
    """A JSON Schema dict from a pydantic model class or a JSON Schema dict; checked for validity,
    for refs outside the schema and for fields no value can satisfy (:class:`SpecError` naming
    ``field``)."""
    if isinstance(value, type) and issubclass(value, BaseModel):
        schema = value.model_json_schema()
    elif isinstance(value, dict):
        schema = value
    else:
        raise SpecError(
            f"expected a pydantic model class or a JSON Schema dict, got {type(value).__name__}", field=field
        )
    try:
        key = canonical_json(schema)
    except (TypeError, ValueError):
        raise SpecError("the schema is not JSON (it holds a value JSON cannot represent)", field=field) from None
    problem = _schema_problem(key)
    if problem is not None:
        raise SpecError(problem, field=field)
    return schema


@lru_cache(maxsize=256)
def _schema_problem(key: str) -> str | None:
    """Why the schema with canonical JSON ``key`` is refused, or ``None`` (checked once per schema)."""
    schema = json.loads(key)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"not a valid JSON Schema: {clip(exc.message, MAX_ERROR_CHARS)}"
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return 'the schema must describe a JSON object ("type": "object")'
    problems = ref_problems(schema)
    if problems:
        return problems[0]
    reason = never_valid_reason(schema)
    return None if reason is None else f"no value can ever match this schema: {reason}"


def canonical_json(value: Any) -> str:
    """Compact, key-sorted JSON: the form hashed and compared."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=256)
def _validator(key: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(key), registry=REGISTRY)


def validator_for(schema: Mapping[str, Any]) -> jsonschema.Draft202012Validator:
    """The validator of ``schema`` (built once per distinct schema), resolving refs only inside it."""
    return _validator(canonical_json(schema))


def validation_errors(schema: Mapping[str, Any], value: Any) -> list[str]:
    """Human-readable jsonschema errors (``path: message``), empty when ``value`` is valid."""
    validator = validator_for(schema)
    try:
        if validator.is_valid(value):
            return []
        found = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    except referencing.exceptions.Unresolvable as exc:  # only for schemas that skipped schema_from
        return [f"(schema): unresolvable $ref {short(str(getattr(exc, 'ref', '')))}"]
    errors = []
    for err in found:
        path = "/".join(str(p) for p in err.absolute_path) or "(root)"
        errors.append(clip(f"{path}: {err.message}", MAX_ERROR_CHARS))
    return errors
