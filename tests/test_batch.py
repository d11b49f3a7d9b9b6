"""Running a skill at volume: ``Skill.run_many`` on one runner, and crash-safe, resumable batches
(``skillforge.batch`` and ``skillforge batch``), down to a ``kill -9`` of a real CLI process talking to
a server that fails a third of its calls."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillforge import ConfigurationError, InputValidationError, ModelAPIError, ModelAuthError, load_skill
from skillforge.batch import BatchPaths, BatchStats, run_batch
from skillforge.batch.journal import Journal, JournalHeader
from skillforge.cli.app import app
from skillforge.errors import BatchJournalError, EscalationFailed
from skillforge.ledger import Ledger
from skillforge.models.base import ModelRequest
from skillforge.run import run_each
from skillforge.testing import FunctionModel, skill_input

from anthropic_fixtures import compiled_review_skill, review_oracle
from faulty_server import FaultyServer

REPO = Path(__file__).resolve().parent.parent
ORACLE = FunctionModel(review_oracle, model_id="test:oracle", logprob=0.0)


@pytest.fixture(scope="module")
def skill_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The review-sentiment skill, compiled offline once for the module."""
    return Path(compiled_review_skill(tmp_path_factory.mktemp("skill")).path)


def write_inputs(path: Path, n: int, *, extra: str = "") -> Path:
    path.write_text("".join(json.dumps({"text": f"a {'good' if i % 3 else 'bad'} film, number {i}"}) + "\n"
                            for i in range(n)) + extra, encoding="utf-8")
    return path


def expected_label(i: int) -> str:
    return "pos" if i % 3 else "neg"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- run_many -----------------------------------------------------------------------------------


def test_run_many_answers_in_input_order_and_returns_failures_as_values(skill_dir: Path) -> None:
    skill = load_skill(skill_dir)

    async def slow_on_good(request: ModelRequest) -> Any:
        # Later inputs finish first, so completion order differs from input order.
        await asyncio.sleep(0.01 if "good" in skill_input(request)["text"] else 0.0)
        if "boom" in skill_input(request)["text"]:
            raise ModelAPIError("injected", model_id="test:flaky")
        return review_oracle(request)

    model = FunctionModel(slow_on_good, logprob=0.0)
    inputs = [{"text": "good one"}, {"text": "bad one"}, {"nope": 1}, {"text": "boom"}, {"text": "good two"}]
    items = skill.run_many(inputs, student=model, teacher=model, concurrency=3, ledger=Ledger(None))
    assert [i.key for i in items] == [0, 1, 2, 3, 4]
    assert [i.input for i in items] == inputs
    assert [i.ok for i in items] == [True, True, False, False, True]
    assert [i.unwrap().output["label"] for i in items if i.ok] == ["pos", "neg", "pos"]
    assert isinstance(items[2].error, InputValidationError)
    assert isinstance(items[3].error, EscalationFailed)  # the student's error escalated; the teacher's too
    with pytest.raises(InputValidationError):
        items[2].unwrap()


def test_run_many_keeps_at_most_concurrency_inputs_in_flight_on_one_runner(skill_dir: Path) -> None:
    skill = load_skill(skill_dir)
    in_flight, peak = 0, 0

    async def counting(request: ModelRequest) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.002)
        in_flight -= 1
        return review_oracle(request)

    model = FunctionModel(counting, logprob=0.0)
    ledger = Ledger(None)
    items = skill.run_many([{"text": f"good {i}"} for i in range(40)], student=model, teacher=model,
                           concurrency=5, ledger=ledger)
    assert all(i.ok for i in items) and peak == 5
    runner = skill.runner(student=model, teacher=model, ledger=ledger)
    assert len(skill._runners) == 1 and runner.ledger is ledger and len(ledger.entries) == 40


def test_an_error_every_later_input_would_meet_stops_the_work(skill_dir: Path) -> None:
    skill = load_skill(skill_dir)
    denied = FunctionModel(lambda r: ModelAuthError("bad key", model_id="test:denied", status=401))
    runner = skill.runner(student=denied, teacher=denied, ledger=Ledger(None))
    seen: list[Any] = []
    with pytest.raises(ModelAuthError):
        asyncio.run(run_each(runner, enumerate([{"text": "a"}] * 10), concurrency=2, on_item=seen.append,
                             stop_on=(ModelAuthError,)))
    assert seen == [] and len(denied.requests) <= 2


