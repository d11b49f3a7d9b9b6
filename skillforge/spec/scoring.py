"""Comparing an answer with the expected one, field by field.

A case's score is the share of fields that match, over the fields present in either answer (a field
missing on one side and null or empty on the other counts as matching). A case is *correct* when every
field matches. For one-field outputs (classification) score and correctness coincide.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Comparator(BaseModel):
    """How one output field is compared.

    - ``exact``: equal JSON values (the default)
    - ``normalized``: strings equal ignoring case and runs of whitespace
    - ``numeric``: numbers within ``tolerance`` (absolute)
    - ``set``: lists equal as sets (order and duplicates ignored)
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["exact", "normalized", "numeric", "set"] = "exact"
    tolerance: float = Field(default=0.0, ge=0.0)

    def equal(self, got: Any, want: Any) -> bool:
        if _empty(got) and _empty(want):
            return True
        if self.kind == "normalized" and isinstance(got, str) and isinstance(want, str):
            return _norm(got) == _norm(want)
        if self.kind == "numeric" and _is_number(got) and _is_number(want):
            return math.isclose(float(got), float(want), rel_tol=0.0, abs_tol=self.tolerance)
        if self.kind == "set" and isinstance(got, list) and isinstance(want, list):
            return {_hashable(v) for v in got} == {_hashable(v) for v in want}
        return bool(got == want)


EXACT = Comparator()


class FieldDiff(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    got: Any = None
    expected: Any = None


class CaseScore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: float
    correct: bool
    diffs: list[FieldDiff] = Field(default_factory=list)


def compare(
    got: Mapping[str, Any] | None,
    expected: Mapping[str, Any],
    comparators: Mapping[str, Comparator] | None = None,
) -> CaseScore:
    """Score ``got`` against ``expected``; ``got=None`` (no answer) scores 0."""
    if got is None:
        return CaseScore(
            score=0.0, correct=False, diffs=[FieldDiff(field=k, expected=v) for k, v in expected.items()]
        )
    comparators = comparators or {}
    fields = [k for k in expected if not _empty(expected[k])]
    fields += [k for k in got if k not in expected and not _empty(got[k])]
    if not fields:
        return CaseScore(score=1.0, correct=True)
    diffs = [
        FieldDiff(field=k, got=got.get(k), expected=expected.get(k))
        for k in fields
        if not comparators.get(k, EXACT).equal(got.get(k), expected.get(k))
    ]
    return CaseScore(score=1.0 - len(diffs) / len(fields), correct=not diffs, diffs=diffs)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value
