"""Checks learned from the labelled examples hold a multi-field answer to more than its schema: copied
values come from the input, fields nearly every example has are there, fields come in their usual order.
An answer that breaks one is repaired (asked again, told what it broke) only where that pays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skillforge import CompileOptions, Example, Ledger, SkillSpec, SpecError, compile_skill, load_skill
from skillforge.compile import SearchConfig
from skillforge.models.base import ModelRequest
from skillforge.spec import AnswerChecks, check_errors, learn_checks
from skillforge.testing import FunctionModel, QueuedModel, skill_input

from helpers import TEXT_IN

NAME_OUT: dict[str, Any] = {
    "type": "object",
    "properties": {"given_name": {"type": "string"}, "surname": {"type": "string"},
                   "middle_name": {"type": "string"}},
    "additionalProperties": False,
}
FIRST = ["Ann", "Bob", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hal", "Ida", "Jon", "Kim", "Lou", "Max", "Ned", "Olga"]
LAST = ["Smith", "Jones", "Brown", "Moore", "Young", "King", "Wright", "Hill", "Green", "Baker", "Adams", "Nelson"]


def name_spec(**extra: Any) -> SkillSpec:
    return SkillSpec(name="names", description="Split a name into its parts.", input_schema=TEXT_IN,
                     output_schema=NAME_OUT, **extra)


def name_examples(n: int) -> list[Example]:
    out = []
    for i in range(n):
        given, surname = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        middle = "Q." if i % 3 == 0 else None
        text = " ".join(p for p in (given, middle, surname) if p)
        expected = {"given_name": given, "surname": surname, **({"middle_name": middle} if middle else {})}
        out.append(Example(input={"text": text}, expected=expected))
    return out


def test_checks_are_learned_from_the_examples() -> None:
    checks = learn_checks([(e.input, e.expected or {}) for e in name_examples(60)], NAME_OUT)
    assert set(checks.copied) == {"given_name", "surname", "middle_name"}
    assert set(checks.required) == {"given_name", "surname"}  # a middle name only in a third
    assert ("given_name", "surname") in checks.order and ("given_name", "middle_name") in checks.order
    # Too few examples, or one field: nothing to learn.
    assert learn_checks([(e.input, e.expected or {}) for e in name_examples(5)], NAME_OUT).empty
    one = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert learn_checks([({"text": "x"}, {"a": "x"})] * 30, one).empty


def test_an_answer_is_told_what_it_breaks() -> None:
    checks = AnswerChecks(copied=("given_name", "surname"), required=("surname",), order=(("given_name", "surname"),))
    x = {"text": "Ann Q. Smith"}
    assert check_errors({"given_name": "Ann", "surname": "Smith"}, x, checks) == []
    assert check_errors({"given_name": "ann", "surname": "SMITH."}, x, checks) == []  # case, punctuation aside
    made_up = check_errors({"given_name": "Anne", "surname": "Smith"}, x, checks)
    assert made_up == ["given_name 'Anne' is not in the input: copy its words from the input exactly as written"]
    assert check_errors({"given_name": "Ann"}, x, checks) == ["surname is missing: nearly every answer has one"]
    swapped = check_errors({"given_name": "Smith", "surname": "Ann"}, x, checks)
    assert len(swapped) == 1 and "swapped" in swapped[0]


def test_a_spec_states_its_own_checks_or_none() -> None:
    with pytest.raises(SpecError) as info:
        name_spec(checks={"copied": ["nickname"]})
    assert info.value.field == "checks" and "nickname" in str(info.value)
    model = FunctionModel(lambda r: "Split it." if r.output_schema is None else _right(r))
    stated = compile_skill(
        name_spec(checks={"required": ["surname"]}),
        name_examples(60),
        CompileOptions(search=SearchConfig(ks=(2,), refine_rounds=0)),
        teacher=model,
        student=model,
        ledger=Ledger(None),
    )
    assert stated.settings.checks == AnswerChecks(required=("surname",))
    none = compile_skill(
        name_spec(checks={}),
        name_examples(60),
        CompileOptions(search=SearchConfig(ks=(2,), refine_rounds=0)),
        teacher=model,
        student=model,
        ledger=Ledger(None),
    )
    assert none.settings.checks is None
    # A spec without checks hashes as before checks could be stated.
    assert name_spec().spec_hash() == SkillSpec(**name_spec().model_dump(exclude={"checks"})).spec_hash()


def _right(request: ModelRequest) -> dict[str, Any]:
    text = skill_input(request)["text"].split()
    return {"given_name": text[0], "surname": text[-1], **({"middle_name": text[1]} if len(text) == 3 else {})}


def _made_up_then(fixed: bool) -> FunctionModel:
    """Right, except that on every fourth name it first invents the surname; told so, it copies it
    (``fixed``) or invents again."""

    def answer(request: ModelRequest) -> Any:
        if request.output_schema is None:
            return "Split the name."
        out = _right(request)
        told = "not in the input" in request.messages[-1].content
        if LAST.index(out["surname"]) % 4 == 0 and not (told and fixed):
            out["surname"] = out["surname"] + "son"
        return out

    return FunctionModel(answer, model_id="test:student", price_per_token=1e-8)


@pytest.mark.parametrize("fixed", [True, False])
def test_repair_is_kept_only_where_it_pays(tmp_path: Path, fixed: bool) -> None:
    teacher = FunctionModel(
        lambda r: "Split the name." if r.output_schema is None else _right(r),
        model_id="test:teacher",
        price_per_token=1e-5,
    )
    student = _made_up_then(fixed)
    skill = compile_skill(
        name_spec(),
        name_examples(150),
        CompileOptions(search=SearchConfig(ks=(2,), refine_rounds=0, retrieval=False)),
        teacher=teacher,
        student=student,
        ledger=Ledger(None),
    )
    s = skill.settings
    assert s.checks is not None and "surname" in s.checks.copied
    # A repair that fixes the answer saves an escalation for a student call: kept. One that never does
    # only adds a call: dropped. The alternative was priced too.
    assert s.repair is fixed
    labels = {(o.confidence, o.repair) for o in skill.manifest.metrics.ladders if o.confidence is not None}
    assert any(r is (not fixed) for _, r in labels)
    loaded = load_skill(skill.save(tmp_path / "s"))
    assert loaded.settings.checks == s.checks and loaded.settings.repair is fixed

    # Run: an invented surname is invalid; with repair the student is told which value and why.
    student.requests.clear()
    result = loaded.run({"text": "Ann Smith"}, student=student, teacher=teacher, ledger=Ledger(None))
    verdicts = [(a.role, a.verdict) for a in result.attempts]
    assert result.output == {"given_name": "Ann", "surname": "Smith"}
    if fixed:
        assert verdicts[:2] == [("student", "invalid"), ("student", "accepted")]
        assert "'Smithson' is not in the input" in student.requests[1].messages[-1].content
        assert result.signals.get("failed_check") == 1.0
    else:
        assert verdicts == [("student", "invalid"), ("teacher", "accepted")]  # no repair: straight on
        assert len(student.requests) == 1


def test_the_runtime_holds_answers_to_the_skills_checks() -> None:
    model = FunctionModel(lambda r: "Split it." if r.output_schema is None else _right(r))
    skill = compile_skill(
        name_spec(),
        name_examples(60),
        CompileOptions(search=SearchConfig(ks=(2,), refine_rounds=0)),
        teacher=model,
        student=model,
        ledger=Ledger(None),
    )
    skill.manifest.settings.ask_student, skill.manifest.settings.threshold = True, None
    student = QueuedModel([{"given_name": "Ann", "surname": "Smith"}])
    ok = skill.run({"text": "Ann Smith"}, student=student, teacher=QueuedModel([]), ledger=Ledger(None))
    assert ok.tier == "student" and ok.signals["failed_check"] == 0.0
