"""Running a skill: the prompt (:mod:`~skillforge.run.prompt`), retrieved demos, the verifier, the
student's confidence, and the :class:`Runner` that escalates to the teacher and records every call."""

from skillforge.run.ask import Outcome, ask, summarize
from skillforge.run.confidence import SelfConsistentModel, with_confidence
from skillforge.run.escalations import EscalationRecord, check_escalation_log, read_escalations
from skillforge.run.many import ItemResult, run_each, run_many
from skillforge.run.prompt import (
    build_request,
    plain_instructions,
    reask,
    render_input,
    render_output,
    template_instructions,
)
from skillforge.run.retrieval import DemoIndex, DemoRouter, demo_groups, retrieve, without_inputs
from skillforge.run.runtime import Runner, RunResult
from skillforge.run.verify import Check, check_answer, extract_json

__all__ = [
    "Check",
    "DemoIndex",
    "DemoRouter",
    "EscalationRecord",
    "ItemResult",
    "Outcome",
    "RunResult",
    "Runner",
    "SelfConsistentModel",
    "ask",
    "build_request",
    "check_answer",
    "check_escalation_log",
    "demo_groups",
    "extract_json",
    "plain_instructions",
    "read_escalations",
    "reask",
    "render_input",
    "render_output",
    "retrieve",
    "run_each",
    "run_many",
    "summarize",
    "template_instructions",
    "with_confidence",
    "without_inputs",
]