def test_sync_runs_share_one_event_loop_so_the_provider_keeps_its_http_client(
    skill_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anthropic

    from skillforge.models.anthropic.model import AnthropicModel

    client = FaultyServer(rate=0.0).model()._client()  # built before the constructor is counted
    built: list[object] = []

    def counting_client(**kw: Any) -> anthropic.AsyncAnthropic:
        built.append(kw)
        return client

    monkeypatch.setattr(anthropic, "AsyncAnthropic", counting_client)
    model = AnthropicModel("claude-haiku-4-5", api_key="sk-ant-test", base_url="https://anthropic.test")
    skill = load_skill(skill_dir)
    for i in range(5):
        assert skill.run({"text": f"good {i}"}, student=model, teacher=model).output == {"label": "pos"}
    assert len(built) == 1  # one client for five calls (a fresh event loop per call would build five)


def test_sync_calls_on_one_thread_share_an_event_loop_other_threads_get_their_own() -> None:
    import threading

    from skillforge.models.base import run_sync

    async def current() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    first = run_sync(current())
    assert run_sync(current()) is first and not first.is_closed()
    elsewhere: list[asyncio.AbstractEventLoop] = []
    worker = threading.Thread(target=lambda: elsewhere.append(run_sync(current())))
    worker.start()
    worker.join()
    assert elsewhere[0] is not first

    async def nested() -> asyncio.AbstractEventLoop:  # a sync call from async code runs in a worker thread
        return run_sync(current())

    assert run_sync(nested()) is not first


# -- batches in-process -------------------------------------------------------------------------


def test_a_batch_writes_one_line_per_input_in_order_and_lists_failures_with_reasons(
    skill_dir: Path, tmp_path: Path
) -> None:
    skill = load_skill(skill_dir)
    inputs = write_inputs(tmp_path / "in.jsonl", 30, extra='not json\n\n{"txt": 1}\n')
    progress: list[BatchStats] = []
    summary = run_batch(skill, inputs, tmp_path / "out.jsonl", student=ORACLE, teacher=ORACLE, concurrency=4,
                        on_progress=lambda s: progress.append(BatchStats(**vars(s))))
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [r["id"] for r in rows] == [*range(1, 32), 33]  # line numbers; the blank line 32 is no input
    assert [r["output"]["label"] for r in rows[:30]] == [expected_label(i) for i in range(30)]
    assert rows[30]["error_type"] == rows[31]["error_type"] == "InputValidationError"
    failures = read_jsonl(tmp_path / "out.failures.jsonl")
    assert [(f["id"], f["line"], f["final"]) for f in failures] == [(31, 31, True), (33, 33, True)]
    assert "not valid JSON" in failures[0]["error"] and "'text' is a required property" in failures[1]["error"]
    assert (summary.total, summary.answered, summary.failed, summary.skipped) == (32, 30, 2, 0)
    assert progress[0].done == 0 and progress[-1].done == 32 and len(progress) == 33


def test_a_rerun_skips_what_is_done_and_retries_run_time_failures_only(skill_dir: Path, tmp_path: Path) -> None:
    skill = load_skill(skill_dir)
    inputs = write_inputs(tmp_path / "in.jsonl", 20, extra='{"txt": 1}\n')

    def down_for_some(request: ModelRequest) -> Any:
        if skill_input(request)["text"].endswith(("3", "7")):
            raise ModelAPIError("HTTP 503 after every retry", model_id="test:down", status=503)
        return review_oracle(request)

    flaky = FunctionModel(down_for_some, logprob=0.0)
    first = run_batch(skill, inputs, tmp_path / "out.jsonl", student=flaky, teacher=flaky)
    failures = read_jsonl(tmp_path / "out.failures.jsonl")
    assert first.failed == 5 and {f["error_type"] for f in failures} == {"EscalationFailed", "InputValidationError"}
    assert [f["final"] for f in failures] == [False, False, False, False, True]

    healthy = FunctionModel(review_oracle, logprob=0.0)
    second = run_batch(skill, inputs, tmp_path / "out.jsonl", student=healthy, teacher=healthy)
    assert (second.skipped, second.answered, second.failed) == (17, 4, 1)
    assert len(healthy.requests) == 4  # only the four run-time failures ran again
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [r["output"]["label"] for r in rows[:20]] == [expected_label(i) for i in range(20)]
    assert [f["id"] for f in read_jsonl(tmp_path / "out.failures.jsonl")] == [21]


def test_a_torn_last_journal_line_is_cut_off_and_its_input_runs_again(skill_dir: Path, tmp_path: Path) -> None:
    skill = load_skill(skill_dir)
    inputs = write_inputs(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    run_batch(skill, inputs, out, student=ORACLE, teacher=ORACLE)
    journal = BatchPaths.beside(out).journal
    lines = journal.read_bytes().splitlines(keepends=True)
    # As a crash leaves it: the last record half-written (cut inside a multi-byte character too).
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][:25] + "é".encode()[:1])
    model = FunctionModel(review_oracle, logprob=0.0)
    summary = run_batch(skill, inputs, out, student=model, teacher=model)
    assert (summary.skipped, summary.answered) == (9, 1) and len(model.requests) == 1
    assert [r["id"] for r in read_jsonl(out)] == list(range(1, 11))
    assert journal.read_bytes().endswith(b"\n") and len(journal.read_bytes().splitlines()) == 11


