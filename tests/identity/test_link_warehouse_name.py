"""A warehouse file of any name links: its catalog name (the file's stem) is quoted wherever
identity's SQL names it."""

from __future__ import annotations

from pathlib import Path

import duckdb
from typer.testing import CliRunner

from openbureau.cli import app
from openbureau.synth import FEED_NAMES, SynthConfig, generate
from openbureau.workspace import Workspace, init_workspace


def run(*args: object) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.stdout


def test_a_warehouse_named_with_a_hyphen_links(tmp_path: Path) -> None:
    pop = tmp_path / "incoming"
    generate(pop, SynthConfig(persons=150, seed=4))
    ws = init_workspace(tmp_path / "ws").root
    toml = ws / "bureau.toml"
    toml.write_text(
        toml.read_text().replace('path = "warehouse.duckdb"', 'path = "bureau-2026.duckdb"')
    )
    assert Workspace.open(ws).warehouse_path.name == "bureau-2026.duckdb"
    for feed in FEED_NAMES[:2]:
        file = duckdb.sql(
            f"SELECT DISTINCT file FROM '{pop}/truth/records.parquet' WHERE feed = ?", params=[feed]
        ).fetchall()[0][0]
        run("ingest", pop / "specs" / f"{feed}.yaml", pop / file, "-w", ws)
    assert "model v1" in run("link", "-w", ws)
    with Workspace.open(ws).engine(read_only=True) as engine:
        assert engine.scalar("SELECT count(*) FROM person_index") > 0
