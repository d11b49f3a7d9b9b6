"""A skill as a pydantic-ai tool, run by pydantic-ai's own offline test models (`TestModel`, which calls
every tool with arguments generated from its schema, and `FunctionModel`, which scripts the turns)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo
from pydantic_ai.models.function import FunctionModel as ScriptedAgentModel
from pydantic_ai.models.test import TestModel

from skillforge.adapters.pydantic_ai_tool import pydantic_ai_tool, pydantic_ai_toolset
from skillforge.errors import ConfigurationError
from skillforge.ledger import Ledger
from skillforge.skill import Skill, load_skill
from skillforge.testing import FunctionModel, QueuedModel, skill_input

SKILLS = Path(__file__).resolve().parent.parent / "skills"


@pytest.fixture
def router(tmp_path: Path) -> Skill:
    """A copy of the committed intent router (an escalation would append to its log)."""
    return load_skill(shutil.copytree(SKILLS / "intent-router", tmp_path / "intent-router"))


def _returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]


def test_the_test_model_calls_the_skill_with_schema_arguments_and_gets_the_answer(router: Skill) -> None:
    seen: list[dict[str, Any]] = []

    def student(request: Any) -> dict[str, Any]:
        seen.append(skill_input(request))
        return {"intent": "play_music"}

    ledger = Ledger(None)
    tool = pydantic_ai_tool(router, student=FunctionModel(student, logprob=-0.01, price_per_token=1e-6),
                            ledger=ledger)
    agent = Agent(TestModel(call_tools=["intent-router"]), tools=[tool])
    result = agent.run_sync("Route: play some jazz")
    (returned,) = _returns(result.all_messages())
    assert returned.tool_name == "intent-router" and returned.outcome == "success"
    assert returned.content == {"intent": "play_music"}
    assert seen and set(seen[0]) == {"text"}  # TestModel's arguments, generated from the input schema
    (entry,) = ledger.entries
    assert returned.metadata == {"answered_by": "test:function", "tier": "student", "escalated": False,
                                 "confidence": 0.99, "cost_usd": entry.cost_usd}
    assert entry.cost_usd is not None and entry.cost_usd > 0  # the metadata carries the ledger's cost


def test_invalid_arguments_ask_for_a_retry_and_a_failed_run_is_a_failed_tool_call(router: Skill) -> None:
    prose = "That one is about music."
    student = QueuedModel([prose, prose, {"intent": "play_music"}], logprob=-0.01)
    tool = pydantic_ai_tool(router, student=student, teacher=QueuedModel([prose, prose]), ledger=Ledger(None))
    calls = iter([{"query": "jazz"}, {"text": "jazz"}, {"text": "jazz"}])

    def agent_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        args = next(calls, None)
        if args is None:
            return ModelResponse(parts=[TextPart("play_music")])
        return ModelResponse(parts=[ToolCallPart("intent-router", args)])

    result = Agent(ScriptedAgentModel(agent_model), tools=[tool]).run_sync("Route: jazz")
    retried, failed, answered = _returns(result.all_messages())
    assert retried.outcome == "retried" and "'text' is a required property" in str(retried.content)
    assert failed.outcome == "failed" and "neither the student" in str(failed.content)
    assert "see .attempts" not in str(failed.content)
    assert answered.outcome == "success" and answered.content == {"intent": "play_music"}
    assert result.output == "play_music"


def test_a_folder_of_skills_is_one_toolset(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(SKILLS, tmp_path / "skills"))
    (folder / "broken").mkdir()
    (folder / "broken" / "skill.yaml").write_text("{}\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="broken"):
        toolset = pydantic_ai_toolset([folder], student=FunctionModel(lambda r: {}), ledger=Ledger(None))
    assert sorted(toolset.tools) == sorted(p.parent.name for p in SKILLS.glob("*/skill.yaml"))


def test_without_the_extra_the_error_names_it(router: Skill, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydantic_ai", None)  # `import pydantic_ai` now raises ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'skillforge\[pydantic-ai\]'"):
        pydantic_ai_tool(router, student=FunctionModel(lambda r: {}), ledger=Ledger(None))
