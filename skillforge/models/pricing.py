"""What model calls cost: a dated price table for Claude models, overridable by the user.

Prices are US dollars per million tokens (MTok). Cache writes (5-minute TTL, the default
``cache_control`` we send) and cache reads are priced as multipliers of the input price, as the
pricing page presents them; the Message Batches API halves every rate (``batch_discount``).

Source: https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing", "Batch
processing", prompt-caching multipliers) and the per-model pages under
https://platform.claude.com/docs/en/models/ (:data:`PRICES_CHECKED`). The 2026-11-28 pass re-checked
the current lineup's headline rates as the model pages state them in November 2026 -- Fable 5.1
$10 / $50, Opus 5.5 $4 / $20, Sonnet 5.5 $2 / $10, Haiku 5.5 $0.10 / $0.50 up to a 100K-token prompt
-- and added Fable; the pricing pages themselves were not reachable from that pass, so the cache and
long-prompt figures of the 5.5 entries stand as recorded on 2026-11-27. Every rate is halved on the
Message Batches API. Prices change: a user who knows better passes a :class:`PriceTable` of their
own or calls :meth:`PriceTable.update` on :func:`default_table`.

An unknown model costs ``None`` (never a guess) and raises one :class:`UnknownPriceWarning` per
model per process.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from skillforge.errors import UnknownPriceWarning
from skillforge.models.base import Usage

PRICES_SOURCE = "https://platform.claude.com/docs/en/about-claude/pricing"
PRICES_CHECKED = date(2026, 11, 28)


class Price(BaseModel):
    """Per-MTok prices of one model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    #: A 5-minute cache write costs this many times the input price.
    cache_write_multiplier: float = Field(default=1.25, ge=0)
    #: A cache hit costs this many times the input price.
    cache_read_multiplier: float = Field(default=0.1, ge=0)
    #: Fraction taken off every rate on the Message Batches API (0.5 = half price).
    batch_discount: float = Field(default=0.5, ge=0, le=1)
    #: Some models bill a whole call at a higher rate once its prompt (input plus cache reads and
    #: writes) exceeds this many tokens; ``None`` means a flat price.
    long_prompt_threshold: int | None = Field(default=None, ge=0)
    #: Multiplier applied to every rate of such a long-prompt call.
    long_prompt_multiplier: float = Field(default=1.0, ge=0)


def cost_usd(usage: Usage, price: Price, *, batch: bool = False) -> float:
    """Dollar cost of ``usage`` at ``price``.

    ``usage`` should be one call's usage when the price has a long-prompt tier (that tier is
    decided per call); flat prices are linear, so summed usage is fine for them.
    """
    prompt_tokens = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
    tier = 1.0
    if price.long_prompt_threshold is not None and prompt_tokens > price.long_prompt_threshold:
        tier = price.long_prompt_multiplier
    input_rate = price.input_per_mtok * tier
    dollars = (
        usage.input_tokens * input_rate
        + usage.cache_creation_input_tokens * input_rate * price.cache_write_multiplier
        + usage.cache_read_input_tokens * input_rate * price.cache_read_multiplier
        + usage.output_tokens * price.output_per_mtok * tier
    ) / 1_000_000
    if batch:
        dollars *= 1.0 - price.batch_discount
    return dollars


#: What a local model's calls are priced as when a cost must be compared (a local model bills $0, but its
#: place in a cascade is the cheap tier's): Claude Haiku 5.5 for a student, Claude Opus 5.5 for a teacher.
REFERENCE_STUDENT = "claude-haiku-5-5"
REFERENCE_TEACHER = "claude-opus-5-5"


def teacher_only_price(teacher: str | None) -> tuple[str, Price]:
    """The model teacher-only (:mod:`skillforge.run.teacher_only`) is priced as -- ``teacher`` when it has
    a list price, else :data:`REFERENCE_TEACHER` (a local, simulated or unpriced teacher) -- and its price."""
    price = price_for(teacher, warn=False) if teacher else None
    if teacher and price is not None:
        return canonical_model_name(teacher), price
    return REFERENCE_TEACHER, PRICES[REFERENCE_TEACHER]


def total_cost(costs: Iterable[float | None]) -> float | None:
    """The sum of ``costs``, or ``None`` when any of them is unknown (a total is never a guess)."""
    total = 0.0
    for c in costs:
        if c is None:
            return None
        total += c
    return total


def _p(inp: float, out: float, **kw: Any) -> Price:
    return Price(input_per_mtok=inp, output_per_mtok=out, **kw)


_OPUS_45_TO_48 = _p(5.0, 25.0)
_OPUS_4_41 = _p(15.0, 75.0)
_SONNET_4X = _p(3.0, 15.0)

