"""The neighbours' vote: a free confidence signal, the share of the input's nearest demos (by BM25
similarity) whose label is the answer's; measured leave-one-out at compile time, read at run time."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from skillforge import CompileOptions, Example, Ledger, compile_skill
from skillforge.compile import SearchConfig
from skillforge.format import Demo
from skillforge.models.base import ModelRequest, ModelResponse, Usage
from skillforge.run.retrieval import DemoIndex, NeighbourVote, neighbour_vote
from skillforge.run.signals import History, signals_of
from skillforge.testing import FunctionModel, skill_input

from helpers import SENTIMENT_OUT, sentiment_spec

POOL = [{"text": "great pizza"}, {"text": "great pizza crust"}, {"text": "awful pizza"}, {"text": "quiet hotel"}]
LABELS = ["positive", "positive", "negative", "positive"]


def test_the_vote_is_the_neighbours_similarity_share_of_the_answer() -> None:
    vote = NeighbourVote(DemoIndex(POOL), LABELS, "sentiment", k=3)
    pizza = {"text": "great pizza"}
    assert 0.5 < vote.agreement(pizza, {"sentiment": "positive"}) < 1.0  # the awful pizza is a neighbour too
    assert vote.agreement(pizza, {"sentiment": "positive"}) + vote.agreement(pizza, {"sentiment": "negative"}) == 1.0
    assert vote.agreement({"text": "no shared words"}, {"sentiment": "positive"}) == 0.0


def test_leaving_the_input_out_drops_its_own_label() -> None:
    vote = NeighbourVote(DemoIndex(POOL), LABELS, "sentiment", k=1)
    assert vote.agreement({"text": "awful pizza"}, {"sentiment": "negative"}) == 1.0
    assert vote.agreement({"text": "awful pizza"}, {"sentiment": "negative"}, leave_out=True) == 0.0


def test_only_skills_with_demos_and_a_label_field_get_a_vote() -> None:
    demos = [Demo(input=p, output={"sentiment": lab}, source="label") for p, lab in zip(POOL, LABELS, strict=True)]
    assert neighbour_vote(demos, SENTIMENT_OUT) is not None
    assert neighbour_vote([], SENTIMENT_OUT) is None
    assert neighbour_vote(demos, {"type": "object", "properties": {"note": {"type": "string"}}}) is None
    response = ModelResponse(model_id="m", text="{}")
    vote = neighbour_vote(demos, SENTIMENT_OUT)
    assert vote is not None
    signals = signals_of(response, {"sentiment": "negative"}, input={"text": "awful pizza"}, history=History(),
                         neighbours=vote)
    assert signals["neighbour_vote"] == vote.agreement({"text": "awful pizza"}, {"sentiment": "negative"})
    assert "neighbour_vote" not in signals_of(response, {"sentiment": "negative"}, input={"text": "x"},
                                              history=History())


TOPICS = {"pizza": "positive", "film": "positive", "phone": "negative", "hotel": "negative"}


def _examples(n: int) -> list[Example]:
    """The topic decides the label, except that reviews with "but" flip it."""
    out = []
    for i in range(n):
        topic = list(TOPICS)[i % 4]
        twist = i % 5 == 0
        label = TOPICS[topic]
        if twist:
            label = "negative" if label == "positive" else "positive"
        out.append(Example(input={"text": f"the {topic} {i}{' but' if twist else ''}"}, expected={"sentiment": label}))
    return out


def _noise(text: str) -> float:
    """A log-probability unrelated to correctness (seeded by the text)."""
    return -int(hashlib.sha256(text.encode()).hexdigest()[:4], 16) / 65535


def _topic_student(request: ModelRequest) -> Any:
    """With a demo on the same topic right before the input, the topic's usual label (wrong on every
    "but" review); otherwise always positive."""
    if request.output_schema is None:
        return "Decide the sentiment."
    text = skill_input(request)["text"]
    prev = request.messages[-3].content if len(request.messages) >= 3 else ""
    label = TOPICS[text.split()[1]] if text.split()[1] in prev else "positive"
    body = json.dumps({"sentiment": label})
    return ModelResponse(model_id="test:topic", text=body, usage=Usage(input_tokens=10, output_tokens=3),
                         logprob_sum=_noise(text))


def test_the_vote_is_calibrated_at_compile_time_and_gates_at_run_time() -> None:
    examples = _examples(200)
    gold = {e.input["text"]: e.expected for e in examples}
    student = FunctionModel(_topic_student, model_id="test:topic")
    teacher = FunctionModel(lambda r: "Decide." if r.output_schema is None else
                            gold.get(skill_input(r)["text"], {"sentiment": "positive"}), model_id="test:teacher")
    skill = compile_skill(
        sentiment_spec(),
        examples,
        CompileOptions(
            target_precision=0.9,
            search=SearchConfig(ks=(4,), retrieval_ks=(4,), refine_rounds=0, classifier_tier=False),
        ),
        teacher=teacher,
        student=student,
    )
    assert skill.settings.demo_strategy in ("retrieved", "clustered")
    auroc = skill.manifest.metrics.signal_auroc
    assert auroc["neighbour_vote"] > 0.8 > auroc.get("value_prob", 0.5)
    combiner = skill.settings.confidence.combiner
    assert skill.settings.confidence.method == "combined" and combiner is not None
    assert "neighbour_vote" in combiner.signals
    ledger = Ledger(None)
    plain = skill.run({"text": "the pizza 101"}, student=student, teacher=teacher, ledger=ledger, escalate=False)
    twisted = skill.run({"text": "the pizza 105 but"}, student=student, teacher=teacher, ledger=ledger, escalate=False)
    assert plain.confidence is not None and twisted.confidence is not None
    assert plain.confidence > 0.5 > twisted.confidence  # the twist's neighbours carry the other label
