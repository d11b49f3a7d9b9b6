"""``python -m skillforge`` runs the CLI."""

from skillforge.cli import main

main()
