"""The one progress interface: long operations (compiling, regression runs, evaluation) report stages
and steps to a :class:`Progress`; the terminal layer (:mod:`skillforge.cli`) shows them as progress
bars. Library code never prints."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress: a stage starts with a description and a number of steps, then advances."""

    def stage(self, description: str, total: int) -> None:
        """A new stage of ``total`` steps begins (the previous one, if any, is done)."""

    def advance(self, steps: int = 1) -> None:
        """``steps`` more steps of the current stage are done."""


class NullProgress:
    """Progress that shows nothing: the default everywhere."""

    def stage(self, description: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass
