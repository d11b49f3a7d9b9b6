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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

# Nothing from skillforge is imported at module level: pytest loads this plugin in every run of a
# project that has skillforge installed, and most of those runs collect no skills.
_MODES = ("replay", "record", "live", "auto")
_MANIFEST = "skill.yaml"
_TESTS = "tests.jsonl"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("skillforge", "skillforge skill regression tests")
    group.addoption(
        "--skillforge-mode", choices=_MODES, default="replay",
        help="how skills call models: replay recordings (default), record them, live, or auto",
    )
    group.addoption("--skillforge-no-escalate", action="store_true", default=False,
                    help="never call the teacher: measure the student alone")
    group.addoption("--skillforge-repeat", type=int, default=1, metavar="K",
                    help="run each regression case K times (report pass^K)")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SkillFile | None:
    if file_path.name == _MANIFEST and (file_path.parent / _TESTS).is_file():
        return SkillFile.from_parent(parent, path=file_path)
    return None


class SkillFile(pytest.File):
    """A skill directory's ``skill.yaml``: collects one :class:`SkillItem`."""

    def collect(self) -> list[SkillItem]:
        name = self.path.parent.name
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                name = data["name"]
        except (OSError, yaml.YAMLError):
            pass  # the item reports the unreadable manifest when it runs
        return [SkillItem.from_parent(self, name=name)]


class SkillRegressionFailed(Exception):
    """Raised by a :class:`SkillItem` whose skill failed; carries the result for the report."""

    def __init__(self, result: Any) -> None:
        self.result = result
        super().__init__(result.name)


class SkillItem(pytest.Item):
    """One skill's regression run, with pass-rate semantics."""

    def runtest(self) -> None:
        from skillforge.regress import run_skill

        config = self.config
        result = run_skill(
            self.path.parent, mode=config.getoption("skillforge_mode"),
            escalate=not config.getoption("skillforge_no_escalate"),
            repeat=config.getoption("skillforge_repeat"), root=config.rootpath,
        )
        for key in ("pass_rate", "min_pass_rate", "pass_k", "student_share", "escalations", "cost_usd",
                    "tokens"):
            self.user_properties.append((key, getattr(result, key)))
        if not result.ok:
            raise SkillRegressionFailed(result)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, SkillRegressionFailed):
            from skillforge.regress_report import failure_text

            return failure_text(excinfo.value.result)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"skill {self.name}"


__all__ = ["SkillFile", "SkillItem", "SkillRegressionFailed", "pytest_addoption", "pytest_collect_file"]
