"""SkillSpec and Example: what a user may ask for, and the clear errors for what they may not."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from skillforge import Example, InputValidationError, SkillSpec, SpecError
from skillforge.spec import check_examples, read_examples

from helpers import SENTIMENT_OUT, TEXT_IN, sentiment_spec


class UtteranceIn(BaseModel):
    text: str


class IntentOut(BaseModel):
    intent: str


def test_schemas_may_be_pydantic_models_and_are_stored_as_json_schema() -> None:
    spec = SkillSpec(name="intent-router", description="Route.", input_schema=UtteranceIn,
                     output_schema=IntentOut)
    assert spec.input_schema["properties"]["text"]["type"] == "string"
    assert spec.output_schema["required"] == ["intent"]


@pytest.mark.parametrize("name", ["Intent", "intent_router", "-x", "a--b", "x" * 65, ""])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(SpecError, match="skill name") as info:
        SkillSpec(name=name, description="d", input_schema=TEXT_IN, output_schema=SENTIMENT_OUT)
    assert info.value.field == "name"


def test_a_schema_that_is_not_json_schema_is_refused_naming_the_field() -> None:
    with pytest.raises(SpecError, match="output_schema"):
        SkillSpec(name="x", description="d", input_schema=TEXT_IN, output_schema={"type": "nonsense"})


def test_schemas_must_describe_objects() -> None:
    with pytest.raises(SpecError, match="JSON object"):
        SkillSpec(name="x", description="d", input_schema={"type": "string"}, output_schema=SENTIMENT_OUT)


def test_check_input_names_every_problem() -> None:
    with pytest.raises(InputValidationError) as info:
        sentiment_spec().check_input({"txt": 1})
    assert any("text" in e for e in info.value.errors)
    assert any("txt" in e for e in info.value.errors)


def test_spec_hash_changes_with_the_task() -> None:
    a = sentiment_spec()
    b = SkillSpec(name=a.name, description="Something else.", input_schema=TEXT_IN, output_schema=SENTIMENT_OUT)
    assert a.spec_hash() == sentiment_spec().spec_hash()
    assert a.spec_hash() != b.spec_hash()


def test_spec_files_load_from_yaml_and_errors_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "spec.yaml"
    good.write_text(
        "name: sentiment\ndescription: Is it positive?\n"
        "input_schema: {type: object, properties: {text: {type: string}}}\n"
        "output_schema: {type: object, properties: {sentiment: {type: string}}}\n"
    )
    assert SkillSpec.from_file(good).name == "sentiment"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad Name\ndescription: d\ninput_schema: {type: object}\noutput_schema: {type: object}\n")
    with pytest.raises(SpecError, match=r"bad\.yaml.*skill name"):
        SkillSpec.from_file(bad)
    with pytest.raises(SpecError, match="cannot read"):
        SkillSpec.from_file(tmp_path / "missing.yaml")


def test_examples_must_match_the_schemas() -> None:
    spec = sentiment_spec()
    check_examples(spec, [Example(input={"text": "ok"}, expected={"sentiment": "positive"})], what="examples")
    with pytest.raises(SpecError, match=r"examples\[0\]\.expected"):
        check_examples(spec, [Example(input={"text": "ok"}, expected={"sentiment": "meh"})], what="examples")


def test_read_examples_reports_the_line(tmp_path: Path) -> None:
    f = tmp_path / "ex.jsonl"
    f.write_text('{"input": {"text": "a"}, "expected": {"sentiment": "positive"}}\n\n{"inputs": {}}\n')
    with pytest.raises(SpecError, match=r"ex\.jsonl:3"):
        read_examples(f)
    f.write_text('{"input": {"text": "a"}}\n')
    assert read_examples(f) == [Example(input={"text": "a"})]
