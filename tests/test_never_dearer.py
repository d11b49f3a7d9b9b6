"""A skill never costs more per call than sending every input to the teacher: where calibration certifies
no student answer, the compiled skill routes straight to the teacher and says what more data would take."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from skillforge import CompileOptions, Example, Ledger, SkillSpec, compile_skill, evaluate_skill
from skillforge.compile import SearchConfig
from skillforge.models.base import ModelRequest
from skillforge.testing import FunctionModel, skill_input

SPEC = SkillSpec(
    name="order-fields",
    description="Copy the customer's name and the city from a short order note.",
    input_schema={"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    output_schema={"type": "object", "properties": {"name": {"type": "string"}, "city": {"type": "string"}},
                   "required": ["name", "city"]},
)
NAMES = ["Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu"]
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Riga", "Baku", "Doha", "Nice", "Bern", "Cork"]


def examples(n: int, offset: int = 0) -> list[Example]:
    out = []
    for i in range(offset, offset + n):
        name, city = NAMES[i % len(NAMES)], CITIES[(i * 7) % len(CITIES)]
        out.append(Example(input={"text": f"order {i} for {name}, ship to {city}"},
                           expected={"name": name, "city": city}))
    return out


def teacher_answer(request: ModelRequest) -> Any:
    if request.output_schema is None:  # drafting instructions
        return "Copy the name after 'for' and the city after 'ship to'."
    words = skill_input(request)["text"].replace(",", "").split()
    return {"name": words[words.index("for") + 1], "city": words[-1]}


def unsure_student(request: ModelRequest) -> Any:
    """Right about half the time, unrelated to anything it could be confident about: a wrong answer is
    still a word of the input, in the fields' usual order, so no learned check tells it apart."""
    if request.output_schema is None:
        return "n/a"
    text = skill_input(request)["text"]
    right = teacher_answer(request)
    if hashlib.sha256(text.encode()).digest()[0] % 2:
        return right
    return {"name": text.split()[0], "city": right["city"]}


def test_a_student_that_is_never_confident_costs_no_more_than_teacher_only() -> None:
    # Expensive teacher, cheap student that never knows when it is right (the same low confidence on
    # every answer): no threshold can certify its answers at the target.
    teacher = FunctionModel(teacher_answer, model_id="test:teacher", price_per_token=20e-6)
    student = FunctionModel(unsure_student, model_id="test:student", logprob=-2.0, price_per_token=0.5e-6)
    ledger = Ledger(None)
    options = CompileOptions(search=SearchConfig(ks=(2,), refine_rounds=0, retrieval=False, draws=1))
    skill = compile_skill(SPEC, examples(60), options, dev_examples=examples(30, offset=60), teacher=teacher,
                          student=student, ledger=ledger)
    # Nothing certified: the skill routes straight to the teacher, and says what more data would take.
    assert skill.settings.ask_student is False
    # Right on half its answers whatever it says: no amount of data certifies 95% of them.
    to_certify = skill.manifest.metrics.to_certify
    assert to_certify is None or to_certify.more_examples is None
    chosen = [ladder for ladder in skill.manifest.metrics.ladders if ladder.chosen]
    assert chosen and chosen[0].tiers == [] and chosen[0].student_share == 0.0

    result = evaluate_skill(skill, examples(40, offset=100), student=student, teacher=teacher)
    costs = result.costs_per_1k()
    assert costs["mix"] is not None and costs["teacher_only"] is not None
    assert costs["mix"] <= costs["teacher_only"] + 1e-12, json.dumps(costs)
    assert result.student_share == 0.0 and result.final_accuracy == 1.0
