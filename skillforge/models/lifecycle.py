"""When Claude models are deprecated and retired, and what replaces them: a dated table, overridable by the user.

Anthropic moves a model from *active* (or *legacy*) to *deprecated* -- still answering, but with a
retirement date and a recommended replacement -- and then to *retired*, after which every request to it
fails. A skill pins its models by id (student, teacher, model tiers, second opinion), so a committed skill
can outlive its model: ``skillforge test`` and ``skillforge status`` warn while a pinned model is deprecated
and fail once it is retired, naming the successor to retarget to; a production run only warns (one
:class:`~skillforge.errors.DeprecatedModelWarning` per model per process), because a date passing must never
stop a skill from answering.

Source: Anthropic's model deprecations page, https://platform.claude.com/docs/en/about-claude/model-deprecations
(:data:`LIFECYCLE_SOURCE`: its "Model status" table and "Deprecation history"), and the Claude Sonnet 4.5 model
page, https://platform.claude.com/docs/en/models/sonnet-4-5/overview. Checked on 2026-12-08
(:data:`LIFECYCLE_CHECKED`) from stored copies: the deprecations page as mirrored on 2026-08-22 (its rows up to
Claude Opus 4.1; the older rows match docs.anthropic.com's own copy of the page), and the Sonnet 4.5 page,
which says the model is deprecated and retires on 2026-11-30, replaced by Claude Sonnet 5.5 (it gives no
deprecation date, so none is recorded). Only dates found on those pages are recorded: Claude Opus 4.5's
deprecation, reported elsewhere for 2026-11-23 with retirement on 2027-01-22, was not found on an Anthropic page
and is not in the table. The "not sooner than" dates the page gives active models are not retirement dates and
are not recorded either. The dates apply to Anthropic-operated platforms (the Claude API); Amazon Bedrock and
Google Cloud set their own, so ids naming a Vertex snapshot (``claude-...@2025...``) are not looked up.

A model missing from the table has no lifecycle notice (never a guess). Dates change: a user who knows better
passes a :class:`LifecycleTable` of their own or calls :meth:`LifecycleTable.update` on
:func:`default_lifecycle_table`. Every check takes the date it judges by (``today``); :func:`today_utc` is the
one place the system clock is read for it.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from skillforge.errors import DeprecatedModelWarning, RetiredModelError
from skillforge.models.pricing import ModelTable, canonical_model_name

LIFECYCLE_SOURCE = "https://platform.claude.com/docs/en/about-claude/model-deprecations"
SONNET_45_SOURCE = "https://platform.claude.com/docs/en/models/sonnet-4-5/overview"
LIFECYCLE_CHECKED = date(2026, 12, 8)

State = Literal["active", "deprecated", "retired"]


def today_utc() -> date:
    """Today's date in UTC: the one place the lifecycle checks read the system clock."""
    return datetime.now(UTC).date()


