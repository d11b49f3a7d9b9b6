"""The JSON the Anthropic Messages API speaks: output schemas it accepts, response and error bodies.

**Output schemas.**

Structured outputs (``output_config.format``) constrain decoding with a grammar compiled from the
schema, and only a subset of JSON Schema compiles. What the subset is, per the structured-outputs
guide (https://platform.claude.com/docs/en/build-with-claude/structured-outputs, "JSON Schema
limitations") and the SDK's own ``anthropic.lib._parse._transform.transform_schema``:

- supported: ``type`` (object, array, string, integer, number, boolean, null), ``properties``,
  ``required``, ``additionalProperties: false`` (mandatory on every object), ``items``,
  ``minItems`` of 0 or 1, ``enum`` / ``const`` of primitives, ``anyOf``, ``allOf``, local
  ``$ref`` with ``$defs`` / ``definitions``, ``description``, ``title``, and the string formats
  in :data:`SUPPORTED_STRING_FORMATS`;
- not supported: numeric bounds (``minimum``, ``maximum``, ``multipleOf``, ...), string length
  and ``pattern``, other array bounds, ``additionalProperties`` other than false, recursive
  schemas, external ``$ref``.

:func:`adapt_schema` keeps the supported part and folds each unsupported *constraint* into the
node's ``description`` (as the SDK does), so the model still reads it; the runtime validates every
answer against the full original schema anyway. What cannot be adapted without changing what a
valid answer looks like -- a free-form map, an any-value node, a recursive or external ``$ref``,
an enum of objects -- is reported by :func:`structured_output_problems`; a forced tool call (whose
``input_schema`` is ordinary JSON Schema) can still carry such schemas, except external refs
(:func:`tool_schema_problems`).

**Response bodies** are read as raw JSON (:func:`answer_text`, :func:`usage_from_body`) because the
SDK's typed parsing turns an unknown block type into a ``TextBlock`` with ``text=None``; here
unknown blocks are skipped. Blocks are selected by type, never by position: a model that thinks puts
a ``thinking`` (or ``redacted_thinking``) block before its answer. Error bodies are read in
:mod:`skillforge.models.http_errors`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from skillforge.jsonl import resolve_pointer
from skillforge.models.base import Usage

log = logging.getLogger("skillforge.models.anthropic.model")

#: The forced tool of ``tool`` mode; its input is the answer.
ANSWER_TOOL = "answer"

SUPPORTED_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})
SUPPORTED_STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
# Annotations carry no constraint: dropped silently instead of being echoed into descriptions.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$anchor", "$comment", "examples", "default", "deprecated", "readOnly", "writeOnly"}
)
_DEFS_KEYS = ("$defs", "definitions")
_TYPE_NAME = re.compile(r"^[a-z_]{1,40}$")


def _is_primitive(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


# Sub-schemas that survive adaptation; the others (not, if/then/else, contains, ...) are folded
# into descriptions, so their own shape does not matter for structured outputs.
_KEPT_MAPS = ("properties", *_DEFS_KEYS)
_KEPT_SEQS = ("anyOf", "oneOf", "allOf")
_ALL_MAPS = (*_KEPT_MAPS, "patternProperties", "dependentSchemas")
_ALL_NODES = ("items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames")
_ALL_SEQS = (*_KEPT_SEQS, "prefixItems", "items")


def _children(node: Mapping[str, Any], path: str, *, kept: bool) -> Iterator[tuple[str, Any]]:
    """Sub-schemas of ``node`` with their paths: all of them, or only those :func:`adapt_schema` keeps."""
    for key in _KEPT_MAPS if kept else _ALL_MAPS:
        sub = node.get(key)
        if isinstance(sub, Mapping):
            for name, child in sub.items():
                yield f"{path}.{key}.{name}", child
    for key in ("items",) if kept else _ALL_NODES:
        child = node.get(key)
        if isinstance(child, Mapping):
            yield f"{path}.{key}", child
    for key in _KEPT_SEQS if kept else _ALL_SEQS:
        seq = node.get(key)
        if isinstance(seq, list):
            for i, child in enumerate(seq):
                yield f"{path}.{key}[{i}]", child


def _walk(node: Any, path: str = "$", *, kept: bool = False) -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, Mapping) and "$ref" not in node:
        for child_path, child in _children(node, path, kept=kept):
            yield from _walk(child, child_path, kept=kept)
    elif isinstance(node, Mapping):
        # Only the definitions travel with a $ref node.
        for key in _DEFS_KEYS:
            sub = node.get(key)
            if isinstance(sub, Mapping):
                for name, child in sub.items():
                    yield from _walk(child, f"{path}.{key}.{name}", kept=kept)


def _ref_problems(root: Mapping[str, Any], *, kept: bool) -> tuple[list[str], list[str]]:
    """(external or unresolvable refs, recursive refs), as messages."""
    bad: list[str] = []
    edges: dict[str, set[str]] = {}
    for path, node in _walk(root, kept=kept):
        ref = node.get("$ref") if isinstance(node, Mapping) else None
        if not isinstance(ref, str):
            continue
        if not ref.startswith("#"):
            bad.append(f"{path}: external $ref {ref!r} is not supported (only local '#/...' refs)")
        elif resolve_pointer(root, ref) is None:
            bad.append(f"{path}: $ref {ref!r} does not resolve")
        elif ref not in edges:
            target = resolve_pointer(root, ref)
            edges[ref] = {
                r
                for _, n in _walk(target, kept=kept)
                if isinstance(n, Mapping) and isinstance(r := n.get("$ref"), str)
            }
    recursive: list[str] = []
    for start in sorted(edges):
        seen: set[str] = set()
        stack = list(edges[start])
        while stack:
            ref = stack.pop()
            if ref == start:
                recursive.append(f"$ref {start!r} is recursive; structured outputs need a finite schema")
                break
            if ref not in seen:
                seen.add(ref)
                stack.extend(edges.get(ref, ()))
    return bad, recursive


def tool_schema_problems(schema: Mapping[str, Any]) -> list[str]:
    """Why ``schema`` cannot be a tool's ``input_schema`` (empty when it can)."""
    problems: list[str] = []
    if schema.get("type") != "object":
        problems.append('$: a tool input_schema must have "type": "object" at its root')
    problems.extend(_ref_problems(schema, kept=False)[0])
    return problems


