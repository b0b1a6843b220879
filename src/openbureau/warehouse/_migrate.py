"""The warehouse's schema version, and the ordered migrations that bring an older one up.

``warehouse_schema`` holds a row per migration applied (its version and when). Opening a
warehouse for writing (``Workspace.engine``) applies the migrations past its version in
order, in one transaction; a warehouse of a newer version than this code knows is refused.
Stages create their tables from the declarations (``CREATE TABLE IF NOT EXISTS``) and never
sniff for columns: a column added to a declared table comes with a migration here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from openbureau.engine import Engine, EngineError
from openbureau.errors import UserError
from openbureau.warehouse import identity, ingest, ledger, scoring
from openbureau.warehouse._declare import Table

VERSION_TABLE = "warehouse_schema"
VERSION_DDL = f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL)"""


class WarehouseTooNew(UserError):
    """The warehouse was written by a newer openbureau than this one."""


@dataclass(frozen=True)
class Migration:
    version: int
    doc: str
    apply: Callable[[Engine], None]


def _add_missing(engine: Engine, table: Table, **typed: str) -> None:
    """Add to ``table`` (if it exists) the nullable declared columns it lacks, in declared
    order; ``typed``: a column's type and default where it differs from the declaration."""
    if not engine.table_exists(table.name):
        return
    have = set(engine.columns(table.name))
    for c in table.columns:
        if c.name not in have and (c.name in typed or not c.not_null):
            engine.execute(
                f"ALTER TABLE {table.name} ADD COLUMN {c.name} {typed.get(c.name, c.type)}"
            )
            have.add(c.name)


def _baseline(engine: Engine) -> None:
    """A warehouse from before versions were recorded: each declared table gains the columns
    added to it since it was made (NULL for rows written before they were recorded), as the
    stages used to add them on first use."""
    batches = ingest.INGEST_BATCHES
    # (one from before rows were compared lacks rows_stale: ingest makes it again, with its
    # checks, the next time it runs; see ingest.store)
    if engine.table_exists(batches.name) and "rows_stale" in engine.columns(batches.name):
        _add_missing(engine, batches)
    for table in (
        identity.IDENTITY_BATCHES,
        identity.LINK_RUNS,
        identity.PERSON_ID_HISTORY,
        scoring.SCORES,
        scoring.SCORECARD_RUNS,
    ):
        _add_missing(engine, table)
    # (a retired ID's members were all its own before survivors' were kept)
    _add_missing(engine, identity.PERSON_ID_MEMBERS, role="VARCHAR DEFAULT 'retired'")
    snapshots = scoring.SCORE_SNAPSHOTS
    if engine.table_exists(snapshots.name):
        had_known_at = "known_at" in engine.columns(snapshots.name)
        _add_missing(engine, snapshots)
        if not had_known_at:  # (computed from the ledger as it stood when it was made)
            engine.execute(f"UPDATE {snapshots.name} SET known_at = created_at")


def _ledger_events(engine: Engine) -> None:
    """A ledger built before its event tables were declared here gains the columns added to
    them since (its versions carry their own record's values: ``loaded_record_id =
    record_id``; the others NULL), and the tables beside them added since (empty: how
    versions stood before a change an earlier openbureau made was not kept)."""
    if not any(engine.table_exists(t.name) for t in ledger.EVENT_TABLES):
        return
    for table in ledger.EVENT_TABLES:
        if not engine.table_exists(table.name):
            engine.execute(table.create_sql())
            continue
        had_loaded = "loaded_record_id" in engine.columns(table.name)
        _add_missing(engine, table)
        if not had_loaded:
            engine.execute(f"UPDATE {table.name} SET loaded_record_id = record_id")
    for table in (ledger.LEDGER_VERSION_STATES, ledger.LEDGER_LINEAGE):
        engine.execute(table.create_sql())


def _metro2_accounts(engine: Engine) -> None:
    """Account status events gain Metro 2 columns (NULL for the events mapped before: their
    batches' reports are not read again)."""
    _add_missing(engine, ledger.LEDGER_ACCOUNT_STATUS)


MIGRATIONS = (
    Migration(1, "columns added before versions were recorded", _baseline),
    Migration(2, "the ledger's event tables: columns added before declaring them", _ledger_events),
    Migration(3, "account status events: Metro 2 indicator, status and sale", _metro2_accounts),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(engine: Engine) -> int:
    """The warehouse's schema version (0: from before versions were recorded, or new)."""
    # (read straight away: asking the catalog first costs DuckDB a load of the whole catalog,
    # 25 ms at every open, which the read of a missing table only pays when it is missing)
    try:
        return int(engine.scalar(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}"))
    except EngineError:
        if engine.table_exists(VERSION_TABLE):
            raise
        return 0


def upgrade(engine: Engine, where: str, *, read_only: bool = False) -> int:
    """Refuse a warehouse newer than this code; bring an older one to ``SCHEMA_VERSION`` (all
    migrations or none). Opened read-only, an older warehouse is read as it stands. Returns
    the version it was at."""
    found = schema_version(engine)
    if found > SCHEMA_VERSION:
        raise WarehouseTooNew(
            f"{where}: warehouse schema version {found} is newer than this openbureau's "
            f"({SCHEMA_VERSION}); upgrade openbureau to open it"
        )
    if found == SCHEMA_VERSION or read_only:
        return found
    with engine.transaction():
        engine.execute(VERSION_DDL)
        for migration in MIGRATIONS[found:]:
            migration.apply(engine)
            engine.execute(
                f"INSERT INTO {VERSION_TABLE} VALUES (?, now()::TIMESTAMP)", [migration.version]
            )
    return found
