"""A budget for the whole compile: spend never exceeds it.

Every model call of a compile goes through :class:`BudgetedModel`, which reserves the call's **worst-case
cost** before sending it -- every byte of the prompt counted as a token (a tokenizer never makes more
tokens than bytes) and the whole answer budget (``max_tokens``) as output, at the model's list price --
and settles the reservation with the real cost once the answer is in. A call whose worst case no longer
fits is not sent: :class:`BudgetExhausted` is raised, and the compile step that asked stops where it is
(a race stops its candidates, refinement its rounds) and finishes with the best skill measured so far;
what the budget cut is recorded in the skill's metrics and printed by the report.

What a skill cannot do without -- the teacher's draft and demo pool, the plain prompt measured on dev
(the baseline every choice is held to) and the calibration -- is the **minimum**; a budget below it fails
before the first call (:class:`~skillforge.errors.SpecError` naming it). During selection and refinement
the calibration's worst case is held back, so it is always there to spend. Models that bill nothing (the
local model) reserve nothing. An answer served from the answer cache costs nothing and reserves nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from skillforge.errors import ModelAPIError, SkillforgeError
from skillforge.models.base import Model, ModelRequest, ModelResponse, Role, Usage


class BudgetExhausted(SkillforgeError):
    """A call's worst-case cost no longer fits the compile's budget. Caught by the compile steps."""


@dataclass
class Budget:
    """The compile's dollar budget: spent, reserved for calls in flight, and held back for later steps."""

    limit: float
    spent: float = 0.0
    reserved: float = 0.0
    held: float = 0.0
    #: What the budget cut, in words, as the steps stopped.
    cuts: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def available(self) -> float:
        return self.limit - self.spent - self.reserved - self.held

    def reserve(self, worst: float) -> None:
        with self._lock:
            if worst > self.available + 1e-12:
                raise BudgetExhausted(f"a call's worst case ${worst:.6f} exceeds the ${max(0.0, self.available):.6f} "
                                      f"left of the ${self.limit:.4f} budget")
            self.reserved += worst

    def settle(self, worst: float, cost: float) -> None:
        with self._lock:
            self.reserved -= worst
            self.spent += cost

    def hold(self, amount: float) -> None:
        """Keep ``amount`` back from the steps before the one it is for."""
        with self._lock:
            self.held = max(0.0, amount)

    def release(self) -> None:
        with self._lock:
            self.held = 0.0

    def cut(self, what: str) -> None:
        if what not in self.cuts:
            self.cuts.append(what)


def request_bytes(request: ModelRequest) -> int:
    """The bytes of every text a request sends: an upper bound on its prompt tokens."""
    texts = [request.system, *(m.content for m in request.messages)]
    return sum(len(t.encode("utf-8")) for t in texts) + 16 * (len(request.messages) + 1)


def worst_case(model: Model, request: ModelRequest) -> float:
    """The most ``request`` can cost on ``model``: every prompt byte a token, the whole answer budget spent."""
    cost = model.cost_usd(Usage(input_tokens=request_bytes(request), output_tokens=request.max_tokens))
    return cost or 0.0


class BudgetedModel(Model):
    """``inner`` whose every call reserves its worst case from ``budget`` first (see the module docstring)."""

    def __init__(self, inner: Model, budget: Budget) -> None:
        self.inner = inner
        self.budget = budget
        self.model_id = inner.model_id
        for flag in ("supports_logprobs", "supports_choice_scores", "supports_structured_output", "is_local",
                     "supports_temperature", "supports_batch", "supports_embeddings"):
            setattr(self, flag, getattr(inner, flag))

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def request(self, request: ModelRequest) -> ModelResponse:
        worst = worst_case(self.inner, request)
        self.budget.reserve(worst)
        try:
            response = await self.inner.request(request)
        except ModelAPIError:  # the provider refused or failed it: nothing is billed for it
            self.budget.settle(worst, 0.0)
            raise
        except BaseException:
            # Cancelled in flight: it may still be billed, and the budget is never exceeded by assuming less.
            self.budget.settle(worst, worst)
            raise
        self.budget.settle(worst, self.inner.cost_of(response) or 0.0)
        return response

    async def prefill(self, request: ModelRequest) -> None:
        await self.inner.prefill(request)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await self.inner.embed(texts)

    def check_schema(self, schema: dict[str, Any]) -> None:
        self.inner.check_schema(schema)

    def cost_usd(self, usage: Usage, *, batch: bool = False) -> float | None:
        return self.inner.cost_usd(usage, batch=batch)

    def cache_identity(self) -> dict[str, Any] | None:
        return self.inner.cache_identity()

    def for_role(self, role: Role) -> Model:
        inner = self.inner.for_role(role)
        return self if inner is self.inner else BudgetedModel(inner, self.budget)
