"""The tables identity publishes: standardised identity records, links, and person IDs."""

from openbureau.warehouse._declare import Table, opt, req

STAGE = "identity"

IDENTITY_BATCHES = Table(
    "identity_batches",
    STAGE,
    "The ingest batches whose rows have been standardised into identity records.",
    (
        req("batch_id", "VARCHAR", "The ingest batch", primary_key=True),
        req("processed_at", "TIMESTAMP", "When it was standardised"),
        opt("country", "VARCHAR", "Whose conventions standardised it (NULL: not recorded)"),
    ),
)

_TEXT_FIELDS = (
    ("first_name", "First name, as standardised"),
    ("first_name_std", "First name with nicknames resolved (what linkage compares)"),
    ("middle_name", "Middle name"),
    ("last_name", "Last name"),
    ("name_suffix", "Suffix (JR, SR, III)"),
)
_ADDRESS_FIELDS = (
    ("address_line1", "Address line, as standardised"),
    ("house_number", "House number parsed from it"),
    ("street", "Street parsed from it"),
    ("unit", "Unit parsed from it"),
    ("city", "City"),
    ("region", "State or region"),
    ("postcode", "Postcode"),
    ("phone", "Phone number"),
    ("email", "Email address"),
    ("national_id_token", "HMAC token of the national ID (never the ID itself)"),
)

IDENTITY_RECORDS = Table(
    "identity_records",
    STAGE,
    "Distinct standardised identities: the records linkage clusters into persons.",
    (
        req("identity_id", "VARCHAR", "Hash of the standardised fields", primary_key=True),
        req("feed", "VARCHAR", "The feed that first sent it"),
        *(opt(name, "VARCHAR", doc) for name, doc in _TEXT_FIELDS),
        opt("dob", "DATE", "Date of birth"),
        *(opt(name, "VARCHAR", doc) for name, doc in _ADDRESS_FIELDS),
        req("usable", "BOOLEAN", "Whether it has enough to be linked"),
        opt("unusable_reason", "VARCHAR", "Why not"),
        req("n_records", "BIGINT", "Loaded rows that carry it"),
        req("first_batch_id", "VARCHAR", "The batch that first sent it"),
        req("last_batch_id", "VARCHAR", "The batch that last sent it"),
    ),
)

IDENTITY_RECORD_MAP = Table(
    "identity_record_map",
    STAGE,
    "Each loaded row's identity record (rows are unique by construction).",
    (
        req("record_id", "VARCHAR", "The loaded row (a feed table's record_id)"),
        req("identity_id", "VARCHAR", "Its identity record"),
        req("feed", "VARCHAR", "The feed"),
        req("batch_id", "VARCHAR", "The batch"),
    ),
)

IDENTITY_EMPTIED = Table(
    "identity_emptied",
    STAGE,
    "Values standardisation emptied, counted per batch, field and reason.",
    (
        req("batch_id", "VARCHAR", "The batch"),
        req("field", "VARCHAR", "The identity field"),
        req("reason", "VARCHAR", "Why it was emptied"),
        req("rows", "BIGINT", "How many rows"),
    ),
)

LINK_EDGES = Table(
    "link_edges",
    STAGE,
    "Pairs of identity records linked, with the model's probability or the override behind.",
    (
        req("identity_id_l", "VARCHAR", "One record"),
        req("identity_id_r", "VARCHAR", "The other"),
        req("match_probability", "DOUBLE", "The match probability"),
        req("source", "VARCHAR", "model, or the override that made it"),
        req("run_id", "BIGINT", "The link run that found it"),
    ),
)

LINK_OVERRIDES = Table(
    "link_overrides",
    STAGE,
    "Manual corrections given to linkage: forced links and splits.",
    (
        req("kind", "VARCHAR", "link or split"),
        req("identity_id_a", "VARCHAR", "One identity record"),
        req("identity_id_b", "VARCHAR", "The other"),
        req("given_a", "VARCHAR", "How the first was named when given"),
        req("given_b", "VARCHAR", "How the second was named when given"),
        req("created_at", "TIMESTAMP", "When it was given"),
        opt("run_id", "BIGINT", "The run that applied it (NULL: not yet)"),
    ),
)

