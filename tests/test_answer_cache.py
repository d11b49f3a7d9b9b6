"""The compile's answer cache: keyed by everything that changes an answer, safe to share and to kill,
never a wrong answer from a damaged entry, and every reuse marked in the ledger."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from skillforge import CompileOptions, Ledger, compile_skill
from skillforge.compile import SearchConfig
from skillforge.errors import CacheWarning
from skillforge.format import dump_manifest
from skillforge.models.answer_cache import AnswerCache, CachedModel, answer_key
from skillforge.models.base import ModelRequest, ModelResponse, Usage
from skillforge.testing import FunctionModel

from helpers import keyword_answer, sentiment_examples, sentiment_spec

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def request(**update: Any) -> ModelRequest:
    base = ModelRequest(system="Classify.", messages=(), output_schema={"type": "object"}, max_tokens=16)
    return base.model_copy(update=update)


def counting(identity: dict[str, Any] | None = None) -> FunctionModel:
    return FunctionModel(lambda r: {"sentiment": "positive"}, model_id="test:counted", price_per_token=1e-6,
                         identity=identity if identity is not None else {"weights": "w1"})


def test_a_repeated_request_is_answered_from_the_cache_and_costs_nothing(tmp_path: Path) -> None:
    inner = counting()
    model = CachedModel(inner, AnswerCache(tmp_path / "cache.sqlite"))
    first = model.request_sync(request())
    again = model.request_sync(request())
    assert len(inner.requests) == 1 and again.cached and not first.cached
    assert again.text == first.text and again.usage == first.usage
    assert model.cost_of(again) == 0.0 and model.bought_for(again) == model.cost_of(first) > 0


@pytest.mark.parametrize("change", [
    {"temperature": 0.7}, {"seed": 3}, {"max_tokens": 17}, {"system": "Classify!"},
    {"output_schema": {"type": "object", "required": ["x"]}}, {"choice_scores": True},
])
def test_any_answer_changing_request_parameter_misses(tmp_path: Path, change: dict[str, Any]) -> None:
    inner = counting()
    model = CachedModel(inner, AnswerCache(tmp_path / "cache.sqlite"))
    model.request_sync(request())
    model.request_sync(request(**change))
    assert len(inner.requests) == 2


@pytest.mark.parametrize("identity", [{"weights": "w2"}, {"weights": "w1", "effort": "high"},
                                      {"weights": "w1", "engine": "0.3.37"}])
def test_another_model_identity_misses(tmp_path: Path, identity: dict[str, Any]) -> None:
    cache = AnswerCache(tmp_path / "cache.sqlite")
    CachedModel(counting(), cache).request_sync(request())
    other = counting(identity)
    CachedModel(other, cache).request_sync(request())
    assert len(other.requests) == 1


def test_a_model_without_an_identity_is_never_cached(tmp_path: Path) -> None:
    inner = FunctionModel(lambda r: {"a": 1})
    model = CachedModel(inner, AnswerCache(tmp_path / "cache.sqlite"))
    model.request_sync(request())
    model.request_sync(request())
    assert len(inner.requests) == 2 and not (tmp_path / "cache.sqlite").exists()


def test_the_local_models_identity_names_its_weights_and_engine() -> None:
    from skillforge.models.local.model import LocalModel, embedded_model_path

    identity = LocalModel(embedded_model_path(), model_id="local:smollm2-135m").cache_identity()
    assert identity is not None and len(identity["weights"]) == 64 and identity["engine"] != "unknown"


def test_a_damaged_entry_is_skipped_with_a_warning_and_asked_again(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    inner = counting()
    model = CachedModel(inner, AnswerCache(path))
    model.request_sync(request())
    with sqlite3.connect(path) as db:
        db.execute("UPDATE answers SET response = '{\"model_id\": \"x\", \"text\"'")  # cut short
    with pytest.warns(CacheWarning, match="damaged"):
        answer = CachedModel(inner, AnswerCache(path)).request_sync(request())
    assert not answer.cached and len(inner.requests) == 2
    # ...and the fresh answer replaced it.
    assert CachedModel(inner, AnswerCache(path)).request_sync(request()).cached


def test_a_cache_over_its_size_cap_evicts_the_least_recently_used(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "cache.sqlite", max_bytes=2000)
    model = CachedModel(counting(), cache)
    for i in range(40):
        model.request_sync(request(seed=i))
        time.sleep(0.001)
    stats = cache.stats()
    assert stats.bytes <= 2000 and 0 < stats.entries < 40
    # The newest answers are the ones kept.
    assert cache.get(answer_key(model.identity or {}, request(seed=39))) is not None
    assert cache.get(answer_key(model.identity or {}, request(seed=0))) is None


def test_a_compile_rerun_reuses_every_answer_and_marks_them_in_the_ledger(tmp_path: Path) -> None:
    teacher = FunctionModel(keyword_answer, model_id="test:teacher", price_per_token=1e-5, identity={"v": 1})
    student = FunctionModel(keyword_answer, model_id="test:student", price_per_token=1e-7, identity={"v": 1})
    cache = AnswerCache(tmp_path / "cache.sqlite")
    options = CompileOptions(search=SearchConfig(ks=(2,), refine_rounds=1, classifier_tier=False))
    first_ledger, second_ledger = Ledger(None), Ledger(None)
    first = compile_skill(sentiment_spec(), sentiment_examples(40), options, teacher=teacher, student=student,
                          ledger=first_ledger, cache=cache)
    calls = len(teacher.requests) + len(student.requests)
    second = compile_skill(sentiment_spec(), sentiment_examples(40), options, teacher=teacher, student=student,
                           ledger=second_ledger, cache=cache)
    assert len(teacher.requests) + len(student.requests) == calls  # nothing asked again
    assert all(e.cached and e.cost_usd == 0.0 for e in second_ledger.entries)
    paid = sum(e.cost_usd or 0.0 for e in first_ledger.entries)
    assert sum(e.original_cost_usd or 0.0 for e in second_ledger.entries) == pytest.approx(paid)
    assert dump_manifest(second.manifest).replace(second.manifest.provenance.compiled_at, "") == dump_manifest(
        first.manifest).replace(first.manifest.provenance.compiled_at, "")
    # A changed option reuses every request it did not change.
    more = compile_skill(sentiment_spec(), sentiment_examples(40), options.model_copy(update={"refine_rounds": 2}),
                         teacher=teacher, student=student, ledger=Ledger(None), cache=cache)
    assert more.name == first.name
    # cache=False asks afresh and keeps nothing.
    compile_skill(sentiment_spec(), sentiment_examples(40), options, teacher=teacher, student=student,
                  ledger=Ledger(None), cache=False)
    assert len(student.requests) > calls - len(teacher.requests)


_COMPILE = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from helpers import keyword_answer, sentiment_examples, sentiment_spec
    from skillforge import CompileOptions, Ledger, compile_skill
    from skillforge.models.answer_cache import AnswerCache
    from skillforge.testing import FunctionModel

    def counted(request):
        with open({calls!r}, "a") as fh:
            fh.write("x\\n")
        time.sleep({pause})
        return keyword_answer(request)

    model = FunctionModel(counted, model_id="test:counted", identity={{"v": 1}})
    skill = compile_skill(sentiment_spec(), sentiment_examples(40), CompileOptions(ks=(2,), cascade=False),
                          teacher=model, student=model, ledger=Ledger(None), cache=AnswerCache({cache!r}))
    skill.save({out!r})
""")