def _node_problems(path: str, node: Any) -> list[str]:
    if not isinstance(node, Mapping):
        return [f"{path}: boolean schemas ({json.dumps(node)}) are not supported"]
    problems: list[str] = []
    if "$ref" in node:
        return problems
    types = node.get("type")
    type_list = types if isinstance(types, list) else [types] if types is not None else []
    for t in type_list:
        if t not in SUPPORTED_TYPES:
            problems.append(f"{path}: type {t!r} is not supported")
    for key in ("enum", "const"):
        values = node.get(key) if key == "enum" else [node.get(key)] if key in node else None
        if values is not None and not (isinstance(values, list) and all(_is_primitive(v) for v in values)):
            problems.append(f"{path}: {key} values must be strings, numbers, booleans or null")
    has_shape = any(k in node for k in ("type", "anyOf", "oneOf", "allOf", "enum", "const"))
    if not has_shape:
        problems.append(f"{path}: a schema without a type (any value) cannot be expressed; give it a type")
    if "object" in type_list and not node.get("properties"):
        extra = node.get("additionalProperties")
        if (extra is not None and extra is not False) or node.get("patternProperties"):
            problems.append(
                f"{path}: a free-form map (additionalProperties/patternProperties without properties) "
                "cannot be expressed: structured outputs force additionalProperties to false"
            )
    return problems


def structured_output_problems(schema: Mapping[str, Any]) -> list[str]:
    """Why ``schema`` cannot be sent as ``output_config.format`` without changing its meaning
    (empty when :func:`adapt_schema` can adapt it faithfully)."""
    external, recursive = _ref_problems(schema, kept=True)
    problems = [*external, *recursive]
    for path, node in _walk(schema, kept=True):
        problems.extend(_node_problems(path, node))
    return problems


def _fold_into_description(out: dict[str, Any], leftover: Mapping[str, Any]) -> None:
    constraints = {k: v for k, v in leftover.items() if k not in _ANNOTATIONS}
    if not constraints:
        return
    text = "{" + ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in constraints.items()) + "}"
    description = out.get("description")
    out["description"] = f"{description}\n\n{text}" if description else text


