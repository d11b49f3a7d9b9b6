"""`skillforge serve`: every skill in a folder as an MCP tool, called through the official SDK's client.

The end-to-end test starts the real command as a subprocess and talks to it with the SDK's
`stdio_client` + `ClientSession`; it answers from the committed skills' cassettes (`--replay`, what
`skillforge test` replays), so the full runtime runs offline in seconds. The in-process tests drive the
same server with `mcp.Client(server)` and test-double models.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from mcp import Client, ClientSession, MCPError, StdioServerParameters, stdio_client
from typer.testing import CliRunner

from skillforge.adapters import provenance
from skillforge.adapters.catalog import load_catalog
from skillforge.adapters.mcp_server import META_KEY, build_server
from skillforge.cli import app
from skillforge.ledger import Ledger
from skillforge.regress import CASSETTE_DIR, CassetteModel, CassetteStore
from skillforge.run import Runner, RunResult
from skillforge.skill import Skill, load_skill
from skillforge.testing import FunctionModel, QueuedModel

ROOT = Path(__file__).resolve().parent.parent
SKILLS = ROOT / "skills"
COMMITTED = sorted(p.parent for p in SKILLS.glob("*/skill.yaml"))


def _replayed(skill: Skill, path: Path, input: dict[str, Any]) -> tuple[RunResult, Ledger]:
    """What the runtime answers for ``input`` from the skill's recordings, and the ledger it writes."""
    store = CassetteStore(path / CASSETTE_DIR)
    prov = skill.manifest.provenance
    ledger = Ledger(None)
    runner = Runner(skill, student=CassetteModel(prov.student, store, "replay"),
                    teacher=CassetteModel(prov.teacher, store, "replay"), ledger=ledger, escalation_log=None)
    return anyio.run(runner.arun, input), ledger


def test_serve_over_stdio_offers_every_committed_skill_and_answers_like_the_runtime(tmp_path: Path) -> None:
    broken = tmp_path / "more-skills" / "broken"
    broken.mkdir(parents=True)
    (broken / "skill.yaml").write_text("name: [this is not a manifest\n", encoding="utf-8")
    ledger_path = tmp_path / "ledger.jsonl"
    skill = load_skill(SKILLS / "intent-router")
    case = skill.tests[0].input
    params = StdioServerParameters(
        command=sys.executable, cwd=ROOT,
        args=["-m", "skillforge", "serve", "skills", str(broken.parent), "--replay", "--ledger", str(ledger_path)])

    async def session() -> tuple[Any, Any, Any]:
        with (tmp_path / "stderr.txt").open("w", encoding="utf-8") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as client:
                await client.initialize()
                listed = await client.list_tools()
                good = await client.call_tool("intent-router", case)
                bad = await client.call_tool("intent-router", {"txt": "play some jazz"})
                return listed, good, bad

    listed, good, bad = anyio.run(session)

    # One tool per committed skill, with the skill's own name, description and schemas.
    tools = {t.name: t for t in listed.tools}
    assert sorted(tools) == [p.name for p in COMMITTED]
    for path in COMMITTED:
        manifest = load_skill(path).manifest
        tool = tools[manifest.name]
        assert (tool.description, tool.input_schema, tool.output_schema) == (
            manifest.description, manifest.input_schema, manifest.output_schema)
    # The broken skill was reported on stderr and skipped; the rest were served.
    stderr = (tmp_path / "stderr.txt").read_text(encoding="utf-8")
    assert "skipped:" in stderr and "broken" in stderr

    # The valid call: the runtime's answer as structured content, with who answered and what it cost.
    expected, expected_ledger = _replayed(skill, SKILLS / "intent-router", case)
    assert not good.is_error
    assert good.structured_content == expected.output
    jsonschema.validate(good.structured_content, skill.manifest.output_schema)
    assert good.meta[META_KEY] == provenance(expected)
    assert json.loads(good.content[0].text) == {"output": expected.output, **provenance(expected)}

    # The invalid call: a tool error naming the problem in one line; nothing was called for it.
    assert bad.is_error and bad.structured_content is None
    reason = bad.content[0].text
    assert "\n" not in reason and "'text' is a required property" in reason and "'txt' was unexpected" in reason

    # The ledger: exactly the calls of the valid input, in the run phase, the last one the answer.
    written = Ledger(ledger_path).read()
    assert len(written) == len(expected_ledger.entries) >= 1
    assert {(e.skill, e.phase) for e in written} == {("intent-router", "run")}
    assert [(e.role, e.model_id, e.outcome) for e in written] == [
        (e.role, e.model_id, e.outcome) for e in expected_ledger.entries]
    assert written[-1].outcome == "accepted" and written[-1].model_id == expected.answered_by
    assert sum(e.cost_usd or 0.0 for e in written) == pytest.approx(expected.cost_usd or 0.0)


