"""Schemas no value can satisfy.

An output schema that nothing matches makes every run burn its re-asks and an escalation before it
fails; an input schema that nothing matches rejects every input. :func:`never_valid_reason` finds the
common ways a schema ends up like that -- ``enum: []`` anywhere, a ``false`` or contradictory
required field, bounds that cross (``minimum`` above ``maximum``), an ``enum``/``const`` of the
wrong type, a required field ``additionalProperties: false`` forbids, ``not: {}``, an ``allOf`` with
an impossible branch or an ``anyOf``/``oneOf`` whose branches all are -- following local ``$ref`` s.
It is a sound check, not a complete one: what it reports can never validate; it does not prove the
rest can.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeGuard

from skillforge.jsonl import resolve_pointer

_ALL_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})
#: Bounds that, crossed, leave no value of the types they constrain.
_BOUNDS = (
    ("minimum", "maximum", frozenset({"integer", "number"})),
    ("minLength", "maxLength", frozenset({"string"})),
    ("minItems", "maxItems", frozenset({"array"})),
    ("minProperties", "maxProperties", frozenset({"object"})),
)
#: Keywords whose values are data, not schemas.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
_MAX_DEPTH = 40


def _types_of(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset({"null"})
    if isinstance(value, bool):
        return frozenset({"boolean"})
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return frozenset({"integer", "number"})
    if isinstance(value, float):
        return frozenset({"number"})
    if isinstance(value, str):
        return frozenset({"string"})
    return frozenset({"array"}) if isinstance(value, list) else frozenset({"object"})


def _declared(node: Mapping[str, Any]) -> set[str]:
    t = node.get("type")
    if isinstance(t, str):
        return {t, "integer"} if t == "number" else {t}
    if isinstance(t, list):
        out = {x for x in t if isinstance(x, str)}
        return out | {"integer"} if "number" in out else out
    return set(_ALL_TYPES)


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _required_problem(node: Mapping[str, Any], root: Mapping[str, Any], path: str, depth: int) -> str | None:
    props: Mapping[str, Any] = node["properties"] if isinstance(node.get("properties"), Mapping) else {}
    patterns: Mapping[str, Any] = (node["patternProperties"] if isinstance(node.get("patternProperties"), Mapping)
                                   else {})
    required: list[Any] = node["required"] if isinstance(node.get("required"), list) else []
    for name in required:
        if not isinstance(name, str):
            continue
        if name in props:
            reason = _reason(props[name], root, f"{path}.properties.{name}", depth + 1)
            if reason is not None:
                return f"required field {name!r}: {reason}"
        elif node.get("additionalProperties") is False and not any(_matches(p, name) for p in patterns):
            return f"{path}: required field {name!r} is not allowed (additionalProperties: false)"
    return None


def _matches(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return True  # cannot tell: assume it may match


def _type_reason(node: Mapping[str, Any], root: Mapping[str, Any], path: str, depth: int) -> str | None:
    """Why no JSON type is left at ``node`` (declared types minus what enum, const, bounds and
    required fields rule out), or ``None``."""
    possible = _declared(node)
    reasons: list[str] = []
    for lo, hi, kills in _BOUNDS:
        a, b = node.get(lo), node.get(hi)
        if _number(a) and _number(b) and a > b:
            possible -= kills
            reasons.append(f"{path}: {lo} {a} is above {hi} {b}")
    if isinstance(node.get("enum"), list):
        possible &= set().union(*(_types_of(v) for v in node["enum"]))
        reasons.append(f"{path}: no enum value has the declared type")
    if "const" in node:
        possible &= _types_of(node["const"])
        reasons.append(f"{path}: const does not have the declared type")
    if "object" in possible and (problem := _required_problem(node, root, path, depth)) is not None:
        possible.discard("object")
        reasons.insert(0, problem)
    items = node.get("items")
    min_items = node.get("minItems")
    if "array" in possible and _number(min_items) and min_items >= 1 and items is not None:
        reason = _reason(items, root, f"{path}.items", depth + 1)
        if reason is not None:
            possible.discard("array")
            reasons.insert(0, f"{path}: at least one item is required, but {reason}")
    if possible:
        return None
    return reasons[0] if reasons else f"{path}: no type is left"


def _reason(node: Any, root: Mapping[str, Any], path: str, depth: int) -> str | None:
    if node is False:
        return f"{path}: the schema false allows no value"
    if not isinstance(node, Mapping) or depth > _MAX_DEPTH:
        return None
    if node.get("enum") == []:
        return f"{path}: enum: [] allows no value"
    if node.get("not") is True or node.get("not") == {}:
        return f"{path}: not: {{}} allows no value"
    if isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        target = resolve_pointer(root, ref) if ref == "#" or ref.startswith("#/") else None
        reason = _reason(target, root, f"{path}.$ref", depth + 1)
        if reason is not None:
            return reason
    reason = _type_reason(node, root, path, depth)
    if reason is not None:
        return reason
    for i, branch in enumerate(node.get("allOf") or []):
        reason = _reason(branch, root, f"{path}.allOf[{i}]", depth + 1)
        if reason is not None:
            return reason
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if isinstance(branches, list) and branches:
            reasons = [_reason(b, root, f"{path}.{key}[{i}]", depth + 1) for i, b in enumerate(branches)]
            if all(r is not None for r in reasons):
                return f"{path}: every {key} branch is impossible ({reasons[0]})"
    return None


def _empty_enums(node: Any, path: str) -> Iterator[str]:
    if isinstance(node, Mapping):
        if node.get("enum") == []:
            yield path
        for key, value in node.items():
            if key not in _DATA_KEYWORDS:
                yield from _empty_enums(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _empty_enums(value, f"{path}[{i}]")


def never_valid_reason(schema: Mapping[str, Any]) -> str | None:
    """Why no value can ever match ``schema`` (or one of its fields), or ``None`` when this check
    finds no such reason. Any ``enum: []`` counts, required or not: it is never meant."""
    for path in _empty_enums(schema, "$"):
        return f"{path}: enum: [] allows no value"
    return _reason(schema, schema, "$", 0)
