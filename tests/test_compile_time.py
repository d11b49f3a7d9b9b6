"""What a compile spends on candidates that lose: one racing rule stops them (the baseline and every
candidate that could be chosen are measured in full), and answers asked before are not asked again."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from skillforge import CompileOptions, Ledger, compile_skill, load_skill
from skillforge.compile import Candidate, CaseResult, Measurement, SearchConfig
from skillforge.compile import race as race_module
from skillforge.compile.measure import Answerer, DevCase, measure
from skillforge.compile.race import BATCH, Z_RACE, Entrant, beaten
from skillforge.format import dump_manifest
from skillforge.ledger import CallSite
from skillforge.progress import NullProgress
from skillforge.testing import FunctionModel

from helpers import keyword_answer, refine_teacher, sentiment_examples, sentiment_spec, student_that_needs

GOOD = "1. Read the review.\n2. GOOD means positive, anything else negative."


def _results(correct: list[bool]) -> list[CaseResult]:
    return [CaseResult({}, float(c), c, None) for c in correct]


# -- the rule -------------------------------------------------------------------------------------------


def test_a_candidate_stops_once_a_rival_clearly_beats_it_on_the_cases_both_answered() -> None:
    rival = Measurement(Candidate("lead", "template", "x", []), _results([True] * 60))
    close = Entrant(Candidate("close", "template", "x", []), _results([True] * 9 + [False]))
    far = Entrant(Candidate("far", "template", "x", []), _results([True] * 4 + [False] * 6))
    # 1 loss in 10: a gain of 0.1, SE 0.1 -- not clear at Z_RACE. 6 losses in 10: 0.6 +- 0.163 -- clear.
    assert not beaten(close, [rival]) and beaten(far, [rival])
    # Only the cases both answered count: a rival measured on fewer cases is no yardstick yet.
    short = Measurement(Candidate("short", "template", "x", []), _results([True] * 5))
    assert not beaten(far, [short])


def test_the_stated_error_bound_holds_for_a_candidate_as_good_as_its_rival() -> None:
    """Two candidates right on the same 70% of cases, wrong on different others: the race never stops
    the second by more than the bound the module states (a look at Z_RACE each batch)."""
    looks = math.ceil(60 / BATCH)
    stopped = 0
    trials = 400
    for t in range(trials):
        import random

        rng = random.Random(t)
        a = [rng.random() < 0.8 for _ in range(60)]
        b = [rng.random() < 0.8 for _ in range(60)]
        rival = Measurement(Candidate("a", "template", "x", []), _results(a))
        for n in range(BATCH, 61, BATCH):
            if beaten(Entrant(Candidate("b", "template", "x", []), _results(b[:n])), [rival]):
                stopped += 1
                break
    bound = looks * (1 - 0.5 * (1 + math.erf(Z_RACE / math.sqrt(2))))
    assert stopped / trials <= bound + 0.01


def _four_demos(request: Any) -> Any:
    """Right with four demos or more, wrong with fewer (the revision's words change nothing)."""
    if request.output_schema is None:
        return "1. Think harder, then answer."
    return keyword_answer(request) if request.static_messages >= 8 else {"sentiment": "positive"}


def _race_compile(monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[Any, FunctionModel]:
    if monkeypatch is not None:  # the full measurement: a race that never stops anyone
        monkeypatch.setattr(race_module, "Z_RACE", float("inf"))
    student = FunctionModel(_four_demos, model_id="test:student")
    skill = compile_skill(sentiment_spec(), sentiment_examples(80), student=student,
                          teacher=refine_teacher("1. Think harder, then answer."),
                          options=CompileOptions(search=SearchConfig(ks=[2, 4], retrieval=False, max_dev=40, draws=1)))
    return skill, student


def test_losing_candidates_stop_and_the_choice_is_the_same_as_measuring_every_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raced, student = _race_compile()
    m = raced.manifest.metrics
    stopped = [c for c in m.candidates if c.cases_measured is not None]
    assert stopped and all(c.cases_measured < m.dev_size for c in stopped)
    assert next(c for c in m.candidates if c.name == m.baseline).cases_measured is None  # the baseline finishes
    assert next(c for c in m.candidates if c.name == m.chosen).cases_measured is None
    full, full_student = _race_compile(monkeypatch)
    assert len(student.requests) < len(full_student.requests)
    assert (full.manifest.metrics.chosen, full.manifest.metrics.dev_score) == (m.chosen, m.dev_score)
    assert full.instructions == raced.instructions


def test_a_revision_that_loses_stops_early_and_says_so() -> None:
    def worse_when_revised(request: Any) -> Any:
        if request.output_schema is None:
            return "1. Think harder, then answer." if "got wrong" in request.messages[0].content else GOOD
        if "Think harder" in request.system:
            return {"sentiment": "positive"}
        text = request.messages[-1].content
        if text.endswith("0") or text.endswith('0"}'):  # a few misses, so there is something to revise
            return {"sentiment": "positive" if "bad" in text else "negative"}
        return student_that_needs("GOOD").fn(request)

    student = FunctionModel(worse_when_revised, model_id="test:student")
    skill = compile_skill(sentiment_spec(), sentiment_examples(80), student=student, teacher=FunctionModel(
        lambda r: keyword_answer(r) if r.output_schema is not None else (
            "1. Think harder, then answer." if "got wrong" in r.messages[0].content else GOOD + " ok")),
        options=CompileOptions(search=SearchConfig(ks=[2], retrieval=False, max_dev=40)))
    m = skill.manifest.metrics
    (round_,) = m.refinement
    assert not round_.kept and round_.cases_measured is not None and round_.cases_measured < m.dev_size
    revised = next(c for c in m.candidates if c.name.endswith("~r1"))
    assert revised.cases_measured == round_.cases_measured
    asked = [r for r in student.requests if "Think harder" in r.system]
    assert len(asked) == round_.cases_measured  # the cases after the stop were never sent
    assert f"cases_measured: {round_.cases_measured}" in _yaml(skill)


def _yaml(skill: Any) -> str:
    return dump_manifest(skill.manifest)


def test_a_revision_that_wins_is_measured_on_every_case() -> None:
    skill = compile_skill(
        sentiment_spec(),
        sentiment_examples(30),
        teacher=refine_teacher(GOOD),
        student=student_that_needs("GOOD"),
        options=CompileOptions(search=SearchConfig(ks=[2], retrieval=False)),
    )
    (round_,) = skill.manifest.metrics.refinement
    assert round_.kept and round_.cases_measured is None


def _unused() -> None:  # keep imports used by the shared-answers test below
    _ = (asyncio, DevCase, Ledger, NullProgress, keyword_answer, measure, load_skill)


def test_a_request_asked_before_is_answered_from_the_shared_answers() -> None:
    """A later demo draw that shows an input the same demos (the same request) reuses the first answer;
    a request that differs is sent."""
    dev = [DevCase({"text": f"good thing {i}"}, {"sentiment": "positive"}) for i in range(4)]
    student = FunctionModel(keyword_answer)
    memo: dict[str, Any] = {}

    def run(instructions: str) -> Measurement:
        return asyncio.run(
            measure(
                Candidate("c", "template", instructions, []),
                dev,
                Answerer(student, sentiment_spec().output_schema, None, {}, 16, CallSite(Ledger(None), "s", "compile"),
                         1, NullProgress(), max_reasks=0),
                memo=memo,
            )
        )

    first = run("Answer.")
    again = run("Answer.")
    assert len(student.requests) == 4 and again.case_scores == first.case_scores == [1.0] * 4
    run("Answer briefly.")
    assert len(student.requests) == 8


def test_the_skill_records_calls_and_time_per_compile_step(tmp_path: Any) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    skill = compile_skill(
        sentiment_spec(),
        sentiment_examples(30),
        teacher=refine_teacher(GOOD),
        student=student_that_needs("GOOD"),
        options=CompileOptions(search=SearchConfig(ks=[2], retrieval=False)),
        ledger=ledger,
    )
    costs = skill.manifest.metrics.compile_steps
    assert [c.step for c in costs] == ["draft", "select", "refine", "calibrate"]
    assert sum(c.calls for c in costs) == len(ledger.read()) and all(c.calls > 0 for c in costs)
    assert all(c.seconds is not None and c.seconds >= 0 for c in costs)  # in the compile's own report
    loaded = load_skill(skill.save(tmp_path / "s"))
    # The file keeps the calls, not the wall time: two compiles of the same inputs write the same file.
    assert loaded.manifest.metrics.compile_steps == [c.model_copy(update={"seconds": None}) for c in costs]


# -- screening the zero-shot candidates ---------------------------------------------------------------
