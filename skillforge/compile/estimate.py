"""What a compile will cost, before any model is called.

:func:`estimate_compile` plans the compile's calls step by step from the spec, the examples and the
options -- the teacher's draft and demo pool, the races of selection, the refinement rounds, the
calibration (with the samples or second opinion a student's confidence needs) -- and sizes each call's
prompt and answer from the examples' own text. Where the search can stop early the plan is a range:
**low** when every candidate that may stop does so at its first look and no refinement is tried, **high**
when nothing stops and every round runs. Token counts come from the student's tokenizer when it has one
(the local model), else from the text's length at :data:`CHARS_PER_TOKEN`. Dollars are the tokens at list
price -- a local model at its role's reference Claude price (Haiku 5.5 for a student, Opus 5.5 for a
teacher) -- and the **minimum** is the worst case of what a skill cannot do without (the draft, the demo
pool, the baseline on dev, the calibration): a compile budget below it fails before the first call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skillforge.compile.candidates import demo_counts, label_field
from skillforge.compile.drafting import DRAFT_MAX_TOKENS
from skillforge.compile.race import BATCH
from skillforge.compile.refine import REVISE_MAX_TOKENS
from skillforge.format import RENDERINGS, CompileOptions, StepEstimate
from skillforge.models.base import Model, Usage
from skillforge.models.pricing import REFERENCE_STUDENT, REFERENCE_TEACHER, cost_usd, price_for
from skillforge.run.prompt import plain_instructions, render_input, render_output, system_text, template_instructions
from skillforge.spec import Example, SkillSpec

#: Characters per token where no tokenizer is at hand (English prose and JSON: about four).
CHARS_PER_TOKEN = 4.0
#: Tokens a chat turn adds around its text (role markers, separators).
TURN_OVERHEAD = 6
#: What the teacher's draft and revision prompts add to the examples or failures they show, and their answers
#: (as long as the requests allow: a small teacher writes up to its limit, and its text then sits in every
#: student prompt that uses it).
DRAFT_PROMPT, DRAFT_ANSWER = 250, DRAFT_MAX_TOKENS
REVISE_PROMPT, REVISE_ANSWER = 350, REVISE_MAX_TOKENS
#: The share of student answers the high end allows to be re-asked (invalid answers are asked once more).
REASKS = 0.15
#: ... when the answers are held to checks (stated in the spec or learned from the examples): any answer may
#: break one and be repaired, asked once more.
CHECKED_REASKS = 1.0


@dataclass(frozen=True)
class Span:
    """A planned quantity: low and high."""

    low: float
    high: float

    @property
    def mid(self) -> float:
        return (self.low + self.high) / 2

    def __add__(self, other: Span) -> Span:
        return Span(self.low + other.low, self.high + other.high)

    def times(self, x: float) -> Span:
        return Span(self.low * x, self.high * x)

    def plus(self, x: float) -> Span:
        return Span(self.low + x, self.high + x)


ZERO = Span(0.0, 0.0)


@dataclass
class Line:
    """One step's calls by one role, with their tokens and dollars."""

    step: str
    role: str
    calls: Span = ZERO
    input_tokens: Span = ZERO
    output_tokens: Span = ZERO
    usd: Span = ZERO

    def add(self, calls: Span, prompt: float | Span, answer: float, price: Callable[[float, float], float]) -> None:
        """``calls`` calls of ``prompt`` tokens in (a span: the low end's calls are the shorter prompts) and
        ``answer`` out, at ``price`` per call."""
        p = prompt if isinstance(prompt, Span) else Span(prompt, prompt)
        self.calls += calls
        self.input_tokens += Span(calls.low * p.low, calls.high * p.high)
        self.output_tokens += calls.times(answer)
        self.usd += Span(calls.low * price(p.low, answer), calls.high * price(p.high, answer))

    def with_reasks(self, share: float) -> None:
        """Up to ``share`` of the calls re-asked once (the high end only)."""
        up = 1.0 + share
        self.calls, self.input_tokens = Span(self.calls.low, self.calls.high * up), Span(
            self.input_tokens.low, self.input_tokens.high * up)
        self.output_tokens, self.usd = Span(self.output_tokens.low, self.output_tokens.high * up), Span(
            self.usd.low, self.usd.high * up)