class ModelLifecycle(BaseModel):
    """One model's published lifecycle: when it was deprecated, when it retires, what replaces it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: When Anthropic announced the retirement (``None``: not published, or not deprecated).
    deprecated_on: date | None = None
    #: From this date on, requests to the model fail (``None``: no retirement date published).
    retired_on: date | None = None
    #: The recommended replacement's model id, as the source names it (without a provider prefix).
    successor: str | None = None
    #: Where the dates come from, and when they were last checked.
    source: str | None = None
    checked_on: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ModelLifecycle:
        if self.deprecated_on and self.retired_on and self.retired_on < self.deprecated_on:
            raise ValueError(f"retired_on {self.retired_on} is before deprecated_on {self.deprecated_on}")
        return self

    def state(self, today: date) -> State:
        """``retired`` from ``retired_on`` on, ``deprecated`` from ``deprecated_on`` on, else ``active``."""
        if self.retired_on is not None and today >= self.retired_on:
            return "retired"
        if self.deprecated_on is not None:
            return "deprecated" if today >= self.deprecated_on else "active"
        # Anthropic assigns a retirement date only when it deprecates a model: a published retirement date
        # without the deprecation's own date still means deprecated.
        return "deprecated" if self.retired_on is not None else "active"


def _retired(on: str, off: str, successor: str, source: str = LIFECYCLE_SOURCE) -> ModelLifecycle:
    return ModelLifecycle(deprecated_on=date.fromisoformat(on), retired_on=date.fromisoformat(off),
                          successor=successor, source=source, checked_on=LIFECYCLE_CHECKED)


_OPUS_4 = _retired("2026-04-14", "2026-06-15", "claude-opus-4-8")
_SONNET_4 = _retired("2026-04-14", "2026-06-15", "claude-sonnet-4-6")
_CLAUDE_1 = _retired("2024-09-04", "2024-11-06", "claude-haiku-4-5-20251001")

#: The built-in table, keyed by undated model id (dated ids, ``-latest`` aliases and the ``anthropic:`` prefix
#: resolve to these, as prices do). Successors are the deprecations page's recommended replacements.
LIFECYCLE: Mapping[str, ModelLifecycle] = MappingProxyType({
    "claude-sonnet-4-5": ModelLifecycle(retired_on=date(2026, 11, 30), successor="claude-sonnet-5-5",
                                        source=SONNET_45_SOURCE, checked_on=LIFECYCLE_CHECKED),
    "claude-opus-4-1": _retired("2026-06-05", "2026-08-05", "claude-opus-4-8"),
    # claude-opus-4-20250514 and its alias claude-opus-4-0; likewise Sonnet 4.
    "claude-opus-4": _OPUS_4,
    "claude-opus-4-0": _OPUS_4,
    "claude-sonnet-4": _SONNET_4,
    "claude-sonnet-4-0": _SONNET_4,
    "claude-3-haiku": _retired("2026-02-19", "2026-04-20", "claude-haiku-4-5-20251001"),
    "claude-3-5-haiku": _retired("2025-12-19", "2026-02-19", "claude-haiku-4-5-20251001"),
    "claude-3-7-sonnet": _retired("2025-10-28", "2026-02-19", "claude-sonnet-4-6"),
    # Both claude-3-5-sonnet-20240620 and -20241022.
    "claude-3-5-sonnet": _retired("2025-08-13", "2025-10-28", "claude-sonnet-4-6"),
    "claude-3-opus": _retired("2025-06-30", "2026-01-05", "claude-opus-4-8"),
    "claude-3-sonnet": _retired("2025-01-21", "2025-07-21", "claude-sonnet-4-6"),
    "claude-2.1": _retired("2025-01-21", "2025-07-21", "claude-opus-4-8"),
    "claude-2.0": _retired("2025-01-21", "2025-07-21", "claude-opus-4-8"),
    **{f"claude-{v}": _CLAUDE_1 for v in ("1.0", "1.1", "1.2", "1.3", "instant-1.0", "instant-1.1", "instant-1.2")},
})


class LifecycleNotice(BaseModel):
    """A pinned model that is deprecated or retired on the day it was checked, and what to do about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The model id as the skill pins it (``anthropic:claude-3-opus-20240229``).
    model: str
    #: What the skill uses it as: ``student``, ``teacher``, ``tier`` or ``second opinion``.
    role: str
    state: Literal["deprecated", "retired"]
    deprecated_on: date | None = None
    retired_on: date | None = None
    #: The model id to retarget to, in the pinned id's form (its provider prefix kept); ``None``: none named.
    successor: str | None = None

    def retarget_hint(self, skill_dir: str | None = None) -> str:
        """How to move the skill off this model: the ``skillforge retarget`` command line for its role."""
        target = self.successor or "MODEL"
        command = f"skillforge retarget {skill_dir or 'SKILL_DIR'} --{self.role.replace(' ', '-')} {target}"
        # --tier replaces the skill's whole ladder: the tiers that stay must be named again.
        return command + " (with a --tier for each tier it keeps)" if self.role == "tier" else command

    def message(self, skill: str, skill_dir: str | None = None) -> str:
        """One line naming the skill, the model, its dates and the successor to retarget to."""
        head = f"skill {skill!r} pins {self.role} model {self.model}, "
        if self.state == "retired":
            head += f"retired on {self.retired_on} (requests to it fail)"
        elif self.retired_on is not None:
            since = f"deprecated on {self.deprecated_on}" if self.deprecated_on else "deprecated"
            head += f"{since} and retiring on {self.retired_on}"
        else:
            head += f"deprecated on {self.deprecated_on} (no retirement date published)"
        advice = (f"retarget it to {self.successor}" if self.successor else
                  "its source names no replacement; retarget it to a current model")
        return f"{head}; {advice}: {self.retarget_hint(skill_dir)}"

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class LifecycleTable(ModelTable[ModelLifecycle]):
    """Model name -> :class:`ModelLifecycle`. Starts from :data:`LIFECYCLE` unless ``include_defaults=False``;
    ``entries`` (``ModelLifecycle`` instances or plain dicts of its fields) override or extend it."""

    record = ModelLifecycle
    defaults = LIFECYCLE

    def lifecycle_for(self, model: str) -> ModelLifecycle | None:
        """The lifecycle of ``model`` (dated ids, aliases and the ``anthropic:`` prefix handled), or ``None``."""
        if "@" in model:  # a partner platform's snapshot id: that platform sets its own dates
            return None
        return self.get_entry(model)

    def successor_for(self, model: str, today: date) -> str | None:
        """The named replacement of ``model``, followed on while that one is retired by ``today`` too (the
        first of the chain still answering, else the last named); ``None`` when none is named."""
        entry, seen, found = self.lifecycle_for(model), {canonical_model_name(model)}, None
        while entry is not None and entry.successor is not None and canonical_model_name(entry.successor) not in seen:
            found = entry.successor
            seen.add(canonical_model_name(found))
            entry = self.lifecycle_for(found)
            if entry is None or entry.state(today) != "retired":
                break
        return found

    def notice(self, model: str, *, role: str, today: date) -> LifecycleNotice | None:
        """What to tell a skill that pins ``model`` as ``role`` on ``today``; ``None`` while it is active
        (or unknown)."""
        entry = self.lifecycle_for(model)
        state = entry.state(today) if entry is not None else "active"
        if entry is None or state == "active":
            return None
        successor = self.successor_for(model, today)
        prefix, sep, _ = model.partition(":")
        if successor is not None and sep and ":" not in successor:
            successor = f"{prefix}:{successor}"  # the pinned id's provider, so the hint is a runnable id
        return LifecycleNotice(model=model, role=role, state=state, deprecated_on=entry.deprecated_on,
                               retired_on=entry.retired_on, successor=successor)

    def notices(self, pins: Iterable[tuple[str, str]], *, today: date) -> list[LifecycleNotice]:
        """The notices of ``pins`` (``(role, model id)`` pairs, as :func:`skillforge.run.pinned.pinned_models`
        lists a skill's) on ``today``, in order."""
        return [n for role, model in pins if (n := self.notice(model, role=role, today=today)) is not None]

    def __repr__(self) -> str:
        return f"LifecycleTable({len(self)} models)"


