"""``skillforge retarget``: a committed skill moved to a new student keeps its reviewed prompt, demos and
cases; the new student's confidence and threshold are fitted again on the skill's labelled examples (no
teacher answer bought again); old and new are compared side by side on the regression suite; the skill is
written only when not worse (or forced, and then it says so), with its lineage and new recordings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillforge import CompileOptions, Example, SpecError, compile_skill, load_skill
from skillforge.cli import app
from skillforge.compile import SearchConfig
from skillforge.ledger import Ledger
from skillforge.models.base import ModelRequest, ModelResponse, Usage
from skillforge.regress import run_skill_tests
from skillforge.regress.cassette import CASSETTE_DIR
from skillforge.regress.recordings import cassette_filename
from skillforge.run import render_input
from skillforge.testing import FunctionModel, skill_input
from skillforge.update.retarget import calibration_cases, paired_change, retarget_skill

from helpers import sentiment_spec

ROOT = Path(__file__).resolve().parent.parent

OPTIONS = CompileOptions(
    target_precision=0.8,
    confidence_level=None,
    search=SearchConfig(ks=(), retrieval_ks=(2,), classifier_tier=False, refine_rounds=0, calibration_extra=20),
)


def truth(text: str) -> str:
    return "positive" if text.split()[0] in ("good", "great") else "negative"


def teacher_answer(request: ModelRequest) -> Any:
    if request.output_schema is None:
        return "Answer positive when the review praises, else negative."
    return {"sentiment": truth(skill_input(request)["text"])}


def student(model_id: str, *, right: float, needs_demos: bool = False) -> FunctionModel:
    """A student right on the inputs whose number (the review's last word) falls in the first ``right``
    share of each ten, wrong (and as sure) on the rest. ``needs_demos``: it knows the answer only from a
    demo in its prompt, else guesses negative, unsure."""

    def answer(request: ModelRequest) -> Any:
        if request.output_schema is None:
            return "Decide the sentiment."
        text = skill_input(request)["text"]
        label, sure = truth(text), True
        if needs_demos and len(request.messages) < 3:
            label, sure = "negative", False
        elif int(text.split()[-1]) % 10 >= round(10 * right):
            label = "negative" if label == "positive" else "positive"
        return ModelResponse(model_id=model_id, text=json.dumps({"sentiment": label}),
                             usage=Usage(input_tokens=20, output_tokens=4), logprob_sum=-0.01 if sure else -2.0,
                             stop_reason="end_turn")

    return FunctionModel(answer, model_id=model_id, price_per_token=1e-7)


def OLD() -> FunctionModel:
    return student("test:old", right=0.9, needs_demos=True)


def TEACHER() -> FunctionModel:
    return FunctionModel(teacher_answer, model_id="test:teacher")


def examples(n: int, tag: str, start: int = 0) -> list[Example]:
    return [Example(input={"text": f"{'good' if i % 2 else 'bad'} {tag} {i}"},
                    expected={"sentiment": "positive" if i % 2 else "negative"}) for i in range(start, start + n)]


@pytest.fixture
def compiled(tmp_path: Path) -> Path:
    """A skill compiled with a student right on 9 inputs in 10, its demos retrieved per input."""
    skill = compile_skill(sentiment_spec(), examples(60, "thing"), OPTIONS,
                          teacher=TEACHER(),
                          student=student("test:old", right=0.9, needs_demos=True), ledger=Ledger(None))
    assert skill.settings.demo_strategy in ("retrieved", "clustered") and skill.tests
    return skill.save(tmp_path / "skill")


def _files(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_better_student_is_fitted_compared_side_by_side_and_written_with_its_lineage(compiled: Path) -> None:
    old = load_skill(compiled)
    teacher = FunctionModel(teacher_answer, model_id="test:teacher")
    ledger = Ledger(None)
    report = retarget_skill(compiled, student=student("test:new", right=1.0), teacher=teacher,
                            old_student=OLD(), ledger=ledger)
    assert report.status == "written" and not report.refusals
    # Side by side on the same regression cases: the old student is wrong on a tenth, the new one on none.
    assert report.before.cases == report.after.cases == len(old.tests)
    assert report.before.accuracy < report.after.accuracy == 1.0
    assert report.before.student == "test:old" and report.after.student == "test:new"
    assert report.after.accepted_precision == 1.0 and not report.regressions and report.improvements > 0
    # Fitted on the demos (each answered without itself in its prompt), never on the suite; no teacher call.
    assert report.calibration_cases == len(old.demos)
    assert teacher.requests == []
    assert not [e for e in ledger.entries if e.role == "teacher"]
    new = load_skill(compiled, strict=True)
    # The reviewed prompt, demos and cases are kept; what depends on the student is fitted again.
    assert (new.instructions, new.demos, new.tests) == (old.instructions, old.demos, old.tests)
    assert new.manifest.provenance.student == "test:new"
    assert new.settings.threshold is not None
    assert new.manifest.metrics.calibration_size == len(old.demos)
    lineage = new.manifest.provenance.retargeted_from
    assert [(x.student, x.content_hash, x.forced) for x in lineage] == [
        ("test:old", old.manifest.provenance.content_hash, False)]
    # Its regression suite is recorded for the new student and replays offline, no model constructed.
    assert (compiled / CASSETTE_DIR / cassette_filename("test:new")).exists()
    assert report.recorded is not None and report.recorded.ok
    replayed = run_skill_tests(compiled, mode="replay")
    assert replayed.ok and replayed.student == "test:new", replayed


def test_a_worse_student_is_refused_naming_its_regressions_and_nothing_is_written(compiled: Path) -> None:
    before = _files(compiled)
    report = retarget_skill(compiled, student=student("test:bad", right=0.5), old_student=OLD(), teacher=TEACHER(),
                            ledger=Ledger(None))
    assert report.status == "refused" and report.refusals
    assert "accuracy fell" in report.refusals[0]
    assert report.regressions and all(c.old == c.expected != c.new for c in report.regressions)
    assert _files(compiled) == before


def test_force_writes_a_refused_retarget_and_records_that_it_was_forced(compiled: Path) -> None:
    report = retarget_skill(compiled, student=student("test:bad", right=0.5), old_student=OLD(), teacher=TEACHER(),
                            ledger=Ledger(None), force=True)
    assert report.status == "forced"
    lineage = load_skill(compiled, strict=True).manifest.provenance.retargeted_from[-1]
    assert lineage.forced and lineage.refusals == report.refusals


def test_dry_run_measures_and_writes_nothing(compiled: Path) -> None:
    before = _files(compiled)
    report = retarget_skill(compiled, student=student("test:new", right=1.0), old_student=OLD(), teacher=TEACHER(),
                            ledger=Ledger(None), dry_run=True)
    assert report.status == "dry-run" and report.diff
    assert _files(compiled) == before


def test_a_retarget_needs_something_to_move_to(compiled: Path) -> None:
    with pytest.raises(SpecError, match="nothing to retarget to"):
        retarget_skill(compiled, ledger=Ledger(None))


def test_calibration_never_uses_the_regression_suite_or_demos_a_fixed_prompt_shows(compiled: Path) -> None:
    skill = load_skill(compiled)
    suite = {json.dumps(c.input) for c in skill.tests}
    more = [*examples(10, "extra", start=100), Example(input=skill.tests[0].input, expected=skill.tests[0].expected)]
    cases = calibration_cases(skill, more)
    assert not {json.dumps(c.input) for c in cases} & suite
    assert len(cases) == len(skill.demos) + 10
    fixed = skill.manifest.model_copy(deep=True)
    fixed.settings.demo_strategy = "fixed"
    skill.manifest = fixed
    assert [c.input for c in calibration_cases(skill, more)] == [e.input for e in more[:10]]


def test_paired_change_is_the_mean_difference_and_its_standard_error() -> None:
    assert paired_change([True, True], [True, True]) == (0.0, 0.0)
    change, se = paired_change([True, True, False, False], [True, False, False, True])
    assert change == 0.0 and se == pytest.approx(0.4082, abs=1e-4)


def test_cli_retarget_exits_non_zero_on_a_refusal_naming_the_failing_cases(
        compiled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from skillforge.models import registry

    models = {"test:bad": student("test:bad", right=0.5), "test:old": OLD(),
              "test:teacher": FunctionModel(teacher_answer, model_id="test:teacher")}
    # The skill's ids resolve to the doubles for this test only.
    monkeypatch.setitem(registry._PROVIDERS, "test", lambda name: models[f"test:{name}"])
    monkeypatch.setenv("SKILLFORGE_LEDGER", str(compiled.parent / "ledger.jsonl"))
    result = CliRunner().invoke(app, ["retarget", str(compiled), "--student", "test:bad"])
    assert result.exit_code == 1, result.output
    assert "refused" in result.output and "case " in result.output and "recompile" in result.output


def test_a_committed_skill_moves_to_a_double_of_known_accuracy_with_no_model_of_its_own_called(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """skills/intent-router (embedded student and teacher) retargeted to a double right on 9 inputs in 10
    and less sure when wrong: the old side and every escalation replay from the skill's cassettes (the
    embedded model is never constructed), the new threshold separates the double's sure answers."""
    from skillforge.models import registry

    def no_local(name: str) -> Any:
        raise AssertionError(f"the embedded model was constructed ({name}): a recording was missing")

    monkeypatch.setitem(registry._PROVIDERS, "local", no_local)
    path = tmp_path / "intent-router"
    shutil.copytree(ROOT / "skills" / "intent-router", path)
    skill = load_skill(path)
    truth = {render_input(d.input): d.output for d in skill.demos} | {
        render_input(c.input): c.expected for c in skill.tests}

    def answer(request: ModelRequest) -> Any:
        if request.output_schema is None:
            return "Route the message."
        key = render_input(skill_input(request))
        out, wrong = dict(truth[key]), sum(map(ord, key)) % 10 == 0
        if wrong:
            classes = request.output_schema["properties"]["intent"]["enum"]
            out["intent"] = classes[(classes.index(out["intent"]) + 1) % len(classes)]
        return ModelResponse(model_id="test:next", text=json.dumps(out), usage=Usage(input_tokens=300, output_tokens=8),
                             logprob_sum=-1.5 if wrong else -0.02, stop_reason="end_turn")

    report = retarget_skill(path, student=FunctionModel(answer, model_id="test:next", price_per_token=1e-7),
                            ledger=Ledger(None))
    assert report.status == "written", report.refusals
    assert report.calibration_cases == len(skill.demos)
    assert report.after.answered_share >= 0.8
    assert (report.after.accepted_precision or 0.0) >= skill.settings.target_precision
    assert report.recorded is not None and report.recorded.ok
    replayed = run_skill_tests(path, mode="replay")
    assert replayed.ok and replayed.student == "test:next" and replayed.teacher == "local:smollm2-135m"


