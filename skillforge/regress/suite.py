"""Regression runs of compiled skills: what ``skillforge test`` and the pytest plugin share.

A skill's regression cases (``tests.jsonl``) run through the normal runtime (student, verifier,
escalation) with every model call going through a :class:`~skillforge.regress.cassette.CassetteModel`, and
each answer is compared with the expected one by the skill's per-field comparators. The skill passes
when its pass rate reaches ``settings.min_pass_rate`` (and its mean field score
``settings.min_field_score``, when set).

A case that raises (no valid answer from anyone, a provider error, a replay miss) fails with its
message; the run goes on. What makes every case fail the same way (a missing API key, rejected
credentials, an unknown model id) ends that skill's run with an error instead; other skills still run.

A skill that runs a model past its retirement date (:mod:`skillforge.models.lifecycle`) fails with an error
naming the date and the successor to retarget to, without running a case: requests to that model fail in
production. A deprecated model that has not retired yet is a note on the result.

Results are pydantic models with paths relative to ``root`` and no timings, so ``--json`` output of
the same run is byte-identical and diffs well.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from skillforge.errors import (
    ConfigurationError,
    EscalationFailed,
    InputValidationError,
    ModelAPIError,
    ModelAuthError,
    ReplayMissError,
    SkillFormatError,
    SkillIntegrityWarning,
    UserError,
)
from skillforge.format import MANIFEST, TESTS
from skillforge.ledger import Ledger
from skillforge.models.base import Attempt, Model, blocking
from skillforge.models.lifecycle import LifecycleTable, default_lifecycle_table, retired_error, today_utc
from skillforge.models.pricing import total_cost
from skillforge.progress import NullProgress, Progress
from skillforge.regress.baseline import compare_baseline
from skillforge.regress.cassette import CASSETTE_DIR, CassetteModel, CassetteStore, Mode
from skillforge.regress.results import DEFAULT_TOLERANCE, CaseFailure, SkillResult, SuiteReport, meets
from skillforge.run import Runner, summarize
from skillforge.run.pinned import pinned_models
from skillforge.skill import Skill, load_skill
from skillforge.spec import FieldDiff, compare


def find_skills(paths: Sequence[str | Path]) -> list[Path]:
    """Skill directories (with a ``skill.yaml``) at or under ``paths``, in sorted order per path.
    Raises :class:`ConfigurationError` for a missing path or when no skill is found."""
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise ConfigurationError(f"no such file or directory: {p}")
        if p.is_file() and p.name == MANIFEST:
            p = p.parent
        if (p / MANIFEST).is_file():
            candidates = [p]
        elif p.is_dir():
            candidates = [m.parent for m in sorted(p.rglob(MANIFEST))
                          if not any(part.startswith(".") for part in m.relative_to(p).parts)]
        else:
            candidates = []
        for c in candidates:
            if c.resolve() not in seen:
                seen.add(c.resolve())
                found.append(c)
    if not found:
        where = ", ".join(str(p) for p in paths)
        raise ConfigurationError(f"no skills (directories with a {MANIFEST}) found under {where}")
    return found


def display_path(path: Path, root: Path | None = None) -> str:
    """``path`` relative to ``root`` (default: the working directory), POSIX-style; reports never
    carry absolute paths."""
    base = (root or Path.cwd()).resolve()
    try:
        rel = os.path.relpath(path.resolve(), base)
    except ValueError:  # another drive on Windows: the directory name is all we can say
        rel = path.name
    return Path(rel).as_posix()


@dataclass
class _Run:
    """One run of one case."""

    correct: bool = False
    score: float = 0.0
    output: dict[str, Any] | None = None
    diffs: list[FieldDiff] = field(default_factory=list)
    error: str | None = None
    missing_recording: str | None = None
    escalated: bool = False
    #: The tier that answered (``classifier``, ``student``, ``teacher``); ``None``: no answer.
    tier: str | None = None
    cost: float | None = 0.0
    tokens: int = 0
    #: Calls in this run that the model refused (``stop_reason: "refusal"``).
    refusals: int = 0


def _refusals(attempts: Sequence[Attempt]) -> int:
    return sum(a.verdict == "refused" for a in attempts)


class _Abort(Exception):
    """A failure that no case can get past; ends the skill's run."""


