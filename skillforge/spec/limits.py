"""What counts as a JSON value skillforge will take: limits on size and depth, and the checks that run
before anything else touches an input (or a model's answer).

A value passes :func:`json_value_problem` when it is made of dicts with string keys, lists, strings
without lone surrogates (they cannot be written as UTF-8), finite numbers, integers Python can print,
booleans and ``None``; is nested at most ``max_depth`` levels; and serializes to at most ``max_bytes``
of UTF-8 JSON. The walk is iterative and stops at the first problem (or as soon as the size is
exceeded), so a 10 MB or 100 000-level input is refused in milliseconds, before validation,
retrieval or any model call.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from skillforge.textfiles import MAX_INT_DIGITS

_LOG10_2 = math.log10(2)


@dataclass(frozen=True)
class InputLimits:
    """Bounds on one input: its UTF-8 JSON size in bytes and its nesting depth."""

    max_bytes: int = 1_000_000
    max_depth: int = 64

    def __post_init__(self) -> None:
        if self.max_bytes < 2 or self.max_depth < 1:
            raise ValueError("InputLimits needs max_bytes >= 2 and max_depth >= 1")


#: The limits a :class:`~skillforge.run.Runner` applies unless given others.
DEFAULT_LIMITS = InputLimits()


def clip(text: str, limit: int = 300) -> str:
    """``text`` on one line (runs of whitespace made one space), cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short(value: object, limit: int = 80) -> str:
    """``repr`` of ``value`` cut to ``limit`` characters: for naming a value in a one-line error."""
    return clip(repr(value), limit)


def _where(path: str) -> str:
    return path or "(root)"


def _key(path: str, key: str) -> str:
    name = key[:40] if key[:40].isprintable() else short(key, 40)
    return f"{path}.{name}" if path else name


def _scalar_problem(value: Any, path: str) -> tuple[str | None, int]:
    """(problem, approximate serialized size) of a non-container value."""
    if value is None or isinstance(value, bool):
        return None, 5
    if isinstance(value, int):
        if value.bit_length() * _LOG10_2 > MAX_INT_DIGITS:
            return f"{_where(path)}: integer has more than {MAX_INT_DIGITS} digits", 0
        return None, max(1, int(value.bit_length() * _LOG10_2) + 2)
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"{_where(path)}: {value} is not a JSON number", 0
        return None, 24
    if isinstance(value, str):
        try:
            return None, len(value.encode("utf-8")) + 2
        except UnicodeEncodeError as exc:
            return f"{_where(path)}: text contains a lone surrogate (U+{ord(value[exc.start]):04X}), not valid UTF-8", 0
    return f"{_where(path)}: a {type(value).__name__} is not a JSON value", 0


def json_value_problem(value: Any, limits: InputLimits = DEFAULT_LIMITS) -> str | None:
    """The first reason ``value`` is not an acceptable JSON value within ``limits``, or ``None``."""
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    size = 0
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict | list):
            if depth >= limits.max_depth:
                return f"{_where(path)}: nested deeper than {limits.max_depth} levels"
            size += 2
            if isinstance(node, list):
                stack.extend((v, depth + 1, f"{path}[{i}]") for i, v in enumerate(node))
                size += len(node)
            else:
                for k, v in node.items():
                    if not isinstance(k, str):
                        return f"{_where(path)}: key {short(k)} is not a string"
                    problem, n = _scalar_problem(k, f"{path}.{short(k, 40)}" if path else short(k, 40))
                    if problem is not None:
                        return problem
                    size += n + 2
                    stack.append((v, depth + 1, _key(path, k)))
        else:
            problem, n = _scalar_problem(node, path)
            if problem is not None:
                return problem
            size += n
        if size > limits.max_bytes:
            return f"larger than the {limits.max_bytes}-byte limit"
    exact = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    if exact > limits.max_bytes:
        return f"larger than the {limits.max_bytes}-byte limit ({exact} bytes)"
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str, *, limits: InputLimits = DEFAULT_LIMITS) -> Any:
    """Parse JSON text within ``limits``: ``ValueError`` with a one-line reason for text over the
    size limit, invalid JSON, ``NaN``/``Infinity``, nesting too deep for the parser, or a value
    :func:`json_value_problem` refuses."""
    if len(text) > limits.max_bytes or len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise ValueError(f"larger than the {limits.max_bytes}-byte limit")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"nested deeper than {limits.max_depth} levels") from None
    except ValueError as exc:  # an integer too long to convert, NaN/Infinity
        raise ValueError(f"not valid JSON: {' '.join(str(exc).split())}") from None
    problem = json_value_problem(value, limits)
    if problem is not None:
        raise ValueError(problem)
    return value
