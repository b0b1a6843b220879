"""The tables ingest publishes: batches, quarantine, row accounting, field catalog, accuracy.

(Each feed's own table, ``src_<feed>``, and ``associated_consumers`` take their columns from
a source spec, so they are declared by the spec, not here: ingest adds a column when a spec
gains a field.)
"""

from openbureau.warehouse._declare import Table, opt, req

STAGE = "ingest"

INGEST_BATCHES = Table(
    "ingest_batches",
    STAGE,
    "One row per file loaded: where it came from, the spec it was read with, and its counts.",
    (
        req("batch_id", "VARCHAR", "The batch's ID", primary_key=True),
        req("feed", "VARCHAR", "The source spec's name"),
        req("furnisher", "VARCHAR", "Who sent the file"),
        req("spec_fingerprint", "VARCHAR", "Hash of the spec the file was read with"),
        req("spec_yaml", "VARCHAR", "That spec, as YAML"),
        req("file_name", "VARCHAR", "The file's name"),
        req("file_path", "VARCHAR", "The file's path when loaded"),
        req("file_sha256", "VARCHAR", "SHA-256 of the file's bytes"),
        req("file_bytes", "BIGINT", "The file's size"),
        req("loaded_at", "TIMESTAMP", "When it was loaded (UTC)"),
        req("rows_read", "BIGINT", "Rows read (loaded + quarantined)"),
        req("rows_loaded", "BIGINT", "Rows written to the feed table or found there already"),
        req("rows_quarantined", "BIGINT", "Rows put in quarantine"),
        req("blank_lines", "BIGINT", "Blank lines skipped"),
        req("warnings", "VARCHAR[]", "Warnings about the file as a whole"),
        opt("rows_new", "BIGINT", "Loaded rows reporting a record for the first time"),
        opt("rows_identical", "BIGINT", "Loaded rows equal to the current report"),
        opt("rows_superseding", "BIGINT", "Loaded rows replacing the current report"),
        opt("rows_stale", "BIGINT", "Loaded rows older than the current report"),
        opt(
            "rows_reverting",
            "BIGINT",
            "Superseding rows equal to an earlier version (NULL: uncounted)",
        ),
        opt("again_of", "VARCHAR", "The batch this file is a re-send of"),
        opt("chained_at", "TIMESTAMP", "When the ledger compared a batch loaded before rows were"),
        opt("control_records", "BIGINT", "Fixed width: header and trailer records"),
    ),
    checks=(
        "rows_read = rows_loaded + rows_quarantined",
        "rows_new IS NULL\n"
        "           OR rows_loaded = rows_new + rows_identical + rows_superseding + rows_stale",
    ),
)

QUARANTINE = Table(
    "quarantine",
    STAGE,
    "Each row that failed validation, with why: never dropped.",
    (
        req("batch_id", "VARCHAR", "The batch"),
        req("feed", "VARCHAR", "The feed"),
        req("line_no", "BIGINT", "The row's line in the file"),
        req("reason", "VARCHAR", "The first reason (ingest/reasons.py)"),
        opt("field", "VARCHAR", "The canonical field at fault"),
        opt("source_column", "VARCHAR", "The file's column at fault"),
        opt("value", "VARCHAR", "The value at fault (masked when sensitive)"),
        req("reasons", "VARCHAR[]", "Every reason the row failed"),
        opt("raw", "VARCHAR", "The row as read (masked when sensitive)"),
    ),
    primary_key=("batch_id", "line_no"),
)

IDENTICAL_ROWS = Table(
    "identical_rows",
    STAGE,
    "Loaded rows equal to the current report of their record: counted, not written again.",
    (
        req("batch_id", "VARCHAR", "The batch"),
        req("feed", "VARCHAR", "The feed"),
        req("line_no", "BIGINT", "The row's line in the file"),
        req("record_id", "VARCHAR", "The feed table's row it repeats"),
    ),
)

STALE_ROWS = Table(
    "stale_rows",
    STAGE,
    "Loaded rows older than the current report of their record: counted, not written.",
    (
        req("batch_id", "VARCHAR", "The batch"),
        req("feed", "VARCHAR", "The feed"),
        req("line_no", "BIGINT", "The row's line in the file"),
        req("reported_date", "DATE", "The row's reporting date"),
        req("record_id", "VARCHAR", "The newer report in the feed table"),
    ),
)

FIELD_CATALOG = Table(
    "field_catalog",
    STAGE,
    "Each feed's fields: the canonical target, the file's column, type and category.",
    (
        req("feed", "VARCHAR", "The feed"),
        req("target", "VARCHAR", "The canonical target (or custom field name)"),
        req("source_column", "VARCHAR", "The file's column"),
        req("type", "VARCHAR", "The field's type"),
        req("category", "VARCHAR", "What the field is (ingest/categories.py)"),
        req("protected", "BOOLEAN", "Whether it is a protected attribute"),
        req("spec_fingerprint", "VARCHAR", "The spec that declared it"),
    ),
    primary_key=("feed", "target"),
)

ACCURACY_FINDINGS = Table(
    "accuracy_findings",
    STAGE,
    "Each accuracy rule's result on each batch.",
    (
        req("batch_id", "VARCHAR", "The batch"),
        req("feed", "VARCHAR", "The feed"),
        req("furnisher", "VARCHAR", "The furnisher"),
        req("rule_id", "VARCHAR", "The rule (ingest/accuracy.py)"),
        req("severity", "VARCHAR", "The rule's severity"),
        req("applicable", "BOOLEAN", "Whether the feed has the targets the rule reads"),
        opt("not_applicable", "VARCHAR", "Why not: the targets the feed lacks"),
        req("batch_rows", "BIGINT", "The batch's rows in its feed table"),
        opt("rows_checked", "BIGINT", "Rows the rule checked"),
        opt("rows_offending", "BIGINT", "Rows that broke it"),
        opt(
            "examples",
            "STRUCT(record_id VARCHAR, line_no BIGINT, shown VARCHAR)[]",
            "A few offending rows, with the values at fault",
        ),
        req("checked_at", "TIMESTAMP", "When the rule ran"),
    ),
    primary_key=("batch_id", "rule_id"),
)

ACCURACY_FLAGS = Table(
    "accuracy_flags",
    STAGE,
    "Every row an accuracy rule flagged.",
    (
        req("batch_id", "VARCHAR", "The batch"),
        req("feed", "VARCHAR", "The feed"),
        req("rule_id", "VARCHAR", "The rule"),
        req("record_id", "VARCHAR", "The row in the feed table"),
        req("line_no", "BIGINT", "Its line in the file"),
    ),
)

TABLES = (
    INGEST_BATCHES,
    QUARANTINE,
    IDENTICAL_ROWS,
    STALE_ROWS,
    FIELD_CATALOG,
    ACCURACY_FINDINGS,
    ACCURACY_FLAGS,
)
