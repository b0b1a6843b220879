"""Standardise the identity fields of loaded rows into identity records, set-based in the engine.

An **identity record** is one distinct identity as one feed shows it: the 36 monthly rows of an
account that all carry the same name, birth date and address share one. Linking (next step)
compares identity records, not rows.

Tables (all maintained incrementally, batch by batch, in one transaction per call):

``identity_batches``     ``batch_id, processed_at``: the ingest batches already standardised
``identity_records``     one row per identity record: ``identity_id`` (deterministic, see
                         :func:`identity_id_sql`), ``feed``, standardised ``first_name``,
                         ``first_name_std`` (nickname canonicalised), ``middle_name``,
                         ``last_name``, ``name_suffix``, ``dob``, ``address_line1``,
                         ``house_number``, ``street``, ``unit``, ``city``, ``region``,
                         ``postcode``, ``phone`` (E.164), ``email``, ``national_id_token``,
                         ``usable``, ``unusable_reason``, ``n_records``, ``first_batch_id``,
                         ``last_batch_id``
``identity_record_map``  ``record_id, identity_id, feed, batch_id``: every loaded row of a
                         processed batch, exactly once
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from openbureau.engine import Engine, EngineError
from openbureau.identity import _address, _names, _phone
from openbureau.ingest import store

Progress = Callable[[str, int, int], None]

# Canonical identity fields a src_ table may carry, with the type they are read as.
RAW_FIELDS: dict[str, str] = {
    "first_name": "VARCHAR", "middle_name": "VARCHAR", "last_name": "VARCHAR",
    "name_suffix": "VARCHAR", "full_name": "VARCHAR", "dob": "DATE",
    "address_line1": "VARCHAR", "address_line2": "VARCHAR", "city": "VARCHAR",
    "region": "VARCHAR", "postcode": "VARCHAR", "address_full": "VARCHAR", "phone": "VARCHAR",
    "email": "VARCHAR", "national_id_token": "VARCHAR",
}
# The standardised values an identity is made of, in the order they are hashed.
IDENTITY_VALUES = ("first_name", "middle_name", "last_name", "name_suffix", "dob",
                   "address_line1", "city", "region", "postcode", "phone", "email",
                   "national_id_token")

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS identity_batches (
        batch_id VARCHAR PRIMARY KEY,
        processed_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS identity_records (
        identity_id VARCHAR PRIMARY KEY,
        feed VARCHAR NOT NULL,
        first_name VARCHAR,
        first_name_std VARCHAR,
        middle_name VARCHAR,
        last_name VARCHAR,
        name_suffix VARCHAR,
        dob DATE,
        address_line1 VARCHAR,
        house_number VARCHAR,
        street VARCHAR,
        unit VARCHAR,
        city VARCHAR,
        region VARCHAR,
        postcode VARCHAR,
        phone VARCHAR,
        email VARCHAR,
        national_id_token VARCHAR,
        usable BOOLEAN NOT NULL,
        unusable_reason VARCHAR,
        n_records BIGINT NOT NULL,
        first_batch_id VARCHAR NOT NULL,
        last_batch_id VARCHAR NOT NULL
    )""",
    # (a row per loaded row: record ids are unique by construction, see _publish)
    """CREATE TABLE IF NOT EXISTS identity_record_map (
        record_id VARCHAR NOT NULL,
        identity_id VARCHAR NOT NULL,
        feed VARCHAR NOT NULL,
        batch_id VARCHAR NOT NULL
    )""",
]
RECORD_COLUMNS = ("identity_id", "feed", "first_name", "first_name_std", "middle_name",
                  "last_name", "name_suffix", "dob", "address_line1", "house_number", "street",
                  "unit", "city", "region", "postcode", "phone", "email", "national_id_token",
                  "usable", "unusable_reason")
_EMAIL = r"^[a-z0-9!#$%&*+/=?^_{}~.'-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"


