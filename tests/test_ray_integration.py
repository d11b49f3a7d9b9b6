"""The Ray Data integration, on a real local Ray cluster (two CPUs, two workers) with stand-in models:
every row answered or failed as a value, and every model call's ledger line and every escalation
record arriving on the driver -- the same lines a local run of the same rows writes."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

from skillforge import Ledger
from skillforge.adapters.ray import COLUMNS, ESCALATION_COLUMN, LEDGER_COLUMN, SkillMapper, write_records
from skillforge.errors import ConfigurationError, ModelAPIError
from skillforge.models.base import ModelRequest, ModelResponse, Usage
from skillforge.run import read_escalations
from skillforge.testing import FunctionModel, skill_input

from anthropic_fixtures import compiled_review_skill, review_oracle

TESTS = Path(__file__).resolve().parent
#: Rows of each kind: the student is right and confident / right but hesitant / never valid / never valid and
#: the teacher fails too.
KINDS = ("confident", "hesitant", "garbage", "doomed")


def student_answer(request: ModelRequest) -> Any:
    """A student that is confident, hesitant, or wrong-format depending on the review text."""
    text = skill_input(request)["text"]
    label = json.dumps({"label": "pos" if "good" in text else "neg"})
    if "garbage" in text or "doomed" in text:
        return "I think it is positive?"
    logprob = -3.0 if "hesitant" in text else -0.01  # confidence 0.05 or 0.99 (the skill's threshold: 0.95)
    return ModelResponse(model_id="test:student", text=label, usage=Usage(input_tokens=40, output_tokens=6),
                         logprob_sum=logprob)


def teacher_answer(request: ModelRequest) -> Any:
    if "doomed" in skill_input(request)["text"]:
        return ModelAPIError("overloaded (gave up after 6 attempts)", model_id="test:teacher", status=529)
    return review_oracle(request)


def rows(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "text": f"a {'good' if i % 3 else 'bad'} film, {KINDS[i % len(KINDS)]} take {i}"}
            for i in range(n)]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    # Workers import the test's stand-in models from this directory, and skillforge from this checkout.
    path = os.pathsep.join([str(TESTS.parent), str(TESTS)])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def test_a_skill_runs_on_ray_workers_and_every_call_and_escalation_arrives(ray_cluster: None, tmp_path: Path) -> None:
    skill = compiled_review_skill(tmp_path / "compiled", threshold=0.95)
    teacher = FunctionModel(teacher_answer, model_id="test:teacher")
    data = rows(48)
    out = ray.data.from_items(data).map_batches(
        SkillMapper,
        fn_constructor_kwargs={"skill": str(skill.path), "teacher": teacher,
                               "student": functools.partial(FunctionModel, student_answer, model_id="test:student")},
        compute=ray.data.ActorPoolStrategy(size=2), batch_size=8,
    ).take_all()

    # The same rows run locally, one by one: the ledger lines and escalations the workers must match.
    local_ledger = Ledger(tmp_path / "local.jsonl")
    local_skill = compiled_review_skill(tmp_path / "local-skill", threshold=0.95)
    expected: dict[int, tuple[Any, list[tuple[str, str]]]] = {}
    for row in data:
        before = len(local_ledger.entries)
        try:
            output: Any = local_skill.run({"text": row["text"]}, student=FunctionModel(student_answer,
                                          model_id="test:student"), teacher=teacher, ledger=local_ledger).output
        except Exception as exc:
            output = type(exc).__name__
        expected[row["id"]] = (output, [(e.model_id, e.outcome) for e in local_ledger.entries[before:]])

    assert sorted(r["id"] for r in out) == [r["id"] for r in data]
    for r in out:
        output, calls = expected[r["id"]]
        lines = [json.loads(line) for line in r[LEDGER_COLUMN]]
        assert [(e["model_id"], e["outcome"]) for e in lines] == calls
        if r["skillforge_error"] is None:
            assert json.loads(r["skillforge_output"]) == output
        else:
            assert r["skillforge_error"].startswith(f"{output}:") and r["skillforge_output"] is None
    kinds = {kind: [r for r in out if kind in r["text"]] for kind in KINDS}
    assert all(not r["skillforge_escalated"] and r["skillforge_confidence"] > 0.95 for r in kinds["confident"])
    assert all(r["skillforge_escalated"] and r[ESCALATION_COLUMN] for r in kinds["hesitant"] + kinds["garbage"])
    assert all(r["skillforge_error"] and not r[ESCALATION_COLUMN] for r in kinds["doomed"])

    ledger_path, log_path = tmp_path / "ledger.jsonl", tmp_path / "escalations.jsonl"
    written = write_records(out, ledger=ledger_path, escalations=log_path)
    assert written == (len(local_ledger.entries), 24)
    assert [(e.model_id, e.outcome) for e in Ledger(ledger_path).read()] == [
        (e.model_id, e.outcome) for r in out for e in map(_entry, r[LEDGER_COLUMN])]
    records = {(x.input["text"], x.reason, json.dumps(x.student_output)) for x in read_escalations(log_path)}
    assert records == {(x.input["text"], x.reason, json.dumps(x.student_output))
                       for x in read_escalations(local_skill.path / "escalations.jsonl")}


def _entry(line: str) -> Any:
    from skillforge.ledger import LedgerEntry

    return LedgerEntry.model_validate_json(line)


def test_the_mapper_takes_an_input_column_and_any_batch_format(tmp_path: Path) -> None:
    """Without a cluster: the mapper is a plain callable (what each worker runs)."""
    import pandas as pd

    skill = compiled_review_skill(tmp_path)
    mapper = SkillMapper(skill, student=FunctionModel(student_answer, model_id="test:student"),
                         teacher=FunctionModel(teacher_answer, model_id="test:teacher"), input_column="payload")
    batch = pd.DataFrame({"payload": [json.dumps({"text": "good, confident"}), json.dumps({"text": 3})]})
    table = mapper(batch)
    assert table.column_names == ["payload", *COLUMNS]
    first, second = table.to_pylist()
    assert json.loads(first["skillforge_output"]) == {"label": "pos"} and len(first[LEDGER_COLUMN]) == 1
    assert second["skillforge_error"].startswith("InputValidationError") and second[LEDGER_COLUMN] == []
    with pytest.raises(ConfigurationError, match="in_flight"):
        SkillMapper(skill, in_flight=0)