def test_a_journal_of_another_input_file_or_skill_is_refused(skill_dir: Path, tmp_path: Path) -> None:
    skill = load_skill(skill_dir)
    out = tmp_path / "out.jsonl"
    run_batch(skill, write_inputs(tmp_path / "in.jsonl", 5), out, student=ORACLE, teacher=ORACLE)
    with pytest.raises(BatchJournalError, match="another input file"):
        run_batch(skill, write_inputs(tmp_path / "other.jsonl", 6), out, student=ORACLE, teacher=ORACLE)
    changed = load_skill(skill_dir)
    changed.instructions += "\nBe brief."
    with pytest.raises(BatchJournalError, match="another version of the skill"):
        run_batch(changed, tmp_path / "in.jsonl", out, student=ORACLE, teacher=ORACLE)
    with pytest.raises(BatchJournalError, match="another --id-field"):
        run_batch(skill, tmp_path / "in.jsonl", out, id_field="text", student=ORACLE, teacher=ORACLE)


def test_the_output_may_not_overwrite_the_input(skill_dir: Path, tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 3)
    with pytest.raises(ConfigurationError, match="is the input file"):
        run_batch(load_skill(skill_dir), inputs, inputs, student=ORACLE, teacher=ORACLE)
    assert len(inputs.read_text(encoding="utf-8").splitlines()) == 3


def test_a_journal_in_use_by_another_batch_is_refused(tmp_path: Path) -> None:
    header = JournalHeader(skill="s", skill_sha256="a", input_sha256="b", id_field=None)
    first = Journal.open(tmp_path / "out.jsonl.journal", header)
    try:
        with pytest.raises(BatchJournalError, match="in use by another running batch"):
            Journal.open(tmp_path / "out.jsonl.journal", header)
    finally:
        first.close()


def test_ids_come_from_the_id_field_which_is_not_sent_to_the_skill(skill_dir: Path, tmp_path: Path) -> None:
    skill = load_skill(skill_dir)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"id": "r-9", "text": "good"}\n{"id": 4, "text": "bad"}\n{"text": "good"}\n', encoding="utf-8")
    model = FunctionModel(review_oracle, logprob=0.0)
    run_batch(skill, inputs, tmp_path / "out.jsonl", id_field="id", student=model, teacher=model)
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [r["id"] for r in rows] == ["r-9", 4, {"line": 3}]
    assert rows[2]["error_type"] == "InputValidationError" and "no 'id' field" in rows[2]["error"]
    assert [skill_input(r) for r in model.requests] == [{"text": "good"}, {"text": "bad"}]  # the id stays out
    inputs.write_text('{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n', encoding="utf-8")
    with pytest.raises(InputValidationError, match="line 1 and line 2"):
        run_batch(skill, inputs, tmp_path / "dup.jsonl", id_field="id", student=model, teacher=model)


