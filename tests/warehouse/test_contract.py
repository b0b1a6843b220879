"""The warehouse contract: declared tables, the schema version and its migrations, the doc."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from openbureau import warehouse
from openbureau.engine import DuckDBEngine, Engine
from openbureau.errors import UserError
from openbureau.warehouse import _migrate as migrate
from openbureau.warehouse import docgen, identity, scoring
from openbureau.workspace import Workspace

# Each table as a warehouse from before versions were recorded had it: the columns added since
# are missing (the rows' values for them are then NULL, or as the migration says).
OLD_TABLES = {
    "identity_batches": "batch_id VARCHAR PRIMARY KEY, processed_at TIMESTAMP NOT NULL",
    "link_runs": """run_id BIGINT PRIMARY KEY, linked_at TIMESTAMP NOT NULL,
        mode VARCHAR NOT NULL, model_version INTEGER NOT NULL, records BIGINT NOT NULL,
        new_records BIGINT NOT NULL, edges BIGINT NOT NULL, persons BIGINT NOT NULL,
        events VARCHAR NOT NULL, seconds DOUBLE NOT NULL""",
    "person_id_members": "person_id VARCHAR NOT NULL, identity_id VARCHAR NOT NULL",
    "person_id_history": """run_id BIGINT NOT NULL, linked_at TIMESTAMP NOT NULL,
        event VARCHAR NOT NULL, person_id VARCHAR NOT NULL, other_person_id VARCHAR,
        records BIGINT NOT NULL, cause VARCHAR NOT NULL""",
    "score_snapshots": """snapshot_id VARCHAR PRIMARY KEY, as_of DATE NOT NULL,
        created_at TIMESTAMP NOT NULL, scorecard_name VARCHAR NOT NULL,
        scorecard_version VARCHAR NOT NULL, scorecard_yaml VARCHAR NOT NULL,
        persons BIGINT NOT NULL, scored BIGINT NOT NULL, unscorable BIGINT NOT NULL,
        seconds DOUBLE""",
}


def declared_shape(table: warehouse.Table) -> list[tuple[str, str]]:
    """The declared columns and types, as DuckDB spells the types (quoting a struct's
    ``value``)."""
    with DuckDBEngine() as engine:
        engine.execute(table.create_sql())
        shape = actual_shape(engine, table.name)
    assert [n for n, _ in shape] == list(table.column_names)
    return shape


def actual_shape(engine: Engine, table: str) -> list[tuple[str, str]]:
    return [
        (str(n), str(t))
        for n, t in engine.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        )
    ]


def make_old(ws: Workspace) -> None:
    """Make ``ws``'s warehouse look as an openbureau from before versions left it."""
    with ws.engine() as engine:
        engine.execute(f"DROP TABLE {migrate.VERSION_TABLE}")
        for name, columns in OLD_TABLES.items():
            engine.execute(f"DROP TABLE IF EXISTS {name}")
            engine.execute(f"CREATE TABLE {name} ({columns})")
        engine.execute("INSERT INTO person_id_members VALUES ('P1', 'I1')")
        engine.execute(
            "INSERT INTO score_snapshots VALUES ('S1', DATE '2025-01-31', "
            "TIMESTAMP '2025-02-01 10:00:00', 'core', 'v1', 'x', 10, 9, 1, 0.5)"
        )


def test_a_new_warehouse_is_at_the_current_version(ws: Workspace) -> None:
    with ws.engine(read_only=True) as engine:
        assert warehouse.schema_version(engine) == warehouse.SCHEMA_VERSION


@pytest.mark.parametrize("read_only", [False, True])
def test_an_old_warehouse_is_migrated_when_opened(ws: Workspace, read_only: bool) -> None:
    make_old(ws)
    with ws.engine(read_only=read_only):  # (read-only too: no reader sees older tables)
        pass
    with ws.engine() as engine:
        assert warehouse.schema_version(engine) == warehouse.SCHEMA_VERSION
        for name in OLD_TABLES:
            table = next(t for t in warehouse.TABLES if t.name == name)
            assert actual_shape(engine, name) == declared_shape(table), name
        # a retired ID's members were all its own; a snapshot was known when it was made
        assert engine.query("SELECT role FROM person_id_members") == [("retired",)]
        assert engine.query("SELECT known_at = created_at, ageing FROM score_snapshots") == [
            (True, None)
        ]
        applied = engine.query(f"SELECT version FROM {migrate.VERSION_TABLE}")
    assert applied == [(m.version,) for m in warehouse.MIGRATIONS]
    with ws.engine() as engine:  # (once: opening it again changes nothing)
        assert engine.scalar(f"SELECT count(*) FROM {migrate.VERSION_TABLE}") == len(applied)