async def _run_case(runner: Runner, skill: Skill, n: int, rel: str) -> _Run:
    case = skill.tests[n - 1]
    try:
        result = await runner.arun(case.input)
    except ReplayMissError as exc:
        return _Run(error=(f"skill {skill.name!r}, case {n}: no recording for model {exc.model_id} "
                           f"(request {exc.key[:12]}) in {rel}/{CASSETTE_DIR}/; replay never calls a model. "
                           f"Record it: skillforge test {rel} --mode record"), missing_recording=exc.model_id)
    except EscalationFailed as exc:
        usage, cost = summarize(exc.attempts)
        who = "neither the student nor the teacher" if runner.escalate else "the student (escalation off)"
        message = f"no valid answer: {who} gave one"
        if exc.attempts:
            last = exc.attempts[-1]
            message += f"; last answer {last.raw_text!r}: {'; '.join(last.errors) or last.verdict}"
        return _Run(error=message, cost=cost, tokens=sum(u.total_tokens for u in usage.values()),
                    refusals=_refusals(exc.attempts))
    except ModelAuthError as exc:
        raise _Abort(str(exc)) from exc
    except ModelAPIError as exc:
        return _Run(error=f"model call failed: {exc}")
    except InputValidationError as exc:
        return _Run(error=f"input rejected: {exc}")
    except UserError as exc:  # e.g. an unknown model id or a missing API key
        raise _Abort(str(exc)) from exc
    score = compare(result.output, case.expected, skill.settings.comparators)
    return _Run(correct=score.correct, score=score.score, output=result.output, diffs=score.diffs,
                escalated=result.escalated, tier=result.tier, cost=result.cost_usd,
                refusals=_refusals(result.attempts),
                tokens=sum(u.total_tokens for u in result.usage.values()))


def _error_result(name: str, rel: str, mode: Mode, message: str, **kw: Any) -> SkillResult:
    return SkillResult(name=name, path=rel, mode=mode, error=message, ok=False, **kw)


