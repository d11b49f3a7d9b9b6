"""``python -m skillforge`` runs the CLI."""

from skillforge.cli.app import main

main()
