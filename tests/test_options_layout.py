"""CompileOptions holds the choices a user can judge; the search's internals live in SearchConfig. Old code
and old skill files keep working: old names warn once and land in their new place, and a skill file written
before the move loads quietly and saves byte for byte."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml

from skillforge import CompileOptions, SpecError, load_skill
from skillforge.format import ConfidenceOptions, ConfidenceSettings, SearchConfig
from skillforge.format import options as options_module

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each old name warns once per process: start every test as a fresh process would.
    monkeypatch.setattr(options_module, "_warned", set())


def test_the_options_a_user_judges_are_at_most_twelve() -> None:
    assert len(CompileOptions.model_fields) <= 12
    assert "search" in CompileOptions.model_fields
    for internal in ("ks", "selection_z", "draws", "renderings", "calibration_extra", "signal_search"):
        assert internal not in CompileOptions.model_fields and internal in SearchConfig.model_fields


def test_an_old_name_lands_in_its_new_place_and_warns_once() -> None:
    with pytest.warns(DeprecationWarning, match=r"SearchConfig\(ks=\.\.\.\)"):
        options = CompileOptions(ks=(4,), seed=3)
    assert options.search.ks == (4,) and options.seed == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = CompileOptions(ks=(2,))  # the same name a second time: quiet
    assert again.search.ks == (2,)


def test_the_old_cascade_switch_is_the_classifier_tier() -> None:
    with pytest.warns(DeprecationWarning, match=r"SearchConfig\(classifier_tier=\.\.\.\)"):
        options = CompileOptions(cascade=False)
    assert options.search.classifier_tier is False
    old = yaml.safe_load((ROOT / "skills" / "intent-router" / "skill.yaml").read_text(encoding="utf-8"))
    recorded = old["provenance"]["options"]
    assert "cascade" in recorded
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an old skill file's record: quiet
        assert CompileOptions.model_validate(recorded).search.classifier_tier is recorded["cascade"]


def test_old_and_new_names_combine_with_the_new_place_winning() -> None:
    with pytest.warns(DeprecationWarning):
        options = CompileOptions(refine_rounds=0, search=SearchConfig(ks=(8,)))
    assert options.search.refine_rounds == 0 and options.search.ks == (8,)
    with pytest.warns(DeprecationWarning):
        both = CompileOptions(draws=2, search={"draws": 1})
    assert both.search.draws == 1


def test_a_retired_option_warns_that_it_does_nothing() -> None:
    with pytest.warns(DeprecationWarning, match="redraw_top.*no longer has any effect"):
        options = CompileOptions(redraw_top=3)
    assert "redraw_top" not in options.model_dump() and "redraw_top" not in options.search.model_dump()


def test_a_bad_value_under_an_old_name_is_named_at_its_new_place() -> None:
    with pytest.warns(DeprecationWarning), pytest.raises(SpecError) as err:
        CompileOptions(dev_fraction=2.0)
    assert err.value.field == "search.dev_fraction"


def test_an_unknown_option_is_refused_by_name() -> None:
    with pytest.raises(SpecError) as err:
        CompileOptions(kss=(4,))
    assert err.value.field == "kss"


def test_confidence_options_carry_no_fitted_parts() -> None:
    assert set(ConfidenceOptions.model_fields) == {"method", "samples", "temperature"}
    with pytest.raises(SpecError):
        CompileOptions(confidence={"method": "combined"})
    # A skill's confidence settings passed as the options, as code written before the split did.
    options = CompileOptions(confidence=ConfidenceSettings(method="self_consistency", samples=3))
    assert options.confidence == ConfidenceOptions(method="self_consistency", samples=3)


def test_new_options_round_trip_in_the_new_layout() -> None:
    options = CompileOptions(seed=4, budget_usd=2.5, search=SearchConfig(ks=(2,), draws=1))
    dumped = options.model_dump(mode="json")
    assert dumped["search"]["ks"] == [2] and "ks" not in dumped
    assert CompileOptions.model_validate(dumped) == options


@pytest.mark.parametrize("name", ["review-sentiment", "intent-router", "address-parser"])
def test_a_skill_file_from_before_the_move_loads_quietly_and_saves_byte_for_byte(name: str, tmp_path: Path) -> None:
    source = ROOT / "skills" / name
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        skill = load_skill(source)
    recorded = yaml.safe_load((source / "skill.yaml").read_text())["provenance"]["options"]
    assert "search" not in recorded  # written in the old layout
    options = skill.manifest.provenance.options
    assert options is not None and options.search.calibration_extra == recorded["calibration_extra"]
    skill.save(tmp_path / name)
    assert (tmp_path / name / "skill.yaml").read_bytes() == (source / "skill.yaml").read_bytes()


def test_an_old_record_changed_in_code_is_written_in_the_new_layout() -> None:
    old = yaml.safe_load((ROOT / "skills" / "review-sentiment" / "skill.yaml").read_text())["provenance"]["options"]
    options = CompileOptions.model_validate(old)
    assert options.model_dump(mode="json") == old
    changed = options.model_copy(update={"seed": options.seed + 1})
    dumped = changed.model_dump(mode="json")
    assert "search" in dumped and "ks" not in dumped and dumped["seed"] == options.seed + 1
