"""Shared pytest options and fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--live", action="store_true", default=False,
        help="run tests that call the real Anthropic API (needs ANTHROPIC_API_KEY)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    live = config.getoption("--live") and os.environ.get("ANTHROPIC_API_KEY")
    skip = pytest.mark.skip(reason="live API test: pass --live and set ANTHROPIC_API_KEY")
    for item in items:
        if "live" in item.keywords and not live:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests never see the developer's keys or model overrides (live tests keep the key), and never
    write the real ledger."""
    keep_key = request.config.getoption("--live") and "live" in request.keywords
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "SKILLFORGE_TEACHER", "SKILLFORGE_STUDENT",
                "OPENAI_API_KEY", "OPENAI_BASE_URL", "SKILLFORGE_OPENAI_BASE_URL"):
        if not (keep_key and var == "ANTHROPIC_API_KEY"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SKILLFORGE_LEDGER", str(tmp_path_factory.mktemp("ledger") / "ledger.jsonl"))


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """llama-cpp-python's OpenAI-compatible server on the embedded model, on a free localhost port,
    started once per session and stopped at its end (:func:`openai_fixtures.run_llama_server`)."""
    from skillforge.models.local.model import embedded_model_path

    from openai_fixtures import run_llama_server

    yield from run_llama_server(embedded_model_path(), tmp_path_factory.mktemp("llama-server") / "server.log")
