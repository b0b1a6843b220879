"""The tables scoring and publication write are created as the warehouse declares them."""

from __future__ import annotations

from openbureau import warehouse
from openbureau.workspace import Workspace
from tests.service.conftest import Served
from tests.warehouse.test_contract import actual_shape, declared_shape


def test_scoring_and_publication_tables_are_as_declared(served: Served) -> None:
    with Workspace.open(served.ws).engine(read_only=True) as engine:
        for t in warehouse.TABLES:
            if t.stage in ("scoring", "publication"):
                assert engine.table_exists(t.name), t.name
                assert actual_shape(engine, t.name) == declared_shape(t), t.name
