"""Answer checks beyond the schema, for answers of several fields, learned from the labelled examples.

A JSON Schema says what shape an answer has; the labelled examples often say more. Where, in nearly every
example, a field's value is **copied** from the input (its words occur in the input's text once case and
punctuation are set aside), a value whose words do not is made up. Where nearly every example has a field,
an answer **without** it is missing something. Where two copied fields' values occur in the input **in one
order** in nearly every example, an answer that has them the other way round has swapped them.

:func:`learn_checks` finds these from the examples (each rule must hold in :data:`SUPPORT` of at least
:data:`MIN_EXAMPLES` examples); a spec may state its own instead (``SkillSpec.checks``). The checks a skill
runs with are in its settings; :func:`check_errors` says what an answer breaks, in words the student can
act on when it is asked again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from skillforge.spec.config import UserConfig

#: A rule is learned when it holds in at least this share of the examples it concerns...
SUPPORT = 0.97
#: ...and at least this many examples concern it.
MIN_EXAMPLES = 10
_WORD = re.compile(r"\w+", re.UNICODE)


class AnswerChecks(UserConfig):
    """Checks of an answer beyond its schema (see the module docstring). Empty: none."""

    #: Fields whose value is copied from the input: every word of it occurs in the input's text.
    copied: tuple[str, ...] = ()
    #: Fields every answer has (a non-empty value).
    required: tuple[str, ...] = ()
    #: Pairs ``(a, b)`` of copied fields whose values occur in the input's text ``a`` first.
    order: tuple[tuple[str, str], ...] = Field(default=())

    @property
    def empty(self) -> bool:
        return not (self.copied or self.required or self.order)

    def unknown_fields(self, output_schema: Mapping[str, Any]) -> list[str]:
        """The fields these checks name that ``output_schema`` does not have."""
        named = {*self.copied, *self.required, *(f for pair in self.order for f in pair)}
        return sorted(named - set(output_schema.get("properties") or {}))


def words(text: str) -> list[str]:
    """The words of ``text``, case-folded and without accents or punctuation."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    return _WORD.findall("".join(c for c in folded if not unicodedata.combining(c)))


def input_text(value: Mapping[str, Any]) -> str:
    """Every string of an input, joined: what a copied value must come from."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, Mapping):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(value)
    return "\n".join(out)


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _copied(value: Any, source: list[str]) -> bool:
    if not isinstance(value, str):
        return False
    have = set(source)
    return all(w in have for w in words(value))


def _position(value: Any, source: list[str]) -> int | None:
    """Where ``value``'s words first occur in ``source`` as a run (``None``: they do not)."""
    want = words(value) if isinstance(value, str) else []
    if not want:
        return None
    for i in range(len(source) - len(want) + 1):
        if source[i:i + len(want)] == want:
            return i
    return None


def learn_checks(examples: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
                 output_schema: Mapping[str, Any]) -> AnswerChecks:
    """The checks ``examples`` (input, expected answer) support for an output of two or more string
    fields (see the module docstring); none for other outputs."""
    fields = [f for f, p in (output_schema.get("properties") or {}).items()
              if isinstance(p, Mapping) and p.get("type") == "string" and "enum" not in p]
    if len(output_schema.get("properties") or {}) < 2 or not fields or len(examples) < MIN_EXAMPLES:
        return AnswerChecks()
    sources = [words(input_text(x)) for x, _ in examples]
    copied, required = [], []
    for f in fields:
        with_f = [(src, out[f]) for src, (_, out) in zip(sources, examples, strict=True) if _present(out.get(f))]
        if len(with_f) >= MIN_EXAMPLES and sum(_copied(v, src) for src, v in with_f) >= SUPPORT * len(with_f):
            copied.append(f)
        if len(with_f) >= SUPPORT * len(examples):
            required.append(f)
    order = []
    for i, a in enumerate(copied):
        for b in copied[i + 1:]:
            pairs = [(pa, pb) for src, (_, out) in zip(sources, examples, strict=True)
                     if (pa := _position(out.get(a), src)) is not None
                     and (pb := _position(out.get(b), src)) is not None and pa != pb]
            if len(pairs) < MIN_EXAMPLES:
                continue
            first = sum(pa < pb for pa, pb in pairs)
            if first >= SUPPORT * len(pairs):
                order.append((a, b))
            elif len(pairs) - first >= SUPPORT * len(pairs):
                order.append((b, a))
    return AnswerChecks(copied=tuple(copied), required=tuple(required), order=tuple(order))


def check_errors(output: Mapping[str, Any], input: Mapping[str, Any], checks: AnswerChecks) -> list[str]:
    """What ``output`` breaks of ``checks`` for ``input``, one sentence each (empty: nothing)."""
    source = words(input_text(input))
    errors = []
    for f in checks.required:
        if not _present(output.get(f)):
            errors.append(f"{f} is missing: nearly every answer has one")
    for f in checks.copied:
        value = output.get(f)
        if _present(value) and not _copied(value, source):
            errors.append(f"{f} {value!r} is not in the input: copy its words from the input exactly as written")
    for a, b in checks.order:
        pa, pb = _position(output.get(a), source), _position(output.get(b), source)
        if pa is not None and pb is not None and pa > pb:
            errors.append(f"{a} {output[a]!r} comes after {b} {output[b]!r} in the input, but {a} comes first: "
                          "are the two swapped?")
    return errors
