"""Smoke tests against the real Anthropic API. Skipped unless ``--live`` and ANTHROPIC_API_KEY are
given (see conftest); each costs well under a cent, the compile test a few cents."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from skillforge.environment import read_env
from skillforge.models.anthropic import AnthropicModel
from skillforge.models.base import Message, ModelRequest

pytestmark = pytest.mark.live

CAPITAL = {
    "type": "object",
    "properties": {"capital": {"type": "string"}, "population_millions": {"type": "number", "minimum": 0}},
    "required": ["capital"],
    "additionalProperties": False,
}


def capital_request() -> ModelRequest:
    return ModelRequest(
        system="You answer questions about countries with one JSON object.",
        messages=(Message(role="user", content='{"country": "France"}'),),
        output_schema=CAPITAL,
        max_tokens=100,
    )


@pytest.mark.parametrize("structured", ["auto", "tool"])
def test_haiku_answers_with_valid_json(structured: str) -> None:
    model = AnthropicModel("claude-haiku-4-5", structured=structured)  # type: ignore[arg-type]
    response = model.request_sync(capital_request())
    value = json.loads(response.text)
    jsonschema.validate(value, CAPITAL)
    assert "paris" in value["capital"].lower()
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.request_id and response.request_id.startswith("req_")
    cost = model.cost_usd(response.usage)
    assert cost is not None and 0 < cost < 0.01


def test_compile_and_run_a_small_skill(tmp_path: Path) -> None:
    from skillforge import Example, Ledger, SkillSpec, compile_skill

    spec = SkillSpec(
        name="ticket-priority",
        description="Decide the priority of a customer support ticket.",
        input_schema={"type": "object", "properties": {"ticket": {"type": "string"}}, "required": ["ticket"]},
        output_schema={
            "type": "object",
            "properties": {"priority": {"type": "string", "enum": ["low", "high"]}},
            "required": ["priority"],
            "additionalProperties": False,
        },
    )
    high = ["The whole site is down for all customers", "Payments fail for everyone since 9am",
            "Data breach: customer emails are exposed", "Production database is unreachable"]
    low = ["Please change the font on the invoice", "Typo on the about page",
           "Can you add a dark mode some day?", "The logo looks a bit blurry on my phone"]
    examples = [Example(input={"ticket": t}, expected={"priority": "high"}) for t in high]
    examples += [Example(input={"ticket": t}, expected={"priority": "low"}) for t in low]
    ledger = Ledger(tmp_path / "ledger.jsonl")
    skill = compile_skill(spec, examples=examples, teacher="anthropic:claude-opus-4-8",
                          student="anthropic:claude-haiku-4-5", ledger=ledger)
    skill.save(tmp_path / "skill")
    result = skill.run({"ticket": "Nobody can log in, the login page returns 500"}, ledger=ledger)
    assert result.output["priority"] == "high"
    assert result.cost_usd is not None and result.cost_usd > 0

    key = read_env().anthropic_api_key
    assert key
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    assert leaked == []