def test_a_failing_migration_changes_nothing(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_old(ws)

    def broken(engine: Engine) -> None:
        raise RuntimeError("migration 2 failed")

    two = migrate.Migration(2, "a broken one", broken)
    monkeypatch.setattr(migrate, "MIGRATIONS", (*migrate.MIGRATIONS, two))
    monkeypatch.setattr(migrate, "SCHEMA_VERSION", 2)
    for read_only in (False, True):
        with pytest.raises(RuntimeError, match="migration 2 failed"):
            ws.engine(read_only=read_only)
    with DuckDBEngine(ws.warehouse_path, read_only=True) as engine:  # (all or nothing)
        assert warehouse.schema_version(engine) == 0
        assert "country" not in engine.columns("link_runs")
        assert "role" not in engine.columns("person_id_members")


def test_an_old_warehouse_that_cannot_be_written_is_refused_to_readers(
    ws: Workspace, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_old(ws)
    opened = DuckDBEngine.open_warehouse.__func__  # type: ignore[attr-defined]

    def read_only_disk(cls, root, settings, *, read_only=False):  # type: ignore[no-untyped-def]
        if not read_only:
            raise UserError(f"{root / settings.path}: read-only file system")
        return opened(cls, root, settings, read_only=True)

    monkeypatch.setattr(DuckDBEngine, "open_warehouse", classmethod(read_only_disk))
    res = cli("batches", "-w", ws.root)
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0, res.output
    assert "must be upgraded to this openbureau's schema version" in res.output
    assert "read-only file system" in res.output
    with DuckDBEngine(ws.warehouse_path, read_only=True) as engine:  # (left as it was)
        assert warehouse.schema_version(engine) == 0


def test_a_newer_warehouse_is_refused_in_one_line(
    ws: Workspace, cli: Callable[..., Result]
) -> None:
    newer = warehouse.SCHEMA_VERSION + 1
    with ws.engine() as engine:
        engine.execute(f"INSERT INTO {migrate.VERSION_TABLE} VALUES (?, now()::TIMESTAMP)", [newer])
    for read_only in (False, True):
        with pytest.raises(warehouse.WarehouseTooNew, match=f"version {newer} is newer"):
            ws.engine(read_only=read_only)
    res = cli("batches", "-w", ws.root)
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0, res.output
    assert f"warehouse schema version {newer} is newer than this openbureau's" in res.output
    with DuckDBEngine(ws.warehouse_path, read_only=True) as engine:  # (left as it was)
        assert warehouse.schema_version(engine) == newer


def test_declarations_are_consistent() -> None:
    names = [t.name for t in warehouse.TABLES]
    assert len(set(names)) == len(names)
    order = [warehouse.STAGES.index(t.stage) for t in warehouse.TABLES]
    assert order == sorted(order)  # (listed in data-flow order)
    assert identity.PERSON_INDEX.name == "person_index"
    with pytest.raises(ValueError, match="declared twice"):
        warehouse.Table("t", "ingest", "", (scoring.SCORES.columns[0],) * 2)
    with pytest.raises(ValueError, match="unknown stage"):
        warehouse.Table("t", "nowhere", "", ())
    with pytest.raises(ValueError, match="key column"):
        warehouse.Table("t", "ingest", "", (), primary_key=("x",))


def test_the_declared_tables_are_created_as_declared(linked_population: tuple[Path, Path]) -> None:
    """After ingest, link and the ledger on a synthetic population, each declared table the
    run made has exactly the declared columns and types, in order."""
    ws = Workspace.open(linked_population[0])
    with ws.engine(read_only=True) as engine:
        made = [t for t in warehouse.TABLES if engine.table_exists(t.name)]
        for t in made:
            assert actual_shape(engine, t.name) == declared_shape(t), t.name
    stages = {t.stage for t in made}
    assert {"ingest", "identity", "ledger"} <= stages
    assert {t.name for t in made} >= {
        "ingest_batches",
        "identity_records",
        "person_index",
        "person_id_history",
        "link_runs",
        "ledger_batches",
    }


def test_the_table_reference_is_up_to_date(tmp_path: Path) -> None:
    assert docgen.DOC.read_text(encoding="utf-8") == docgen.render(), (
        "docs/tables.md differs from the declarations: run python -m openbureau.warehouse.docgen"
    )
    stale = tmp_path / "tables.md"
    stale.write_text(docgen.render().replace("person_index", "persons_index"), encoding="utf-8")
    assert docgen.main(["--check", str(stale)]) == 1
    assert docgen.main([str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == docgen.render()


SRC = Path(__file__).resolve().parents[2] / "src" / "openbureau"


def test_no_stage_reads_a_table_of_a_stage_after_it() -> None:
    """A stage's SQL names no table a later stage declares (identity read the service's
    ``publications`` once: the service now passes what identity needs)."""
    found = []
    for i, stage in enumerate(warehouse.STAGES):
        later = [t.name for t in warehouse.TABLES if warehouse.STAGES.index(t.stage) > i]
        if not later:
            continue
        use = re.compile(
            r"""(?:FROM|JOIN|INTO|UPDATE|table_exists\(["'])\s*(""" + "|".join(later) + r")\b",
            re.IGNORECASE,
        )
        package = SRC / stage
        for path in sorted(package.glob("*.py")) if package.is_dir() else ():
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if m := use.search(line):
                    found.append(f"{path.relative_to(SRC)}:{n}: {m.group(1)}")
    assert not found, found
