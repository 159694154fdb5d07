"""``python -m bgs`` runs the ``bgs`` command."""

from bgs.cli import run

run()
