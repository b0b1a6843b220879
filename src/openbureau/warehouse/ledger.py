"""The tables the ledger publishes: its four event tables and the tables beside them.

The event tables' columns and types are declared here, so that a column added to one comes
with a warehouse migration (``warehouse._migrate``); which canonical targets feed each column,
and the values it may hold, are the ledger's (``openbureau.ledger._schema.EVENTS``, checked
against these at import).
"""

from openbureau.warehouse._declare import Column, Table, opt, req

STAGE = "ledger"

AMOUNT = "DECIMAL(18,2)"
# What the ledger could not read of a version's loaded row: the event column, the target, the
# text and why (see ``ledger._legacy``).
UNREADABLE = "STRUCT(field VARCHAR, target VARCHAR, text VARCHAR, why VARCHAR)[]"

# The columns every event table starts with: lineage, person, dates, version.
EVENT_COMMON = (
    req("event_id", "VARCHAR", "The version: record_id '~' version"),
    req("record_id", "VARCHAR", "The furnisher's report (every version keeps it)"),
    req("version", "INTEGER", "1 for the report; a later report or a correction adds one"),
    req("is_current", "BOOLEAN", "Whether this is the version in force"),
    opt("supersedes", "VARCHAR", "The version this one corrects or re-reports"),
    opt("person_id", "VARCHAR", "The person (NULL while the record is not linked)"),
    opt("identity_id", "VARCHAR", "The identity record"),
    req("furnisher", "VARCHAR", "The furnisher"),
    req("feed", "VARCHAR", "The feed"),
    req("batch_id", "VARCHAR", "The batch of loaded_record_id"),
    opt("loaded_record_id", "VARCHAR", "The loaded row whose values this version carries"),
    opt("event_date", "DATE", "When it happened"),
    opt("reported_date", "DATE", "When the furnisher reported it"),
    req("recorded_at", "TIMESTAMP", "When the bureau learned this version (its known-at time)"),
    opt("correction_reason", "VARCHAR", "Why a bureau correction made it"),
    opt("superseded_on", "DATE", "When the furnisher's next report replaced it (NULL: current)"),
    opt("unreadable", UNREADABLE, "Values of its loaded row the ledger could not read"),
)


def _event_table(name: str, doc: str, *columns: Column) -> Table:
    return Table(name, STAGE, doc, EVENT_COMMON + columns)


LEDGER_ACCOUNT_STATUS = _event_table(
    "ledger_account_status",
    "Event table: an account's monthly report (status, balances, dates).",
    opt("account_id", "VARCHAR", "The account, prefixed with its furnisher"),
    opt("product", "VARCHAR", "The product (vocabulary PRODUCT)"),
    opt("opened_date", "DATE", "When the account was opened"),
    opt("closed_date", "DATE", "When it was closed"),
    opt("credit_limit", AMOUNT, "The credit limit"),
    opt("original_amount", AMOUNT, "The amount lent"),
    opt("balance", AMOUNT, "The balance"),
    opt("payment_status", "VARCHAR", "The status (vocabulary ACCOUNT_STATUS)"),
    opt("days_past_due", "INTEGER", "Days past due"),
    opt("first_delinquency_date", "DATE", "Date of first delinquency, as sent"),
    opt("new_account_id", "VARCHAR", "Metro 2 L1: the account's new number"),
    opt("sold_to", "VARCHAR", "Metro 2 K2: whom the furnisher sold it to"),
    opt("history_of", "VARCHAR", "A month read from this report's payment history profile"),
    opt("compliance_condition", "VARCHAR", "Metro 2's compliance condition code, as sent"),
    opt("consumer_information", "VARCHAR", "Metro 2's consumer information indicator, as sent"),
    opt("metro2_status", "VARCHAR", "Metro 2's account status, as sent"),
    opt("sale_indicator", "VARCHAR", "Metro 2 K2: 1 purchased from, 2 sold to"),
    opt("sale_party", "VARCHAR", "Metro 2 K2: whom it was purchased from or sold to"),
)

LEDGER_INQUIRIES = _event_table(
    "ledger_inquiries",
    "Event table: a lender's inquiry about the person.",
    opt("inquiry_id", "VARCHAR", "The inquiry"),
    opt("inquiry_type", "VARCHAR", "Its purpose (vocabulary INQUIRY_PURPOSE)"),
)

LEDGER_PAYMENTS = _event_table(
    "ledger_payments",
    "Event table: a payment due and how it was paid (utilities, telecoms, rent).",
    opt("payment_kind", "VARCHAR", "The kind (vocabulary PAYMENT_KIND)"),
    opt("account_id", "VARCHAR", "The account, contract or lease, prefixed with its furnisher"),
    opt("due_date", "DATE", "When it was due"),
    opt("amount_due", AMOUNT, "The amount due"),
    opt("amount_paid", AMOUNT, "The amount paid"),
    opt("paid_date", "DATE", "When it was paid"),
    opt("days_late", "INTEGER", "Days late"),
)

LEDGER_PUBLIC_RECORDS = _event_table(
    "ledger_public_records",
    "Event table: a court or tax registry's record (judgment, lien, bankruptcy).",
    opt("record_kind", "VARCHAR", "The kind (vocabulary PUBLIC_RECORD_KIND)"),
    opt("case_id", "VARCHAR", "The case or lien, prefixed with its furnisher"),
    opt("filed_date", "DATE", "When it was filed"),
    opt("amount", AMOUNT, "The amount"),
    opt("resolved_date", "DATE", "When it was satisfied, released or resolved"),
)

EVENT_TABLES = (LEDGER_ACCOUNT_STATUS, LEDGER_INQUIRIES, LEDGER_PAYMENTS, LEDGER_PUBLIC_RECORDS)

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
    *EVENT_TABLES,
    LEDGER_SUPPRESSIONS,
    LEDGER_BATCHES,
    LEDGER_LINEAGE,
    LEDGER_VERSION_STATES,
    ALTERNATIVE_ERASURES,
)
