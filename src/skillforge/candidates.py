"""Candidate skills and their measurement on the dev set with the student.

A candidate is an instruction text plus a demo list. Every candidate is run by the student on every
dev case, in order, so a local model's KV cache keeps the candidate's static prefix warm.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from skillforge.ledger import Ledger
from skillforge.models.base import Model, ModelRequest
from skillforge.prompt import build_request, render_input
from skillforge.retrieval import DemoIndex
from skillforge.runtime import ask
from skillforge.scoring import Comparator, compare
from skillforge.skill import Demo, DemoStrategy


@dataclass(frozen=True)
class DevCase:
    input: dict[str, Any]
    #: The label, or the teacher's answer where no label was given.
    expected: dict[str, Any]


@dataclass
class Candidate:
    """Instructions plus demos: fixed demos (every one, in order), or with ``retrieve_k`` set, a pool
    from which each input gets its ``retrieve_k`` most similar demos."""

    name: str
    instructions_source: Literal["teacher", "template"]
    instructions: str
    demos: list[Demo]
    retrieve_k: int | None = None

    @property
    def k(self) -> int:
        """Demos in each prompt."""
        return self.retrieve_k if self.retrieve_k is not None else len(self.demos)

    @property
    def demo_strategy(self) -> DemoStrategy:
        if self.retrieve_k is not None:
            return "retrieved"
        return "fixed" if self.demos else "none"


@dataclass
class CaseResult:
    output: dict[str, Any] | None
    score: float
    correct: bool
    confidence: float | None


@dataclass
class Evaluation:
    candidate: Candidate
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(c.score for c in self.cases) / len(self.cases) if self.cases else 0.0

    @property
    def accuracy(self) -> float:
        return sum(c.correct for c in self.cases) / len(self.cases) if self.cases else 0.0

    @property
    def mean_confidence(self) -> float | None:
        confs = [c.confidence for c in self.cases if c.confidence is not None]
        return sum(confs) / len(confs) if confs else None


def label_field(output_schema: Mapping[str, Any]) -> str | None:
    """The first output property with an ``enum``: a class label to balance demos over."""
    for name, prop in output_schema.get("properties", {}).items():
        if isinstance(prop, dict) and "enum" in prop:
            return str(name)
    return None


def pick_demos(pool: Sequence[Demo], k: int, label: str | None, seed: int) -> list[Demo]:
    """``k`` demos from ``pool``: balanced across label values, in rounds that visit every class once,
    else a seeded random sample. Deterministic for a given seed.

    Each round visits the classes in a fresh seeded order. A fixed order (the first version sorted
    them) puts the same class last in every prompt, and the last demo sways a small student: on the
    sentiment dev set, SmolLM2-135M with one demo per class answered "positive" 51 of 60 times (accuracy
    0.58) when the positive demo came last, 47 times (0.68) when the negative one did."""
    rng = random.Random(seed)
    shuffled = list(pool)
    rng.shuffle(shuffled)
    if label is None:
        return shuffled[:k]
    groups: dict[str, list[Demo]] = {}
    for d in shuffled:
        groups.setdefault(str(d.output.get(label)), []).append(d)
    keys = sorted(groups)
    out: list[Demo] = []
    while len(out) < k and any(groups.values()):
        rng.shuffle(keys)
        for key in keys:
            if groups[key] and len(out) < k:
                out.append(groups[key].pop(0))
    return out


def demo_counts(pool_size: int, n_classes: int | None, requested: Sequence[int] | None) -> list[int]:
    """Demo counts to try (besides 0): per-class multiples for classification, else 2/4/8."""
    if requested is not None:
        ks = [k for k in requested if 0 < k <= pool_size]
    elif n_classes:
        # One to four demos per class: few-shot gains and losses both grow with k on small students
        # (sentiment dev, 2/4/6 demos: 0.52/0.70/0.73 against 0.78 zero-shot), so span a wide range.
        ks = [n_classes * m for m in (1, 2, 4)]
    else:
        ks = [2, 4, 8]
    return sorted({min(k, pool_size) for k in ks if pool_size > 0})


def build_candidates(
    *,
    template_text: str,
    teacher_text: str | None,
    pool: Sequence[Demo],
    output_schema: Mapping[str, Any],
    ks: Sequence[int] | None,
    seed: int,
) -> list[Candidate]:
    """Instruction variants (template, teacher) x demo counts (0 and each k)."""
    label = label_field(output_schema)
    n_classes = len({str(d.output.get(label)) for d in pool}) if label else None
    variants: list[tuple[Literal["teacher", "template"], str]] = [("template", template_text)]
    if teacher_text:
        variants.append(("teacher", teacher_text))
    out = []
    for source, text in variants:
        out.append(Candidate(f"{source}+0", source, text, []))
        for k in demo_counts(len(pool), n_classes, ks):
            out.append(Candidate(f"{source}+{k}", source, text, pick_demos(pool, k, label, seed)))
    return out


def retrieval_candidates(
    *,
    source: Literal["teacher", "template"],
    instructions: str,
    pool: Sequence[Demo],
    output_schema: Mapping[str, Any],
    ks: Sequence[int] | None,
) -> list[Candidate]:
    """Per-input retrieved demos from ``pool`` for each demo count (the same counts as fixed demos)."""
    label = label_field(output_schema)
    n_classes = len({str(d.output.get(label)) for d in pool}) if label else None
    return [Candidate(f"{source}+retrieved{k}", source, instructions, list(pool), retrieve_k=k)
            for k in demo_counts(len(pool), n_classes, ks)]


async def evaluate(
    candidate: Candidate,
    dev: Sequence[DevCase],
    *,
    student: Model,
    output_schema: Mapping[str, Any],
    comparators: Mapping[str, Comparator],
    max_tokens: int,
    max_reasks: int,
    ledger: Ledger,
    skill: str,
    concurrency: int,
    on_case: Callable[[], None] = lambda: None,
) -> Evaluation:
    """Run the student on every dev case with this candidate and score it. A retrieval candidate
    never retrieves a demo whose input equals the case's own (leave-one-out), so cases drawn from
    the demo pool itself (calibration) are measured honestly."""
    pairs = [(d.input, d.output) for d in candidate.demos]
    retrieving = candidate.retrieve_k is not None
    index = DemoIndex([d.input for d in candidate.demos]) if retrieving else None
    sem = asyncio.Semaphore(concurrency)

    def request_for(case: DevCase) -> ModelRequest:
        if index is None or candidate.retrieve_k is None:
            return build_request(instructions=candidate.instructions, output_schema=output_schema,
                                 demos=pairs, input=case.input, max_tokens=max_tokens)
        own = render_input(case.input)
        others = [i for i in index.top(case.input, candidate.retrieve_k + 1) if render_input(pairs[i][0]) != own]
        shown = [pairs[i] for i in reversed(others[: candidate.retrieve_k])]
        return build_request(instructions=candidate.instructions, output_schema=output_schema,
                             demos=[], retrieved=shown, input=case.input, max_tokens=max_tokens)

    async def one(case: DevCase) -> CaseResult:
        request = request_for(case)
        async with sem:
            outcome = await ask(student, "student", request, schema=output_schema, threshold=None,
                                max_reasks=max_reasks, ledger=ledger, skill=skill, phase="compile")
        on_case()
        cs = compare(outcome.output, case.expected, comparators)
        return CaseResult(outcome.output, cs.score, cs.correct, outcome.confidence)

    if concurrency <= 1:
        cases = [await one(c) for c in dev]  # strictly in order: keeps a local KV cache warm
    else:
        cases = list(await asyncio.gather(*(one(c) for c in dev)))
    return Evaluation(candidate, cases)


def _simplicity(index: int, ev: Evaluation) -> tuple[int, bool, bool, int]:
    # Fewer demos (cheaper prompts), then fixed demos before retrieved (a fixed prefix is cacheable),
    # then template instructions (no dependence on a teacher's draft), then the earlier candidate.
    c = ev.candidate
    return (c.k, c.retrieve_k is not None, c.instructions_source != "template", index)


def best(evaluations: Sequence[Evaluation]) -> Evaluation:
    """Highest dev score; ties go to the simpler candidate."""
    ranked = sorted(enumerate(evaluations), key=lambda ie: (-round(ie[1].score, 9), *_simplicity(*ie)))
    return ranked[0][1]


def paired_gain(new: Evaluation, base: Evaluation) -> tuple[float, float]:
    """Mean per-case score gain of ``new`` over ``base`` on the same dev cases, and its standard error.

    Pairing matters: two candidates share most of their right and wrong answers, so the gain is far
    better determined than the difference of two independent accuracies."""
    if len(new.cases) != len(base.cases) or not new.cases:
        raise ValueError("paired_gain needs evaluations on the same, non-empty dev cases")
    diffs = [a.score - b.score for a, b in zip(new.cases, base.cases, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var / n)


def clearly_better(new: Evaluation, base: Evaluation, z: float) -> bool:
    """``new`` beats ``base`` by more than ``z`` standard errors of the paired gain (``z = 0``: by anything).
    At ``z = 1`` one case fixed and none broken is not enough (the gain equals its standard error)."""
    gain, se = paired_gain(new, base)
    return gain > 1e-12 and gain > z * se * (1 + 1e-9)


def _errors(z: float) -> str:
    return "one standard error" if z == 1 else f"{z:g} standard errors"


def choose(evaluations: Sequence[Evaluation], *, z: float) -> tuple[Evaluation, str]:
    """The simplest candidate that the best-scoring one does not clearly beat (the one-standard-error
    rule at ``z = 1``), and a line saying why.

    With a 60-case dev set and a dozen candidates, the top dev score is partly luck: the winner's
    edge over plain zero-shot is often a few cases that do not recur on new inputs (measured here: a
    sentiment skill chosen for +3 dev cases lost 7 points on the test split). Complexity -- demos,
    retrieval, a teacher's draft -- has to earn its place by more than the noise."""
    top = best(evaluations)
    ordered = [ev for _, ev in sorted(enumerate(evaluations), key=lambda ie: _simplicity(*ie))]
    if ordered[0] is top:
        return top, f"best on dev: {top.candidate.name} {top.score:.3f}, also the simplest candidate"
    for ev in ordered:
        if ev is top:
            break
        if not clearly_better(top, ev, z):
            gain, se = paired_gain(top, ev)
            return ev, (f"best on dev: {top.candidate.name} {top.score:.3f}, {gain:+.3f} \u00b1 {se:.3f} over "
                        f"{ev.candidate.name}, within {_errors(z)}: the simpler {ev.candidate.name} is kept")
    return top, f"best on dev: {top.candidate.name} {top.score:.3f}, clearly ahead of every simpler candidate (z={z:g})"
