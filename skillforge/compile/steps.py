"""Compilation's steps, each a function over :class:`~skillforge.compile.state.CompileState`:

prepare -> draft -> select -> refine -> calibrate (:mod:`~skillforge.compile.calibrate`) -> assemble.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from skillforge.compile.budget import BudgetExhausted
from skillforge.compile.candidates import (
    PLAIN,
    Candidate,
    Rendering,
    build_candidates,
    candidate,
    clustered_twin,
    label_field,
    redraw,
    retrieval_candidates,
    zero_shot_candidates,
)
from skillforge.compile.classifier_tier import ClassifierFit, embed_inputs, train_classifier
from skillforge.compile.drafting import draft_instructions, teacher_demos
from skillforge.compile.measure import Answerer, DevCase
from skillforge.compile.race import race
from skillforge.compile.refine import failures_of, over_budget, revise_instructions
from skillforge.compile.selection import Scored, best, choose, clearly_better, paired_gain
from skillforge.compile.state import CompileState, Drafted, Selected
from skillforge.errors import SpecError
from skillforge.format import Demo, InstructionsSource, RefinementRound
from skillforge.models.pricing import total_cost
from skillforge.run import ask, build_request, without_inputs
from skillforge.run.ask import Acceptance
from skillforge.spec import Example

MIN_DEV = 4


def _r(x: float) -> float:
    return round(x, 4)


def split_dev(
    examples: Sequence[Example], *, fraction: float, max_dev: int, seed: int
) -> tuple[list[Example], list[Example]]:
    """(train, dev): a seeded share of the labelled examples becomes dev (at least MIN_DEV, at most
    ``max_dev``); unlabelled examples always stay in train."""
    labelled = [e for e in examples if e.expected is not None]
    rest = [e for e in examples if e.expected is None]
    rng = random.Random(seed)
    shuffled = list(labelled)
    rng.shuffle(shuffled)
    n_dev = min(max_dev, max(MIN_DEV, round(len(shuffled) * fraction)))
    if len(shuffled) - n_dev < 1:
        raise SpecError(
            f"need at least {MIN_DEV + 1} labelled examples to split off a dev set (got {len(shuffled)}); "
            "add labelled examples or pass dev_examples="
        )
    return shuffled[n_dev:] + rest, shuffled[:n_dev]


def draft_samples(train: Sequence[Example], schema: Mapping[str, Any], n: int, seed: int) -> list[Example]:
    """Up to ``n`` labelled examples for the teacher's draft, spread over label values."""
    label = label_field(schema)
    rng = random.Random(seed + 1)
    n_labels = len(schema["properties"][label].get("enum", [])) if label is not None else 0
    per_label = max(1, n // max(1, n_labels))
    pool = [e for e in train if e.expected is not None]
    rng.shuffle(pool)
    if label is None:
        return pool[:n]
    seen: dict[str, int] = {}
    out = []
    for e in pool:
        key = str((e.expected or {}).get(label))
        if seen.get(key, 0) < per_label:
            out.append(e)
            seen[key] = seen.get(key, 0) + 1
    return out[:n]


def prepare(examples: list[Example], dev_examples: list[Example] | None, *, seed: int, fraction: float,
            max_dev: int) -> tuple[list[Example], list[Example]]:
    """(train, dev examples). The overfitting guard: a dev (= regression) input never doubles as a demo,
    even when the caller's dev set overlaps the examples; repeated training inputs are kept once."""
    if dev_examples is None:
        train, dev_ex = split_dev(examples, fraction=fraction, max_dev=max_dev, seed=seed)
    else:
        if not dev_examples:
            raise SpecError("dev_examples is empty", field="dev_examples")
        train, dev_ex = list(examples), list(dev_examples)
    train = without_inputs(train, [e.input for e in dev_ex])
    if not train:
        raise SpecError("no training examples are left once the dev inputs are removed", field="examples")
    return train, dev_ex


async def _references(state: CompileState, teacher_text: str | None) -> list[DevCase]:
    """Dev cases need a reference answer: the label, else the teacher's answer to its instructions
    (``teacher_text``, else the template's; dropped if it fails)."""
    spec, o = state.spec, state.options
    unlabelled = [e for e in state.dev_examples if e.expected is None]
    if unlabelled:
        state.progress.stage("teacher: answering unlabelled dev cases", len(unlabelled))
    sem = asyncio.Semaphore(state.teacher_concurrency())

    async def reference(e: Example) -> DevCase | None:
        if e.expected is not None:
            return DevCase(e.input, e.expected)
        req = build_request(instructions=teacher_text or state.template_text, output_schema=spec.output_schema,
                            demos=[], input=e.input, max_tokens=o.max_tokens)
        async with sem:
            out = await ask(state.teacher, "teacher", req, Acceptance(spec.output_schema), state.site)
        state.progress.advance()
        return DevCase(e.input, out.output) if out.accepted and out.output is not None else None

    # In dev order; concurrent (one batch with a batching teacher), one at a time for a local teacher.
    dev = [c for c in await asyncio.gather(*map(reference, state.dev_examples)) if c is not None]
    if not dev:
        raise SpecError("no dev case has a reference answer (no labels, and the teacher failed on all)")
    return dev


async def draft(state: CompileState) -> None:
    """The teacher drafts instructions, supplies missing dev references, and answers training examples
    (the demo pool)."""
    o = state.options
    state.progress.stage("teacher: drafting instructions", 1)
    teacher_text = await draft_instructions(
        state.teacher, state.spec, draft_samples(state.train, state.spec.output_schema, 8, o.seed), ledger=state.ledger)
    state.progress.advance()
    dev = await _references(state, teacher_text)
    train_pool = state.train[: o.search.max_demo_pool]
    state.progress.stage("teacher: answering training examples", len(train_pool))
    teacher = Answerer(state.teacher, state.spec.output_schema, state.spec.input_schema, o.comparators, o.max_tokens,
                       state.site, state.teacher_concurrency(), state.progress, role="teacher")
    taught = await teacher_demos(teacher, teacher_text or state.template_text, train_pool)
    state.drafted = Drafted(teacher_text, dev, taught)


def _renderings(state: CompileState) -> tuple[Rendering, list[Rendering]]:
    """The baseline's rendering and the renderings to try. A student without constrained decoding
    needs the schema's text in the prompt."""
    structured = state.student.supports_structured_output
    tried = [r for r in map(Rendering.named, state.options.search.renderings) if r.schema_in_prompt or structured]
    return (PLAIN if structured else Rendering("plain", schema_in_prompt=True)), tried


async def _redraw(state: CompileState, scored: list[Scored]) -> None:
    """The leading contender with demos -- the best-scoring one that clearly beats the baseline on its
    first draw -- measured over ``draws - 1`` more demo draws: its spread (a candidate with demos must beat
    the baseline by more than it). The others cannot be chosen over it without clearly beating it."""
    o, base = state.options, scored[0]
    if o.search.draws < 2:
        return
    contenders = [sc for sc in scored if sc.candidate.k > 0 and not sc.draws[0].stopped
                  and clearly_better(sc, base, o.search.selection_z)]
    if not contenders:
        return
    lead = best(contenders)
    draws = []
    try:
        for d in range(1, o.search.draws):
            cand = redraw(lead.candidate, d, pool=state.pool, output_schema=state.spec.output_schema, seed=o.seed)
            draws.append(await state.measure(cand, state.dev, f"dev, demo draw {d + 1}"))
    except BudgetExhausted:
        if state.budget is not None:
            state.budget.cut(f"the demo draws of {lead.candidate.name} (its spread unmeasured, it cannot win)")
        return
    state.measurements.extend(draws)
    lead.draws.extend(draws)


def _retrieval_pool(state: CompileState) -> list[Demo]:
    """The teacher-checked demos plus further labelled training examples (labels need no teacher call),
    without dev inputs: what demo groups and per-input retrieval draw from."""
    o = state.options
    labelled = [Demo(input=e.input, output=e.expected, source="label")
                for e in state.train[o.search.max_demo_pool:] if e.expected is not None]
    return without_inputs(state.pool + labelled, [c.input for c in state.dev])[: o.search.max_retrieval_pool]


def _demo_candidates(state: CompileState, texts: Sequence[tuple[InstructionsSource, str]], rendering: Rendering
                     ) -> list[Candidate]:
    """Fixed demos with each text; demo groups and per-input retrieved demos with the first (best) text."""
    o, schema = state.options, state.spec.output_schema
    out = build_candidates(texts=texts, pool=state.pool, output_schema=schema, ks=o.search.ks, seed=o.seed,
                           rendering=rendering)
    pool = _retrieval_pool(state)
    if o.search.retrieval and pool and texts:
        source, text = texts[0]
        ks = o.search.retrieval_ks if o.search.retrieval_ks is not None else o.search.ks
        retrieved = retrieval_candidates(source=source, instructions=text, pool=pool, output_schema=schema, ks=ks,
                                         rendering=rendering)
        for cand in retrieved:
            if o.search.clustered and len(cand.demos) > cand.k:
                out.append(clustered_twin(cand))
            out.append(cand)
    return out


async def select(state: CompileState) -> None:
    """Race the candidates on dev (:mod:`~skillforge.compile.race`) and choose (see
    :func:`~skillforge.compile.selection.choose`). First the zero-shot prompts: the plain prompt (the
    baseline, measured in full) and the template instructions in each rendering; then the teacher's
    instructions in the best of those renderings. Then, in that rendering, fixed demos with the two best
    texts, and demo groups and per-input retrieved demos with the best. Then more demo draws of the leading
    contender with demos. Every race holds its candidates against everything measured before it."""
    o = state.options
    if state.budget is not None and state.estimate is not None:
        # The calibration's worst case stays spare while candidates are raced and refined.
        state.budget.hold(state.estimate.total("usd", "calibrate").high + state.estimate.in_flight_usd)
    baseline, renderings = _renderings(state)
    plain, *templates = zero_shot_candidates(plain_text=state.plain_text, template_text=state.template_text,
                                             renderings=renderings, baseline=baseline)
    first = await race(state, [plain, *templates], what="zero-shot", finish=[0])
    done = [m for m in first if not m.stopped]
    rendering = best([Scored([m]) for m in done]).candidate.rendering
    if state.teacher_text:
        first += await race(state, [candidate("teacher", state.teacher_text, [], rendering)], what="teacher's",
                            rivals=done)
        done = [m for m in first if not m.stopped]
    ranked = [sc.draws[0] for sc in sorted((Scored([m]) for m in done), key=lambda sc: -sc.score)]
    texts: list[tuple[InstructionsSource, str]] = list(dict.fromkeys(
        (m.candidate.instructions_source, m.candidate.instructions) for m in ranked))
    second = await race(state, _demo_candidates(state, texts[:2], rendering), what="demo", rivals=done)
    scored = [Scored([m]) for m in [*first, *second]]
    await _redraw(state, scored)
    choice, why = choose([sc for sc in scored if not sc.draws[0].stopped], z=o.search.selection_z,
                         need_spread=o.search.draws > 1)
    state.selected = Selected(scored, choice.committed, why)


async def refine(state: CompileState) -> None:
    """The teacher revises the chosen instructions from the student's dev failures; each revision races
    the choice (:mod:`~skillforge.compile.race`: it stops once the choice clearly beats it) and is kept
    only if it clearly beats the choice. Stops at the first revision that does not help (a
    deterministic teacher shown the same failures would write the same text again)."""
    o = state.options
    spent: float | None = 0.0
    for n in range(1, o.search.refine_rounds + 1):
        chosen = state.the_choice()
        failures = failures_of(chosen, state.dev, limit=12)
        if not failures or over_budget(spent, o.search.refine_budget_usd):
            return
        state.progress.stage(f"teacher: refinement round {n}", 1)
        try:
            text, cost = await revise_instructions(state.teacher, state.spec, chosen.candidate.instructions,
                                                   failures, ledger=state.ledger)
        except BudgetExhausted:
            if state.budget is not None:
                state.budget.cut(f"refinement from round {n} on")
            return
        state.progress.advance()
        spent = total_cost([spent, cost])
        if text is None:
            _record_round(state, RefinementRound(round=n, failures_shown=len(failures),
                                                 dev_score_before=_r(chosen.score)))
            return
        base = chosen.candidate
        (ev,) = await race(state, [replace(base, name=f"{base.name}~r{n}", instructions_source="teacher",
                                           instructions=text)], what="revised", rivals=[chosen])
        kept = not ev.stopped and clearly_better(ev, chosen, o.search.selection_z)
        _record_round(state, RefinementRound(
            round=n, failures_shown=len(failures), dev_score_before=_r(chosen.score), dev_score_after=_r(ev.score),
            kept=kept, cases_measured=len(ev.cases) if ev.stopped else None), revision=Scored([ev]))
        if not kept:
            return
        gain, se = paired_gain(ev, chosen)
        sel = state.the_selection()
        state.selected = replace(sel, chosen=ev, why=f"{sel.why}; revision r{n} kept: {gain:+.3f} \u00b1 {se:.3f}")


def _record_round(state: CompileState, done: RefinementRound, revision: Scored | None = None) -> None:
    """The selection with one more refinement round (and the revision it measured, if any)."""
    sel = state.the_selection()
    scored = sel.scored if revision is None else [*sel.scored, revision]
    state.selected = replace(sel, scored=scored, rounds=[*sel.rounds, done])


async def fit_classifier(state: CompileState) -> ClassifierFit | None:
    """The classifier tier trained on the training examples, reading each input's embedding when the
    compile has an embedder (:attr:`CompileState.embedder`); ``None`` when the output is no single enum."""
    o = state.options
    others = [Example(input=c.input, expected=c.expected) for c in state.dev]
    embeddings = None
    if state.embedder is not None:
        embeddings = await embed_inputs(state.embedder, [e.input for e in [*state.train, *others]], state.progress)
    return train_classifier(state.spec.output_schema, state.train, others, target_precision=o.target_precision,
                            confidence_level=o.confidence_level, seed=o.seed, embeddings=embeddings)
