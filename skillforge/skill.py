"""A compiled skill as you use it: load it, run it, save it.

:class:`Skill` is a :class:`~skillforge.format.SkillDefinition` (the content of a skill directory)
that knows where it lives and runs itself through :class:`~skillforge.run.Runner`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillforge.environment import read_env
from skillforge.format import (
    ESCALATIONS,
    ClassifierWeights,
    Demo,
    Manifest,
    RegressionCase,
    SkillDefinition,
    read_definition,
    write_files,
)
from skillforge.ledger import Ledger
from skillforge.models.base import Model, blocking
from skillforge.run import ItemResult, Runner, RunResult, run_many
from skillforge.spec import InputLimits

if TYPE_CHECKING:
    from skillforge.adapters import AnthropicTool


class Skill(SkillDefinition):
    """A compiled skill: manifest, instructions, demos and regression cases. Run it with
    :meth:`run` / :meth:`arun`; write it with :meth:`save`; read one with :func:`load_skill`.

    ``student``/``teacher`` (and ``tiers``, by model id) are the model instances :meth:`run` uses when
    given none (the compiler passes the instances it compiled with); otherwise the ids in the
    provenance (and in ``settings.model_tiers``) are resolved.
    """

    def __init__(
        self,
        manifest: Manifest,
        instructions: str,
        demos: list[Demo],
        tests: list[RegressionCase],
        path: Path | None = None,
        *,
        classifier: ClassifierWeights | None = None,
        student: Model | None = None,
        teacher: Model | None = None,
        tiers: Mapping[str, Model] | None = None,
        embedder: Model | None = None,
    ) -> None:
        super().__init__(manifest, instructions, demos, tests, classifier)
        #: Directory the skill was loaded from or saved to (escalations are logged there).
        self.path = path
        self.default_student = student
        self.default_teacher = teacher
        #: Model instances for model tiers' ids (``settings.model_tiers``), used when a run gives none.
        self.default_tiers: dict[str, Model] = dict(tiers or {})
        #: The model that embeds inputs for the classifier (when it reads embeddings), used when a run gives none.
        self.default_embedder = embedder
        # Runners reused across run() calls: models, clients, the demo index and the ledger are built
        # once per (student, teacher, ledger, escalate), not per input.
        self._runners: dict[tuple[object, ...], Runner] = {}

    @property
    def escalation_log(self) -> Path | None:
        """Where escalated inputs and the teacher's answers are appended (``None``: not saved yet)."""
        return None if self.path is None else self.path / ESCALATIONS

    def save(self, path: str | Path) -> Path:
        """Write the skill to directory ``path`` (created if needed); returns the path. Later runs
        log their escalations there."""
        path = Path(path)
        write_files(path, self.file_texts())
        self.path = path
        return path

    def runner(
        self,
        *,
        student: str | Model | None = None,
        teacher: str | Model | None = None,
        ledger: Ledger | None = None,
        escalate: bool = True,
        limits: InputLimits | None = None,
        second_opinion: str | Model | None = None,
        tiers: Mapping[str, str | Model] | None = None,
        embedder: str | Model | None = None,
    ) -> Runner:
        """A :class:`~skillforge.run.Runner` for this skill, reused for the same models, ledger and
        escalation setting (a default ledger is keyed by its path, read from the environment).
        ``second_opinion`` overrides the model of the skill's second opinion, if it has one; ``tiers``
        the models of its model tiers, by model id; ``embedder`` the model that embeds inputs for its
        classifier, if that reads embeddings."""
        student, teacher = student or self.default_student, teacher or self.default_teacher
        embedder = embedder or self.default_embedder
        own = {t.model for t in self.settings.model_tiers}
        # The compiler hands over every tier it measured; only those the skill kept apply.
        tiers = {**{k: v for k, v in self.default_tiers.items() if k in own}, **(tiers or {})}
        ledger_key: object = ledger if ledger is not None else str(read_env().ledger_path)
        key = (_identity(student), _identity(teacher), _identity(ledger_key), escalate, self.escalation_log, limits,
               _identity(second_opinion), tuple(sorted((k, _identity(v)) for k, v in tiers.items())),
               _identity(embedder))
        runner = self._runners.get(key)
        if runner is None:
            runner = Runner(self, student=student, teacher=teacher, ledger=ledger, escalate=escalate,
                            escalation_log=self.escalation_log, limits=limits, second_opinion=second_opinion,
                            tiers=tiers, embedder=embedder)
            self._runners[key] = runner
        return runner

    async def arun(
        self,
        input: dict[str, Any],
        *,
        student: str | Model | None = None,
        teacher: str | Model | None = None,
        ledger: Ledger | None = None,
        escalate: bool = True,
        limits: InputLimits | None = None,
        second_opinion: str | Model | None = None,
        tiers: Mapping[str, str | Model] | None = None,
        embedder: str | Model | None = None,
    ) -> RunResult:
        """Answer one input: the student answers, the verifier checks, the teacher takes over when the
        answer is invalid or not confident. ``student``/``teacher`` default to the models the skill
        was compiled with; ``ledger`` defaults to ``.skillforge/ledger.jsonl``. The input is checked
        first -- a JSON value within ``limits`` (default 1 MB, 64 levels), matching the input schema --
        and nothing is called for one that fails (:class:`~skillforge.errors.InputValidationError`).
        ``second_opinion`` overrides the model of the skill's second opinion
        (``settings.confidence.second_opinion``), if it has one; ``tiers`` the models of its model tiers
        (``settings.model_tiers``), by model id; ``embedder`` the model that embeds inputs for its
        classifier, when that reads embeddings (default: the model its weights name)."""
        runner = self.runner(student=student, teacher=teacher, ledger=ledger, escalate=escalate, limits=limits,
                             second_opinion=second_opinion, tiers=tiers, embedder=embedder)
        return await runner.arun(input)

    run = blocking(arun)

    async def arun_many(
        self,
        inputs: Iterable[dict[str, Any]],
        *,
        concurrency: int = 4,
        student: str | Model | None = None,
        teacher: str | Model | None = None,
        ledger: Ledger | None = None,
        escalate: bool = True,
        limits: InputLimits | None = None,
        second_opinion: str | Model | None = None,
        tiers: Mapping[str, str | Model] | None = None,
        embedder: str | Model | None = None,
    ) -> list[ItemResult[int]]:
        """Answer many inputs on one reused runner, at most ``concurrency`` at once. Returns one
        :class:`~skillforge.run.ItemResult` per input, in input order: its ``result``, or the ``error``
        that input met (an invalid input, a failed escalation, a provider error) -- a failure is a
        value, never raised out of the middle of the batch. ``item.unwrap()`` raises it."""
        runner = self.runner(student=student, teacher=teacher, ledger=ledger, escalate=escalate, limits=limits,
                             second_opinion=second_opinion, tiers=tiers, embedder=embedder)
        return await run_many(runner, inputs, concurrency=concurrency)

    run_many = blocking(arun_many)

    def as_anthropic_tool(self, *, student: str | Model | None = None, teacher: str | Model | None = None,
                          ledger: Ledger | None = None, escalate: bool = True) -> AnthropicTool:
        """This skill as a tool for the Anthropic Messages API: ``.definition`` for ``tools=[...]``,
        ``.execute(tool_use_block)`` for the ``tool_result`` (see :mod:`skillforge.adapters.anthropic_tool`)."""
        # The adapter sits above the skill layer (it adapts skills to other systems); this convenience
        # method imports it when called, the one sanctioned upward edge (pyproject's import contract).
        from skillforge.adapters.anthropic_tool import AnthropicTool

        return AnthropicTool(self.runner(student=student, teacher=teacher, ledger=ledger, escalate=escalate))


def _identity(value: object) -> object:
    """Strings (model ids, paths) by value, objects by identity."""
    return value if isinstance(value, str) or value is None else id(value)


def load_skill(path: str | Path, *, strict: bool = False) -> Skill:
    """Read and validate a skill directory.

    Raises :class:`~skillforge.errors.SkillFormatError` naming the file and field of the first
    problem. A file changed since compile (content hash mismatch) warns with
    :class:`~skillforge.errors.SkillIntegrityWarning`, or raises
    :class:`~skillforge.errors.SkillIntegrityError` when ``strict``.
    """
    path = Path(path)
    d = read_definition(path, strict=strict)
    skill = Skill(d.manifest, d.instructions, d.demos, d.tests, path=path, classifier=d.classifier)
    skill.__dict__["spec"] = d.spec  # built and checked while reading
    return skill