@dataclass
class CompileEstimate:
    """The plan: one :class:`Line` per step and role, and the minimum a budget must allow."""

    teacher: str
    student: str
    lines: list[Line] = field(default_factory=list)
    minimum_usd: float = 0.0
    #: The worst case of the calls that may be in flight at once (what a budget keeps spare).
    in_flight_usd: float = 0.0
    #: What the plan assumed, in words (for the report).
    assumptions: list[str] = field(default_factory=list)

    def line(self, step: str, role: str) -> Line:
        for ln in self.lines:
            if (ln.step, ln.role) == (step, role):
                return ln
        ln = Line(step, role)
        self.lines.append(ln)
        return ln

    def total(self, what: str = "calls", step: str | None = None) -> Span:
        out = ZERO
        for ln in self.lines:
            if step is None or ln.step == step:
                out += getattr(ln, what)
        return out

    def steps(self) -> list[StepEstimate]:
        """The plan per step (roles summed), as a skill's metrics record it."""
        def span(what: str, step: str) -> tuple[int, int]:
            s = self.total(what, step)
            return math.floor(s.low), math.ceil(s.high)

        out = []
        for step in dict.fromkeys(ln.step for ln in self.lines):
            usd = self.total("usd", step)
            out.append(StepEstimate(step=step, calls=span("calls", step), input_tokens=span("input_tokens", step),
                                    output_tokens=span("output_tokens", step),
                                    usd=(round(usd.low, 6), round(usd.high, 6))))
        return out

    def to_json(self) -> dict[str, Any]:
        def span(s: Span, nd: int = 0) -> list[float]:
            return [round(s.low, nd), round(s.high, nd)] if nd else [math.floor(s.low), math.ceil(s.high)]

        return {"teacher": self.teacher, "student": self.student, "minimum_usd": round(self.minimum_usd, 6),
                "lines": [{"step": ln.step, "role": ln.role, "calls": span(ln.calls),
                           "input_tokens": span(ln.input_tokens), "output_tokens": span(ln.output_tokens),
                           "usd": span(ln.usd, 6)} for ln in self.lines],
                "calls": span(self.total()), "input_tokens": span(self.total("input_tokens")),
                "output_tokens": span(self.total("output_tokens")), "usd": span(self.total("usd"), 6),
                "assumptions": self.assumptions}


def _pricer(model: Model, reference: str) -> Callable[[float, float], float]:
    """Dollars per call of ``model``: its own price, or a local (free) model's role reference."""
    own = model.cost_usd(Usage(input_tokens=1_000_000, output_tokens=0))
    ref = price_for(reference, warn=False)

    def price(prompt: float, answer: float) -> float:
        usage = Usage(input_tokens=round(prompt), output_tokens=round(answer))
        cost = model.cost_usd(usage)
        if own and cost is not None:
            return cost
        return cost_usd(usage, ref) if ref is not None else 0.0

    return price


def _counter(student: Model) -> Callable[[str], float]:
    count = getattr(student, "count_tokens", None)
    if callable(count):
        return lambda text: float(count(text))
    return lambda text: len(text) / CHARS_PER_TOKEN


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


@dataclass(frozen=True)
class _Sizes:
    """Tokens of a compile's calls, sized from the examples and the prompts' own text: the system prompt with
    the spec's template instructions, with the teacher's draft in their place (from as long as the template to
    as long as a draft may be), and the plain prompt's; an input, an answer, a demo (both turns)."""

    input: float
    answer: float
    system: float
    teacher_system: Span
    plain_system: float
    demo: float


def _sizes(spec: SkillSpec, train: Sequence[Example], dev: Sequence[Example], count: Callable[[str], float],
           schema_share: float) -> _Sizes:
    """``schema_share``: the share of the renderings tried that show the output schema's text."""
    schema = spec.output_schema
    inputs = [render_input(e.input) for e in [*train, *dev]][:200]
    answers = [render_output(e.expected, schema) for e in [*train, *dev] if e.expected is not None][:200]
    input_tokens = _mean([count(x) for x in inputs]) + TURN_OVERHEAD
    answer_tokens = max(1.0, _mean([count(a) for a in answers]))
    template = template_instructions(spec.description, schema)
    # What showing the schema adds to the system prompt, in the share of the renderings that show it.
    shown = schema_share * max(0.0, count(system_text(template, schema, True)) - count(template))
    system = count(template) + shown + TURN_OVERHEAD
    plain = count(plain_instructions(spec.description)) + TURN_OVERHEAD
    return _Sizes(input_tokens, answer_tokens, system, Span(system, DRAFT_MAX_TOKENS + shown + TURN_OVERHEAD), plain,
                  input_tokens + answer_tokens + TURN_OVERHEAD)


