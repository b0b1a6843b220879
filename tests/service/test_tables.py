"""The tables scoring and publication write are created as the warehouse declares them."""

from __future__ import annotations

from openbureau import warehouse
from openbureau.workspace import Workspace
from tests.service.conftest import Served


def test_scoring_and_publication_tables_are_as_declared(served: Served) -> None:
    with Workspace.open(served.ws).engine(read_only=True) as engine:
        for t in warehouse.TABLES:
            if t.stage not in ("scoring", "publication"):
                continue
            assert engine.table_exists(t.name), t.name
            assert [
                tuple(r)
                for r in engine.query(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = ? ORDER BY ordinal_position",
                    [t.name],
                )
            ] == [(c.name, c.type) for c in t.columns], t.name
