"""pytest plugin: ``pytest skills/`` runs each skill's regression cases as one test item.

Registered through the ``pytest11`` entry point, so it is active wherever skillforge is installed.
It only collects a ``skill.yaml`` that sits in a skill directory (next to a ``tests.jsonl``) under
the paths pytest is given; a project whose ``testpaths`` holds no skills sees no change. Disable it
with ``-p no:skillforge``.

Each item passes when the skill's pass rate reaches its minimum (the same gate as ``skillforge test``);
a failure shows the pass rate and every failing case with its field-level diff.

Options (mirroring ``skillforge test``):

- ``--skillforge-mode=replay|record|live|auto`` (default ``replay``: deterministic, offline and free,
  as CI needs; a request with no recording fails its case and names the command that records it)
- ``--skillforge-no-escalate``: measure the student alone
- ``--skillforge-repeat=K``: run each case K times
- ``--skillforge-json=FILE``: write the results as ``skillforge test --json`` does (a later baseline)
- ``--skillforge-baseline=FILE`` with ``--skillforge-tolerance=T``: fail a skill whose pass rate dropped
  by more than ``T`` (default 0.02) against a ``--json`` result of either tool
- ``--skillforge-student=MODEL`` / ``--skillforge-teacher=MODEL``: run the suites on a candidate model
  instead of the one each skill pins (the CI check before moving skills to a new model). The skill files
  are never changed; recordings are per model id, so run a candidate in ``live`` mode, or ``record`` it
  once (adding its recordings beside the pinned model's) and replay it after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skillforge.errors import ConfigurationError
from skillforge.format import MANIFEST, TESTS
from skillforge.regress.baseline import load_report, skill_delta
from skillforge.regress.cassette import MODES
from skillforge.regress.results import SUMMARY_FIELDS, SkillDelta, SkillResult, SuiteReport
from skillforge.regress.suite import run_skill_tests
from skillforge.regress.text import failure_text
from skillforge.textfiles import load_yaml, read_text


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("skillforge", "skillforge skill regression tests")
    group.addoption(
        "--skillforge-mode", choices=MODES, default="replay",
        help="how skills call models: replay recordings (default), record them, live, or auto",
    )
    group.addoption("--skillforge-no-escalate", action="store_true", default=False,
                    help="never call the teacher: measure the student alone")
    group.addoption("--skillforge-repeat", type=int, default=1, metavar="K",
                    help="run each regression case K times (report pass^K)")
    group.addoption("--skillforge-json", default=None, metavar="FILE",
                    help="write the skills' results as JSON (usable as a later --skillforge-baseline)")
    group.addoption("--skillforge-baseline", default=None, metavar="FILE",
                    help="a previous JSON result: fail a skill whose pass rate dropped beyond the tolerance")
    group.addoption("--skillforge-tolerance", type=float, default=0.02, metavar="T",
                    help="allowed pass-rate drop against --skillforge-baseline (default 0.02)")
    group.addoption("--skillforge-student", default=None, metavar="MODEL",
                    help="run every skill with this candidate student instead of the one it pins")
    group.addoption("--skillforge-teacher", default=None, metavar="MODEL",
                    help="run every skill with this candidate teacher instead of the one it pins")


_RESULTS = pytest.StashKey[list[SkillResult]]()
_BASELINE = pytest.StashKey[SuiteReport]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = []
    path = config.getoption("skillforge_baseline", None)
    if path is None:
        return
    try:
        config.stash[_BASELINE] = load_report(path)
    except ConfigurationError as exc:
        raise pytest.UsageError(f"--skillforge-baseline: {exc}") from None


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    path = config.getoption("skillforge_json", None)
    results = config.stash.get(_RESULTS, [])
    if path is None or not results:
        return
    report = SuiteReport(mode=config.getoption("skillforge_mode"),
                         escalate=not config.getoption("skillforge_no_escalate"),
                         repeat=config.getoption("skillforge_repeat"), skills=results,
                         ok=all(r.ok for r in results))
    report.write_json(path)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SkillFile | None:
    if file_path.name == MANIFEST and (file_path.parent / TESTS).is_file():
        return SkillFile.from_parent(parent, path=file_path)
    return None


class SkillFile(pytest.File):
    """A skill directory's ``skill.yaml``: collects one :class:`SkillItem`."""

    def collect(self) -> list[SkillItem]:
        # Never raise here: a collection error would stop pytest from running every other skill. An
        # unreadable manifest is named after its directory, and its item fails with the reason.
        name = self.path.parent.name
        try:
            data = load_yaml(read_text(self.path))
            if isinstance(data, dict) and isinstance(data.get("name"), str) and data["name"].isprintable():
                name = data["name"][:64]
        except Exception:  # anything at all: reported by the item when it runs
            pass
        return [SkillItem.from_parent(self, name=name)]


class SkillRegressionFailed(Exception):
    """Raised by a :class:`SkillItem` whose skill failed; carries the result (and the comparison with
    the baseline, when one was given) for the report."""

    def __init__(self, result: SkillResult, delta: SkillDelta | None = None) -> None:
        self.result = result
        self.delta = delta
        super().__init__(result.name)


class SkillItem(pytest.Item):
    """One skill's regression run, with pass-rate semantics."""

    def runtest(self) -> None:
        config = self.config
        result = run_skill_tests(
            self.path.parent, mode=config.getoption("skillforge_mode"),
            escalate=not config.getoption("skillforge_no_escalate"),
            repeat=config.getoption("skillforge_repeat"), root=config.rootpath,
            student=config.getoption("skillforge_student"), teacher=config.getoption("skillforge_teacher"),
        )
        config.stash[_RESULTS].append(result)
        for key in SUMMARY_FIELDS:
            self.user_properties.append((key, getattr(result, key)))
        delta = None
        baseline = config.stash.get(_BASELINE, None)
        if baseline is not None:
            old = next((s for s in baseline.skills if s.name == result.name), None)
            delta = skill_delta(result, old, tolerance=config.getoption("skillforge_tolerance"))
            self.user_properties.append(("pass_rate_delta", delta.pass_rate_delta))
        if not result.ok or (delta is not None and not delta.ok):
            raise SkillRegressionFailed(result, delta)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, SkillRegressionFailed):
            return failure_text(excinfo.value.result, excinfo.value.delta)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"skill {self.name}"


__all__ = ["SkillFile", "SkillItem", "SkillRegressionFailed", "pytest_addoption", "pytest_collect_file",
           "pytest_configure", "pytest_sessionfinish"]
