"""A workspace path is text, never SQL: publishing, serving and compacting a workspace whose
folder name holds quotes and a statement of its own work, and run nothing of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from openbureau.cli import app as cli
from openbureau.service.app import create_app
from tests.service.conftest import Served

runner = CliRunner()
HOSTILE = "O'Brien's bureau'; DROP TABLE person_index; --"


def _persons(warehouse: Path) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM person_index").fetchone()[0])


def test_a_workspace_path_with_quotes_publishes_serves_and_compacts(
    served: Served, tmp_path: Path
) -> None:
    ws = Path(shutil.copytree(served.ws, tmp_path / HOSTILE))
    persons = _persons(ws / "warehouse.duckdb")
    done = runner.invoke(cli, ["publish", "--snapshot", "S20250630-0001", "-w", str(ws)])
    assert done.exit_code == 0, done.output
    app = create_app(ws, store_url=f"sqlite:///{tmp_path / 's.sqlite'}")
    with TestClient(app, base_url="https://testserver") as client:
        health = client.get("/api/v1/health").json()
    assert (health["snapshot_id"], health["as_of"]) == ("S20250630-0001", "2025-06-30")
    done = runner.invoke(cli, ["compact", "-w", str(ws)])
    assert done.exit_code == 0, done.output
    assert _persons(ws / "warehouse.duckdb") == persons > 0
    assert not list(ws.glob("*.compact"))
