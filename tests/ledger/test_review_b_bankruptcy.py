"""Review: a disputed (suppressed) reported bankruptcy leaves the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from openbureau.ledger.corrections import suppress_record
from openbureau.workspace import Workspace
from tests.ledger.test_metro2_bankruptcy import JULY, JUNE, MAY, _load, _months, _records


@pytest.mark.xfail(
    strict=True,
    reason="not fixed: suppressing the record_id a reported bankruptcy shows suppresses one "
    "month's account report; the other months report it again (ledger/_bankruptcy.py)",
)
def test_a_disputed_reported_bankruptcy_leaves_the_file(ws: Workspace, cli, tmp_path: Path) -> None:
    files = _months(tmp_path, (MAY, ["A"]), (JUNE, ["A"]), (JULY, ["A"]))
    _load(ws, cli, tmp_path, files)
    with ws.engine() as engine:
        (rid,) = engine.query("SELECT record_id FROM ledger_public_records_on_file")[0]
        suppress_record(engine, rid, "disputed")
        left = engine.query("SELECT record_id FROM ledger_public_records_on_file")
    assert left == [], left
    assert _records(ws, JULY) == []
