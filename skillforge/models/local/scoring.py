"""Reading confidence out of llama.cpp's logits: the answer's value-token log-probability, and the
probability of every allowed value of an enum or boolean field (a distribution over the classes).

Generation keeps the logits row each generated token was sampled from (``answer_logits``, see
:mod:`skillforge.models.local.model`). The value-token log-probability sums those rows' entries for the
tokens that spell a JSON value. The class distribution scores each allowed value's continuation from
the point where the answer's value begins (the KV cache up to there is reused, the rows generation
kept are reused, and each other value's tokens are evaluated in one decode that returns every
position's logits) and normalises: a real probability over the classes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

_LITERAL = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def value_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the JSON *values* in ``text`` (string contents, numbers, literals), leaving
    out keys and punctuation, which the schema grammar forces and which say nothing about the answer."""
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            k = j + 1
            while k < n and text[k] in " \t\r\n":
                k += 1
            if not (k < n and text[k] == ":"):
                spans.append((i + 1, min(j, n)))
            i = j + 1
            continue
        m = _LITERAL.match(text, i)
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            spans.append(m.span())
            i = m.end()
            continue
        i += 1
    return spans


def answer_logprob(tokens: list[tuple[str, float]]) -> float:
    """Summed log-probability of the tokens that overlap a JSON value of the answer (all tokens when
    the answer is not JSON-shaped). ``exp`` of it is the confidence: it ranks the student's answers
    by how sure the model was of what it chose; the escalation threshold is then set on dev data."""
    text = "".join(t for t, _ in tokens)
    spans = value_spans(text)
    if not spans:
        return float(sum(lp for _, lp in tokens))
    total, pos = 0.0, 0
    for tok, lp in tokens:
        start, end = pos, pos + len(tok)
        pos = end
        if any(start < b and a < end for a, b in spans):
            total += lp
    return total


def field_logprobs(tokens: list[tuple[str, float]], schema: Mapping[str, Any] | None) -> dict[str, float]:
    """Per top-level field of the answer the tokens spell (in the output schema), the summed log-probability
    of the tokens that overlap its value (a string's contents, a number, a literal). Empty when the answer
    is not a JSON object or has none of the fields."""
    text = "".join(t for t, _ in tokens)
    out: dict[str, float] = {}
    for field in ((schema or {}).get("properties") or {}):
        span = _value_start(text, str(field))
        if span is None:
            continue
        start, end = span
        if end - start >= 2 and text[start] == '"':  # a string: its contents, not the quotes
            start, end = start + 1, end - 1
        total, pos, hit = 0.0, 0, False
        for tok, lp in tokens:
            a, b = pos, pos + len(tok)
            pos = b
            if a < end and start < b:
                total, hit = total + lp, True
        if hit:
            out[str(field)] = total
    return out


def completion_logprobs(llm: Any, n_prompt: int) -> list[tuple[str, float]]:
    """(token text, log-probability) of each generated token, from the logits llama.cpp kept.

    llama-cpp-python's own ``logprobs=True`` runs a softmax over the whole context (prompt included,
    ~0.5 s per call here); only the handful of answer tokens is needed.
    """
    import numpy as np

    end = int(llm.n_tokens)
    if end <= n_prompt or n_prompt < 1:
        return []
    ids = np.asarray(llm.input_ids[n_prompt:end])
    kept = llm.answer_logits
    if any(p not in kept for p in range(n_prompt - 1, end - 1)):
        return []
    rows = np.asarray([kept[p] for p in range(n_prompt - 1, end - 1)], dtype=np.float64)
    peak = rows.max(axis=1)
    log_norm = peak + np.log(np.exp(rows - peak[:, None]).sum(axis=1))
    logprobs = rows[np.arange(len(ids)), ids] - log_norm
    texts = [llm.detokenize([int(t)]).decode("utf-8", errors="ignore") for t in ids]
    return list(zip(texts, (float(x) for x in logprobs), strict=True))


#: A value whose log-probability falls this far below the best one contributes < 1e-9: not expanded.
_PRUNE = 20.7


