"""Skills where agents live: :mod:`~skillforge.integrations.mcp_server` serves a folder of skills as
Model Context Protocol tools (``skillforge serve``), :mod:`~skillforge.integrations.pydantic_ai_tool` makes a
skill a pydantic-ai tool, and :mod:`~skillforge.integrations.catalog` loads the skills they share.

Each adapter imports its optional package (``skillforge[mcp]``, ``skillforge[pydantic-ai]``) when used,
never at import time, and nothing below this layer imports them. The dependency-free Anthropic
adapter is :mod:`skillforge.tools`."""
