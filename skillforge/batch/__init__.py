"""Running a skill over many inputs from a file: crash-safe, resumable batches
(:func:`run_batch`, the engine behind ``skillforge batch``)."""

from skillforge.batch.engine import STOP_ON, BatchPaths, BatchStats, BatchSummary, arun_batch, run_batch
from skillforge.batch.journal import JournalHeader, JournalRecord

__all__ = [
    "STOP_ON",
    "BatchPaths",
    "BatchStats",
    "BatchSummary",
    "JournalHeader",
    "JournalRecord",
    "arun_batch",
    "run_batch",
]