def test_the_cli_refuses_a_foreign_journal_with_one_line(skill_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    BatchPaths.beside(out).journal.write_text('{"something": "else"}\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", "from skillforge.cli import main; main()", "batch", str(skill_dir),
         str(write_inputs(tmp_path / "in.jsonl", 3)), "-o", str(out)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {BatchPaths.beside(out).journal} is not a skillforge batch journal (delete it to start over)"]


def test_the_cli_runs_a_batch_and_exits_1_when_inputs_failed(
    skill_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skillforge.models import registry

    monkeypatch.setitem(registry._PROVIDERS, "oracle", lambda name: ORACLE)
    inputs = write_inputs(tmp_path / "in.jsonl", 6, extra="[1]\n")
    result = CliRunner().invoke(app, ["batch", str(skill_dir), str(inputs), "-o", str(tmp_path / "out.jsonl"),
                                      "--student", "oracle:x", "--teacher", "oracle:x", "-c", "2"])
    assert result.exit_code == 1, result.output
    assert "7 inputs: 0 done before, 6 answered now (0 escalated), 1 failed" in result.output
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 7


def test_the_progress_bar_shows_rate_failures_escalations_and_cost() -> None:
    import io

    from rich.console import Console

    from skillforge.cli.batch import BatchProgress

    screen = io.StringIO()
    with BatchProgress(Console(file=screen, force_terminal=True, width=200), enabled=True) as bar:
        bar(BatchStats(total=10, done_before=4))
        bar(BatchStats(total=10, done_before=4, answered=5, failed=1, escalated=2, cost_usd=0.0123))
    shown = screen.getvalue()
    assert "10/10" in shown and "/s" in shown and "eta" in shown
    assert "2 escalated · 1 failed · $0.0123" in shown


# -- the Done-when: 1,000+ inputs, 30%+ of calls failing, kill -9 midway, then the same command again ----


def test_kill_9_midway_through_a_faulty_batch_then_rerun_gives_exactly_one_output_per_input(
    skill_dir: Path, tmp_path: Path
) -> None:
    n, concurrency = 1000, 8
    inputs = write_inputs(tmp_path / "in.jsonl", n)
    out = tmp_path / "out.jsonl"
    journal = BatchPaths.beside(out).journal
    stats = tmp_path / "calls.log"
    command = [sys.executable, str(REPO / "tests" / "faulty_server.py"), "batch", str(skill_dir), str(inputs),
               "-o", str(out), "--concurrency", str(concurrency),
               "--student", "faulty:student", "--teacher", "faulty:teacher"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), "FAULTY_STATS": str(stats)}

    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _records(journal) < 300 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL
    done_when_killed = _records(journal)
    assert 300 <= done_when_killed < n and not out.exists()  # killed midway: no output yet

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"{n} inputs: {done_when_killed} done before" in second.stderr

    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == list(range(1, n + 1))  # exactly one line per input, in input order
    assert [r["output"]["label"] for r in rows] == [expected_label(i) for i in range(n)]
    assert not BatchPaths.beside(out).failures.exists()
    assert len(journal.read_bytes().splitlines()) == n + 1  # the header and one record per input: none twice

    calls = stats.read_text(encoding="utf-8").splitlines()
    faults = [c for c in calls if c.startswith("fault")]
    assert len(faults) / len(calls) >= 0.3
    assert {c.split()[1] for c in faults} == {"429", "529", "500", "502", "503", "504", "timeout", "dropped",
                                              "refused"}
    # Answered calls: one per input, plus at most the inputs that were in flight when the first run died.
    assert n <= len(calls) - len(faults) <= n + concurrency


def _records(journal: Path) -> int:
    """Finished inputs in a journal: complete lines after the header."""
    try:
        return max(0, journal.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0
