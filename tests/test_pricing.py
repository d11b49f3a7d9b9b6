"""The dated price table: lookups, cache and batch pricing, user overrides, unknown models."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from skillforge.errors import UnknownPriceWarning
from skillforge.models.base import Usage
from skillforge.models.pricing import (
    PRICES,
    PRICES_CHECKED,
    PRICES_SOURCE,
    Price,
    PriceTable,
    canonical_model_name,
    cost_usd,
    default_table,
    price_for,
    reset_price_warnings,
)

MTOK = 1_000_000


@pytest.fixture(autouse=True)
def _fresh_warnings() -> Iterator[None]:
    reset_price_warnings()
    yield
    reset_price_warnings()


def test_the_table_is_dated_and_sourced() -> None:
    assert PRICES_SOURCE.startswith("https://platform.claude.com/docs/")
    assert PRICES_CHECKED.year >= 2026


@pytest.mark.parametrize("model, inp, out", [
    ("claude-opus-4-8", 5.0, 25.0),
    ("claude-opus-4-5", 5.0, 25.0),
    ("claude-opus-4-1", 15.0, 75.0),
    ("claude-sonnet-4-6", 3.0, 15.0),
    ("claude-sonnet-4-5", 3.0, 15.0),
    ("claude-haiku-4-5", 1.0, 5.0),
    ("claude-opus-5-5", 4.0, 20.0),
    ("claude-sonnet-5-5", 2.0, 10.0),
    ("claude-haiku-5-5", 0.1, 0.5),
])
def test_current_opus_sonnet_and_haiku_ids_are_priced(model: str, inp: float, out: float) -> None:
    price = PRICES[model]
    assert (price.input_per_mtok, price.output_per_mtok) == (inp, out)


@pytest.mark.parametrize("name", [
    "claude-haiku-4-5",
    "claude-haiku-4-5-20251001",
    "anthropic:claude-haiku-4-5-20251001",
    "claude-haiku-4-5@20251001",
    "Claude-Haiku-4-5",
])
def test_dated_ids_prefixes_and_aliases_resolve_to_the_model(name: str) -> None:
    assert canonical_model_name(name) == "claude-haiku-4-5"
    assert price_for(name) == PRICES["claude-haiku-4-5"]


def test_cost_applies_input_output_and_cache_multipliers() -> None:
    price = Price(input_per_mtok=3.0, output_per_mtok=15.0)  # defaults: 1.25x write, 0.1x read
    usage = Usage(input_tokens=MTOK, output_tokens=MTOK, cache_creation_input_tokens=MTOK,
                  cache_read_input_tokens=MTOK)
    assert cost_usd(usage, price) == pytest.approx(3.0 + 15.0 + 3.75 + 0.30)


def test_the_batch_api_halves_the_price() -> None:
    usage = Usage(input_tokens=MTOK, output_tokens=MTOK)
    assert cost_usd(usage, PRICES["claude-sonnet-4-6"], batch=True) == pytest.approx((3.0 + 15.0) / 2)


def test_a_long_prompt_tier_bills_the_whole_call_at_its_multiplier() -> None:
    haiku_55 = PRICES["claude-haiku-5-5"]
    short = Usage(input_tokens=50_000, output_tokens=1_000)
    long = Usage(input_tokens=10_000, cache_read_input_tokens=95_000, output_tokens=1_000)
    assert cost_usd(short, haiku_55) == pytest.approx((50_000 * 0.1 + 1_000 * 0.5) / MTOK)
    assert cost_usd(long, haiku_55) == pytest.approx((10_000 * 0.5 + 95_000 * 0.05 + 1_000 * 2.5) / MTOK)


def test_an_unknown_model_costs_none_with_exactly_one_warning() -> None:
    table = PriceTable()
    usage = Usage(input_tokens=10)
    with pytest.warns(UnknownPriceWarning, match="claude-unheard-of-9") as record:
        assert table.cost_usd("claude-unheard-of-9", usage) is None
        assert table.cost_usd("claude-unheard-of-9", usage) is None
        assert price_for("claude-unheard-of-9") is None
    assert len(record) == 1
    with pytest.warns(UnknownPriceWarning):  # another model warns on its own
        assert price_for("another-model") is None


def test_a_lookup_can_opt_out_of_the_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert price_for("nope", warn=False) is None


def test_users_override_and_extend_the_table() -> None:
    table = PriceTable({"claude-haiku-4-5-20251001": {"input_per_mtok": 0.5, "output_per_mtok": 2.5},
                        "anthropic:my-fine-tune": Price(input_per_mtok=7.0, output_per_mtok=9.0)})
    assert table.price_for("claude-haiku-4-5").input_per_mtok == 0.5  # type: ignore[union-attr]
    assert "my-fine-tune" in table and table["anthropic:my-fine-tune"].output_per_mtok == 9.0
    assert table.price_for("claude-opus-4-8") == PRICES["claude-opus-4-8"]  # defaults kept
    only_mine = PriceTable({"x": Price(input_per_mtok=1, output_per_mtok=1)}, include_defaults=False)
    assert list(only_mine) == ["x"]
    assert price_for("claude-opus-4-8", table=only_mine, warn=False) is None  # an empty-ish table is used


def test_the_process_wide_default_table_can_be_updated() -> None:
    table = default_table()
    before = table.price_for("claude-sonnet-4-6")
    try:
        table.update({"claude-sonnet-4-6": Price(input_per_mtok=1.0, output_per_mtok=1.0)})
        assert price_for("claude-sonnet-4-6") == Price(input_per_mtok=1.0, output_per_mtok=1.0)
    finally:
        assert before is not None
        table.update({"claude-sonnet-4-6": before})
    with pytest.raises(TypeError):
        PRICES["claude-sonnet-4-6"] = before  # type: ignore[index]


def test_prices_are_validated() -> None:
    with pytest.raises(ValidationError):
        Price(input_per_mtok=-1, output_per_mtok=1)
    with pytest.raises(ValidationError):
        Price(input_per_mtok=1, output_per_mtok=1, cache_multiplier=2)  # type: ignore[call-arg]
