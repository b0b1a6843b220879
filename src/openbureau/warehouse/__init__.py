"""The warehouse contract: the tables each stage publishes, declared as data, and the schema
version with its migrations.

One module per stage declares its tables (``ingest``, ``identity``, ``ledger``, ``scoring``,
``publication``); a stage creates its own from the declarations, and every other stage and
the service names them through them (``identity.PERSON_INDEX.name``). The declarations live
here, apart from the stages' code, so that reading one (the ledger reading identity's
``person_index``) imports no stage, and the migrations and the table reference see every
table without importing one.
``python -m openbureau.warehouse.docgen`` writes docs/tables.md from them.
"""

from openbureau.warehouse import identity, ingest, ledger, publication, scoring
from openbureau.warehouse._declare import STAGES, Column, Table
from openbureau.warehouse._migrate import (
    MIGRATIONS,
    SCHEMA_VERSION,
    WarehouseTooNew,
    schema_version,
    upgrade,
)

# Every declared table, stage by stage in data-flow order.
TABLES: tuple[Table, ...] = (
    *ingest.TABLES,
    *identity.TABLES,
    *ledger.TABLES,
    *scoring.TABLES,
    *publication.TABLES,
)

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STAGES",
    "TABLES",
    "Column",
    "Table",
    "WarehouseTooNew",
    "identity",
    "ingest",
    "ledger",
    "publication",
    "schema_version",
    "upgrade",
]
