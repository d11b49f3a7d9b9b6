"""A Messages API server that echoes the API key in every field it controls -- error message, error type,
request id (header and body), other headers, non-JSON bodies, connection errors, stop reason, answer
text -- never gets the key into an exception, an attempt, a log, a report, a recording or a file."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from skillforge import CompileOptions, EscalationFailed, Ledger, ModelAPIError, compile_skill, load_skill
from skillforge.cli import main
from skillforge.compile import SearchConfig
from skillforge.models import registry
from skillforge.models.anthropic.model import AnthropicModel
from skillforge.models.base import Message, ModelRequest
from skillforge.skill import Skill
from skillforge.testing import FunctionModel, skill_input

from anthropic_fixtures import FAKE_KEY, FakeServer, SleepRecorder, message, text

CLAUDE = "anthropic:claude-haiku-4-5"
HEADERS = {"request-id": FAKE_KEY, "x-echo": FAKE_KEY, "retry-after": "0", "anthropic-workspace-id": FAKE_KEY}


def echo_error(status: int) -> httpx2.Response:
    body = {"type": "error", "error": {"type": f"{FAKE_KEY}_error", "message": f"bad key {FAKE_KEY}\n\x1b[31m"},
            "request_id": FAKE_KEY}
    return httpx2.Response(status, json=body, headers=HEADERS)


def echo_html(status: int) -> httpx2.Response:
    return httpx2.Response(status, text=f"<html>{FAKE_KEY}</html>", headers=HEADERS)


def echo_answer(request: httpx2.Request) -> httpx2.Response:
    body = message([text(json.dumps({"label": f"pos {FAKE_KEY}"}))], stop_reason=FAKE_KEY)
    body["id"] = FAKE_KEY
    return httpx2.Response(200, json=body, headers=HEADERS)


def echo_connect_error(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ConnectError(f"cannot connect with {FAKE_KEY}")


ERRORS: list[Callable[[], Any]] = [
    lambda: echo_error(401), lambda: echo_error(403), lambda: echo_error(400), lambda: echo_error(404),
    lambda: echo_error(413), lambda: echo_error(418), lambda: echo_html(502), lambda: echo_error(529),
    lambda: echo_error(500), lambda: echo_html(400), lambda: echo_connect_error,
]


def model_over(server: FakeServer, **kw: Any) -> AnthropicModel:
    return AnthropicModel("claude-haiku-4-5", client=server.client(), sleep=SleepRecorder(), max_attempts=2, **kw)


def request() -> ModelRequest:
    return ModelRequest(system="s", messages=(Message(role="user", content='{"text": "x"}'),),
                        output_schema={"type": "object", "properties": {"label": {"type": "string"}}})


def assert_clean(*texts: str) -> None:
    for t in texts:
        assert FAKE_KEY not in t, t


@pytest.mark.parametrize("reply", ERRORS, ids=[f"case{i}" for i in range(len(ERRORS))])
def test_no_error_field_a_server_echoes_carries_the_key(
    reply: Callable[[], Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeServer().push(*[reply() for _ in range(6)])
    with pytest.raises(ModelAPIError) as info:
        model_over(server).request_sync(request())
    exc = info.value
    assert_clean(str(exc), repr(exc), repr(exc.args), str(exc.error_type), str(exc.request_id), caplog.text)
    assert "\n" not in str(exc) and "\x1b" not in str(exc)
    assert exc.__context__ is None and exc.__cause__ is None  # the raw SDK error does not ride along
    sent = server.requests[0].headers
    assert FAKE_KEY in sent.get("authorization", "") + sent.get("x-api-key", "")  # the key was really used


def test_an_answer_echoing_the_key_is_returned_without_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    response = model_over(FakeServer().push(echo_answer)).request_sync(request())
    assert_clean(response.model_dump_json(), caplog.text)
    assert json.loads(response.text) == {"label": "pos [redacted]"}


def oracle(req: ModelRequest) -> Any:
    if req.output_schema is None:
        return "1. Read the text.\n2. Answer pos when it praises, else neg.\n3. Be brief."
    return {"label": "pos" if "good" in skill_input(req)["text"] else "neg"}


@pytest.fixture
def claude_skill(tmp_path: Path) -> Skill:
    spec = {"name": "echo", "description": "Label a review.",
            "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            "output_schema": {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}}
    examples = [{"input": {"text": f"{'good' if i % 2 else 'bad'} {i}"},
                 "expected": {"label": "pos" if i % 2 else "neg"}} for i in range(12)]
    model = FunctionModel(oracle, model_id=CLAUDE)
    skill = compile_skill(
        spec, examples, CompileOptions(search=SearchConfig(ks=[2], refine_rounds=0)), teacher=model, student=model
    )
    return load_skill(skill.save(tmp_path / "skills" / "echo"))


def test_attempts_and_escalation_failures_carry_no_key(claude_skill: Skill, tmp_path: Path) -> None:
    student = model_over(FakeServer().push(*[echo_error(500) for _ in range(4)]))
    teacher = model_over(FakeServer().push(*[echo_html(400) for _ in range(4)]))
    ledger = Ledger(tmp_path / "ledger.jsonl")
    with pytest.raises(EscalationFailed) as info:
        claude_skill.run({"text": "good"}, student=student, teacher=teacher, ledger=ledger)
    errors = [e for a in info.value.attempts for e in a.errors]
    assert errors and all("[redacted]" in e or "HTTP" in e for e in errors)
    assert_clean(str(info.value), repr(info.value), *errors, *(a.model_dump_json() for a in info.value.attempts))


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    server = FakeServer()
    monkeypatch.setitem(registry._PROVIDERS, "anthropic", lambda name: model_over(server))

    def invoke(*args: str, replies: list[Any]) -> tuple[int, str, str]:
        server.replies[:] = replies
        monkeypatch.setattr(sys, "argv", ["skillforge", *args])
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
        with pytest.raises(SystemExit) as info:
            main()
        out = capsys.readouterr()
        return int(info.value.code or 0), out.out, out.err

    return invoke


def test_the_cli_reports_and_files_never_carry_the_key(
    cli: Any,
    claude_skill: Skill,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    path = str(claude_skill.path)
    outputs = []
    code, out, err = cli("run", path, "--input", '{"text": "good"}', replies=[echo_error(401)])
    assert code == 2 and "HTTP 401" in err
    outputs += [out, err]
    code, out, err = cli("run", path, "--input", '{"text": "good"}', replies=[echo_answer])
    assert code == 0 and json.loads(out)["output"] == {"label": "pos [redacted]"}
    outputs += [out, err]
    reports = [str(tmp_path / "r.json"), str(tmp_path / "r.xml")]
    for replies, mode in (
        [[echo_error(500) for _ in range(40)], "live"],
        [[echo_error(403)], "live"],
        [[echo_answer] * 40, "record"],
    ):
        code, out, err = cli(
            "test", path, "--mode", mode, "--json", reports[0], "--junit-xml", reports[1], replies=replies
        )
        outputs += [out, err, *(Path(r).read_text() for r in reports)]
    assert any("[redacted]" in o for o in outputs)
    assert_clean(*outputs, caplog.text)
    written = [p for p in tmp_path_factory.getbasetemp().rglob("*") if p.is_file()]
    assert any(p.parent.name == "cassettes" for p in written)
    assert [str(p) for p in written if FAKE_KEY.encode() in p.read_bytes()] == []