_default_table = LifecycleTable()


def default_lifecycle_table() -> LifecycleTable:
    """The process-wide table used when a check is given none. Update it to override."""
    return _default_table


def retired_error(notices: Iterable[LifecycleNotice], skill: str, skill_dir: str | None = None
                  ) -> RetiredModelError | None:
    """The error for the retired models among ``notices``, carrying the first one's details (``None`` when
    none is retired)."""
    retired = [n for n in notices if n.state == "retired"]
    if not retired:
        return None
    first = retired[0]
    also = "".join(f"; also its {n.role} model {n.model}, retired on {n.retired_on}: {n.retarget_hint(skill_dir)}"
                   for n in retired[1:])
    assert first.retired_on is not None  # a retired notice has its date
    return RetiredModelError(first.message(skill, skill_dir) + also, model=first.model, role=first.role,
                             retired_on=first.retired_on, successor=first.successor)


_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_deprecated(notices: Iterable[LifecycleNotice], skill: str, skill_dir: str | None = None) -> None:
    """One :class:`~skillforge.errors.DeprecatedModelWarning` per model per process for ``notices`` (a run
    only warns: it goes on with the model, and a retired one's failed calls escalate)."""
    for n in notices:
        with _warned_lock:
            if n.model in _warned:
                continue
            _warned.add(n.model)
        warnings.warn(DeprecatedModelWarning(n.message(skill, skill_dir), model=n.model,
                                             deprecated_on=n.deprecated_on, retired_on=n.retired_on,
                                             successor=n.successor), stacklevel=3)


def reset_lifecycle_warnings() -> None:
    """Forget which models were warned about (for tests)."""
    with _warned_lock:
        _warned.clear()