@dataclass(frozen=True)
class IdentityUpdate:
    """What one call of :func:`build_identity_records` did."""

    batches: tuple[str, ...]  # batch ids standardised in this call
    rows_mapped: int  # src rows mapped to an identity record in this call
    identity_records: int  # identity records in the warehouse after the call
    new_identity_ids: tuple[str, ...]  # identity records created by this call: link these
    unusable_records: int  # of all identity records: no national ID, nor a name with more

    @property
    def new_identity_records(self) -> int:
        return len(self.new_identity_ids)


def ensure_schema(engine: Engine) -> None:
    for ddl in SCHEMA:
        engine.execute(ddl)
    engine.rebuild_without_primary_key("identity_record_map", SCHEMA[2])


def identity_id_sql(feed: str = "feed") -> str:
    """The deterministic identity id: a hash of the feed and the standardised values."""
    values = ", ".join(
        "coalesce(strftime(dob, '%Y-%m-%d'), '')" if v == "dob" else f"coalesce({v}, '')"
        for v in IDENTITY_VALUES
    )
    return f"'I' || left(md5({feed} || '|' || concat_ws('|', {values})), 16)"


def build_identity_records(engine: Engine, *, country: str = "US",
                           progress: Progress | None = None) -> IdentityUpdate:
    """Standardise every ingest batch not yet processed into identity records.

    All or nothing: the batches' rows are mapped, new identity records inserted and existing
    ones' counts updated in one transaction. Re-running with no new batch changes nothing.

    Args:
        engine: the warehouse.
        country: ISO country whose phone and address conventions apply (phones without a
            country code are read as this country's).
        progress: called as ``progress(step, done, total)``.

    Returns:
        What was processed, and the ids of the identity records new in this call.
    """
    tick = progress or (lambda step, done, total: None)
    store.ensure_schema(engine)
    ensure_schema(engine)
    pending = engine.query(
        "SELECT feed, list(batch_id ORDER BY batch_id) FROM ingest_batches "
        "WHERE batch_id NOT IN (SELECT batch_id FROM identity_batches) GROUP BY feed "
        "ORDER BY feed"
    )
    if not pending:
        return _summary(engine, (), 0, ())
    batch_ids = tuple(sorted(b for _, bs in pending for b in bs))
    # Staging reads the warehouse and writes only temp tables; the transaction holds the writes.
    try:
        tick(f"identity: reading {len(batch_ids)} batches", 0, 4)
        src_rows = _collect(engine, [(f, list(bs)) for f, bs in pending])
        tick("identity: parsing phone numbers", 1, 4)
        with engine.registered("_id_phones", _parsed_phones(engine, country)), \
                engine.registered("_id_nicknames", _names.nickname_table()):
            tick("identity: standardising", 2, 4)
            engine.execute(f"CREATE OR REPLACE TEMP TABLE _id_std AS {_standardise(country)}")
        tick("identity: writing identity records", 3, 4)
        with engine.transaction():
            new_ids, mapped = _publish(engine, batch_ids, src_rows)
    finally:
        for t in ("_id_distinct", "_id_std", "_id_new", "_id_known"):
            engine.execute(f"DROP TABLE IF EXISTS {t}")
    tick(f"identity: {mapped:,} rows, {len(new_ids):,} new identity records", 4, 4)
    return _summary(engine, batch_ids, mapped, new_ids)


def _collect(engine: Engine, pending: list[tuple[str, list[str]]]) -> int:
    """Gather the distinct raw identities of the pending batches into ``_id_distinct``.

    Each distinct (feed, raw identity fields) keeps the list of rows that carry it, so
    everything after this runs on distinct values, not rows. Returns the number of rows.
    """
    selects = []
    total = 0
    for feed, batch_ids in pending:
        table = f"src_{feed}"
        have = set(engine.columns(table))
        cols = ", ".join(
            f"CAST({_q(c)} AS {t}) AS {c}" if c in have else f"CAST(NULL AS {t}) AS {c}"
            for c, t in RAW_FIELDS.items()
        )
        in_list = ", ".join(f"'{b}'" for b in batch_ids)
        selects.append(f"SELECT record_id, batch_id, '{feed}' AS feed, {cols} FROM {_q(table)} "
                       f"WHERE batch_id IN ({in_list})")
        total += int(engine.scalar(f"SELECT count(*) FROM {_q(table)} "
                                   f"WHERE batch_id IN ({in_list})"))
    fields = ", ".join(RAW_FIELDS)
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _id_distinct AS "
        f"SELECT feed, {fields}, list({{'record_id': record_id, 'batch_id': batch_id}}) AS rows "
        f"FROM ({' UNION ALL '.join(selects)}) GROUP BY ALL"
    )
    return total


