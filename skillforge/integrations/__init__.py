"""Integrations with other systems, each behind an optional extra and never imported by the rest of
skillforge: :mod:`skillforge.integrations.ray` (``pip install 'skillforge[ray]'``) runs a skill over a
Ray Data dataset on a cluster."""