#: The built-in table, keyed by undated model id (dated ids and aliases resolve to these).
PRICES: Mapping[str, Price] = MappingProxyType({
    # Opus 4.5-4.8: $5 / $25, 5m cache write $6.25, cache hit $0.50.
    "claude-opus-4-8": _OPUS_45_TO_48,
    "claude-opus-4-7": _OPUS_45_TO_48,
    "claude-opus-4-6": _OPUS_45_TO_48,
    "claude-opus-4-5": _OPUS_45_TO_48,
    # Opus 4 and 4.1: $15 / $75 (retired on the Claude API; kept so old ledgers still price).
    "claude-opus-4-1": _OPUS_4_41,
    "claude-opus-4-0": _OPUS_4_41,
    "claude-opus-4": _OPUS_4_41,
    # Sonnet 4, 4.5, 4.6: $3 / $15, 5m cache write $3.75, cache hit $0.30.
    "claude-sonnet-4-6": _SONNET_4X,
    "claude-sonnet-4-5": _SONNET_4X,
    "claude-sonnet-4-0": _SONNET_4X,
    "claude-sonnet-4": _SONNET_4X,
    # Haiku 4.5: $1 / $5, 5m cache write $1.25, cache hit $0.10. Haiku 3.5: $0.80 / $4.
    "claude-haiku-4-5": _p(1.0, 5.0),
    "claude-3-5-haiku": _p(0.8, 4.0),
    # The 5 generation (per-model pages). Opus 5: $5 / $25; Opus 5.5: $4 / $20, cache hit $0.20.
    "claude-opus-5": _p(5.0, 25.0),
    "claude-opus-5-5": _p(4.0, 20.0, cache_read_multiplier=0.05),
    # Sonnet 5: $2 / $10, cache hit $0.20. Sonnet 5.5: same, but cache hits cut to $0.10 on 2026-10-07.
    "claude-sonnet-5": _p(2.0, 10.0),
    "claude-sonnet-5-5": _p(2.0, 10.0, cache_read_multiplier=0.05),
    # Haiku 5.5: $0.10 / $0.50 up to a 100K-token prompt; a longer prompt bills the call at 5x.
    "claude-haiku-5-5": _p(0.1, 0.5, long_prompt_threshold=100_000, long_prompt_multiplier=5.0),
    # Fable (the tier above Opus): Fable 5 (2026-06) and Fable 5.1, $10 / $50; 5m cache write $12.50,
    # cache hit $1 (the standard multipliers); no long-context surcharge.
    "claude-fable-5": _p(10.0, 50.0),
    "claude-fable-5-1": _p(10.0, 50.0),
})

# Dated snapshots (claude-haiku-4-5-20251001), Vertex ids (claude-haiku-4-5@20251001) and
# "-latest" aliases price like their undated id.
_DATED = re.compile(r"(?:[-@]\d{8}|-latest)$")


def canonical_model_name(model: str) -> str:
    """``anthropic:claude-haiku-4-5-20251001`` -> ``claude-haiku-4-5``."""
    name = model.strip()
    if name.startswith("anthropic:"):
        name = name[len("anthropic:") :]
    return _DATED.sub("", name.lower())


_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_unknown_price(model: str, *, hint: str | None = None) -> None:
    """Warn (once per model per process) that ``model`` has no known price; ``hint`` says how to give one
    (default: a :class:`PriceTable` for Claude models)."""
    with _warned_lock:
        if model in _warned:
            return
        _warned.add(model)
    hint = hint or ("Pass prices=PriceTable(...) or update skillforge.models.pricing.default_table() "
                    f"(table checked {PRICES_CHECKED.isoformat()}).")
    warnings.warn(f"no price known for model {model!r}; its cost is reported as None. {hint}",
                  UnknownPriceWarning, stacklevel=3)


def reset_price_warnings() -> None:
    """Forget which models were warned about (for tests)."""
    with _warned_lock:
        _warned.clear()


V = TypeVar("V", bound=BaseModel)


class ModelTable(Mapping[str, V]):
    """Model name -> one model's record (a price, a lifecycle), keyed by canonical name: dated ids, the
    ``-latest`` aliases and the ``anthropic:`` prefix find the same entry. Starts from ``defaults`` unless
    ``include_defaults=False``; ``entries`` (instances or plain dicts of their fields) override or extend it."""

    #: The record type, and the table a new instance starts from.
    record: type[V]
    defaults: Mapping[str, V]

    def __init__(self, entries: Mapping[str, V | Mapping[str, Any]] | None = None, *,
                 include_defaults: bool = True) -> None:
        self._entries: dict[str, V] = dict(self.defaults) if include_defaults else {}
        if entries:
            self.update(entries)

    def update(self, entries: Mapping[str, V | Mapping[str, Any]]) -> None:
        """Add or replace entries. Keys are model names, dated or not, with or without ``anthropic:``."""
        for name, entry in entries.items():
            value = entry if isinstance(entry, self.record) else self.record.model_validate(entry)
            self._entries[canonical_model_name(name)] = value

    def get_entry(self, model: str) -> V | None:
        """The entry for ``model`` by its canonical name (``None``: none)."""
        return self._entries.get(canonical_model_name(model))

    def __getitem__(self, name: str) -> V:
        return self._entries[canonical_model_name(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical_model_name(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


class PriceTable(ModelTable[Price]):
    """Model name -> :class:`Price`. Starts from :data:`PRICES` unless ``include_defaults=False``;
    entries (``Price`` instances or plain dicts of its fields) override or extend it."""

    record = Price
    defaults = PRICES

    def price_for(self, model: str, *, warn: bool = True) -> Price | None:
        """The price of ``model``, or ``None`` (and one warning per model) when unknown."""
        price = self.get_entry(model)
        if price is None and warn:
            warn_unknown_price(model)
        return price

    def cost_usd(self, model: str, usage: Usage, *, batch: bool = False) -> float | None:
        """Dollar cost of ``usage`` on ``model``; ``None`` (one warning) when the price is unknown."""
        price = self.price_for(model)
        return None if price is None else cost_usd(usage, price, batch=batch)

    def __repr__(self) -> str:
        return f"PriceTable({len(self)} models)"


_default_table = PriceTable()


def default_table() -> PriceTable:
    """The process-wide table used when a model is given no ``prices``. Update it to override."""
    return _default_table


def price_for(model: str, *, table: PriceTable | None = None, warn: bool = True) -> Price | None:
    """The price of ``model`` in ``table`` (default: :func:`default_table`), handling dated ids and
    the ``anthropic:`` prefix; ``None`` plus one :class:`UnknownPriceWarning` when unknown."""
    return (table if table is not None else _default_table).price_for(model, warn=warn)