def test_the_classifier_tier_is_kept_as_compiled(tmp_path: Path) -> None:
    """The classifier reads only the input: a new student changes neither its weights nor its threshold."""
    # Words only (no embedder): the classifier is then the same whichever model runs beside it.
    options = OPTIONS.model_copy(update={"classifier_embeddings": None,
                                         "search": OPTIONS.search.model_copy(update={"classifier_tier": True})})
    skill = compile_skill(sentiment_spec(), examples(120, "thing"), options, teacher=TEACHER(), student=OLD(),
                          ledger=Ledger(None))
    assert skill.classifier is not None and skill.settings.tiers, "the fixture needs a classifier tier"
    path = skill.save(tmp_path / "skill")
    skill = load_skill(path)
    report = retarget_skill(path, student=student("test:new", right=1.0), old_student=OLD(), teacher=TEACHER(),
                            ledger=Ledger(None))
    assert report.status == "written"
    new = load_skill(path, strict=True)
    assert new.classifier == skill.classifier
    assert new.settings.tiers and new.settings.tiers[0].threshold == skill.settings.tiers[0].threshold


def test_recording_a_candidate_student_keeps_the_skills_own_recordings(compiled: Path) -> None:
    """The CI check of a candidate model (``skillforge test --student X --mode record``) adds its recordings
    and leaves the pinned student's: the skill still replays as committed."""
    assert run_skill_tests(compiled, mode="record", student=OLD(), teacher=TEACHER()).ok
    own = compiled / CASSETTE_DIR / cassette_filename("test:old")
    before = own.read_bytes()
    candidate = run_skill_tests(compiled, mode="record", student=student("test:cand", right=0.5), teacher=TEACHER())
    assert candidate.student == "test:cand"
    assert (compiled / CASSETTE_DIR / cassette_filename("test:cand")).exists()
    assert own.read_bytes() == before
    assert run_skill_tests(compiled, mode="replay").ok


def test_further_examples_that_break_the_skills_schema_are_refused_naming_the_example(compiled: Path) -> None:
    bad = [Example(input={"text": "good fresh 1"}, expected={"sentiment": "ecstatic"})]
    with pytest.raises(SpecError, match="examples"):
        retarget_skill(compiled, student=student("test:new", right=1.0), old_student=OLD(), teacher=TEACHER(),
                       examples=bad, ledger=Ledger(None))


def test_a_skill_without_demos_needs_further_examples_and_says_why(compiled: Path) -> None:
    skill = load_skill(compiled)
    bare = compiled.parent / "bare"
    settings = skill.manifest.settings.model_copy(update={"demo_strategy": "none", "k": 0, "demo_groups": None})
    manifest = skill.manifest.model_copy(update={"settings": settings})
    type(skill)(manifest, skill.instructions, [], skill.tests).save(bare)
    with pytest.raises(SpecError, match=r"keeps no demos.*--examples"):
        retarget_skill(bare, student=student("test:new", right=1.0), old_student=OLD(), teacher=TEACHER(),
                       ledger=Ledger(None))
