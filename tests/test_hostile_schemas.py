"""Schemas from untrusted skills: refs resolve only inside the schema, nothing is fetched or read, and
a schema no value can match is refused up front instead of burning model calls on every run."""

from __future__ import annotations

import socket
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from skillforge import SkillFormatError, SkillSpec, SpecError, load_skill
from skillforge.spec import validation_errors, validator_for

from helpers import TEXT_IN, sentiment_spec

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT = ROOT / "skills" / "review-sentiment"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def spec_with(output: dict[str, Any]) -> SkillSpec:
    return SkillSpec(name="s", description="d", input_schema=TEXT_IN, output_schema=output)


def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props)}


@pytest.mark.parametrize("ref", [
    "http://127.0.0.1:9/schema.json", "https://example.com/s.json#/x", "file:///etc/passwd", "other.json",
    "/etc/passwd", "urn:x:y",
])
def test_a_ref_outside_the_schema_is_a_spec_error_naming_the_field(ref: str) -> None:
    with pytest.raises(SpecError, match=r"output_schema: \$ref .* points outside the schema") as info:
        spec_with(obj(a={"$ref": ref}))
    assert info.value.field == "output_schema"
    assert "root:" not in str(info.value)  # no file content leaks into the message


def test_a_local_ref_that_does_not_resolve_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"\$ref '#/\$defs/missing' does not resolve inside the schema"):
        spec_with(obj(a={"$ref": "#/$defs/missing"}))


@pytest.mark.parametrize("schema", [
    obj(a={"$ref": "#/properties/a"}),
    {**obj(a={"type": "string"}), "allOf": [{"$ref": "#"}]},
    {**obj(a={"$ref": "#/$defs/x"}),
     "$defs": {"x": {"anyOf": [{"$ref": "#/$defs/y"}]}, "y": {"not": {"$ref": "#/$defs/x"}}}},
])
def test_a_ref_that_loops_without_descending_into_the_value_is_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(SpecError, match="leads back to itself without descending into the value"):
        spec_with(schema)


def test_a_recursive_schema_that_descends_into_the_value_is_fine() -> None:
    tree = {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}
    schema = {**obj(root={"$ref": "#/$defs/node"}), "$defs": {"node": tree}}
    deep = {"children": [{"children": [{"children": []}]}]}
    assert validation_errors(spec_with(schema).output_schema, {"root": deep}) == []


def test_local_refs_and_anchors_resolve_and_validate() -> None:
    schema = {**obj(a={"$ref": "#/$defs/word"}, b={"$ref": "#num"}),
              "$defs": {"word": {"type": "string"}, "n": {"$anchor": "num", "type": "integer"}}}
    spec = spec_with(schema)
    assert validation_errors(spec.output_schema, {"a": "x", "b": 1}) == []
    assert validation_errors(spec.output_schema, {"a": 1, "b": "x"}) == ["a: 1 is not of type 'string'",
                                                                          "b: 'x' is not of type 'integer'"]


def test_a_schema_with_an_absolute_id_still_resolves_its_local_refs_without_fetching() -> None:
    schema = {"$id": "https://schemas.example.com/out.json", **obj(a={"$ref": "#/$defs/w"}),
              "$defs": {"w": {"type": "string"}}}
    assert validation_errors(spec_with(schema).output_schema, {"a": 2}) == ["a: 2 is not of type 'string'"]


def test_validators_are_built_once_per_schema() -> None:
    schema = obj(a={"type": "string"})
    assert validator_for(schema) is validator_for(dict(schema))


def _manifest_with_output(tmp_path: Path, output: dict[str, Any]) -> Path:
    import shutil

    path = Path(shutil.copytree(SENTIMENT, tmp_path / "skill"))
    data = yaml.safe_load((path / "skill.yaml").read_text())
    data["output_schema"] = output
    (path / "skill.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("ref", ["http://127.0.0.1:9/s.json", "file:///etc/hostname", "#/$defs/nope"])
def test_a_skill_whose_schema_refs_outside_itself_does_not_load(tmp_path: Path, ref: str) -> None:
    output = {**obj(sentiment={"$ref": ref}), "additionalProperties": False}
    path = _manifest_with_output(tmp_path, output)
    with pytest.raises(SkillFormatError, match=r"skill\.yaml \[output_schema\]: \$ref") as info:
        load_skill(path)
    assert info.value.file == "skill.yaml" and info.value.field == "output_schema"


@pytest.mark.parametrize(("schema", "why"), [
    (obj(label={"type": "string", "enum": []}), r"enum: \[\] allows no value"),
    ({"type": "object", "properties": {"label": {"enum": []}}}, r"enum: \[\] allows no value"),
    (obj(label=False), "the schema false allows no value"),
    (obj(label={"type": "string", "enum": [1, 2]}), "no enum value has the declared type"),
    (obj(n={"type": "integer", "minimum": 5, "maximum": 1}), "minimum 5 is above maximum 1"),
    (obj(s={"type": "string", "minLength": 3, "maxLength": 2}), "minLength 3 is above maxLength 2"),
    (obj(s={"not": {}}), r"not: \{\} allows no value"),
    (obj(s={"anyOf": [{"enum": []}, False]}), "enum"),
    (obj(s={"$ref": "#/$defs/never"}) | {"$defs": {"never": {"type": "string", "const": 3}}}, "const"),
    ({"type": "object", "required": ["x"], "additionalProperties": False}, "required field 'x' is not allowed"),
    (obj(xs={"type": "array", "minItems": 1, "items": False}), "at least one item is required"),
])
def test_a_schema_no_value_can_match_is_refused(schema: dict[str, Any], why: str) -> None:
    with pytest.raises(SpecError, match=f"output_schema: no value can ever match this schema: .*{why}"):
        spec_with(schema)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"legacy": False}},  # false forbids an optional property: an idiom
    obj(n={"type": "number", "enum": [1, 2.5]}),
    obj(s={"anyOf": [{"type": "string"}, {"enum": [1], "type": "string"}]}),
    obj(n={"type": ["integer", "null"], "minimum": 3, "maximum": 1}),  # null is still possible
])
def test_schemas_that_some_value_matches_are_accepted(schema: dict[str, Any]) -> None:
    spec_with(schema)


def test_a_committed_skill_with_an_empty_enum_does_not_load(tmp_path: Path) -> None:
    output = {**obj(sentiment={"type": "string", "enum": []}), "additionalProperties": False}
    path = _manifest_with_output(tmp_path, output)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(SkillFormatError, match=r"skill\.yaml \[output_schema\]: no value can ever match"):
            load_skill(path)


def test_a_pydantic_model_with_nested_models_gives_local_refs_that_resolve() -> None:
    from pydantic import BaseModel

    class Street(BaseModel):
        name: str

    class Address(BaseModel):
        street: Street

    spec = SkillSpec(name="s", description="d", input_schema=TEXT_IN, output_schema=Address)
    assert spec.output_schema["properties"]["street"] == {"$ref": "#/$defs/Street"}
    assert validation_errors(spec.output_schema, {"street": {"name": 3}}) == ["street/name: 3 is not of type 'string'"]
    assert sentiment_spec().output_schema["required"] == ["sentiment"]