@pytest.fixture
def router(tmp_path: Path) -> Path:
    """A copy of the committed intent router (its escalation log must not be written in the repo)."""
    return Path(shutil.copytree(SKILLS / "intent-router", tmp_path / "skills" / "intent-router"))


def _call(catalog_paths: list[Path], calls: list[tuple[str, dict[str, Any]]], **options: Any) -> list[Any]:
    catalog = load_catalog(catalog_paths, **options)

    async def session() -> list[Any]:
        async with Client(build_server(catalog)) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(session)


def test_a_failed_escalation_is_a_one_line_tool_error_and_the_server_keeps_serving(router: Path) -> None:
    prose = "I would say this is about music."
    student = QueuedModel([prose, prose, {"intent": "play_music"}], logprob=-0.01)
    teacher = QueuedModel([prose, prose])
    ledger = Ledger(None)
    failed, answered = _call([router], [("intent-router", {"text": "play jazz"})] * 2,
                             student=student, teacher=teacher, ledger=ledger)
    assert failed.is_error and failed.structured_content is None
    reason = failed.content[0].text
    assert "\n" not in reason and "neither the student" in reason and "nor the teacher" in reason
    assert [e.outcome for e in ledger.entries[:4]] == ["invalid"] * 4  # two tries each, all recorded
    assert not answered.is_error and answered.structured_content == {"intent": "play_music"}
    assert answered.meta[META_KEY]["tier"] == "student"


def test_calling_a_tool_that_is_not_served_is_a_protocol_error(router: Path) -> None:
    catalog = load_catalog([router], student=FunctionModel(lambda r: {"intent": "x"}), ledger=Ledger(None))

    async def session() -> None:
        async with Client(build_server(catalog)) as client:
            with pytest.raises(MCPError, match=r"unknown tool 'nope'.*intent-router"):
                await client.call_tool("nope", {"text": "x"})

    anyio.run(session)


def test_each_skill_is_loaded_once_and_a_bad_or_duplicate_one_is_skipped_with_the_reason(
    router: Path, tmp_path: Path
) -> None:
    shutil.copytree(router, tmp_path / "elsewhere" / "intent-router")
    bad = tmp_path / "elsewhere" / "bad"
    shutil.copytree(router, bad)
    (bad / "instructions.md").unlink()
    catalog = load_catalog([tmp_path / "skills", tmp_path / "elsewhere"], student=FunctionModel(lambda r: {}),
                           ledger=Ledger(None))
    assert list(catalog.skills) == ["intent-router"]
    assert catalog.skills["intent-router"].path == router
    assert len(catalog.skipped) == 2
    assert any("bad" in line and "instructions.md" in line for line in catalog.skipped)
    assert any("already served from" in line for line in catalog.skipped)


def test_the_runner_is_reused_across_calls(router: Path) -> None:
    student = FunctionModel(lambda r: {"intent": "play_music"}, logprob=-0.01)
    catalog = load_catalog([router], student=student, ledger=Ledger(None))
    runner = catalog.skills["intent-router"].runner

    async def session() -> None:
        async with Client(build_server(catalog)) as client:
            for text in ("play jazz", "play rock"):
                await client.call_tool("intent-router", {"text": text})

    anyio.run(session)
    assert catalog.skills["intent-router"].runner is runner
    assert len(student.requests) == 2 and runner._index is not None  # the demo index was built once, kept


def test_serve_with_nothing_servable_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "skill.yaml").write_text("{}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code != 0
    assert "broken" in result.output and "no skill could be served" in str(result.exception)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, server: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Until the server accepts connections (it imports and binds in a few seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[1]
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port}")


def test_serve_over_streamable_http(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "skillforge", "serve", "skills/intent-router", "--transport", "http", "--port",
         str(port), "--replay", "--ledger", str(tmp_path / "ledger.jsonl")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    async def session() -> Any:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            return await client.call_tool("intent-router", {"text": "Play a track by Mila Islam from Deezer."})

    try:
        _wait_for(port, server)
        result = anyio.run(session)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert not result.is_error and result.structured_content == {"intent": "play_music"}
    assert f"http://127.0.0.1:{port}/mcp" in stderr
    assert [e.outcome for e in Ledger(tmp_path / "ledger.jsonl").read()][-1] == "accepted"


def test_without_the_mcp_extra_serve_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)  # `import mcp` now raises ImportError
    result = CliRunner().invoke(app, ["serve", str(SKILLS)])
    assert result.exit_code != 0
    assert "pip install 'skillforge[mcp]'" in str(result.exception)
