"""The teacher's free-text calls at compile time (drafting and revising instructions), and the cleanup
of what small teachers write."""

from __future__ import annotations

from skillforge.errors import ModelAPIError, ModelAuthError
from skillforge.ledger import Ledger
from skillforge.models.base import Model, ModelRequest, ModelResponse, Usage


async def teacher_text(
    teacher: Model, request: ModelRequest, *, skill: str, ledger: Ledger, outcome: str
) -> ModelResponse | None:
    """A free-text teacher call at compile time, recorded in the ledger; ``None`` after a provider
    error (a teacher outage must not sink compilation), empty text after a refusal (recorded as
    ``refused``). Authentication errors propagate."""
    try:
        response = await teacher.request(request)
    except ModelAuthError:
        raise
    except ModelAPIError:
        ledger.record(skill=skill, phase="compile", role="teacher", model_id=teacher.model_id,
                      usage=Usage(), cost_usd=0.0, latency_s=0.0, outcome="error")
        return None
    ledger.record(skill=skill, phase="compile", role="teacher", model_id=teacher.model_id,
                  usage=response.usage, cost_usd=teacher.cost_of(response), latency_s=response.latency_s,
                  outcome="refused" if response.refused else outcome, batch=response.batch, cached=response.cached,
                  original_cost_usd=teacher.bought_for(response) if response.cached else None)
    # A refusal's text is no instructions: the caller sees nothing usable (the call is still paid for).
    return response.model_copy(update={"text": ""}) if response.refused else response


def dedupe_lines(text: str) -> str:
    """Drop repeated lines: small teachers loop ("5. Read the text." twenty times)."""
    seen: set[str] = set()
    out = []
    for line in text.splitlines():
        key = line.strip().lstrip("0123456789.-*) ").casefold()
        if key and key in seen:
            continue
        seen.add(key)
        out.append(line)
    return "\n".join(out)


def clean_text(text: str, *, min_words: int = 5) -> str | None:
    """The teacher's text with repeated lines dropped and one final newline; ``None`` when fewer than
    ``min_words`` words are left (nothing usable)."""
    # A lone surrogate (a server's "\ud800" escape) could not be written to instructions.md.
    cleaned = dedupe_lines(text.encode("utf-8", "replace").decode("utf-8")).strip()
    return cleaned + "\n" if len(cleaned.split()) >= min_words else None
