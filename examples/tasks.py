"""The example tasks on the vendored datasets (see datasets/README.md for sources and licences):
their specs, loaders, and the fixed, disjoint train/dev/test splits that the example skills and the
benchmarks share. The test split is never shown to the compiler."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillforge import Example, SkillSpec

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "datasets"
SPLIT_SEED = 20261127

INTENTS = ["add_to_playlist", "book_restaurant", "get_weather", "play_music", "rate_book",
           "search_creative_work", "search_screening_event"]

TEXT_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
    "additionalProperties": False,
}

# usaddress tag -> output field. Tags outside this map are rare and left out of the task.
ADDRESS_FIELDS = {
    "AddressNumber": "address_number",
    "StreetNamePreDirectional": "street_direction",
    "StreetName": "street_name",
    "StreetNamePostType": "street_type",
    "OccupancyType": "unit_type",
    "OccupancyIdentifier": "unit_id",
    "PlaceName": "city",
    "StateName": "state",
    "ZipCode": "zip_code",
}
ADDRESS_DESCRIPTIONS = {
    "address_number": "house or building number, e.g. 123",
    "street_direction": "direction before the street name, e.g. N, West",
    "street_name": "the street's name without number, direction or type, e.g. Main",
    "street_type": "street type after the name, e.g. St, Avenue, Blvd",
    "unit_type": "unit designator, e.g. Apt, Suite, Floor",
    "unit_id": "unit number or letter, e.g. 4B",
    "city": "city or town",
    "state": "state name or abbreviation",
    "zip_code": "ZIP code",
}


@dataclass(frozen=True)
class Task:
    spec: SkillSpec
    rows: list[tuple[dict[str, Any], dict[str, Any]]]  # (input, expected), in file order
    n_test: int
    n_dev: int
    n_train: int
    #: Demo counts the compiler tries (None: its default). Long outputs make each candidate costly.
    ks: tuple[int, ...] | None = None
    #: Further dev cases, cut from after the train split, so that a larger dev set leaves the test and
    #: train splits (and the benchmark's baselines drawn from them) exactly as they were.
    extra_dev: int = 0

    def splits(self) -> tuple[list[Example], list[Example], list[Example]]:
        """(train, dev, test): a seeded shuffle cut into disjoint parts."""
        rows = list(self.rows)
        random.Random(SPLIT_SEED).shuffle(rows)
        ex = [Example(input=i, expected=o) for i, o in rows]
        test = ex[: self.n_test]
        dev = ex[self.n_test : self.n_test + self.n_dev]
        end = self.n_test + self.n_dev + self.n_train
        train = ex[self.n_test + self.n_dev : end]
        dev += ex[end : end + self.extra_dev]
        return train, dev, test

    def unused(self) -> list[Example]:
        """The labelled rows no split uses (after train and extra dev), in the same seeded order: more
        labelled data a team may have, for benchmarks that ask what it buys."""
        rows = list(self.rows)
        random.Random(SPLIT_SEED).shuffle(rows)
        start = self.n_test + self.n_dev + self.n_train + self.extra_dev
        return [Example(input=i, expected=o) for i, o in rows[start:]]


def _jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line]


def intent_router() -> Task:
    spec = SkillSpec(
        name="intent-router",
        description="Classify the intent of a voice-assistant utterance.",
        input_schema=TEXT_INPUT,
        output_schema={
            "type": "object",
            "properties": {"intent": {"type": "string", "enum": INTENTS}},
            "required": ["intent"],
            "additionalProperties": False,
        },
    )
    rows = [({"text": r["text"]}, {"intent": r["intent"]}) for r in _jsonl("snips_intent.jsonl")]
    return Task(spec, rows, n_test=200, n_dev=60, n_train=200)


def review_sentiment() -> Task:
    spec = SkillSpec(
        name="review-sentiment",
        description="Decide whether a one-sentence product, movie or restaurant review is positive or negative.",
        input_schema=TEXT_INPUT,
        output_schema={
            "type": "object",
            "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
            "required": ["sentiment"],
            "additionalProperties": False,
        },
    )
    rows = [({"text": r["text"]}, {"sentiment": r["sentiment"]}) for r in _jsonl("uci_sentiment.jsonl")]
    # 150 dev cases: on 60, the few-point gaps between sentiment candidates are within selection noise.
    return Task(spec, rows, n_test=300, n_dev=60, n_train=200, extra_dev=90)


def address_parser() -> Task:
    spec = SkillSpec(
        name="address-parser",
        description="Split a US street address into its parts. Copy each part exactly as written; "
        "leave out parts the address does not have.",
        input_schema=TEXT_INPUT,
        output_schema={
            "type": "object",
            "properties": {
                field: {"type": "string", "description": ADDRESS_DESCRIPTIONS[field]}
                for field in ADDRESS_FIELDS.values()
            },
            "additionalProperties": False,
        },
    )
    rows = [
        ({"text": r["text"]}, {ADDRESS_FIELDS[k]: v for k, v in r["fields"].items() if k in ADDRESS_FIELDS})
        for r in _jsonl("us_addresses.jsonl")
    ]
    return Task(spec, rows, n_test=200, n_dev=30, n_train=200, ks=(2, 4))


def sports_plausibility() -> Task:
    """A task the compiler was never tuned on (BIG-bench sports_understanding; datasets/README.md): used by
    the compile-vs-plain benchmark only, no committed skill."""
    spec = SkillSpec(
        name="sports-plausibility",
        description="Decide whether a sentence about sports is plausible or implausible.",
        input_schema=TEXT_INPUT,
        output_schema={
            "type": "object",
            "properties": {"plausibility": {"type": "string", "enum": ["plausible", "implausible"]}},
            "required": ["plausibility"],
            "additionalProperties": False,
        },
    )
    rows = [({"text": r["text"]}, {"plausibility": r["plausibility"]}) for r in _jsonl("bigbench_sports.jsonl")]
    return Task(spec, rows, n_test=300, n_dev=60, n_train=200)


def social_support() -> Task:
    """A task the compiler was never tuned on (BIG-bench social_support; datasets/README.md): three
    classes, most comments neutral. Benchmarks only, no committed skill."""
    spec = SkillSpec(
        name="social-support",
        description="Decide whether a comment is supportive, unsupportive or neutral towards the person it "
        "answers.",
        input_schema=TEXT_INPUT,
        output_schema={
            "type": "object",
            "properties": {"support": {"type": "string", "enum": ["supportive", "unsupportive", "neutral"]}},
            "required": ["support"],
            "additionalProperties": False,
        },
    )
    rows = [({"text": r["text"]}, {"support": r["support"]}) for r in _jsonl("bigbench_social_support.jsonl")]
    return Task(spec, rows, n_test=300, n_dev=60, n_train=200)


NAME_FIELDS = {
    "prefix": "title before the name, e.g. Mr., Dr.",
    "given_name": "first name or first initial",
    "nickname": "nickname, as written",
    "middle_name": "middle name or middle initial",
    "surname": "family name",
    "suffix": "suffix after the name, e.g. Jr., III, PhD",
}


def person_names() -> Task:
    """An extraction task the compiler was never tuned on (probablepeople's labelled person names;
    datasets/README.md): up to six optional fields copied from a short input. Benchmarks only."""
    spec = SkillSpec(
        name="person-names",
        description="Split a person's name into its parts. Copy each part exactly as written; leave out parts "
        "the name does not have.",
        input_schema=TEXT_INPUT,
        output_schema={
            "type": "object",
            "properties": {field: {"type": "string", "description": text} for field, text in NAME_FIELDS.items()},
            "additionalProperties": False,
        },
    )
    rows = [({"text": r["text"]}, r["fields"]) for r in _jsonl("person_names.jsonl")]
    return Task(spec, rows, n_test=200, n_dev=60, n_train=200)


#: The committed example skills (skills/NAME).
TASKS = {"intent-router": intent_router, "review-sentiment": review_sentiment, "address-parser": address_parser}
#: Tasks for benchmarks only: public labelled data the compiler was never tuned on.
HELD_OUT_TASKS = {"sports-plausibility": sports_plausibility, "social-support": social_support,
                  "person-names": person_names}