def _parsed_phones(engine: Engine, country: str) -> dict[str, Sequence[str | None]]:
    raw = engine.query(
        f"SELECT DISTINCT {_phone.raw_phone('phone')} AS raw FROM _id_distinct "
        "WHERE raw IS NOT NULL"
    )
    return _phone.phone_table((r[0] for r in raw), country)


def _standardise(country: str) -> str:
    """One SELECT over ``_id_distinct``: each stage a CTE naming the columns it adds."""
    us = country.upper() == "US"
    email = _EMAIL.replace("'", "''")
    full = _address.split_full_address("address_full")
    s1 = {**_names.full_name_pieces("full_name"), **{f"af_{k}": v for k, v in full.items()}}
    s2 = {
        **_names.full_name_tokens(),
        "last_clean": _names.clean_name("last_name"),
        "line_clean": _address.clean_text(
            "coalesce(nullif(concat_ws(' ', address_line1, address_line2), ''), af_line)"),
    }
    s3 = {**_names.full_name_parts(), **_address.line_parts("line_clean")}
    s4 = {"street": _address.street("street_words")}
    region = "coalesce(region, af_region)"
    postcode = "coalesce(postcode, af_postcode)"
    std = {
        "feed": "feed",
        "first_name": f"coalesce({_names.clean_name('first_name')}, fn_first_name)",
        "middle_name": f"coalesce({_names.clean_name('middle_name')}, fn_middle_name)",
        "last_name": f"coalesce({_names.without_suffix('last_clean')}, fn_last_name)",
        "name_suffix": f"""coalesce({_names.suffix_code(_names.clean_name('name_suffix'))},
            {_names.trailing_suffix('last_clean')}, fn_name_suffix)""",
        "dob": "dob",
        "address_line1": "nullif(concat_ws(' ', house_number, street, unit_type || ' ' || unit), "
                         "'')",
        "house_number": "house_number",
        "street": "street",
        "unit": "unit",
        "city": _address.clean_city("coalesce(city, af_city)"),
        "region": _address.region_code(region) if us else _address.clean_city(region),
        "postcode": (_address.postcode5(postcode) if us else
                     f"nullif(regexp_replace(upper({postcode}), '[^A-Z0-9]', '', 'g'), '')"),
        "phone": "p.e164",
        "email": f"""CASE WHEN regexp_full_match(lower(trim(email)), '{email}')
            THEN lower(trim(email)) END""",
        "national_id_token": "nullif(trim(national_id_token), '')",
        "rows": "rows",
    }
    # Enough to tell one person from another: a national ID, or a name together with something
    # that is not a name (a birth date, an address, a phone, an email).
    usable = """national_id_token IS NOT NULL OR (
        (first_name IS NOT NULL OR last_name IS NOT NULL) AND (dob IS NOT NULL
         OR address_line1 IS NOT NULL OR phone IS NOT NULL OR email IS NOT NULL))"""
    return f"""
        WITH s1 AS (SELECT *, {_cols(s1)} FROM _id_distinct),
        s2 AS (SELECT *, {_cols(s2)} FROM s1),
        s3 AS (SELECT *, {_cols(s3)} FROM s2),
        s4 AS (SELECT *, {_cols(s4)} FROM s3),
        s5 AS (SELECT {_cols(std)} FROM s4
            LEFT JOIN _id_phones p ON p.raw = {_phone.raw_phone('s4.phone')})
        SELECT {identity_id_sql()} AS identity_id, s5.*,
            coalesce(n.canonical, s5.first_name) AS first_name_std,
            ({usable}) AS usable,
            CASE WHEN NOT ({usable})
                 THEN 'no_national_id_nor_name_with_another_identifier' END AS unusable_reason
        FROM s5 LEFT JOIN _id_nicknames n ON n.nickname = s5.first_name"""


