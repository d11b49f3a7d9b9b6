"""A skill as another system's tool, each adapter in its own module:

- :mod:`~skillforge.adapters.tool_call`: one tool call of a skill (:func:`call_skill`: the answer and its
  provenance, or a one-line reason), shared by every adapter;
- :mod:`~skillforge.adapters.anthropic_tool`: the Anthropic Messages API tool (:class:`AnthropicTool`,
  ``skill.as_anthropic_tool()``), no extra needed;
- :mod:`~skillforge.adapters.mcp_server`: a folder of skills served as Model Context Protocol tools
  (``skillforge serve``, ``skillforge[mcp]``);
- :mod:`~skillforge.adapters.pydantic_ai_tool`: a skill as a pydantic-ai tool (``skillforge[pydantic-ai]``);
- :mod:`~skillforge.adapters.ray`: a skill over a Ray Data dataset on a cluster (``skillforge[ray]``);
- :mod:`~skillforge.adapters.catalog`: loading the skills the adapters serve.

An adapter that needs an optional package imports it when used, never at import time; nothing below this
package imports it.
"""

from skillforge.adapters.anthropic_tool import AnthropicTool
from skillforge.adapters.tool_call import ToolOutcome, call_skill, provenance

__all__ = ["AnthropicTool", "ToolOutcome", "call_skill", "provenance"]
