"""Fixtures of the ledger tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from openbureau.workspace import Workspace


@pytest.fixture
def link_small(cli, linked_population) -> Callable[[Workspace], None]:
    """Link a workspace of a handful of records with the population's model: too few records
    to train one."""
    model = linked_population[0] / "models" / "linkage-model.json"

    def link(ws: Workspace) -> None:
        res = cli("link", "-w", ws.root, "--model", model)
        assert res.exit_code == 0, res.output

    return link
