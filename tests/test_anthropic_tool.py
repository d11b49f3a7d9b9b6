"""`skill.as_anthropic_tool()`: a skill as a Messages API tool, in a real agent loop.

The loop uses the real `anthropic` SDK client against a scripted Messages API server
(`anthropic_fixtures.FakeServer`): the model's turn holds a `tool_use` block for the skill, the adapter
runs its input through the skill (the committed intent router, answering from its recorded cassette),
and the next request carries the matching `tool_result`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import anthropic
import anyio
import pytest
from anthropic.types import ToolParam, ToolResultBlockParam
from pydantic import TypeAdapter

from skillforge.adapters import AnthropicTool
from skillforge.ledger import Ledger
from skillforge.regress import CASSETTE_DIR, CassetteModel, CassetteStore
from skillforge.skill import Skill, load_skill
from skillforge.testing import QueuedModel

from anthropic_fixtures import FakeServer, message, ok, text

SKILLS = Path(__file__).resolve().parent.parent / "skills"
TOOL_USE_ID = "toolu_01D7FLrfh4GYq7yT1ULFeyMV"


@pytest.fixture
def router(tmp_path: Path) -> Skill:
    """A copy of the committed intent router (an escalation would append to its log)."""
    return load_skill(shutil.copytree(SKILLS / "intent-router", tmp_path / "intent-router"))


def _replaying(skill: Skill, ledger: Ledger) -> AnthropicTool:
    assert skill.path is not None
    store = CassetteStore(skill.path / CASSETTE_DIR)
    prov = skill.manifest.provenance
    return skill.as_anthropic_tool(student=CassetteModel(prov.student, store, "replay"),
                                   teacher=CassetteModel(prov.teacher, store, "replay"), ledger=ledger)


def test_a_tool_use_block_round_trips_through_the_skill_into_its_tool_result(router: Skill) -> None:
    utterance = router.tests[1].input["text"]
    server = FakeServer().push(
        ok(text("Let me route that."), {"type": "tool_use", "id": TOOL_USE_ID, "name": "intent-router",
                                        "input": {"text": utterance}}, stop_reason="tool_use"),
        ok(text("That is a request to play music.")),
    )
    ledger = Ledger(None)
    tool = _replaying(router, ledger)
    TypeAdapter(ToolParam).validate_python(tool.definition)  # the SDK's own type for tools=[...]

    async def agent() -> list[dict[str, Any]]:
        client = server.client()
        messages: list[Any] = [{"role": "user", "content": f"Route this request: {utterance}"}]
        while True:
            response = await client.messages.create(model="claude-opus-5-5", max_tokens=1024,
                                                    tools=[tool.definition], messages=messages)  # type: ignore[list-item]
            if response.stop_reason != "tool_use":
                return messages
            results = [await tool.aexecute(b) for b in response.content if b.type == "tool_use"]
            messages += [{"role": "assistant", "content": response.content}, {"role": "user", "content": results}]

    anyio.run(agent)
    first, second = server.bodies
    assert first["tools"] == [{"name": "intent-router", "description": router.manifest.description,
                               "input_schema": router.manifest.input_schema}]
    tool_result = second["messages"][-1]["content"][0]
    TypeAdapter(ToolResultBlockParam).validate_python(tool_result)
    answer = ledger.entries[-1]
    assert answer.outcome == "accepted" and answer.skill == "intent-router" and answer.phase == "run"
    assert tool_result == {"type": "tool_result", "tool_use_id": TOOL_USE_ID,
                           "content": json.dumps(router.tests[1].expected)}  # the recorded answer is right


def test_invalid_input_and_failed_escalation_are_error_results_with_the_reason(router: Skill) -> None:
    recorded = anthropic.types.Message.model_validate(message([
        {"type": "tool_use", "id": "toolu_bad", "name": "intent-router", "input": {"query": "play jazz"}},
        {"type": "tool_use", "id": "toolu_ok", "name": "intent-router", "input": {"text": "play jazz"}},
    ], stop_reason="tool_use"))
    prose = "This is about music."
    tool = router.as_anthropic_tool(student=QueuedModel([prose, prose]), teacher=QueuedModel([prose, prose]),
                                    ledger=Ledger(None))
    invalid, failed = (tool.execute(block) for block in recorded.content)
    assert invalid["tool_use_id"] == "toolu_bad" and invalid["is_error"] is True
    assert "'text' is a required property" in invalid["content"]
    assert failed["tool_use_id"] == "toolu_ok" and failed["is_error"] is True
    assert "neither the student" in failed["content"] and "\n" not in failed["content"]


def test_the_tool_takes_dict_blocks_and_refuses_what_is_not_a_tool_use_block(router: Skill) -> None:
    tool = router.as_anthropic_tool(student=QueuedModel([{"intent": "play_music"}], logprob=-0.01),
                                    ledger=Ledger(None))
    block = {"type": "tool_use", "id": "toolu_1", "name": "intent-router", "input": {"text": "play jazz"}}
    assert tool.execute(block) == {"type": "tool_result", "tool_use_id": "toolu_1",
                                   "content": '{"intent": "play_music"}'}
    other = tool.execute({**block, "name": "weather"})
    assert other["is_error"] is True and "'weather'" in other["content"]
    with pytest.raises(ValueError, match="not a tool_use content block"):
        tool.execute({"type": "text", "text": "hi"})