@dataclass(frozen=True)
class Extras:
    """What a compile asks beyond one answer per case: ``sampling``, the calibration measures the student's
    extra samples; ``second_opinion``, the model asked for one (``None``: none); ``checked``, the answers are
    held to checks beyond the schema (a broken one is repaired by a re-ask)."""

    sampling: bool = False
    second_opinion: Model | None = None
    checked: bool = False


def estimate_compile(
    spec: SkillSpec, train: Sequence[Example], dev: Sequence[Example], options: CompileOptions, *,
    teacher: Model, student: Model, extras: Extras = Extras(),
) -> CompileEstimate:
    """The plan of a compile of ``spec`` on ``train`` and ``dev`` (see the module docstring and
    :class:`Extras`)."""
    o = options
    sampling, second_opinion, checked = extras.sampling, extras.second_opinion, extras.checked
    reasks = CHECKED_REASKS if checked else REASKS
    renderings = renderings_tried(o, student)
    size = _sizes(spec, train, dev, _counter(student), schema_share(o, student))
    prices = (_pricer(teacher, REFERENCE_TEACHER), _pricer(student, REFERENCE_STUDENT))
    plan = CompileEstimate(teacher.model_id, student.model_id)
    n_dev, n_train = len(dev), sum(e.expected is not None for e in train)
    pool = min(o.search.max_demo_pool, len(train))
    data = _Data(size, n_dev, n_train, pool)
    # draft: the teacher's instructions, its answers to unlabelled dev cases and to the demo pool.
    draft = plan.line("draft", "teacher")
    draft.add(Span(1, 1), DRAFT_PROMPT + 8 * size.demo, DRAFT_ANSWER, prices[0])
    asked = pool + sum(e.expected is None for e in dev)
    draft.add(Span(asked, asked), size.system + size.input, size.answer, prices[0])
    ks, most = _plan_select(plan, spec, o, data, renderings, prices[1])
    plan.line("select", "student").with_reasks(reasks)
    rounds = o.search.refine_rounds
    if rounds:  # each round: a revision by the teacher, and its race against the choice
        plan.line("refine", "teacher").add(Span(0, rounds), REVISE_PROMPT + 12 * size.demo, REVISE_ANSWER, prices[0])
        plan.line("refine", "student").add(Span(0, rounds * n_dev), size.teacher_system.plus(size.input),
                                           size.answer, prices[1])
        plan.line("refine", "student").with_reasks(reasks)
    extra = _plan_calibrate(plan, o, data, (min(ks) if ks else 0, most), (student, second_opinion), sampling,
                            prices[1])
    plan.line("calibrate", "student").with_reasks(reasks)
    in_flight = 1 if student.is_local else 8
    plan.in_flight_usd = (in_flight * prices[1]((size.system + size.input) * CHARS_PER_TOKEN, o.max_tokens)
                          + prices[0](DRAFT_PROMPT * CHARS_PER_TOKEN, o.max_tokens))
    plan.minimum_usd = (_minimum(plan, n_dev, size.system + size.input, size.answer, prices[1], reasks)
                        + plan.in_flight_usd)
    plan.assumptions = [
        f"prompts sized from the examples: ~{size.input:.0f} tokens per input, ~{size.answer:.0f} per answer, "
        f"~{size.system:.0f} of instructions (up to ~{size.teacher_system.high:.0f} with the teacher's text), "
        f"~{size.demo:.0f} per demo",
        f"low: every candidate that may stop does so after its first {min(BATCH, n_dev)} dev cases and no "
        f"refinement is tried; high: nothing stops, every round runs, up to {reasks:.0%} of answers re-asked"
        + (" (the answers are held to checks: any may be repaired)" if checked else ""),
        f"{extra} held-out examples calibrated on" + (f", each with {o.confidence.samples - 1} extra samples"
                                                      if sampling else ""),
    ]
    return plan


def schema_share(options: CompileOptions, student: Model) -> float:
    """The share of the renderings tried (:func:`renderings_tried`) that show the output schema's text."""
    structured = student.supports_structured_output
    tried = [r for r in options.search.renderings if "+schema" in r or structured] or list(RENDERINGS)
    return sum("+schema" in r for r in tried) / len(tried)


def renderings_tried(options: CompileOptions, student: Model) -> int:
    """How many zero-shot renderings the selection tries besides the baseline: a student without
    constrained decoding only those that show the schema's text."""
    structured = student.supports_structured_output
    return sum(1 for r in options.search.renderings if "+schema" in r or structured) or len(RENDERINGS)


@dataclass(frozen=True)
class _Data:
    """What the plan is sized from: the calls' tokens, the dev cases, the labelled training examples and
    the demo pool."""

    size: _Sizes
    n_dev: int
    n_train: int
    pool: int


