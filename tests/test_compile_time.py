"""Compile time: a candidate that can no longer win stops early (sequential testing), identical requests
are answered once, and the skill records each compile step's calls and time."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import pytest

from skillforge import CompileOptions, Ledger, compile_skill, load_skill
from skillforge.compile import Candidate, CaseResult, Measurement, clearly_better
from skillforge.compile import steps as compile_steps
from skillforge.compile.measure import DevCase, measure
from skillforge.compile.selection import can_clearly_beat, stop_when_beaten
from skillforge.format import dump_manifest
from skillforge.progress import NullProgress
from skillforge.testing import FunctionModel

from helpers import keyword_answer, refine_teacher, sentiment_examples, sentiment_spec, student_that_needs

GOOD = "1. Read the review.\n2. GOOD means positive, anything else negative."


def _m(scores: list[float]) -> Measurement:
    return Measurement(Candidate("c", "template", "x", []), [CaseResult({}, s, s == 1.0, None) for s in scores])


# -- the bound ----------------------------------------------------------------------------------------


def test_the_bound_is_exact_for_right_or_wrong_answers() -> None:
    """For every partial result of a 0/1 candidate, the bound says "can still clearly win" exactly when
    some completion of its remaining cases is clearly better than the base (checked by brute force)."""
    rng = random.Random(7)
    for _ in range(60):
        n = rng.randint(2, 7)
        base = [float(rng.random() < 0.5) for _ in range(n)]
        new = [float(rng.random() < 0.6) for _ in range(n)]
        z = rng.choice([0.0, 1.0, 1.5])
        for done in range(n + 1):
            partial = new[:done]
            brute = any(clearly_better(_m(partial + list(rest)), _m(base), z)
                        for rest in itertools.product([0.0, 1.0], repeat=n - done))
            assert can_clearly_beat(partial, base, z) == brute, (partial, base, z)


def test_with_partial_credit_only_a_candidate_that_cannot_gain_is_ruled_out() -> None:
    base = [1.0, 0.5, 1.0, 1.0]
    assert can_clearly_beat([1.0], base, 1.0)  # the 0.5 case can still improve
    assert not can_clearly_beat([1.0, 0.5], base, 1.0)  # nothing left to gain on
    assert not can_clearly_beat([0.5, 0.5], base, 1.0)


def test_a_candidate_that_cannot_win_stops_and_one_that_could_is_measured_fully() -> None:
    dev = [DevCase({"text": f"case {i}"}, {"sentiment": "positive"}) for i in range(20)]
    base = [1.0] * 16 + [0.0] * 4  # right on 16 of 20

    async def run(answer: str) -> tuple[Measurement, FunctionModel]:
        student = FunctionModel(lambda r: {"sentiment": answer})
        cand = Candidate("c", "template", "Answer.", [])
        m = await measure(cand, dev, student=student, output_schema=sentiment_spec().output_schema,
                          comparators={}, max_tokens=16, max_reasks=0, ledger=Ledger(None), skill="s",
                          concurrency=1, progress=NullProgress(), stop=stop_when_beaten(base, 1.0))
        return m, student

    loser, loser_model = asyncio.run(run("negative"))
    # Wrong on every case: after its first case it is one behind, and fixing the 4 base failures at the
    # end could not make up for the cases lost since: it stops long before the end.
    assert loser.stopped and len(loser.cases) < 20 and loser.planned == 20
    assert len(loser_model.requests) == len(loser.cases)
    winner, winner_model = asyncio.run(run("positive"))
    assert not winner.stopped and len(winner.cases) == 20 == len(winner_model.requests)


# -- in the compile -----------------------------------------------------------------------------------


def _revision_compile(monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[Any, FunctionModel]:
    if monkeypatch is not None:  # the full measurement: a stop rule that never stops
        monkeypatch.setattr(compile_steps, "stop_when_beaten", lambda base, z: lambda done: False)
    student = student_that_needs("GOOD")
    skill = compile_skill(sentiment_spec(), sentiment_examples(40), student=student,
                          teacher=refine_teacher("1. Think harder, then answer."),
                          options=CompileOptions(ks=[2], retrieval=False, max_dev=12))
    return skill, student


def test_a_revision_that_cannot_beat_the_choice_stops_early_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    skill, student = _revision_compile()
    m = skill.manifest.metrics
    (round_,) = m.refinement
    assert not round_.kept and round_.cases_measured is not None and round_.cases_measured < m.dev_size
    revised = next(c for c in m.candidates if c.name.endswith("~r1"))
    assert revised.cases_measured == round_.cases_measured
    asked = [r for r in student.requests if "Think harder" in r.system]
    assert len(asked) == round_.cases_measured  # the cases after the stop were never sent
    assert f"cases_measured: {round_.cases_measured}" in _yaml(skill)
    # The same choice as measuring the revision on every dev case.
    full, full_student = _revision_compile(monkeypatch)
    assert full.manifest.metrics.refinement[0].cases_measured is None
    assert len([r for r in full_student.requests if "Think harder" in r.system]) == m.dev_size
    assert (full.manifest.metrics.chosen, full.manifest.metrics.dev_score) == (m.chosen, m.dev_score)
    assert full.instructions == skill.instructions


def _yaml(skill: Any) -> str:
    return dump_manifest(skill.manifest)


def test_a_revision_that_wins_is_measured_on_every_case() -> None:
    skill = compile_skill(sentiment_spec(), sentiment_examples(30), teacher=refine_teacher(GOOD),
                          student=student_that_needs("GOOD"), options=CompileOptions(ks=[2], retrieval=False))
    (round_,) = skill.manifest.metrics.refinement
    assert round_.kept and round_.cases_measured is None
    assert "cases_measured" not in _yaml(skill)  # nothing stopped: the file is as before


def test_a_request_asked_before_is_answered_from_the_shared_answers() -> None:
    """A later demo draw that shows an input the same demos (the same request) reuses the first answer;
    a request that differs is sent."""
    dev = [DevCase({"text": f"good thing {i}"}, {"sentiment": "positive"}) for i in range(4)]
    student = FunctionModel(keyword_answer)
    memo: dict[str, Any] = {}

    def run(instructions: str) -> Measurement:
        return asyncio.run(measure(Candidate("c", "template", instructions, []), dev, student=student,
                                   output_schema=sentiment_spec().output_schema, comparators={}, max_tokens=16,
                                   max_reasks=0, ledger=Ledger(None), skill="s", concurrency=1,
                                   progress=NullProgress(), memo=memo))

    first = run("Answer.")
    again = run("Answer.")
    assert len(student.requests) == 4 and again.case_scores == first.case_scores == [1.0] * 4
    run("Answer briefly.")
    assert len(student.requests) == 8


def test_the_skill_records_calls_and_time_per_compile_step(tmp_path: Any) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    skill = compile_skill(sentiment_spec(), sentiment_examples(30), teacher=refine_teacher(GOOD),
                          student=student_that_needs("GOOD"), options=CompileOptions(ks=[2], retrieval=False),
                          ledger=ledger)
    costs = skill.manifest.metrics.compile_steps
    assert [c.step for c in costs] == ["draft", "select", "refine", "calibrate"]
    assert sum(c.calls for c in costs) == len(ledger.read()) and all(c.calls > 0 for c in costs)
    loaded = load_skill(skill.save(tmp_path / "s"))
    assert loaded.manifest.metrics.compile_steps == costs
