"""How the terminal shows numbers."""

from __future__ import annotations


def money(cost: float | None) -> str:
    """Dollars to four decimals; ``unknown`` when a price was unknown."""
    return "unknown" if cost is None else f"${cost:.4f}"


def percent(x: float | None) -> str:
    """A share to one decimal; ``-`` when there is none."""
    return "-" if x is None else f"{x:.1%}"


#: What each ``settings.escalation_prompt`` sends the teacher, in words.
ESCALATION_PROMPTS = {
    "plain": "the teacher-only prompt: description and schema, no demos",
    "lean": "the skill's instructions + input, no demos",
    "student": "the student's prompt, demos included",
}
