"""A skill as a tool an agent calls: the call itself (:func:`call_skill`, shared by every adapter) and the
Anthropic Messages API adapter (:class:`AnthropicTool`, ``skill.as_anthropic_tool()``). Adapters that need
an optional package (the MCP server, pydantic-ai) live in :mod:`skillforge.integrations`."""

from skillforge.tools.anthropic import AnthropicTool
from skillforge.tools.calls import ToolOutcome, call_skill, provenance

__all__ = ["AnthropicTool", "ToolOutcome", "call_skill", "provenance"]
