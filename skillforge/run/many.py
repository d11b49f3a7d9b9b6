"""Many inputs through one :class:`~skillforge.run.Runner`, a bounded number at a time.

One runner serves every input, so its models, their clients (and connections), the demo index and the
ledger are built once. A failure of one input is a value (:class:`ItemResult` with ``error``), never an
exception out of the middle of the work: the other inputs still run. Only errors named in ``stop_on``
(say, an authentication failure every later input would hit too) and bugs (anything that is not a
:class:`~skillforge.errors.SkillforgeError`) stop the work; the inputs in flight are then cancelled.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from skillforge.errors import SkillforgeError
from skillforge.run.runtime import Runner, RunResult

K = TypeVar("K")


@dataclass(frozen=True)
class ItemResult(Generic[K]):
    """One input's outcome: its :class:`RunResult`, or the error that stopped it. ``key`` is where
    the input came from (its position, for :meth:`~skillforge.Skill.run_many`)."""

    key: K
    input: Any
    result: RunResult | None = None
    error: SkillforgeError | None = None

    @property
    def ok(self) -> bool:
        """True when the input was answered."""
        return self.result is not None

    def unwrap(self) -> RunResult:
        """The result; raises the error when there is none."""
        if self.result is None:
            assert self.error is not None
            raise self.error
        return self.result


OnItem = Callable[[ItemResult[K]], Awaitable[None] | None]


async def run_each(
    runner: Runner,
    items: Iterable[tuple[K, Any]],
    *,
    concurrency: int = 4,
    on_item: OnItem[K] | None = None,
    stop_on: tuple[type[SkillforgeError], ...] = (),
) -> None:
    """Run every ``(key, input)`` of ``items`` through ``runner``, at most ``concurrency`` at once,
    calling ``on_item`` (sync or async) with each outcome as it completes (completion order).
    ``items`` is consumed lazily, so it can stream from a file of any size."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    source: Iterator[tuple[K, Any]] = iter(items)

    async def worker() -> None:
        # Workers share one iterator: the event loop runs one at a time, so each item is taken once.
        for key, value in source:
            try:
                item = ItemResult(key, value, result=await runner.arun(value))
            except stop_on:
                raise
            except SkillforgeError as exc:
                item = ItemResult(key, value, error=exc)
            if on_item is not None:
                done = on_item(item)
                if inspect.isawaitable(done):
                    await done

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
    except BaseExceptionGroup as grouped:
        # A TaskGroup wraps what stopped it; callers get that error itself (the first, when several
        # workers failed at once), as a plain ``await runner.arun(...)`` would raise it.
        raise _first(grouped) from None


def _first(grouped: BaseExceptionGroup[BaseException]) -> BaseException:
    exc: BaseException = grouped
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def run_many(
    runner: Runner, inputs: Iterable[dict[str, Any]], *, concurrency: int = 4
) -> list[ItemResult[int]]:
    """Every input's :class:`ItemResult`, in input order (``key`` is the position)."""
    results: list[ItemResult[int]] = []
    await run_each(runner, enumerate(inputs), concurrency=concurrency, on_item=results.append)
    results.sort(key=lambda item: item.key)
    return results
