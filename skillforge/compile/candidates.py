"""Candidate prompts: an instruction text plus fixed demos, or a pool to retrieve demos from per input,
in a rendering (input as JSON or plain text, schema text in the prompt or left to constrained decoding)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from skillforge.format import Demo, DemoStrategy, InputFormat, InstructionsSource, RenderingName
from skillforge.run.prompt import PromptStyle


@dataclass(frozen=True)
class Rendering:
    """How a candidate's prompt shows the input (and the demos' inputs) and whether the system prompt
    carries the output schema's text."""

    input_format: InputFormat = "json"
    schema_in_prompt: bool = True

    @classmethod
    def named(cls, name: RenderingName) -> Rendering:
        fmt, _, schema = name.partition("+")
        return cls("plain" if fmt == "plain" else "json", schema == "schema")

    def style(self, input_schema: Mapping[str, Any] | None) -> PromptStyle:
        """This rendering as the request's layout, for inputs of ``input_schema``."""
        return PromptStyle(self.input_format, input_schema, self.schema_in_prompt)

    @property
    def name(self) -> RenderingName:
        if self.input_format == "plain":
            return "plain+schema" if self.schema_in_prompt else "plain"
        return "json+schema" if self.schema_in_prompt else "json"


#: The rendering of skills compiled before renderings were searched: JSON input, schema text in the prompt.
JSON_SCHEMA = Rendering()
#: The plain prompt's rendering: the input as text, no schema text (the grammar constrains the answer).
PLAIN = Rendering("plain", schema_in_prompt=False)


@dataclass
class Candidate:
    """Instructions plus demos: fixed demos (every one, in order), or with ``retrieve_k`` set, a pool
    from which each input gets its ``retrieve_k`` most similar demos -- or, ``clustered``, the demo group
    of ``retrieve_k`` holding its most similar one (:func:`~skillforge.run.demo_groups`); in
    ``rendering``. ``draw`` numbers the demo draw (0: the first, the one a skill commits unless another
    draw scores higher)."""

    name: str
    instructions_source: InstructionsSource
    instructions: str
    demos: list[Demo]
    retrieve_k: int | None = None
    rendering: Rendering = JSON_SCHEMA
    draw: int = 0
    clustered: bool = False

    @property
    def k(self) -> int:
        """Demos in each prompt."""
        return self.retrieve_k if self.retrieve_k is not None else len(self.demos)

    @property
    def demo_strategy(self) -> DemoStrategy:
        if self.retrieve_k is not None:
            return "clustered" if self.clustered else "retrieved"
        return "fixed" if self.demos else "none"


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


def candidate(source: InstructionsSource, text: str, demos: Sequence[Demo], rendering: Rendering = JSON_SCHEMA,
              retrieve_k: int | None = None, clustered: bool = False) -> Candidate:
    """A candidate named ``source+k`` (``source+retrievedk``, ``source+clusteredk``), with ``/rendering``
    unless JSON + schema (the names of skills compiled before renderings were searched stay as they were)."""
    k = str(len(demos)) if retrieve_k is None else f"{'clustered' if clustered else 'retrieved'}{retrieve_k}"
    suffix = "" if rendering == JSON_SCHEMA else f"/{rendering.name}"
    return Candidate(f"{source}+{k}{suffix}", source, text, list(demos), retrieve_k, rendering, clustered=clustered)


def clustered_twin(cand: Candidate) -> Candidate:
    """``cand`` (a retrieval candidate) with its pool grouped into fixed demo sets of the same size:
    one cacheable prompt prefix per group instead of none."""
    return candidate(cand.instructions_source, cand.instructions, cand.demos, cand.rendering, cand.retrieve_k,
                     clustered=True)


def zero_shot_candidates(*, plain_text: str, template_text: str, renderings: Sequence[Rendering],
                         baseline: Rendering = PLAIN) -> list[Candidate]:
    """The plain prompt first (the baseline: one instruction line, ``baseline`` rendering), then the
    template instructions in each rendering."""
    return [candidate("plain", plain_text, [], baseline), *(candidate("template", template_text, [], r)
                                                            for r in dict.fromkeys(renderings))]


def _n_classes(pool: Sequence[Demo], label: str | None) -> int | None:
    return len({str(d.output.get(label)) for d in pool}) if label else None


def build_candidates(
    *,
    texts: Sequence[tuple[InstructionsSource, str]],
    pool: Sequence[Demo],
    output_schema: Mapping[str, Any],
    ks: Sequence[int] | None,
    seed: int,
    rendering: Rendering = JSON_SCHEMA,
) -> list[Candidate]:
    """Fixed-demo candidates: each instruction text x each demo count (zero-shot is measured apart)."""
    label = label_field(output_schema)
    return [candidate(source, text, pick_demos(pool, k, label, seed), rendering)
            for source, text in texts for k in demo_counts(len(pool), _n_classes(pool, label), ks)]


def retrieval_candidates(
    *,
    source: InstructionsSource,
    instructions: str,
    pool: Sequence[Demo],
    output_schema: Mapping[str, Any],
    ks: Sequence[int] | None,
    rendering: Rendering = JSON_SCHEMA,
) -> list[Candidate]:
    """Per-input retrieved demos from ``pool`` for each demo count (the same counts as fixed demos)."""
    n_classes = _n_classes(pool, label_field(output_schema))
    return [candidate(source, instructions, pool, rendering, retrieve_k=k)
            for k in demo_counts(len(pool), n_classes, ks)]


#: Share of the retrieval pool each later draw of a retrieval candidate retrieves from.
RETRIEVAL_DRAW_SHARE = 0.75


def redraw(cand: Candidate, draw: int, *, pool: Sequence[Demo], output_schema: Mapping[str, Any],
           seed: int) -> Candidate:
    """Draw ``draw`` (>= 1) of ``cand``: other demos, to see how much its score owes to the ones drawn.
    Fixed demos: ``k`` demos picked from ``pool`` with another seed. Retrieved demos: retrieval from a
    seeded subsample (:data:`RETRIEVAL_DRAW_SHARE`) of the candidate's own pool -- which examples
    happen to be there to retrieve is what varies between training sets."""
    rng_seed = seed + 7919 * draw
    if cand.retrieve_k is None:
        demos = pick_demos(pool, cand.k, label_field(output_schema), rng_seed)
    else:
        n = max(cand.retrieve_k, round(len(cand.demos) * RETRIEVAL_DRAW_SHARE))
        keep = set(random.Random(rng_seed).sample(range(len(cand.demos)), min(n, len(cand.demos))))
        demos = [d for i, d in enumerate(cand.demos) if i in keep]
    return replace(cand, demos=demos, draw=draw)
