"""``skillforge serve``: a folder of skills as tools over the Model Context Protocol."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from skillforge.adapters.catalog import load_catalog
from skillforge.adapters.mcp_server import require_mcp, serve
from skillforge.errors import ConfigurationError
from skillforge.ledger import Ledger

err = Console(stderr=True)


class _Transport(StrEnum):
    stdio = "stdio"
    http = "http"


def serve_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Skill directories, or folders to search for skills.")],
    transport: Annotated[_Transport, typer.Option(
        "--transport", help="stdio: for a client that starts the server (Claude Code, Claude Desktop); "
        "http: Streamable HTTP at http://HOST:PORT/mcp.")] = _Transport.stdio,
    host: Annotated[str, typer.Option("--host", help="HTTP: address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="HTTP: port to listen on.")] = 8000,
    student: Annotated[str | None, typer.Option(
        "--student", help="Student model id for every skill (default: the one each skill was compiled with).")] = None,
    teacher: Annotated[str | None, typer.Option(
        "--teacher", help="Teacher model id for escalations (default: each skill's).")] = None,
    ledger: Annotated[Path | None, typer.Option(
        "--ledger", help="Ledger file (default: SKILLFORGE_LEDGER or .skillforge/ledger.jsonl).")] = None,
    no_escalate: Annotated[bool, typer.Option("--no-escalate", help="Never call the teacher.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Skip skills whose files changed.")] = False,
    replay: Annotated[bool, typer.Option(
        "--replay", help="Answer from each skill's recorded cassettes only (offline, free, deterministic; "
        "an input never recorded is a tool error). For demos and tests.")] = False,
) -> None:
    """Serve skills as MCP tools: one tool per skill (its name, description, input and output schemas).

    A call runs the full runtime (student, verifier, escalation, ledger) and returns the answer with who
    answered, the confidence and the cost. A skill that cannot be loaded is reported here and skipped.
    """
    require_mcp()  # before loading anything
    # Library warnings and errors (a failed call's traceback) go to stderr; stdout is the MCP channel.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    catalog = load_catalog(paths, student=student, teacher=teacher, ledger=Ledger(ledger) if ledger else None,
                           escalate=not no_escalate, strict=strict, replay=replay)
    for line in catalog.notes:
        err.print(f"[yellow]note:[/] {escape(line)}", soft_wrap=True)
    for line in catalog.skipped:
        err.print(f"[red]skipped:[/] {escape(line)}", soft_wrap=True)
    if not catalog.skills:
        raise ConfigurationError("no skill could be served (see the lines above)")
    where = "stdio" if transport is _Transport.stdio else f"http://{host}:{port}/mcp"
    err.print(f"serving {len(catalog.skills)} skill(s) over {where}: {escape(', '.join(catalog.skills))}",
              soft_wrap=True)
    serve(catalog, transport=transport.value, host=host, port=port)
