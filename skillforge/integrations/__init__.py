"""Skills where agents live, and other systems, each behind an optional extra and never imported by the
rest of skillforge:

- :mod:`~skillforge.integrations.mcp_server` serves a folder of skills as Model Context Protocol tools
  (``skillforge serve``, ``skillforge[mcp]``);
- :mod:`~skillforge.integrations.pydantic_ai_tool` makes a skill a pydantic-ai tool (``skillforge[pydantic-ai]``);
- :mod:`~skillforge.integrations.ray` runs a skill over a Ray Data dataset on a cluster (``skillforge[ray]``);
- :mod:`~skillforge.integrations.catalog` loads the skills the adapters share.

Each adapter imports its optional package when used, never at import time. The dependency-free
Anthropic adapter is :mod:`skillforge.tools`."""
