"""The ``openbureau`` command: one module of commands per stage, plus ``demo``.

``app`` (the Typer app) and what the commands share live in ``openbureau.cli.app``; importing
this package registers every command on it, in the order of the pipeline.
"""

from __future__ import annotations

import sys

from openbureau.cli.app import app, console, err_console

# Each module registers its commands on app when imported: in the order of the pipeline, the
# order `openbureau --help` lists them in.
# isort: off
from openbureau.cli import workspace, synth, spec, ingest, accuracy  # noqa: F401
from openbureau.cli import identity, linkage_quality, ledger, scoring  # noqa: F401
from openbureau.cli import service, audit, attest, attributes  # noqa: F401
from openbureau.cli import consent, disputes, export, demo  # noqa: F401
# isort: on


__all__ = ["app", "console", "err_console", "main"]


def main() -> None:
    """Entry point of the ``openbureau`` script."""
    sys.exit(app())
