"""Per-input demo selection: the demos whose inputs are most similar to the input at hand.

Similarity is Okapi BM25 over a lexical bag of each input's text: lower-cased word tokens plus
character 4-grams of each word. Word tokens carry the topic ("playlist", "weather"); the character
grams let "playlists" match "playlist" and tolerate typos and abbreviations ("Ave" / "Avenue" share
little, but "Broadway" / "Broadwy" do). It is a few dozen lines of stdlib, so no dependency and no
model download; rank-bm25 would give the scoring but not this tokenisation, nor the deterministic
tie-breaking the prompts need (same input -> same demos -> same cache key).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from skillforge.run.prompt import render_input

_WORD = re.compile(r"\w+", re.UNICODE)
K1 = 1.2
B = 0.75
GRAM = 4


def input_text(value: Mapping[str, Any]) -> str:
    """The text of an input that similarity is computed on: its string values (sorted keys), else its JSON."""
    parts = [str(value[k]) for k in sorted(value) if isinstance(value[k], str)]
    return " ".join(parts) if parts else render_input(value)


def terms(text: str) -> list[str]:
    """Word tokens and per-word character 4-grams (words padded with spaces so edges count)."""
    out: list[str] = []
    for word in _WORD.findall(text.casefold()):
        out.append("w:" + word)
        padded = f" {word} "
        if len(padded) > GRAM:
            out.extend("c:" + padded[i : i + GRAM] for i in range(len(padded) - GRAM + 1))
    return out


class DemoIndex:
    """A BM25 index over the inputs of a demo pool. :meth:`top` returns pool positions."""

    def __init__(self, inputs: Sequence[Mapping[str, Any]]) -> None:
        self._docs = [Counter(terms(input_text(v))) for v in inputs]
        self._lengths = [sum(d.values()) for d in self._docs]
        self._avg = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0
        df: Counter[str] = Counter()
        for d in self._docs:
            df.update(d.keys())
        n = len(self._docs)
        # The "+1" BM25 variant (Lucene's): idf stays positive even for terms in most documents.
        self._idf = {t: math.log(1.0 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    def __len__(self) -> int:
        return len(self._docs)

    def scores(self, query: Mapping[str, Any]) -> list[float]:
        """BM25 score of every pool input against ``query``."""
        q = set(terms(input_text(query)))
        out = []
        for doc, length in zip(self._docs, self._lengths, strict=True):
            norm = K1 * (1.0 - B + B * length / self._avg) if self._avg else K1
            s = 0.0
            for t in q:
                tf = doc.get(t)
                if tf:
                    s += self._idf[t] * tf * (K1 + 1.0) / (tf + norm)
            out.append(s)
        return out

    def top(self, query: Mapping[str, Any], k: int) -> list[int]:
        """Positions of the ``k`` most similar pool inputs, most similar first. Ties go to the
        earlier pool position, so the choice is deterministic."""
        scores = self.scores(query)
        ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return ranked[: max(0, k)]


def retrieve(
    index: DemoIndex, pool: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]], query: Mapping[str, Any], k: int
) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """The ``k`` demos most similar to ``query``, ordered least to most similar: the closest demo
    sits right before the input, where a small model attends to it most."""
    return [pool[i] for i in reversed(index.top(query, k))]


def without_inputs(
    pool: Sequence[Any], held_out: Sequence[Mapping[str, Any]], key: Any = None
) -> list[Any]:
    """``pool`` minus every item whose input equals one of ``held_out`` (compared as rendered JSON),
    and minus repeated inputs (first kept). The overfitting guard: a dev or regression case must
    never be shown to the student as a demo, or dev scores would measure memory, not skill."""
    get = key or (lambda item: item.input)
    banned = {render_input(h) for h in held_out}
    out, seen = [], set()
    for item in pool:
        rendered = render_input(get(item))
        if rendered in banned or rendered in seen:
            continue
        seen.add(rendered)
        out.append(item)
    return out
