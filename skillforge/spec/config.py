"""The base of what users construct (specs, options): strict, frozen, one error type."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from skillforge.errors import SpecError

_NESTED: ContextVar[bool] = ContextVar("skillforge_nested_validation", default=False)


@contextmanager
def nested_validation() -> Iterator[None]:
    """Within this block a :class:`UserConfig` validated as part of a larger model (a skill file) lets
    pydantic's ``ValidationError`` through, so the error's location names the full field path
    (``settings.confidence.samples``) instead of the nested model's own field."""
    token = _NESTED.set(True)
    try:
        yield
    finally:
        _NESTED.reset(token)


class UserConfig(BaseModel):
    """Base of what users construct (specs, options): strict and frozen, and every mistake is one
    error type, a :class:`SpecError` naming the field, not pydantic's ``ValidationError``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, **data: Any) -> None:
        # Pydantic builds a nested UserConfig through this same __init__: only the outermost one turns the
        # error into a SpecError, so its field is the full path (``search.dev_fraction``).
        outermost = not _NESTED.get()
        token = _NESTED.set(True)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            if not outermost:
                raise
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or None
            raise SpecError(str(first["msg"]).removeprefix("Value error, "), field=field) from None
        finally:
            _NESTED.reset(token)
