"""The tables the ledger publishes besides its event tables.

(The four event tables, ``ledger_<event>``, are declared with their sources and vocabularies
in ``openbureau.ledger._schema.EVENTS``; docs/tables.md lists them from there.)
"""

from openbureau.warehouse._declare import Table, opt, req

STAGE = "ledger"

LEDGER_SUPPRESSIONS = Table(
    "ledger_suppressions",
    STAGE,
    "Records kept out of features and scores (disputed, aged off, deleted), and when lifted.",
    (
        req("suppression_id", "BIGINT", "The suppression", primary_key=True),
        req("record_id", "VARCHAR", "The ledger record (every version of it)"),
        req("reason", "VARCHAR", "Why (ledger/_schema.py SUPPRESSION_REASONS)"),
        opt("note", "VARCHAR", "A note"),
        req("created_at", "TIMESTAMP", "When it began"),
        opt("lifted_at", "TIMESTAMP", "When it was lifted"),
        opt("lift_note", "VARCHAR", "Why it was lifted"),
    ),
)

LEDGER_BATCHES = Table(
    "ledger_batches",
    STAGE,
    "The ingest batches mapped into events, and how many each gave.",
    (
        req("batch_id", "VARCHAR", "The ingest batch", primary_key=True),
        req("feed", "VARCHAR", "The feed"),
        opt("event", "VARCHAR", "The event table it fed (NULL: none)"),
        req("events", "BIGINT", "Events written"),
        req("built_at", "TIMESTAMP", "When"),
    ),
)

LEDGER_LINEAGE = Table(
    "ledger_lineage",
    STAGE,
    "Which loaded fields each batch's event columns came from, and those kept out.",
    (
        req("batch_id", "VARCHAR", "The batch"),
        req("feed", "VARCHAR", "The feed"),
        req("event", "VARCHAR", "The event table"),
        req("ledger_column", "VARCHAR", "The event column"),
        req("target", "VARCHAR", "The loaded field feeding it"),
        req("category", "VARCHAR", "The field's category"),
        req("kept_out", "BOOLEAN", "Whether the ledger keeps the category out of events"),
        req("rows", "BIGINT", "Rows with a value (kept out: the values left out)"),
    ),
)

LEDGER_VERSION_STATES = Table(
    "ledger_version_states",
    STAGE,
    "How an event version stood before a later report or correction changed it.",
    (
        req("event_id", "VARCHAR", "The version"),
        req("is_current", "BOOLEAN", "Its is_current until changed_at"),
        opt("superseded_on", "DATE", "Its superseded_on until changed_at"),
        req("changed_at", "TIMESTAMP", "The known-at time of the change"),
    ),
)

ALTERNATIVE_ERASURES = Table(
    "alternative_erasures",
    STAGE,
    "Tombstones of erasures of alternative data, when consent was withdrawn.",
    (
        req("erasure_id", "BIGINT", "The erasure", primary_key=True),
        req("person_ids", "VARCHAR[]", "The persons' IDs"),
        opt("requested_at", "TIMESTAMP", "When it was asked for"),
        req("erased_at", "TIMESTAMP", "When it was done"),
        req("requested_by", "VARCHAR", "Who asked"),
        req("feeds", "VARCHAR[]", "The feeds erased"),
        req("records", "BIGINT", "Ledger records erased"),
        req("rows_deleted", "VARCHAR", "JSON: table -> rows deleted"),
    ),
)

TABLES = (
    LEDGER_SUPPRESSIONS,
    LEDGER_BATCHES,
    LEDGER_LINEAGE,
    LEDGER_VERSION_STATES,
    ALTERNATIVE_ERASURES,
)
