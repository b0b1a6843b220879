"""docs/tables.md, written from the table declarations so it cannot drift from them.

``python -m openbureau.warehouse.docgen`` rewrites docs/tables.md; ``--check`` only says
whether it is up to date (exit status 1 if not). A test fails when it differs.

(This generator reads the ledger's event tables from ``openbureau.ledger._schema``, where they
are declared with their sources; nothing else in this package imports a stage.)
"""

from __future__ import annotations

import sys
from pathlib import Path

from openbureau.warehouse import MIGRATIONS, SCHEMA_VERSION, STAGES, TABLES
from openbureau.warehouse._declare import Column, Table
from openbureau.warehouse._migrate import VERSION_TABLE

DOC = Path(__file__).resolve().parents[3] / "docs" / "tables.md"

_HEAD = f"""# Warehouse tables

<!-- Written by `python -m openbureau.warehouse.docgen` from the declarations in
src/openbureau/warehouse/ (and the event columns' sources in ledger/_schema.py): do not edit. -->

Each stage publishes the tables below, declared as data in `openbureau.warehouse.<stage>`;
the stage creates them from the declarations, and later stages and the service name them
through them (`identity.PERSON_INDEX.name`). A stage reads only its own tables and those of
the stages before it ({" -> ".join(STAGES)}).

Tables whose columns come from a source spec are not declared here: each feed's `src_<feed>`
and Metro 2's `associated_consumers` (see docs/ingest.md), and a snapshot's features table.

## Schema version

This openbureau writes warehouse schema version {SCHEMA_VERSION}, recorded in
`{VERSION_TABLE}` (a row per migration applied: `version`, `applied_at`). Opening a
warehouse for writing applies the migrations past its version, in order, in one transaction;
opening one read-only opens it for writing first to apply them (refused in one line if it cannot
be), so no reader sees tables older than its code; one of a newer version is refused.

| version | migration |
|---|---|
"""


def _column_row(c: Column, key: tuple[str, ...]) -> str:
    flags = []
    if c.primary_key or c.name in key:
        flags.append("key")
    if c.not_null:
        flags.append("not null")
    return f"| `{c.name}` | `{c.type}` | {', '.join(flags)} | {c.doc} |"


def _table(t: Table) -> str:
    rows = "\n".join(_column_row(c, t.primary_key) for c in t.columns)
    checks = "".join(f"\n\nCheck: `{' '.join(c.split())}`" for c in t.checks)
    return (
        f"### `{t.name}`\n\n{t.doc}\n\n| column | type | | meaning |\n|---|---|---|---|\n"
        f"{rows}{checks}"
    )


def _event_tables() -> str:
    from openbureau.ledger._schema import EVENTS

    parts = [
        "### Where event columns come from\n\nThe four event tables above start with the same "
        "columns (lineage, person, dates, version); the ledger fills each of their own from the "
        "first of these canonical targets a feed's spec has (ledger/_schema.py):"
    ]
    for table in EVENTS.values():
        rows = "\n".join(
            f"| `{c.name}` | {', '.join(f'`{s}`' for s in c.sources)} |" for c in table.columns
        )
        parts.append(
            f"#### `{table.table}` ({table.event})\n\n| column | from |\n|---|---|\n{rows}"
        )
    return "\n\n".join(parts)


def render() -> str:
    """The whole of docs/tables.md."""
    migrations = "\n".join(f"| {m.version} | {m.doc} |" for m in MIGRATIONS)
    parts = [_HEAD + migrations]
    for stage in STAGES:
        parts.append(f"## {stage}")
        parts.extend(_table(t) for t in TABLES if t.stage == stage)
        if stage == "ledger":
            parts.append(_event_tables())
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    doc = Path(paths[0]) if paths else DOC
    text = render()
    current = doc.read_text(encoding="utf-8") if doc.exists() else ""
    if current == text:
        return 0
    if check:
        print(
            f"{doc} differs from the table declarations: run python -m openbureau.warehouse.docgen"
        )
        return 1
    doc.write_text(text, encoding="utf-8")
    print(f"{doc} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
