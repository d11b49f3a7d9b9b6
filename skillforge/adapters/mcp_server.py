"""Skills as Model Context Protocol tools, on the official ``mcp`` SDK (``pip install 'skillforge[mcp]'``).

Every skill of a :class:`~skillforge.adapters.catalog.Catalog` becomes one tool: the skill's name and
description, its input schema as the tool's ``inputSchema`` and its output schema as the tool's
``outputSchema``. A call runs the arguments through the skill's runner (input check, student, verifier,
escalation, ledger) and returns

- ``structuredContent``: the answer, valid against the output schema;
- ``content``: one text block, the answer with who gave it and what it cost, as JSON
  (``{"output": ..., "answered_by": ..., "tier": ..., "escalated": ..., "confidence": ..., "cost_usd": ...}``);
- ``_meta["skillforge/run"]``: the same provenance, for clients that read results programmatically.

Invalid arguments and failed escalations come back as tool errors (``isError: true``) whose text is a
one-line reason, so the calling model can correct the call or carry on; the server keeps serving. A call
of a tool that is not served is a protocol error (``INVALID_PARAMS``), as the specification asks.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Literal

from skillforge._version import __version__
from skillforge.adapters import ToolOutcome, call_skill, provenance
from skillforge.adapters.catalog import Catalog, ServedSkill
from skillforge.errors import ConfigurationError
from skillforge.spec import clip

if TYPE_CHECKING:
    import mcp_types
    from mcp.server import Server, ServerRequestContext

logger = logging.getLogger(__name__)

#: The ``_meta`` key of a result's provenance (who answered, tier, confidence, cost).
META_KEY = "skillforge/run"
Transport = Literal["stdio", "http"]
INSTRUCTIONS = (
    "Each tool is a compiled skill: a cheap model answers, a verifier checks the answer, and a stronger "
    "model takes over when it is invalid or not confident. Arguments must match the tool's input schema; "
    "the answer matches its output schema."
)


def require_mcp() -> None:
    """Raise :class:`~skillforge.errors.ConfigurationError` naming the extra when ``mcp`` is missing."""
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "serving skills over MCP needs the 'mcp' package: pip install 'skillforge[mcp]'") from None


def build_server(catalog: Catalog, *, name: str = "skillforge") -> Server[Any]:
    """A low-level MCP :class:`mcp.server.Server` offering ``catalog``'s skills as tools."""
    require_mcp()
    import mcp_types as types
    from mcp.server import Server
    from mcp.shared.exceptions import MCPError

    tools = [_tool(s) for s in catalog.skills.values()]

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        served = catalog.skills.get(params.name)
        if served is None:
            raise MCPError(types.INVALID_PARAMS,
                           f"unknown tool {params.name!r} (served: {', '.join(sorted(catalog.skills)) or 'none'})")
        return tool_result(await _call(served, {} if params.arguments is None else params.arguments))

    return Server(name, version=__version__, instructions=INSTRUCTIONS, on_list_tools=list_tools,
                  on_call_tool=call_tool)


def _tool(served: ServedSkill) -> mcp_types.Tool:
    import mcp_types as types

    # Read-only: a call answers from the skill and changes nothing the agent can see (the ledger and the
    # escalation log are skillforge's own records).
    return types.Tool(name=served.name, description=served.description, input_schema=served.input_schema,
                      output_schema=served.output_schema,
                      annotations=types.ToolAnnotations(read_only_hint=True, destructive_hint=False))


async def _call(served: ServedSkill, arguments: dict[str, Any]) -> ToolOutcome:
    try:
        return await call_skill(served.runner, arguments)
    except Exception as exc:  # a bug or a crash below skillforge's errors: report it, keep serving
        logger.exception("skill %r failed unexpectedly", served.name)
        return ToolOutcome(None, clip(f"skill {served.name!r} failed unexpectedly: {type(exc).__name__}: {exc}"))


def tool_result(outcome: ToolOutcome) -> mcp_types.CallToolResult:
    """The ``tools/call`` result reporting ``outcome``."""
    import mcp_types as types

    result = outcome.result
    if result is None:
        return types.CallToolResult(content=[types.TextContent(text=outcome.error or "failed")], is_error=True)
    meta = provenance(result)
    text = json.dumps({"output": result.output, **meta}, ensure_ascii=False)
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=result.output,
                                meta={META_KEY: meta})


async def aserve(catalog: Catalog, *, transport: Transport = "stdio", host: str = "127.0.0.1",
                 port: int = 8000, path: str = "/mcp") -> None:
    """Serve ``catalog`` until the client disconnects (stdio: stdin closes) or, over HTTP (the
    Streamable HTTP transport at ``http://host:port/path``), until interrupted."""
    server = build_server(catalog)
    if transport == "stdio":
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
        return
    import uvicorn

    app = server.streamable_http_app(streamable_http_path=path, host=host)
    await uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).serve()


def serve(catalog: Catalog, *, transport: Transport = "stdio", host: str = "127.0.0.1", port: int = 8000,
          path: str = "/mcp") -> None:
    """Blocking :func:`aserve`."""
    require_mcp()
    import anyio

    anyio.run(lambda: aserve(catalog, transport=transport, host=host, port=port, path=path))
