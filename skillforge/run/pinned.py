"""The models a skill pins, by role, and what their published lifecycle says about them.

A skill names its models by id: the student and teacher in its provenance, each model tier in
``settings.model_tiers``, and its second opinion's model (``settings.confidence.second_opinion``) when it
names one. :func:`pinned_models` lists them (with any given instead for a run); the lifecycle table
(:mod:`skillforge.models.lifecycle`) turns them into notices. A production run only warns
(:func:`warn_pinned`); ``skillforge test`` and ``skillforge status`` fail on a retired one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from skillforge.format import Manifest
from skillforge.models.base import Model
from skillforge.models.lifecycle import LifecycleTable, default_lifecycle_table, warn_deprecated

#: ``(role, model id)``: ``student``, ``teacher``, ``tier`` or ``second opinion``.
Pin = tuple[str, str]


def model_id_of(model: str | Model | None, default: str) -> str:
    """The id of ``model`` (an instance or an id), or ``default`` when it is ``None``."""
    return model.model_id if isinstance(model, Model) else model or default


def pinned_models(
    manifest: Manifest,
    *,
    student: str | Model | None = None,
    teacher: str | Model | None = None,
    tiers: Mapping[str, str | Model] | None = None,
    second_opinion: str | Model | None = None,
) -> list[Pin]:
    """The models a skill runs with, by role: its student and teacher (or those given instead), each model
    tier (or the model given for its id in ``tiers``) and its second opinion's model, when it has its own."""
    prov, s = manifest.provenance, manifest.settings
    pins: list[Pin] = [("student", model_id_of(student, prov.student)), ("teacher", model_id_of(teacher, prov.teacher))]
    pins += [("tier", model_id_of((tiers or {}).get(t.model), t.model)) for t in s.model_tiers]
    second = s.confidence.second_opinion
    if second is not None and (second_opinion is not None or second.model is not None):
        pins.append(("second opinion", model_id_of(second_opinion, second.model or prov.student)))
    return pins


def warn_pinned(
    manifest: Manifest,
    pins: list[Pin],
    *,
    today: date,
    skill_dir: str | None = None,
    table: LifecycleTable | None = None,
) -> None:
    """One :class:`~skillforge.errors.DeprecatedModelWarning` per deprecated or retired model of ``pins`` per
    process. Never raises for a date: the run goes on with the model it was given."""
    notices = (table if table is not None else default_lifecycle_table()).notices(pins, today=today)
    warn_deprecated(notices, manifest.name, skill_dir)