def _compile_process(tmp_path: Path, name: str, pause: float) -> tuple[subprocess.Popen[bytes], Path]:
    calls = tmp_path / f"{name}.calls"
    script = _COMPILE.format(tests=str(TESTS), calls=str(calls), pause=pause, cache=str(tmp_path / f"{name}.sqlite"),
                             out=str(tmp_path / name))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", script], env=env), calls


def _calls(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_compile_killed_part_way_and_rerun_pays_only_what_was_in_flight(tmp_path: Path) -> None:
    whole, whole_calls = _compile_process(tmp_path, "whole", 0.0)
    assert whole.wait(timeout=120) == 0
    uninterrupted = _calls(whole_calls)

    killed, calls = _compile_process(tmp_path, "killed", 0.02)
    deadline = time.monotonic() + 60
    while _calls(calls) < uninterrupted // 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    before_kill = _calls(calls)
    assert 0 < before_kill < uninterrupted
    (tmp_path / "killed.calls").rename(tmp_path / "first.calls")
    rerun, rerun_calls = _compile_process(tmp_path, "killed", 0.0)
    assert rerun.wait(timeout=120) == 0
    # At most one call was in flight (the local-like double answers one at a time).
    assert before_kill + _calls(rerun_calls) <= uninterrupted + 1
    same = (tmp_path / "whole" / "skill.yaml").read_text().splitlines()
    again = (tmp_path / "killed" / "skill.yaml").read_text().splitlines()
    assert [x for x in same if "compiled_at" not in x] == [x for x in again if "compiled_at" not in x]


def test_two_compiles_sharing_one_cache_at_once_both_finish_with_the_same_skill(tmp_path: Path) -> None:
    script_a, _ = _compile_process(tmp_path, "a", 0.005)
    # The same cache file for both: rename b's to a's by sharing the name.
    calls = tmp_path / "b.calls"
    script = _COMPILE.format(tests=str(TESTS), calls=str(calls), pause=0.005, cache=str(tmp_path / "a.sqlite"),
                             out=str(tmp_path / "b"))
    b = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(REPO)})
    assert script_a.wait(timeout=180) == 0 and b.wait(timeout=180) == 0
    a_yaml = (tmp_path / "a" / "skill.yaml").read_text().splitlines()
    b_yaml = (tmp_path / "b" / "skill.yaml").read_text().splitlines()
    assert [x for x in a_yaml if "compiled_at" not in x] == [x for x in b_yaml if "compiled_at" not in x]


def test_the_cache_command_shows_and_clears(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from skillforge.cli import app

    path = tmp_path / "cache.sqlite"
    model = CachedModel(counting(), AnswerCache(path))
    model.request_sync(request())
    model.request_sync(request(seed=1))
    shown = CliRunner().invoke(app, ["cache", "--path", str(path)])
    assert shown.exit_code == 0 and "test:counted" in shown.output and "2 answers" in shown.output
    cleared = CliRunner().invoke(app, ["cache", "--path", str(path), "--clear"])
    assert cleared.exit_code == 0 and "deleted 2" in cleared.output
    assert AnswerCache(path).stats().entries == 0
    assert ModelResponse(model_id="m", text="x", usage=Usage()).cached is False
