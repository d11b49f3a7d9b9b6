"""Compile time: a candidate that can no longer win stops early (sequential testing), identical requests
are answered once, and the skill records each compile step's calls and time."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import pytest

from skillforge import CompileOptions, Ledger, compile_skill, load_skill
from skillforge.compile import Candidate, CaseResult, Measurement, clearly_better, screening
from skillforge.compile import steps as compile_steps
from skillforge.compile.measure import DevCase, Stop, measure
from skillforge.compile.selection import can_clearly_beat, can_escape, paired_gain, stop_when_beaten
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
    # The base's 4 misses are measured first: only there could a candidate gain. Wrong on 3 of them,
    # a gain on the last one could not be clear, whatever it answers on the other 16: it stops there.
    assert loser.stopped and len(loser.cases) == 3 and loser.planned == 20
    assert [r.messages[-1].content for r in loser_model.requests] == [
        r.messages[-1].content for r in _asked(dev[16:19])]
    winner, winner_model = asyncio.run(run("positive"))
    assert not winner.stopped and len(winner.cases) == 20 == len(winner_model.requests)


def _asked(cases: list[DevCase]) -> list[Any]:
    student = FunctionModel(lambda r: {"sentiment": "positive"})
    asyncio.run(measure(Candidate("c", "template", "Answer.", []), cases, student=student,
                        output_schema=sentiment_spec().output_schema, comparators={}, max_tokens=16,
                        max_reasks=0, ledger=Ledger(None), skill="s", concurrency=1, progress=NullProgress()))
    return list(student.requests)


def test_a_measurement_in_a_stop_rules_order_keeps_its_results_in_case_order() -> None:
    """The base's misses are measured first, ties in case order; a measurement that runs to the end
    reports its cases in their own order, as one without a stop rule would."""
    dev = [DevCase({"text": f"case {i}"}, {"sentiment": "positive" if i % 3 else "negative"}) for i in range(9)]
    base = [1.0, 0.0, 1.0, 0.5, 1.0, 0.0, 1.0, 1.0, 1.0]
    rule = stop_when_beaten(base, 1.0)
    assert rule.order == (1, 5, 3, 0, 2, 4, 6, 7, 8)

    def answer(r: Any) -> dict[str, str]:
        return {"sentiment": "negative" if int(r.messages[-1].content.split()[-1].strip('"}')) % 3 == 0 else "positive"}

    async def run(stop: Stop | None) -> tuple[Measurement, FunctionModel]:
        student = FunctionModel(answer)
        m = await measure(Candidate("c", "template", "Answer.", []), dev, student=student,
                          output_schema=sentiment_spec().output_schema, comparators={}, max_tokens=16,
                          max_reasks=0, ledger=Ledger(None), skill="s", concurrency=1, progress=NullProgress(),
                          stop=stop)
        return m, student

    ordered, ordered_model = asyncio.run(run(rule))
    plain, _ = asyncio.run(run(None))
    assert not ordered.stopped
    assert [c.output for c in ordered.cases] == [c.output for c in plain.cases]
    assert [c.correct for c in ordered.cases] == [True] * 9
    asked = [r.messages[-1].content for r in ordered_model.requests]
    assert asked == [r.messages[-1].content for r in _asked([dev[i] for i in rule.order])]


def test_a_stop_rule_whose_order_is_not_a_permutation_of_the_cases_is_refused() -> None:
    dev = [DevCase({"text": "a"}, {"sentiment": "positive"}), DevCase({"text": "b"}, {"sentiment": "positive"})]
    with pytest.raises(ValueError, match="permutation of the 2 cases"):
        asyncio.run(measure(Candidate("c", "template", "Answer.", []), dev, student=FunctionModel(
            lambda r: {"sentiment": "positive"}), output_schema=sentiment_spec().output_schema, comparators={},
            max_tokens=16, max_reasks=0, ledger=Ledger(None), skill="s", concurrency=1, progress=NullProgress(),
            stop=Stop(lambda done: False, (0, 0))))


# -- in the compile -----------------------------------------------------------------------------------


def _revision_compile(monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[Any, FunctionModel]:
    if monkeypatch is not None:  # the full measurement: a stop rule that never stops
        monkeypatch.setattr(compile_steps, "stop_when_beaten", lambda base, z: Stop(lambda done: False))
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
    assert all(c.seconds is not None and c.seconds >= 0 for c in costs)  # in the compile's own report
    loaded = load_skill(skill.save(tmp_path / "s"))
    # The file keeps the calls, not the wall time: two compiles of the same inputs write the same file.
    assert loaded.manifest.metrics.compile_steps == [c.model_copy(update={"seconds": None}) for c in costs]


# -- screening the zero-shot candidates ---------------------------------------------------------------


def test_the_escape_check_is_exact_for_right_or_wrong_answers_against_a_mean_over_draws() -> None:
    """``can_escape`` says "some completion is not clearly beaten" exactly when brute force finds one,
    against a yardstick whose case scores are means over draws or partial credit, with a spread."""
    rng = random.Random(11)
    for _ in range(150):
        n = rng.randint(2, 8)
        top = [rng.choice([0.0, 1 / 3, 2 / 3, 1.0, 1.0, rng.random()]) for _ in range(n)]
        new = [float(rng.random() < 0.4) for _ in range(n)]
        z, spread = rng.choice([0.0, 1.0, 1.5]), rng.choice([0.0, 0.05, 0.2])
        for done in range(n + 1):
            partial = new[:done]
            brute = any(not _clear_with_spread(top, partial + list(rest), z, spread)
                        for rest in itertools.product([0.0, 1.0], repeat=n - done))
            assert can_escape(partial, top, z, spread) == brute, (partial, top, z, spread)
    assert can_escape([0.5], [1.0, 1.0], 1.0)  # partial credit: never ruled out


def _clear_with_spread(top: list[float], new: list[float], z: float, spread: float) -> bool:
    gain, se = paired_gain(_m(top), _m(new))
    return gain > 1e-12 and gain > z * (se**2 + spread**2) ** 0.5 * (1 + 1e-9)


def _demo_student() -> FunctionModel:
    """Right on every input when shown demos; zero-shot it always answers 'negative' (half right)."""

    def answer(request: Any) -> Any:
        return keyword_answer(request) if len(request.messages) > 1 else {"sentiment": "negative"}

    return FunctionModel(answer, model_id="test:student")


def _screen_compile(student: FunctionModel, monkeypatch: pytest.MonkeyPatch | None = None) -> Any:
    if monkeypatch is not None:  # every zero-shot candidate measured on all of dev
        monkeypatch.setattr(screening, "MIN_SCREEN", 10_000)
    examples = sentiment_examples(160)
    return compile_skill(sentiment_spec(), examples[60:], dev_examples=examples[:60], student=student,
                         teacher=refine_teacher(GOOD), options=CompileOptions(ks=[2], retrieval=False,
                                                                                refine_rounds=0))


def test_zero_shot_candidates_the_choice_cannot_need_are_measured_on_a_third_of_dev(
        monkeypatch: pytest.MonkeyPatch) -> None:
    student = _demo_student()
    skill = _screen_compile(student)
    m = skill.manifest.metrics
    baseline, *zero_shot = [c for c in m.candidates if c.k == 0]
    assert baseline.cases_measured is None and zero_shot
    assert all(c.cases_measured == 20 for c in zero_shot)  # clearly beaten by the demos whatever the rest
    assert all(c.cases_measured is None for c in m.candidates if c.k > 0)
    # The choice measuring every zero-shot candidate in full makes, for 40 fewer calls per candidate.
    full_student = _demo_student()
    full = _screen_compile(full_student, monkeypatch).manifest.metrics
    assert all(c.cases_measured is None for c in full.candidates)
    assert (full.chosen, full.dev_score, full.selection) == (m.chosen, m.dev_score, m.selection)
    assert len(full_student.requests) - len(student.requests) == 40 * len(zero_shot)


def test_a_zero_shot_candidate_that_could_be_chosen_is_measured_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    student = FunctionModel(keyword_answer, model_id="test:student")  # right with any prompt
    m = _screen_compile(student).manifest.metrics
    assert all(c.cases_measured is None for c in m.candidates)
    full_student = FunctionModel(keyword_answer, model_id="test:student")
    full = _screen_compile(full_student, monkeypatch).manifest.metrics
    assert (full.chosen, full.selection, len(full_student.requests)) == (m.chosen, m.selection, len(student.requests))
    assert m.chosen == m.baseline  # nothing beats the plain prompt: the screened ones could have tied it


# -- retrieved demos against their clustered twin -----------------------------------------------------


def _retrieval_compile(student: FunctionModel, monkeypatch: pytest.MonkeyPatch | None = None) -> Any:
    if monkeypatch is not None:  # the full measurement: a stop rule that never stops
        monkeypatch.setattr(compile_steps, "stop_when_beaten", lambda base, z: Stop(lambda done: False))
    examples = sentiment_examples(160)
    return compile_skill(sentiment_spec(), examples[60:], dev_examples=examples[:60], student=student,
                         teacher=refine_teacher(GOOD),
                         options=CompileOptions(ks=[2], retrieval_ks=[2], refine_rounds=0, draws=1))


def _retrieved(request: Any) -> bool:
    return len(request.messages) > 1 and request.static_messages == 0


def test_retrieved_demos_that_cannot_clearly_beat_their_clustered_twin_stop_early(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The twin is measured first; per-input retrieval, right exactly where the twin is, can never
    clearly beat it, so it stops at once -- and the choice is the one a full measurement makes."""
    student = _demo_student()
    m = _retrieval_compile(student).manifest.metrics
    names = [c.name for c in m.candidates]
    (twin,), (retrieved,) = ([i for i, n in enumerate(names) if kind in n] for kind in ("+clustered2", "+retrieved2"))
    assert twin < retrieved  # measured in that order
    assert m.candidates[retrieved].cases_measured is not None and m.candidates[retrieved].cases_measured < 60
    assert m.candidates[twin].cases_measured is None
    sent = len([r for r in student.requests if _retrieved(r)])
    assert sent == m.candidates[retrieved].cases_measured
    full_student = _demo_student()
    full = _retrieval_compile(full_student, monkeypatch).manifest.metrics
    assert len([r for r in full_student.requests if _retrieved(r)]) == 60
    assert (full.chosen, full.dev_score, full.selection) == (m.chosen, m.dev_score, m.selection)


def test_retrieved_demos_are_measured_in_full_when_the_twin_does_not_beat_the_baseline() -> None:
    """A twin no better than the plain prompt is no yardstick: retrieval, right only with its own
    demos, is measured on every case and chosen."""

    def answer(request: Any) -> Any:
        return keyword_answer(request) if _retrieved(request) else {"sentiment": "negative"}

    student = FunctionModel(answer, model_id="test:student")
    m = _retrieval_compile(student).manifest.metrics
    assert all(c.cases_measured is None for c in m.candidates if c.k > 0)
    assert len([r for r in student.requests if _retrieved(r)]) >= 60
    assert "+retrieved2" in m.chosen