def _adapt(node: Mapping[str, Any]) -> dict[str, Any]:
    rest = dict(node)
    out: dict[str, Any] = {}
    for key in _DEFS_KEYS:
        defs = rest.pop(key, None)
        if isinstance(defs, Mapping):
            out[key] = {name: _adapt(sub) for name, sub in defs.items()}
    ref = rest.pop("$ref", None)
    if ref is not None:
        # Siblings of $ref are ignored by the API, as by the SDK's transform.
        out["$ref"] = ref
        return out
    type_ = rest.pop("type", None)
    any_of, one_of, all_of = rest.pop("anyOf", None), rest.pop("oneOf", None), rest.pop("allOf", None)
    if isinstance(rest.get("enum"), list):
        out["enum"] = list(rest.pop("enum"))
    if "const" in rest:
        out["const"] = rest.pop("const")
    literal = "enum" in out or "const" in out
    if isinstance(any_of, list) or isinstance(one_of, list):
        # oneOf becomes anyOf: exclusivity is not expressible; the runtime still checks it.
        out["anyOf"] = [_adapt(v) for v in (any_of if isinstance(any_of, list) else one_of or [])]
    elif isinstance(all_of, list):
        out["allOf"] = [_adapt(v) for v in all_of]
    if type_ is not None and not literal:
        out["type"] = type_
    for key in ("description", "title"):
        if key in rest:
            out[key] = rest.pop(key)
    types = set(type_) if isinstance(type_, list) else {type_}
    if "object" in types:
        props = rest.pop("properties", {}) or {}
        out["properties"] = {name: _adapt(sub) for name, sub in props.items()}
        rest.pop("additionalProperties", None)
        out["additionalProperties"] = False
        if "required" in rest:
            out["required"] = list(rest.pop("required"))
    if "string" in types and rest.get("format") in SUPPORTED_STRING_FORMATS:
        out["format"] = rest.pop("format")
    if "array" in types:
        items = rest.get("items")
        if isinstance(items, Mapping):
            out["items"] = _adapt(rest.pop("items"))
        if rest.get("minItems") in (0, 1):
            out["minItems"] = rest.pop("minItems")
    _fold_into_description(out, rest)
    return out


def adapt_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` in the structured-outputs subset: ``additionalProperties: false`` on
    every object, unsupported constraints moved into descriptions, annotations dropped.

    Check :func:`structured_output_problems` first: a schema with problems is adapted on a best
    effort basis only (e.g. a free-form map would only admit ``{}``).
    """
    return _adapt(schema)


# -- response bodies -------------------------------------------------------------------------------


def answer_text(data: Mapping[str, Any], *, tool: bool) -> str:
    """The answer in a Messages API body: the ``answer`` tool's input as JSON when asked for a
    tool call, else the text blocks joined. Other block types (thinking, server tools, block types
    newer than this code) are skipped; no usable block gives ``""``."""
    blocks = data.get("content")
    if not isinstance(blocks, list):
        return ""
    texts: list[str] = []
    tool_inputs: list[str] = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use" and isinstance(block.get("input"), dict):
            tool_input = json.dumps(block["input"], ensure_ascii=False)
            if block.get("name") == ANSWER_TOOL:
                tool_inputs.insert(0, tool_input)
            else:
                tool_inputs.append(tool_input)
        elif kind not in ("text", "tool_use"):
            # The type is server-supplied: logged only when it looks like a type name, never verbatim.
            log.debug("skipping content block of type %s", kind if _TYPE_NAME.match(str(kind)) else "(unnamed)")
    text = "".join(texts)
    if tool and tool_inputs:
        return tool_inputs[0]
    return text if text.strip() or not tool_inputs else tool_inputs[0]


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_body(raw: object) -> Usage:
    """Usage from the body's ``usage`` object; missing or null counts are 0. Thinking tokens come from
    ``output_tokens_details.thinking_tokens`` (already part of ``output_tokens``, which bills them)."""
    fields = raw if isinstance(raw, dict) else {}
    counts = {name: _count(fields.get(name)) for name in Usage.model_fields if name != "thinking_tokens"}
    details = fields.get("output_tokens_details")
    thinking = _count(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    return Usage(**counts, thinking_tokens=min(thinking, counts["output_tokens"]))

