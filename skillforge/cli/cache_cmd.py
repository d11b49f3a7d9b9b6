"""``skillforge cache``: what the compile's answer cache holds, and clearing it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skillforge.cli.format import money
from skillforge.environment import read_env
from skillforge.errors import ConfigurationError
from skillforge.models.answer_cache import AnswerCache


def cache_cmd(
    clear: Annotated[bool, typer.Option("--clear", help="Delete every cached answer (or --model's only).")] = False,
    model: Annotated[str | None, typer.Option("--model", help="With --clear: only this model id's answers.")] = None,
    path: Annotated[Path | None, typer.Option(
        "--path", help="The cache file (default: SKILLFORGE_CACHE, else cache.sqlite next to the ledger).")] = None,
) -> None:
    """Show what the compile's answer cache holds (answers per model, size, what they cost when bought),
    or clear it. Compiles reuse every answer in it to a request they ask again."""
    where = path or read_env().cache_path
    if where is None:
        raise ConfigurationError("the answer cache is off (SKILLFORGE_CACHE=off); pass --path to name a file")
    if model is not None and not clear:
        raise ConfigurationError("--model only goes with --clear")
    console = Console()
    if not where.exists():
        console.print(f"no answer cache at {escape(str(where))}")
        return
    cache = AnswerCache(where)
    if clear:
        gone = cache.clear(model)
        console.print(f"deleted {gone} cached answer(s){f' of {escape(model)}' if model else ''} from "
                      f"{escape(str(where))}")
        return
    stats = cache.stats()
    table = Table(title=f"answer cache {escape(str(where))}", show_edge=False)
    table.add_column("model")
    table.add_column("answers", justify="right")
    for name, count in stats.by_model.items():
        table.add_row(escape(name), str(count))
    console.print(table)
    console.print(f"{stats.entries} answers, {stats.bytes / 2**20:.1f} MiB; bought for {money(stats.cost_usd)} "
                  f"(cap {cache.max_bytes / 2**20:.0f} MiB, least recently used evicted first)")
