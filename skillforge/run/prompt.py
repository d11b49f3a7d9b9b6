"""Turning a skill and an input into a :class:`ModelRequest`.

Prompt texts are the templates in ``templates/`` (:mod:`skillforge.templating`). User input is only
ever passed in as *data*: an input containing ``{{ 7*7 }}`` reaches the model verbatim. The static part
(system text, demos) comes first and the input last, so providers can reuse a cached prefix across calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skillforge.format import InputFormat, SkillDefinition
from skillforge.models.base import Message, ModelRequest
from skillforge.templating import render

#: How every re-ask's feedback begins (lets readers of a conversation tell feedback from input).
REASK_PREFIX = "Your answer was not valid:"


def plain_field(input_schema: Mapping[str, Any] | None) -> str | None:
    """The input's one field when the schema has exactly one property and it is a string, else ``None``."""
    props = (input_schema or {}).get("properties", {})
    if len(props) != 1:
        return None
    name, prop = next(iter(props.items()))
    return str(name) if isinstance(prop, Mapping) and prop.get("type") == "string" else None


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def render_input(value: Mapping[str, Any], input_format: InputFormat = "json",
                 input_schema: Mapping[str, Any] | None = None) -> str:
    """The input as the model sees it. ``json`` (the default, also the identity used to compare inputs):
    compact JSON, keys sorted for a stable prompt. ``plain``: see :data:`InputFormat`."""
    if input_format == "json":
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    field = plain_field(input_schema)
    if field is not None and set(value) == {field} and isinstance(value[field], str):
        return str(value[field])
    order = list((input_schema or {}).get("properties", {}))
    keys = [k for k in order if k in value] + sorted(k for k in value if k not in order)
    return "\n".join(f"{k}: {_value_text(value[k])}" for k in keys)


def render_output(value: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """An answer as JSON with keys in schema order (the order constrained decoding produces)."""
    order = list(schema.get("properties", {}))
    ordered = {k: value[k] for k in order if k in value}
    ordered.update({k: v for k, v in value.items() if k not in ordered})
    return json.dumps(ordered, ensure_ascii=False)


def schema_text(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, sort_keys=True)


def _field_text(prop: Mapping[str, Any]) -> str:
    parts = []
    if prop.get("description"):
        parts.append(str(prop["description"]).rstrip("."))
    if "enum" in prop:
        parts.append("one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in prop["enum"]))
    elif prop.get("type"):
        kind = prop["type"] if isinstance(prop["type"], str) else " or ".join(prop["type"])
        parts.append(f"a {kind}")
    return "; ".join(parts) or "any value"


def plain_instructions(description: str) -> str:
    """The plain prompt's instructions: the spec's description as one line."""
    return " ".join(description.split())


def template_instructions(description: str, output_schema: Mapping[str, Any]) -> str:
    """Instructions written from the spec alone: the candidate that needs no teacher."""
    required = set(output_schema.get("required", []))
    fields = [
        {"name": name, "required": name in required, "text": _field_text(prop)}
        for name, prop in output_schema.get("properties", {}).items()
    ]
    return render("template_instructions", description=description, fields=fields)


@dataclass(frozen=True)
class PromptStyle:
    """How a request is laid out: inputs (the input and the demos' inputs) rendered as ``input_format``
    (``plain`` lays text out by ``input_schema``), and the output schema's text in the system prompt when
    ``schema_in_prompt`` (else the format is left to constrained decoding)."""

    input_format: InputFormat = "json"
    input_schema: Mapping[str, Any] | None = None
    schema_in_prompt: bool = True


def build_request(
    *,
    instructions: str,
    output_schema: Mapping[str, Any],
    demos: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
    input: Mapping[str, Any],
    max_tokens: int,
    temperature: float = 0.0,
    retrieved: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]] = (),
    style: PromptStyle = PromptStyle(),
) -> ModelRequest:
    """A skill request: system (instructions, and the output schema's text when ``style.schema_in_prompt``),
    fixed demos as chat turns, then demos retrieved for this input, then the input. Demo inputs are rendered
    like the input. Only the system text and the fixed demos count as static (``static_messages``):
    retrieved demos change with the input, so they follow the cacheable prefix instead of breaking it."""
    fmt, in_schema = style.input_format, style.input_schema
    return assemble(
        system=system_text(instructions, output_schema, style.schema_in_prompt),
        static=demo_messages(demos, output_schema, fmt, in_schema),
        retrieved=demo_messages(retrieved, output_schema, fmt, in_schema),
        input=input, output_schema=output_schema, max_tokens=max_tokens, temperature=temperature, style=style,
    )


def system_text(instructions: str, output_schema: Mapping[str, Any], schema_in_prompt: bool) -> str:
    """The system text of a skill request (see :func:`build_request`)."""
    if schema_in_prompt:
        return render("system", instructions=instructions, schema=schema_text(output_schema))
    return instructions.strip()


def demo_messages(
    pairs: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]], output_schema: Mapping[str, Any],
    input_format: InputFormat = "json", input_schema: Mapping[str, Any] | None = None,
) -> tuple[Message, ...]:
    """Demos as chat turns: each input rendered like the input, each answer as schema-ordered JSON."""
    out: list[Message] = []
    for demo_in, demo_out in pairs:
        out.append(Message(role="user", content=render_input(demo_in, input_format, input_schema)))
        out.append(Message(role="assistant", content=render_output(demo_out, output_schema)))
    return tuple(out)


def assemble(
    *,
    system: str,
    static: Sequence[Message],
    retrieved: Sequence[Message],
    input: Mapping[str, Any],
    output_schema: Mapping[str, Any],
    max_tokens: int,
    temperature: float,
    style: PromptStyle,
) -> ModelRequest:
    """A skill request from its parts already rendered (a runner renders the static ones once)."""
    last = Message(role="user", content=render_input(input, style.input_format, style.input_schema))
    return ModelRequest(
        system=system,
        messages=(*static, *retrieved, last),
        static_messages=len(static),
        output_schema=dict(output_schema),
        max_tokens=max_tokens,
        temperature=temperature,
        input=dict(input),
    )


def reask(request: ModelRequest, raw_text: str, errors: Sequence[str]) -> ModelRequest:
    """The same request continued with the model's invalid answer and the validation errors."""
    feedback = render("reask", errors=list(errors)[:10])
    return request.model_copy(
        update={
            "messages": (
                *request.messages,
                Message(role="assistant", content=raw_text or "(empty answer)"),
                Message(role="user", content=feedback),
            )
        }
    )


def skill_style(skill: SkillDefinition) -> PromptStyle:
    """How ``skill``'s requests are laid out: its settings' rendering, its input schema."""
    s = skill.manifest.settings
    return PromptStyle(s.input_format, skill.manifest.input_schema, s.schema_in_prompt)


def lean_request(skill: SkillDefinition, input: Mapping[str, Any]) -> ModelRequest:
    """``skill``'s instructions and ``input`` only, in its rendering (no demos): the request a runner sends
    a model tier or an escalation asked without demos, and what a fine-tuning record shows."""
    s = skill.manifest.settings
    return build_request(instructions=skill.instructions, output_schema=skill.manifest.output_schema, demos=[],
                         input=input, max_tokens=s.max_tokens, temperature=s.temperature, style=skill_style(skill))