LINK_RUNS = Table(
    "link_runs",
    STAGE,
    "One row per link run: what it did and how long it took.",
    (
        req("run_id", "BIGINT", "The run", primary_key=True),
        req("linked_at", "TIMESTAMP", "When it ran"),
        req("mode", "VARCHAR", "full, incremental or none"),
        req("model_version", "INTEGER", "The link model's version"),
        req("records", "BIGINT", "Identity records linked"),
        req("new_records", "BIGINT", "Of them, new since the last run"),
        req("edges", "BIGINT", "Links found"),
        req("persons", "BIGINT", "Persons after the run"),
        req("events", "VARCHAR", "ID events written: new, merge, split, redirect"),
        req("seconds", "DOUBLE", "How long it took"),
        opt("country", "VARCHAR", "Whose conventions standardised the run's batches"),
        opt("emptied", "VARCHAR", "Values standardisation emptied in them: field:reason n, ..."),
    ),
)

UNLINKED = Table(
    "unlinked",
    STAGE,
    "Identity records left out of linkage, with why.",
    (
        req("identity_id", "VARCHAR", "The identity record", primary_key=True),
        opt("reason", "VARCHAR", "Why it was not linked"),
    ),
)

LINK_BATCHES = Table(
    "link_batches",
    STAGE,
    "The identity batches whose records the person index holds.",
    (
        req("batch_id", "VARCHAR", "The batch", primary_key=True),
        opt("run_id", "BIGINT", "The run that linked it"),
    ),
)

PERSON_IDS = Table(
    "person_ids",
    STAGE,
    "Every person ID ever given, active or retired, and where a retired one leads.",
    (
        req("person_id", "VARCHAR", "The ID", primary_key=True),
        req("status", "VARCHAR", "active or retired"),
        opt("resolves_to", "VARCHAR", "For a retired ID: the person it leads to"),
        req("created_seq", "BIGINT", "Creation order, for the merge tie-break"),
        req("created_run", "BIGINT", "The run that created it"),
        opt("retired_run", "BIGINT", "The run that retired it"),
    ),
)

PERSON_INDEX = Table(
    "person_index",
    STAGE,
    "Each identity record's person: what the ledger, scoring and the service join on.",
    (
        req("identity_id", "VARCHAR", "The identity record"),
        req("person_id", "VARCHAR", "Its person (an active ID)"),
        req("run_id", "BIGINT", "The run that last changed this record's person"),
    ),
)

PERSON_ID_MEMBERS = Table(
    "person_id_members",
    STAGE,
    "For each retired ID, the records it held when merged, and those its survivor held.",
    (
        req("person_id", "VARCHAR", "The retired ID"),
        req("identity_id", "VARCHAR", "An identity record"),
        req("role", "VARCHAR", "retired (the ID's own) or kept (its survivor's)"),
    ),
)

PERSON_ID_HISTORY = Table(
    "person_id_history",
    STAGE,
    "Every change to person IDs, in the order written.",
    (
        req("run_id", "BIGINT", "The link run"),
        req("linked_at", "TIMESTAMP", "When it ran"),
        req("event", "VARCHAR", "new, merge, split or redirect"),
        req("person_id", "VARCHAR", "The ID created, kept, split off or led to"),
        opt("other_person_id", "VARCHAR", "merge, redirect: the retired ID; split: from"),
        req("records", "BIGINT", "Identity records concerned"),
        req("cause", "VARCHAR", "What caused it"),
        opt("since", "TIMESTAMP", "A part split off: since when its records were in the file"),
        opt("seq", "BIGINT", "The order events were written in"),
    ),
)

TABLES = (
    IDENTITY_BATCHES,
    IDENTITY_RECORDS,
    IDENTITY_RECORD_MAP,
    IDENTITY_EMPTIED,
    LINK_EDGES,
    LINK_OVERRIDES,
    LINK_RUNS,
    UNLINKED,
    LINK_BATCHES,
    PERSON_IDS,
    PERSON_INDEX,
    PERSON_ID_MEMBERS,
    PERSON_ID_HISTORY,
)
