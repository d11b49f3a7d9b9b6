"""Record/replay: a CassetteModel answers a request it has seen from a text file next to the skill,
never calls a model in replay mode, and writes byte-stable files without secrets or machine paths."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from skillforge.errors import ConfigurationError, ReplayMissError, SkillFormatError
from skillforge.models.base import Message, Model, ModelRequest, ModelResponse, Usage
from skillforge.regress.cassette import CASSETTE_DIR, CassetteModel, CassetteStore, cassette_filename
from skillforge.testing import FunctionModel

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}


def req(text: str = "hello", **kw: Any) -> ModelRequest:
    kw.setdefault("output_schema", SCHEMA)
    return ModelRequest(system="Label the text.", messages=(Message(role="user", content=json.dumps({"text": text})),),
                        **kw)


def answer(request: ModelRequest) -> ModelResponse:
    text = json.loads(request.messages[-1].content)["text"]
    return ModelResponse(model_id="test:m", text=json.dumps({"label": text.upper()}),
                         usage=Usage(input_tokens=10, output_tokens=3), logprob_sum=-0.123456789,
                         stop_reason="end_turn", request_id="req_secret_123", latency_s=1.2345)


def inner(model_id: str = "test:m") -> FunctionModel:
    return FunctionModel(answer, model_id=model_id)


def call(model: Model, request: ModelRequest) -> ModelResponse:
    return asyncio.run(model.request(request))


def record(directory: Path, *texts: str, model_id: str = "test:m") -> CassetteModel:
    model = CassetteModel(inner(model_id), directory, "record")
    for t in texts:
        call(model, req(t))
    model.save()
    return model


def cassette_lines(directory: Path, model_id: str = "test:m") -> list[dict[str, Any]]:
    text = (directory / cassette_filename(model_id)).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def no_model() -> FunctionModel:
    def boom(request: ModelRequest) -> str:
        raise AssertionError("a model was called")

    return FunctionModel(boom, model_id="test:m")


def test_replay_answers_from_the_recording_without_calling_the_model(tmp_path: Path) -> None:
    recorded = record(tmp_path, "a", "b")
    guard = no_model()
    replay = CassetteModel(guard, tmp_path, "replay")
    got = call(replay, req("b"))
    assert got.text == '{"label": "B"}'
    assert got.usage == Usage(input_tokens=10, output_tokens=3)
    assert got.stop_reason == "end_turn" and got.model_id == "test:m"
    assert guard.requests == [] and replay.calls == 0 and replay.replayed == 1
    assert recorded.calls == 2


def test_a_replay_miss_fails_clearly_and_never_builds_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(model_id: str) -> Model:
        raise AssertionError(f"replay constructed {model_id}")

    monkeypatch.setattr("skillforge.models.registry.get_model", forbidden)
    record(tmp_path, "a", model_id="local:smollm2-135m")
    model = CassetteModel("local:smollm2-135m", tmp_path, "replay")
    assert call(model, req("a")).text == '{"label": "A"}'
    with pytest.raises(ReplayMissError) as exc:
        call(model, req("never recorded"))
    assert exc.value.model_id == "local:smollm2-135m"
    assert "local:smollm2-135m" in str(exc.value) and "no recording" in str(exc.value)
    assert exc.value.key == req("never recorded").cache_key("local:smollm2-135m")


def test_everything_that_shapes_the_answer_is_part_of_the_key(tmp_path: Path) -> None:
    record(tmp_path, "a")
    replay = CassetteModel(None, tmp_path, "replay", model_id="test:m")
    call(replay, req("a"))
    variants = [
        req("a", temperature=0.7), req("a", max_tokens=7), req("a", output_schema=None),
        req("a").model_copy(update={"system": "Other instructions."}),
    ]
    for variant in variants:
        with pytest.raises(ReplayMissError):
            call(replay, variant)
    with pytest.raises(ReplayMissError):  # same request, other model: its own recordings
        call(CassetteModel(None, tmp_path, "replay", model_id="test:other"), req("a"))


def test_the_file_is_a_header_then_recordings_sorted_by_key_without_volatile_fields(tmp_path: Path) -> None:
    record(tmp_path, "zeta", "alpha", "mid")
    header, *rows = cassette_lines(tmp_path)
    assert header == {"cassette": 1, "model_id": "test:m", "is_local": True, "supports_logprobs": True,
                      "supports_structured_output": True}
    assert [r["key"] for r in rows] == sorted(r["key"] for r in rows)
    assert set(rows[0]) == {"key", "input", "text", "logprob_sum", "stop_reason", "usage"}
    assert {r["input"] for r in rows} == {'{"text": "zeta"}', '{"text": "alpha"}', '{"text": "mid"}'}
    assert rows[0]["logprob_sum"] == -0.123457  # rounded: float noise stays out of diffs
    raw = (tmp_path / "test_m.jsonl").read_text()
    assert "req_secret_123" not in raw and "latency" not in raw and "1.2345" not in raw


def test_same_recordings_give_the_same_bytes(tmp_path: Path) -> None:
    record(tmp_path / "one", "a", "b", "c")
    record(tmp_path / "two", "c", "a", "b")
    assert (tmp_path / "one" / "test_m.jsonl").read_bytes() == (tmp_path / "two" / "test_m.jsonl").read_bytes()


def test_re_recording_an_answer_that_differs_only_by_float_noise_keeps_the_file(tmp_path: Path) -> None:
    record(tmp_path, "a")
    before = (tmp_path / "test_m.jsonl").read_bytes()

    def noisy(request: ModelRequest) -> ModelResponse:
        resp = answer(request)
        return resp.model_copy(update={"logprob_sum": -0.1234572})  # the last digits of a warm KV cache

    model = CassetteModel(FunctionModel(noisy, model_id="test:m"), tmp_path, "record")
    call(model, req("a"))
    assert model.save() is False
    assert (tmp_path / "test_m.jsonl").read_bytes() == before


def test_a_changed_answer_is_rewritten(tmp_path: Path) -> None:
    record(tmp_path, "a")
    model = CassetteModel(FunctionModel(lambda r: {"label": "changed"}, model_id="test:m"), tmp_path, "record")
    call(model, req("a"))
    assert model.save() is True
    assert cassette_lines(tmp_path)[1]["text"] == '{"label": "changed"}'


def test_model_ids_with_paths_leave_no_machine_path_in_the_recordings(tmp_path: Path) -> None:
    model_id = "local:/home/someone/models/teacher.gguf"
    record(tmp_path, "a", model_id=model_id)
    (path,) = tmp_path.iterdir()
    assert path.name.startswith("local_teacher.gguf-") and path.suffix == ".jsonl"
    assert "/home/someone" not in path.read_text()
    assert cassette_lines(tmp_path, model_id)[0]["model_id"] == "local:teacher.gguf"


def test_auto_replays_what_exists_and_records_the_rest(tmp_path: Path) -> None:
    record(tmp_path, "a")
    model = CassetteModel(inner(), tmp_path, "auto")
    call(model, req("a"))
    call(model, req("b"))
    assert (model.replayed, model.calls) == (1, 1)
    model.save()
    assert {r["input"] for r in cassette_lines(tmp_path)[1:]} == {'{"text": "a"}', '{"text": "b"}'}


def test_record_calls_once_per_request_and_a_pruning_save_drops_what_was_not_used(tmp_path: Path) -> None:
    record(tmp_path, "a", "stale")
    record(tmp_path, "other", model_id="test:gone")
    store = CassetteStore(tmp_path)
    model = CassetteModel(inner(), store, "record")
    call(model, req("a"))  # recorded before, but record mode asks the model again
    call(model, req("a"))  # asked again in this session: the fresh recording answers
    assert (model.calls, model.replayed) == (1, 1)
    store.save(prune=True)
    assert [r["input"] for r in cassette_lines(tmp_path)[1:]] == ['{"text": "a"}']
    assert not (tmp_path / "test_gone.jsonl").exists()  # a model this run never asked


def test_live_mode_neither_reads_nor_writes(tmp_path: Path) -> None:
    record(tmp_path, "a")
    before = (tmp_path / "test_m.jsonl").read_bytes()
    model = CassetteModel(inner(), tmp_path, "live")
    call(model, req("a"))
    call(model, req("new"))
    model.save()
    assert (model.calls, model.replayed) == (2, 0)
    assert (tmp_path / "test_m.jsonl").read_bytes() == before


def test_student_and_teacher_of_the_same_model_share_one_file(tmp_path: Path) -> None:
    store = CassetteStore(tmp_path)
    student, teacher = CassetteModel(inner(), store, "record"), CassetteModel(inner(), store, "record")
    call(student, req("a"))
    call(teacher, req("b"))
    store.save()
    assert [p.name for p in tmp_path.iterdir()] == ["test_m.jsonl"]
    assert len(cassette_lines(tmp_path)) == 3


def test_replay_knows_capabilities_and_cost_without_the_model(tmp_path: Path) -> None:
    record(tmp_path, "a", model_id="local:smollm2-135m")
    local = CassetteModel("local:smollm2-135m", tmp_path, "replay")
    assert local.is_local and local.supports_logprobs
    assert local.cost_usd(Usage(input_tokens=1000, output_tokens=100)) == 0.0

    claude = CassetteModel("anthropic:claude-haiku-4-5", tmp_path, "replay")
    assert not claude.is_local
    # $1 / MTok in, $5 / MTok out (skillforge.models.pricing)
    assert claude.cost_usd(Usage(input_tokens=1_000_000, output_tokens=100_000)) == pytest.approx(1.5)

    unknown = CassetteModel(None, tmp_path, "replay", model_id="other:model")
    assert unknown.cost_usd(Usage(input_tokens=5)) is None


def test_replay_only_cassettes_refuse_to_call(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        CassetteModel(None, tmp_path, "replay")
    model = CassetteModel(None, tmp_path, "record", model_id="test:m")
    with pytest.raises(ConfigurationError, match="no model to call"):
        call(model, req("a"))
    with pytest.raises(ConfigurationError, match="unknown cassette mode"):
        CassetteModel(inner(), tmp_path, "sometimes")  # type: ignore[arg-type]


def test_a_malformed_cassette_names_file_and_line(tmp_path: Path) -> None:
    record(tmp_path, "a")
    path = tmp_path / "test_m.jsonl"
    path.write_text(path.read_text() + '{"key": "k"}\n')
    with pytest.raises(SkillFormatError, match=rf"{CASSETTE_DIR}/test_m.jsonl:3"):
        CassetteModel(None, tmp_path, "replay", model_id="test:m")


def test_a_recordings_preview_is_the_input_even_after_retrieved_demos_and_a_re_ask() -> None:
    from skillforge.regress.recordings import preview as _preview
    from skillforge.run.prompt import build_request, reask

    request = build_request(instructions="Label.", output_schema=SCHEMA, demos=[({"text": "fixed"}, {"label": "F"})],
                            retrieved=[({"text": "similar"}, {"label": "S"})], input={"text": "the input"},
                            max_tokens=8)
    assert _preview(request) == '{"text": "the input"}'
    assert _preview(reask(request, "oops", ["not JSON"])) == '{"text": "the input"}'
