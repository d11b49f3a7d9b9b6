"""A skill as a tool for the Anthropic Messages API (``skill.as_anthropic_tool()``).

:attr:`AnthropicTool.definition` goes in the request's ``tools``; when the model answers with a
``tool_use`` block for it, :meth:`AnthropicTool.execute` runs the block's input through the skill and
returns the ``tool_result`` block to send back in the next user message::

    tool = skill.as_anthropic_tool()
    response = client.messages.create(model=..., tools=[tool.definition], messages=messages, ...)
    results = [tool.execute(b) for b in response.content if b.type == "tool_use" and b.name == tool.name]
    messages += [{"role": "assistant", "content": response.content}, {"role": "user", "content": results}]

The result's content is the skill's answer as JSON text and nothing else: every token of it is read
(and paid for) by the agent's model. Who answered and what it cost are in the ledger, and in
:meth:`AnthropicTool.acall`'s outcome. Needs no package beyond skillforge's own dependencies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from skillforge.adapters.tool_call import ToolOutcome, call_skill
from skillforge.models.base import blocking
from skillforge.run import Runner


class AnthropicTool:
    """One skill, run by ``runner`` (models, ledger and escalation fixed), as a Messages API tool."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        manifest = runner.skill.manifest
        #: The tool's name: the skill's name (``[a-z0-9-]``, at most 64 characters, as the API requires).
        self.name = manifest.name
        #: The tool definition for ``messages.create(tools=[...])``: name, description, input schema.
        self.definition: dict[str, Any] = {
            "name": manifest.name,
            "description": manifest.description,
            "input_schema": manifest.input_schema,
        }

    async def acall(self, block: Any) -> tuple[dict[str, Any], ToolOutcome]:
        """The ``tool_result`` block for ``block`` and the call's :class:`ToolOutcome` (the run's result,
        with who answered and what it cost). ``block`` is a ``tool_use`` content block: the SDK's
        ``ToolUseBlock`` or its dict form. Raises ``ValueError`` for anything else."""
        block_id, name, arguments = _tool_use(block)
        if name != self.name:
            outcome = ToolOutcome(None, f"this tool is {self.name!r}; the tool_use block is for {name!r}",
                                  invalid_input=True)
        else:
            outcome = await call_skill(self.runner, arguments)
        return tool_result(block_id, outcome), outcome

    async def aexecute(self, block: Any) -> dict[str, Any]:
        """The ``tool_result`` block answering ``block``: the skill's answer as JSON, or, when the input
        does not match the input schema or no model gave a valid answer, ``is_error: true`` and the
        one-line reason (so the agent's model can correct the call or carry on without it)."""
        result, _ = await self.acall(block)
        return result

    execute = blocking(aexecute)


def tool_result(tool_use_id: str, outcome: ToolOutcome) -> dict[str, Any]:
    """The ``tool_result`` content block reporting ``outcome`` for the ``tool_use`` block ``tool_use_id``."""
    if outcome.output is None:
        return {"type": "tool_result", "tool_use_id": tool_use_id, "content": outcome.error or "failed",
                "is_error": True}
    return {"type": "tool_result", "tool_use_id": tool_use_id,
            "content": json.dumps(outcome.output, ensure_ascii=False)}


def _tool_use(block: Any) -> tuple[str, str, Any]:
    """``(id, name, input)`` of a ``tool_use`` block given as a mapping or as an SDK object."""
    if isinstance(block, Mapping):
        kind, block_id, name, arguments = (block.get("type"), block.get("id"), block.get("name"),
                                           block.get("input"))
    else:
        kind, block_id, name, arguments = (getattr(block, "type", None), getattr(block, "id", None),
                                           getattr(block, "name", None), getattr(block, "input", None))
    if kind != "tool_use" or not isinstance(block_id, str) or not isinstance(name, str):
        raise ValueError(f"not a tool_use content block (type {kind!r}); pass the model's tool_use blocks only")
    return block_id, name, arguments
