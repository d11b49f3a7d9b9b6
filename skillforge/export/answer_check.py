"""Check an answer against the skill's output schema: ``python scripts/validate.py ANSWER.json``.

Copied as ``scripts/validate.py`` into an exported Agent Skill. It reads the answer (a file, or ``-`` /
nothing for stdin) and ``../references/output_schema.json``; exit code 0 when the answer is valid, 1 with
one problem per line when it is not, 2 when the answer is not JSON.

With the ``jsonschema`` package installed it validates with it (the full JSON Schema 2020-12). Without
it, it uses only the standard library and checks the keywords skill output schemas use: ``type``,
``properties``, ``required``, ``additionalProperties``, ``enum``, ``const``, ``items``, ``minimum``,
``maximum``, ``minLength``, ``maxLength``, ``pattern``, ``minItems``, ``maxItems``; any other keyword in
the schema is reported on stderr as not checked.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parent.parent / "references" / "output_schema.json"
KNOWN = {"type", "properties", "required", "additionalProperties", "enum", "const", "items", "minimum", "maximum",
         "minLength", "maxLength", "pattern", "minItems", "maxItems", "description", "title", "$schema", "default",
         "examples"}
TYPES: dict[str, tuple[type, ...]] = {"object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
                                      "null": (type(None),), "number": (int, float), "integer": (int,)}


def _type_ok(value: Any, name: str) -> bool:
    if name in ("number", "integer") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, TYPES.get(name, (object,)))


def _bounds(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    out = []
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{where}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{where}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            out.append(f"{where}: length {len(value)} is outside the allowed length")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{where}: does not match the pattern {schema['pattern']!r}")
    if isinstance(value, list) and not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
        out.append(f"{where}: {len(value)} items is outside the allowed count")
    return out


def problems(value: Any, schema: dict[str, Any], where: str = "answer") -> list[str]:
    """Every problem of ``value`` under ``schema`` (the standard-library subset; empty: valid)."""
    types = schema.get("type")
    names = [types] if isinstance(types, str) else list(types or [])
    if names and not any(_type_ok(value, n) for n in names):
        return [f"{where}: expected {' or '.join(names)}, got {type(value).__name__}"]
    out = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        out.append(f"{where}: must be {schema['const']!r}")
    out += _bounds(value, schema, where)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{where}: missing required field {k!r}" for k in schema.get("required", []) if k not in value]
        for key, item in value.items():
            if key in props:
                out += problems(item, props[key], f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{where}: unexpected field {key!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                out += problems(item, schema["additionalProperties"], f"{where}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += problems(item, schema["items"], f"{where}[{i}]")
    return out


def unchecked(schema: Any) -> set[str]:
    """Keywords in ``schema`` the standard-library subset does not check."""
    if not isinstance(schema, dict):
        return set()
    out = set(schema) - KNOWN
    for key in ("properties",):
        for sub in (schema.get(key) or {}).values():
            out |= unchecked(sub)
    for key in ("items", "additionalProperties"):
        out |= unchecked(schema.get(key))
    return out


def validate(value: Any, schema: dict[str, Any]) -> list[str]:
    """Problems of ``value``: by ``jsonschema`` when installed, else by :func:`problems`."""
    try:
        import jsonschema
    except ImportError:
        skipped = unchecked(schema)
        if skipped:
            print(f"note: jsonschema is not installed; not checked: {', '.join(sorted(skipped))}", file=sys.stderr)
        return problems(value, schema)
    validator = jsonschema.Draft202012Validator(schema)
    return [f"answer{''.join(f'[{p!r}]' for p in e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]


def main(argv: list[str]) -> int:
    """Validate the answer named by ``argv`` (or stdin); print problems; return the exit code."""
    source = argv[0] if argv else "-"
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as exc:
        print(f"not JSON: {exc}", file=sys.stderr)
        return 2
    found = validate(answer, json.loads(SCHEMA.read_text(encoding="utf-8")))
    for line in found:
        print(line)
    if not found:
        print("valid")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