def _load(path: Path) -> tuple[Skill, list[str]]:
    """The skill and notes for the report (an integrity warning becomes a note, not a failure)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkillIntegrityWarning)
        skill = load_skill(path)
    notes = [f"{TESTS}, instructions.md or examples.jsonl changed since the skill was compiled"
             for w in caught if issubclass(w.category, SkillIntegrityWarning)]
    return skill, notes


async def _run_cases(
    runner: Runner, skill: Skill, rel: str, *, repeat: int, concurrency: int, progress: Progress
) -> tuple[list[list[_Run]], str | None]:
    """Every case ``repeat`` times: the runs per case, and the message that aborted the skill, if any."""
    sem = asyncio.Semaphore(concurrency)
    aborted: list[str] = []

    async def one(n: int) -> _Run:
        async with sem:
            if aborted:
                return _Run(error="not run")
            try:
                return await _run_case(runner, skill, n, rel)
            except _Abort as exc:
                aborted.append(str(exc))
                return _Run(error="not run")
            finally:
                progress.advance()

    progress.stage(skill.name, len(skill.tests) * repeat)
    runs: list[list[_Run]] = [[] for _ in skill.tests]
    numbers = range(1, len(skill.tests) + 1)
    for _ in range(repeat):
        batch = [await one(n) for n in numbers] if concurrency == 1 else await asyncio.gather(*map(one, numbers))
        for n, run in zip(numbers, batch, strict=True):
            runs[n - 1].append(run)
    return runs, aborted[0] if aborted else None


async def arun_skill_tests(
    path: str | Path,
    *,
    mode: Mode = "replay",
    escalate: bool = True,
    repeat: int = 1,
    student: str | Model | None = None,
    teacher: str | Model | None = None,
    root: Path | None = None,
    progress: Progress | None = None,
    concurrency: int | None = None,
    today: date | None = None,
    lifecycle: LifecycleTable | None = None,
    prune: bool | None = None,
) -> SkillResult:
    """Run the regression cases of the skill at ``path``, ``repeat`` times each.

    ``student``/``teacher`` override the models recorded in the skill (ids or instances; recordings
    are per model id). ``concurrency`` defaults to 1 for a local student (one llama.cpp context, warm
    KV cache) and 8 otherwise. In ``record`` mode a complete run of the skill's own models prunes its
    cassettes to what it used; a run of a candidate model (another id than the skill pins) only adds the
    candidate's recordings, so the skill's own stay; ``auto`` only adds recordings (``prune=True``: prune
    after a complete run all the same). The
    models it runs are judged by their lifecycle in ``lifecycle`` (default:
    :func:`~skillforge.models.lifecycle.default_lifecycle_table`) on ``today`` (default: the current UTC
    date): a retired one fails the skill, a deprecated one adds a note.
    """
    if repeat < 1:
        raise ConfigurationError(f"repeat must be at least 1, got {repeat}")
    path = Path(path)
    rel = display_path(path, root)
    try:
        skill, notes = _load(path)
    except SkillFormatError as exc:
        return _error_result(path.name, rel, mode, f"{rel}/{exc}", escalate=escalate, repeat=repeat)
    prov = skill.manifest.provenance
    common: dict[str, Any] = {"student": prov.student, "teacher": prov.teacher, "escalate": escalate,
                              "repeat": repeat, "min_pass_rate": skill.settings.min_pass_rate,
                              "min_field_score": skill.settings.min_field_score, "notes": notes}
    pins = pinned_models(skill.manifest, student=student, teacher=teacher)
    notices = (lifecycle if lifecycle is not None else default_lifecycle_table()).notices(
        pins, today=today or today_utc())
    notes += [n.message(skill.name, rel) for n in notices if n.state == "deprecated"]
    retired = retired_error(notices, skill.name, rel)
    if retired is not None:  # its calls fail in production: no replayed answer may pass it
        return _error_result(skill.name, rel, mode, str(retired), **common)
    if not skill.tests:
        return _error_result(skill.name, rel, mode, f"{TESTS} has no regression cases", **common)
    store = CassetteStore(path / CASSETTE_DIR)
    try:
        student_m = CassetteModel(student if student is not None else prov.student, store, mode)
        teacher_m = CassetteModel(teacher if teacher is not None else prov.teacher, store, mode)
    except SkillFormatError as exc:  # a malformed cassette file
        return _error_result(skill.name, rel, mode, f"{rel}/{exc}", **common)
    common.update(student=student_m.model_id, teacher=teacher_m.model_id)
    # escalation_log=None: a regression run must not append to the committed skill's escalations.jsonl.
    runner = Runner(skill, student=student_m, teacher=teacher_m, ledger=Ledger(None), escalate=escalate,
                    phase="test", escalation_log=None)
    aborted: str | None = "interrupted"
    try:
        runs, aborted = await _run_cases(runner, skill, rel, repeat=repeat, progress=progress or NullProgress(),
                                         concurrency=concurrency or (1 if student_m.is_local else 8))
    finally:
        if mode in ("record", "auto"):
            # A candidate's run must not drop the recordings of the models the skill pins.
            own = (student_m.model_id, teacher_m.model_id) == (prov.student, prov.teacher)
            store.save(prune=(mode == "record" and own if prune is None else prune) and aborted is None)
    if aborted is not None:
        return _error_result(skill.name, rel, mode, aborted, **common)
    return _summarize(skill, rel, mode, runs, common)


def _failures(skill: Skill, runs: list[list[_Run]]) -> list[CaseFailure]:
    failures: list[CaseFailure] = []
    for n, case_runs in enumerate(runs, start=1):
        bad = [r for r in case_runs if not r.correct]
        if bad:
            case, first = skill.tests[n - 1], bad[0]
            failures.append(CaseFailure(case=n, input=case.input, expected=case.expected, got=first.output,
                                        diffs=first.diffs, error=first.error, failed_runs=len(bad),
                                        missing_recording=first.missing_recording, runs=len(case_runs)))
    return failures


def _summarize(
    skill: Skill, rel: str, mode: Mode, runs: list[list[_Run]], common: dict[str, Any]
) -> SkillResult:
    flat = [r for case_runs in runs for r in case_runs]
    total = len(flat)
    passed = sum(r.correct for r in flat)
    cost = total_cost(r.cost for r in flat)
    pass_rate = passed / total
    field_score = sum(r.score for r in flat) / total
    pass_k = sum(all(r.correct for r in c) for c in runs) / len(runs) if common["repeat"] > 1 else None
    return SkillResult(
        name=skill.name, path=rel, mode=mode, cases=len(runs), passed=passed, pass_rate=round(pass_rate, 4),
        pass_k=None if pass_k is None else round(pass_k, 4),
        student_share=round(sum(r.output is not None and not r.escalated for r in flat) / total, 4),
        escalations=sum(r.escalated for r in flat), refusals=sum(r.refusals for r in flat),
        tiers={t: n for t in dict.fromkeys(["classifier", "student", *(r.tier for r in flat if r.tier), "teacher"])
               if (n := sum(r.tier == t for r in flat))},
        cost_usd=None if cost is None else round(cost, 8),
        tokens=sum(r.tokens for r in flat), failures=_failures(skill, runs), field_score=round(field_score, 4),
        ok=meets(pass_rate, common["min_pass_rate"]) and meets(field_score, common["min_field_score"]), **common,
    )


run_skill_tests = blocking(arun_skill_tests)


async def arun_suite(
    paths: Sequence[str | Path],
    *,
    mode: Mode = "replay",
    escalate: bool = True,
    repeat: int = 1,
    student: str | Model | None = None,
    teacher: str | Model | None = None,
    baseline: SuiteReport | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    root: Path | None = None,
    progress: Progress | None = None,
    today: date | None = None,
    lifecycle: LifecycleTable | None = None,
) -> SuiteReport:
    """Find the skills under ``paths`` and run each (see :func:`arun_skill_tests`), one after another; every
    skill's models are judged by their lifecycle on the same ``today`` (default: the current UTC date)."""
    today = today or today_utc()
    results = [
        await arun_skill_tests(p, mode=mode, escalate=escalate, repeat=repeat, student=student, teacher=teacher,
                               root=root, progress=progress, today=today, lifecycle=lifecycle)
        for p in find_skills(paths)
    ]
    report = SuiteReport(mode=mode, escalate=escalate, repeat=repeat, skills=results,
                         ok=all(r.ok for r in results))
    if baseline is not None:
        report.tolerance = tolerance
        report.baseline = compare_baseline(report, baseline, tolerance=tolerance)
        report.ok = report.ok and all(d.ok for d in report.baseline)
    return report


run_suite = blocking(arun_suite)
