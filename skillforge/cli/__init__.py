"""The terminal layer: the ``skillforge`` command line, progress bars and reports. The only layer that
imports rich; everything below it reports through :class:`skillforge.progress.Progress` and returns data."""

from skillforge.cli.app import app, main
from skillforge.cli.compile_report import print_compile_report
from skillforge.cli.eval_report import print_eval
from skillforge.cli.progress import RichProgress
from skillforge.cli.regress_report import print_report

__all__ = ["RichProgress", "app", "main", "print_compile_report", "print_eval", "print_report"]
