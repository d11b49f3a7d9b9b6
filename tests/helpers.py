"""Small builders shared by the tests."""

from __future__ import annotations

from typing import Any

from skillforge import Example, SkillSpec
from skillforge.models.base import ModelRequest
from skillforge.testing import FunctionModel, skill_input

TEXT_IN: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
    "additionalProperties": False,
}
SENTIMENT_OUT: dict[str, Any] = {
    "type": "object",
    "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
    "required": ["sentiment"],
    "additionalProperties": False,
}


def sentiment_spec(name: str = "sentiment") -> SkillSpec:
    return SkillSpec(name=name, description="Is the review positive or negative?",
                     input_schema=TEXT_IN, output_schema=SENTIMENT_OUT)


def sentiment_examples(n: int = 20) -> list[Example]:
    """Texts containing 'good' are positive; the rest negative."""
    return [
        Example(input={"text": f"good thing {i}" if i % 2 else f"bad thing {i}"},
                expected={"sentiment": "positive" if i % 2 else "negative"})
        for i in range(n)
    ]


def keyword_answer(request: ModelRequest) -> str | dict[str, Any]:
    """A perfect sentiment model for the examples above; free-text requests get instructions."""
    if request.output_schema is None:
        return "1. Read the review.\n2. If it praises, answer positive; otherwise negative."
    text = skill_input(request)["text"]
    return {"sentiment": "positive" if "good" in text else "negative"}


def keyword_model(model_id: str = "test:keyword", **kwargs: Any) -> FunctionModel:
    return FunctionModel(keyword_answer, model_id=model_id, **kwargs)


def student_that_needs(word: str) -> FunctionModel:
    """Right when the instructions contain ``word``; always 'negative' otherwise."""

    def answer(request: ModelRequest) -> Any:
        if word in request.system:
            return keyword_answer(request)
        return {"sentiment": "negative"}

    return FunctionModel(answer, model_id="test:student")


def refine_teacher(revision: str) -> FunctionModel:
    """A teacher that drafts two steps, answers perfectly, and revises to ``revision``."""

    def answer(request: ModelRequest) -> Any:
        if request.output_schema is not None:
            return keyword_answer(request)
        if "got wrong" in request.messages[0].content:
            return revision
        return "1. Read the review.\n2. Answer with its sentiment."

    return FunctionModel(answer, model_id="test:teacher")