def enum_fields(schema: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """Top-level output fields with a finite set of values (``enum``, or ``boolean``), in schema order."""
    out: dict[str, list[Any]] = {}
    for name, prop in ((schema or {}).get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if isinstance(prop.get("enum"), list) and prop["enum"]:
            out[str(name)] = list(prop["enum"])
        elif prop.get("type") == "boolean":
            out[str(name)] = [True, False]
    return out


def _value_start(text: str, field: str) -> tuple[int, int] | None:
    """(start, end) of ``field``'s value in the JSON text ``text`` (quotes included), or ``None``."""
    m = re.search(re.escape(json.dumps(field, ensure_ascii=False)) + r"\s*:\s*", text)
    if m is None:
        return None
    try:
        _, end = json.JSONDecoder().raw_decode(text, m.end())
    except ValueError:
        return None
    return m.end(), end


def _log_softmax(row: Any) -> Any:
    row = np.asarray(row, dtype=np.float64)
    peak = row.max()
    return row - (peak + np.log(np.exp(row - peak).sum()))


def eval_rows(llm: Any, base: int, tokens: Sequence[int]) -> list[Any]:
    """Evaluate ``tokens`` at positions ``base``, ``base + 1``, ... of ``llm``'s context (dropping
    whatever followed ``base``) and return the raw logits row after each of them: one decode per
    ``n_batch`` tokens.

    llama-cpp-python's ``eval`` keeps only the last token's logits, so scoring a continuation that
    way takes one decode per token; a batch that asks llama.cpp for every position's logits costs
    about as much as one of them. (``eval`` also goes through the subclass that records
    ``answer_logits``: it would overwrite the rows generation kept.)"""
    from llama_cpp import llama_cpp

    rows: list[Any] = []
    llm._ctx.kv_cache_seq_rm(-1, base, -1)
    ctx, vocab, step = llm._ctx.ctx, llm.n_vocab(), max(1, int(llm.n_batch))
    for start in range(0, len(tokens), step):
        chunk = [int(t) for t in tokens[start : start + step]]
        llm._batch.set_batch(batch=chunk, n_past=base + start, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[base + start : base + start + len(chunk)] = chunk
        llm.n_tokens = base + start + len(chunk)
        rows += [np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, i), shape=(vocab,)).copy()
                 for i in range(len(chunk))]
    return rows


class _Scorer:
    """Scores token continuations from position ``base`` of the context, reusing the generated
    tokens' rows and evaluating each continuation's other rows in one decode."""

    def __init__(self, llm: Any, base: int, generated: Sequence[int]) -> None:
        self.llm, self.base, self.generated = llm, base, list(generated)
        self.rows: dict[tuple[int, ...], Any] = {}

    def _kept(self, path: tuple[int, ...]) -> Any | None:
        """The row generation kept after ``path``, when ``path`` is a prefix of the answer."""
        at = self.base + len(path) - 1
        if list(path) == self.generated[: len(path)] and at in self.llm.answer_logits:
            return self.llm.answer_logits[at]
        return None

    def row(self, path: tuple[int, ...], ahead: Sequence[int] = ()) -> Any:
        """The log-softmax row after ``path``; when it must be evaluated, the rows after each token
        of ``ahead`` (the path's continuation) are evaluated in the same decode."""
        if path not in self.rows:
            if (kept := self._kept(path)) is not None:
                self.rows[path] = _log_softmax(kept)
                return self.rows[path]
            full = (*path, *ahead)
            for i, raw in enumerate(eval_rows(self.llm, self.base, full)):
                prefix = full[: i + 1]
                if prefix not in self.rows and self._kept(prefix) is None:
                    self.rows[prefix] = _log_softmax(raw)
        return self.rows[path]

    def score(self, tokens: Sequence[int], floor: float) -> float:
        total = 0.0
        for d, tok in enumerate(tokens):
            total += float(self.row(tuple(tokens[:d]), tokens[d:-1])[tok])
            if total < floor:
                break
        return total


def choice_distributions(
    llm: Any, n_prompt: int, texts: Sequence[str], answer: str, schema: Mapping[str, Any] | None
) -> dict[str, dict[str, float]]:
    """For each enum/boolean field of ``answer``: the normalised probability of every allowed value
    (keyed by the value's JSON text) at the point where the answer's value begins. ``texts`` are the
    evaluated answer tokens' texts (a prefix of ``answer``). Empty when the answer has no such field
    or the logits needed are missing."""
    fields = enum_fields(schema)
    if not fields or n_prompt < 1 or not texts:
        return {}
    generated = [int(t) for t in llm.input_ids[n_prompt : int(llm.n_tokens)]]
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t)
    out: dict[str, dict[str, float]] = {}
    for field, values in fields.items():
        span = _value_start(answer, field)
        if span is None:
            continue
        j = max(i for i, s in enumerate(starts) if s <= span[0])
        if j < 1 or (n_prompt + j - 1) not in llm.answer_logits:
            continue
        lead = answer[starts[j] : span[0]]
        tail = answer[span[1] :].lstrip()[:1]
        scorer = _Scorer(llm, n_prompt + j, generated[j:])
        scores: dict[str, float] = {}
        best = -np.inf
        for value in values:
            key = json.dumps(value, ensure_ascii=False)
            tokens = llm.tokenize((lead + key + tail).encode("utf-8"), add_bos=False, special=False)
            scores[key] = scorer.score(tokens, best - _PRUNE)
            best = max(best, scores[key])
        peak = max(scores.values())
        weights = {k: float(np.exp(v - peak)) for k, v in scores.items()}
        total = sum(weights.values())
        out[field] = {k: w / total for k, w in weights.items()}
    return out
