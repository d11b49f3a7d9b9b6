"""Progress bars in the terminal: the rich implementation of :class:`skillforge.progress.Progress`."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class RichProgress:
    """One rich progress bar per stage; a no-op when disabled. ``transient`` bars vanish when done
    (regression runs); otherwise each finished stage stays on screen (compilation). Use as a context
    manager around the work."""

    def __init__(
        self, console: Console, *, enabled: bool = True, transient: bool = False,
        columns: Sequence[str | ProgressColumn] = (),
    ) -> None:
        columns = columns or (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn())
        self._progress = Progress(*columns, console=console, transient=transient, disable=not enabled)
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        self._progress.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.__exit__(exc_type, exc, tb)

    def stage(self, description: str, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[-1].total)
        self._task = self._progress.add_task(description, total=max(total, 0))

    def advance(self, steps: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, steps)
