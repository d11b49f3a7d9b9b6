"""The top level holds the user's nouns and verbs and the errors; plumbing lives in its subpackage, and the
names that moved keep working for one release with a warning naming their new home."""

from __future__ import annotations

import inspect
import warnings

import pytest

import skillforge
from skillforge import errors

MOVED = {
    "Attempt": "skillforge.models", "Model": "skillforge.models", "ModelRequest": "skillforge.models",
    "ModelResponse": "skillforge.models", "Usage": "skillforge.models", "register_provider": "skillforge.models",
    "Runner": "skillforge.run", "LedgerEntry": "skillforge.ledger", "InputLimits": "skillforge.spec",
    "NullProgress": "skillforge.progress", "ConfidenceSettings": "skillforge.compile",
}


def _error_names() -> set[str]:
    return {name for name, obj in vars(errors).items()
            if inspect.isclass(obj) and issubclass(obj, (Exception, Warning)) and obj.__module__ == errors.__name__}


def test_at_most_25_names_besides_the_errors() -> None:
    besides = set(skillforge.__all__) - _error_names()
    assert len(besides) <= 25, sorted(besides)


def test_the_verbs_a_user_reaches_for_are_at_the_top() -> None:
    for verb in ("compile_skill", "load_skill", "evaluate_skill", "update_skill", "retarget_skill", "run_batch",
                 "get_model", "estimate_compile_skill"):
        assert verb in skillforge.__all__ and callable(getattr(skillforge, verb))


def test_every_exported_name_resolves() -> None:
    for name in skillforge.__all__:
        assert getattr(skillforge, name) is not None


def test_every_public_error_is_exported_at_the_top() -> None:
    assert _error_names() <= set(skillforge.__all__)


def test_the_model_lifecycle_warning_and_error_are_at_the_top() -> None:
    # A run only warns about a deprecated model; test and status fail on a retired one: the user's to fix.
    assert issubclass(skillforge.DeprecatedModelWarning, UserWarning)
    assert issubclass(skillforge.RetiredModelError, skillforge.UserError)
    assert {"DeprecatedModelWarning", "RetiredModelError"} <= set(skillforge.__all__)


@pytest.mark.parametrize("name", sorted(MOVED))
def test_a_moved_name_still_imports_with_a_warning_naming_its_home(name: str) -> None:
    assert name not in skillforge.__all__
    with pytest.warns(DeprecationWarning, match=MOVED[name]):
        value = getattr(skillforge, name)
    home = __import__(MOVED[name], fromlist=[name])
    assert value is getattr(home, name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="no attribute 'Nope'"):
            skillforge.Nope  # noqa: B018