def _plan_select(plan: CompileEstimate, spec: SkillSpec, o: CompileOptions, data: _Data, renderings: int,
                 price: Callable[[float, float], float]) -> tuple[list[int], int]:
    """The races of selection: the baseline in full, the template in each rendering and the teacher's text,
    fixed demos with two texts, demo groups and retrieval with one, and the leader's demo draws. Returns the
    fixed demo counts tried and the most demos any candidate shows."""
    size, n_dev, n_train, pool = data.size, data.n_dev, data.n_train, data.pool
    schema = spec.output_schema
    n_classes = len((schema.get("properties") or {}).get(label_field(schema) or "", {}).get("enum", [])) or None
    ks = demo_counts(pool, n_classes, o.search.ks)
    search = o.search
    asked = search.retrieval_ks if search.retrieval_ks is not None else search.ks
    rks = demo_counts(min(search.max_retrieval_pool, n_train), n_classes, asked) if search.retrieval else []
    stoppable = Span(min(BATCH, n_dev), n_dev)
    select = plan.line("select", "student")
    select.add(Span(n_dev, n_dev), size.plain_system + size.input, size.answer, price)  # the baseline
    select.add(stoppable.times(renderings), size.system + size.input, size.answer, price)
    select.add(stoppable, size.teacher_system.plus(size.input), size.answer, price)  # the teacher's text
    # With demos: the two best texts (the template's, the teacher's) or the best one, either.
    either = size.teacher_system.plus(size.system).times(0.5)
    fixed = [k for k in ks for _ in range(2)]
    pooled = [k for k in rks for _ in range(2 if o.search.clustered else 1)]
    for k in [*fixed, *pooled]:
        select.add(stoppable, either.plus(size.input + k * size.demo), size.answer, price)
    if o.search.draws > 1 and (fixed or pooled):
        k_mean = _mean([float(k) for k in [*fixed, *pooled]])
        select.add(Span(0, (o.search.draws - 1) * n_dev), either.plus(size.input + k_mean * size.demo),
                   size.answer, price)
    return ks, max([0, *ks, *rks])


def _plan_calibrate(plan: CompileEstimate, o: CompileOptions, data: _Data, demos: tuple[int, int],
                    models: tuple[Model, Model | None], sampling: bool, price: Callable[[float, float], float]) -> int:
    """Dev again (class probabilities or samples), every held-out example, and the evidence calls; ``demos``:
    the fewest fixed demos a chosen prompt shows (kept out of the held-out examples) and the most any shows;
    ``models``: the student and the second opinion's model (``None``: none asked). The chosen prompt is not
    known yet: from the template's zero-shot prompt to the teacher's text with the most demos."""
    size, n_dev, n_train = data.size, data.n_dev, data.n_train
    student, second_opinion = models
    shown, most = demos
    extra = min(max(0, n_train - shown), 1000 if o.search.calibration_extra is None else o.search.calibration_extra)
    again = n_dev if (student.supports_choice_scores or sampling) else 0
    prompt = Span(size.system + size.input, size.teacher_system.high + size.input + most * size.demo)
    calibration = plan.line("calibrate", "student")
    calibration.add(Span(extra + again, extra + again), prompt, size.answer, price)
    if sampling:
        samples = (o.confidence.samples - 1) * (extra + n_dev)
        plan.line("calibrate", "samples").add(Span(samples, samples), prompt, size.answer, price)
    if second_opinion is not None:
        plan.line("calibrate", "second opinion").add(Span(extra + n_dev, extra + n_dev), size.plain_system + size.input,
                                                     size.answer, _pricer(second_opinion, REFERENCE_STUDENT))
    return extra


def _minimum(plan: CompileEstimate, n_dev: int, prompt: float, answer: float,
             student_price: Callable[[float, float], float], reasks: float) -> float:
    """What a skill cannot do without, at the high end: the draft and pool, the baseline, the calibration
    (the caller adds the worst case of the calls that may be in flight at once)."""
    musts = [ln.usd.high for ln in plan.lines if ln.step in ("draft", "calibrate")]
    return sum(musts) + n_dev * student_price(prompt, answer) * (1 + reasks)


def expected_vs_actual(estimate: Mapping[str, Any], actual_calls: int) -> float:
    """``actual_calls`` as a share of the estimate's midpoint (1.0: on the midpoint)."""
    low, high = estimate["calls"]
    mid = (low + high) / 2
    return actual_calls / mid if mid else 0.0