def _publish(engine: Engine, batch_ids: tuple[str, ...],
             src_rows: int) -> tuple[tuple[str, ...], int]:
    """Map the rows, insert new identity records, update the counts of existing ones."""
    keep = ", ".join(f"any_value({c}) AS {c}" for c in RECORD_COLUMNS if c != "identity_id")
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _id_new AS "
        f"SELECT identity_id, {keep}, sum(len(rows)) AS n_records, "
        "min(list_min(list_transform(rows, lambda r: r.batch_id))) AS first_batch_id, "
        "max(list_max(list_transform(rows, lambda r: r.batch_id))) AS last_batch_id "
        "FROM _id_std GROUP BY identity_id"
    )
    engine.execute(
        "INSERT INTO identity_record_map SELECT r.record_id, identity_id, feed, r.batch_id "
        "FROM (SELECT identity_id, feed, unnest(rows) AS r FROM _id_std)"
    )
    mapped = int(engine.scalar("SELECT sum(len(rows)) FROM _id_std") or 0)
    if mapped != src_rows:
        raise EngineError(f"identity: mapped {mapped} rows but the batches hold {src_rows}")
    # the records seen before (one pass over a million of them; a new feed's batch has none)
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _id_known AS "
        "SELECT identity_id FROM _id_new SEMI JOIN identity_records USING (identity_id)"
    )
    if engine.scalar("SELECT count(*) FROM _id_known"):
        engine.execute(
            "UPDATE identity_records AS r SET n_records = r.n_records + n.n_records, "
            "first_batch_id = least(r.first_batch_id, n.first_batch_id), "
            "last_batch_id = greatest(r.last_batch_id, n.last_batch_id) "
            "FROM _id_new AS n SEMI JOIN _id_known USING (identity_id) "
            "WHERE r.identity_id = n.identity_id"
        )
    new_ids = tuple(r[0] for r in engine.query(
        "SELECT identity_id FROM _id_new ANTI JOIN _id_known USING (identity_id) "
        "ORDER BY identity_id"
    ))
    cols = ", ".join(RECORD_COLUMNS) + ", n_records, first_batch_id, last_batch_id"
    engine.execute(
        f"INSERT INTO identity_records ({cols}) SELECT {cols} FROM _id_new "
        "ANTI JOIN _id_known USING (identity_id)"
    )
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    engine.execute(
        "INSERT INTO identity_batches SELECT unnest(?::VARCHAR[]), ?", [list(batch_ids), now]
    )
    expected, stored = engine.query(
        # (a row identical to its key's current report is loaded without a src_ row to map)
        "SELECT (SELECT coalesce(sum(rows_loaded - coalesce(rows_identical, 0)), 0) "
        "FROM ingest_batches WHERE batch_id IN "
        "(SELECT batch_id FROM identity_batches)), (SELECT count(*) FROM identity_record_map)"
    )[0]
    if expected != stored:
        raise EngineError(f"identity: {stored} rows mapped in all, but the processed batches "
                          f"loaded {expected}; nothing was written")
    return new_ids, mapped


def _summary(engine: Engine, batch_ids: tuple[str, ...], mapped: int,
             new_ids: tuple[str, ...]) -> IdentityUpdate:
    total, unusable = engine.query(
        "SELECT count(*), count(*) FILTER (NOT usable) FROM identity_records"
    )[0]
    return IdentityUpdate(batch_ids, mapped, int(total), new_ids, int(unusable))


def _cols(exprs: dict[str, str]) -> str:
    return ", ".join(f"{v} AS {k}" for k, v in exprs.items())


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
