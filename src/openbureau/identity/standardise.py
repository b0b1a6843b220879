"""Standardise the identity fields of loaded rows into identity records, set-based in the engine.

An **identity record** is one distinct identity as one feed shows it: the 36 monthly rows of an
account that all carry the same name, birth date and address share one. Linking (next step)
compares identity records, not rows.

Tables (all maintained incrementally, batch by batch, in one transaction per call):

``identity_batches``     ``batch_id, processed_at, country``: the ingest batches already
                         standardised, and the country whose conventions did it
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
``identity_emptied``     ``batch_id, field, reason, rows``: the values standardisation emptied
                         (a phone that is no number of the country, a postcode that is none
                         of its postcodes...), counted per batch, field and reason (EMPTIED)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from openbureau.engine import Engine, EngineError
from openbureau.engine.sql import ident, literal, literals
from openbureau.identity import _address, _full_address, _names, _phone, _postcode
from openbureau.ingest import store
from openbureau.warehouse import identity as tables
from openbureau.warehouse.ingest import INGEST_BATCHES

Progress = Callable[[str, int, int], None]

# Canonical identity fields a src_ table may carry, with the type they are read as.
RAW_FIELDS: dict[str, str] = {
    "first_name": "VARCHAR",
    "middle_name": "VARCHAR",
    "last_name": "VARCHAR",
    "name_suffix": "VARCHAR",
    "full_name": "VARCHAR",
    "dob": "DATE",
    "address_line1": "VARCHAR",
    "address_line2": "VARCHAR",
    "city": "VARCHAR",
    "region": "VARCHAR",
    "postcode": "VARCHAR",
    "address_full": "VARCHAR",
    "phone": "VARCHAR",
    "email": "VARCHAR",
    "national_id_token": "VARCHAR",
}
# The standardised values an identity is made of, in the order they are hashed.
IDENTITY_VALUES = (
    "first_name",
    "middle_name",
    "last_name",
    "name_suffix",
    "dob",
    "address_line1",
    "city",
    "region",
    "postcode",
    "phone",
    "email",
    "national_id_token",
)

SCHEMA = [
    t.create_sql()
    for t in (
        tables.IDENTITY_BATCHES,
        tables.IDENTITY_RECORDS,
        tables.IDENTITY_RECORD_MAP,
        tables.IDENTITY_EMPTIED,
    )
]
RECORD_COLUMNS = (
    "identity_id",
    "feed",
    "first_name",
    "first_name_std",
    "middle_name",
    "last_name",
    "name_suffix",
    "dob",
    "address_line1",
    "house_number",
    "street",
    "unit",
    "city",
    "region",
    "postcode",
    "phone",
    "email",
    "national_id_token",
    "usable",
    "unusable_reason",
)
# Why standardisation emptied a value that a row had, by field: declared once, for link's
# summary, the link run record and docs/identity.md ({country}: the bureau's).
NO_LATIN = "no_latin_letters_or_digits"
NOT_READ = "not_read_from_address_full"
_NO_LATIN = "no Latin letter or digit (names and addresses are compared in Latin letters)"
EMPTIED: dict[tuple[str, str], str] = {
    **{
        (f, NO_LATIN): _NO_LATIN
        for f in (
            "first_name",
            "middle_name",
            "last_name",
            "full_name",
            "address_line1",
            "address_full",
            "city",
            "region",
        )
    },
    ("name_suffix", "not_a_name_suffix"): "not JR, SR, II, III or IV",
    ("region", "not_a_us_state"): "not a US state, its code or its name",
    ("postcode", "not_a_postcode_of_country"): "not a postcode of {country}",
    ("phone", _phone.NOT_A_PHONE_NUMBER): "not a phone number",
    ("phone", _phone.NOT_VALID_IN_COUNTRY): "no country code, and not a valid number of {country}",
    ("phone", _phone.NOT_VALID_INTERNATIONAL): "not a valid number of the country its "
    "country code names",
    ("email", "not_an_email_address"): "not an email address",
    **{
        (f, NOT_READ): "none found in a one-string address (address_full) where "
        "{country}'s addresses have one"
        for f in ("city", "region", "postcode")
    },
}
_EMAIL = r"^[a-z0-9!#$%&*+/=?^_{}~.'-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"


@dataclass(frozen=True)
class IdentityUpdate:
    """What one call of :func:`build_identity_records` did."""

    batches: tuple[str, ...]  # batch ids standardised in this call
    rows_mapped: int  # src rows mapped to an identity record in this call
    identity_records: int  # identity records in the warehouse after the call
    new_identity_ids: tuple[str, ...]  # identity records created by this call: link these
    unusable_records: int  # of all identity records: no national ID, nor a name with more
    # rows whose value of a field standardisation emptied, by "field:reason" (see EMPTIED)
    emptied: dict[str, int] = field(default_factory=dict)

    @property
    def new_identity_records(self) -> int:
        return len(self.new_identity_ids)


def ensure_schema(engine: Engine) -> None:
    for ddl in SCHEMA:
        engine.execute(ddl)
    migrate(engine)


def migrate(engine: Engine) -> None:
    """Bring the tables an earlier openbureau made up to date (rows kept); creates none."""
    if engine.table_exists("identity_record_map"):
        engine.rebuild_without_primary_key(
            "identity_record_map", tables.IDENTITY_RECORD_MAP.create_sql()
        )


def identity_id_sql(feed: str = "feed") -> str:
    """The deterministic identity id: a hash of the feed and the standardised values."""
    values = ", ".join(
        "coalesce(strftime(dob, '%Y-%m-%d'), '')" if v == "dob" else f"coalesce({v}, '')"
        for v in IDENTITY_VALUES
    )
    return f"'I' || left(md5({feed} || '|' || concat_ws('|', {values})), 16)"


@dataclass(frozen=True)
class Staged:
    """Batches standardised into temporary tables (``_id_std``, ``_id_new``, ``_id_known``),
    not yet written to the warehouse: see :func:`stage_identity_records`."""

    batch_ids: tuple[str, ...]
    src_rows: int  # rows the batches loaded
    country: str


# The identity records new in the staged batches, as rows of identity_records (for a link run,
# which reads them before they are written).
STAGED_NEW_RECORDS = "(SELECT * FROM temp._id_new ANTI JOIN temp._id_known USING (identity_id))"


def build_identity_records(
    engine: Engine, *, country: str, progress: Progress | None = None
) -> IdentityUpdate:
    """Standardise every ingest batch not yet processed into identity records.

    All or nothing: the batches' rows are mapped, new identity records inserted and existing
    ones' counts updated in one transaction. Re-running with no new batch changes nothing.

    Args:
        engine: the warehouse.
        country: the bureau's ISO country (``bureau.toml``), whose phone and postcode
            conventions apply (phones without a country code are read as this country's).
        progress: called as ``progress(step, done, total)``.

    Returns:
        What was processed, and the ids of the identity records new in this call.
    """
    try:
        staged = stage_identity_records(engine, country=country, progress=progress)
        if staged is None:
            return _summary(engine, (), 0, (), {})
        with engine.transaction():
            new_ids, mapped, emptied = publish_identity_records(engine, staged)
    finally:
        drop_staged(engine)
    return _summary(engine, staged.batch_ids, mapped, new_ids, emptied)


def stage_identity_records(
    engine: Engine, *, country: str, progress: Progress | None = None
) -> Staged | None:
    """Standardise the batches not processed yet into temporary tables, writing nothing to
    the warehouse (tables of an earlier openbureau are brought up to date). None if there
    are none. Publish with :func:`publish_identity_records`; :func:`drop_staged` after."""
    tick = progress or (lambda step, done, total: None)
    country = country.upper()
    store.ensure_schema(engine)
    migrate(engine)
    done = (
        "WHERE batch_id NOT IN (SELECT batch_id FROM identity_batches)"
        if engine.table_exists("identity_batches")
        else ""
    )
    pending = engine.query(
        f"SELECT feed, list(batch_id ORDER BY batch_id) FROM {INGEST_BATCHES.name} "
        f"{done} GROUP BY feed ORDER BY feed"
    )
    if not pending:
        return None
    batch_ids = tuple(sorted(b for _, bs in pending for b in bs))
    tick(f"identity: reading {len(batch_ids)} batches", 0, 4)
    src_rows = _collect(engine, [(f, list(bs)) for f, bs in pending])
    tick("identity: parsing phone numbers", 1, 4)
    with (
        engine.registered("_id_phones", _parsed_phones(engine, country)),
        engine.registered("_id_nicknames", _names.nickname_table()),
    ):
        tick("identity: standardising", 2, 4)
        engine.execute(f"CREATE OR REPLACE TEMP TABLE _id_std AS {_standardise(country)}")
    tick("identity: writing identity records", 3, 4)
    keep = ", ".join(f"any_value({c}) AS {c}" for c in RECORD_COLUMNS if c != "identity_id")
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _id_new AS "
        f"SELECT identity_id, {keep}, sum(len(rows)) AS n_records, "
        "min(list_min(list_transform(rows, lambda r: r.batch_id))) AS first_batch_id, "
        "max(list_max(list_transform(rows, lambda r: r.batch_id))) AS last_batch_id "
        "FROM _id_std GROUP BY identity_id"
    )
    # the records seen before (one pass over a million of them; a new feed's batch has none)
    engine.execute(
        "CREATE OR REPLACE TEMP TABLE _id_known AS SELECT identity_id FROM _id_new "
        + (
            "SEMI JOIN identity_records USING (identity_id)"
            if engine.table_exists("identity_records")
            else "LIMIT 0"
        )
    )
    return Staged(batch_ids, src_rows, country)


def drop_staged(engine: Engine) -> None:
    for t in ("_id_distinct", "_id_std", "_id_new", "_id_known"):
        engine.execute(f"DROP TABLE IF EXISTS temp.{t}")


def publish_identity_records(
    engine: Engine, staged: Staged
) -> tuple[tuple[str, ...], int, dict[str, int]]:
    """Write what :func:`stage_identity_records` staged: map the rows, insert the new
    identity records, update the counts of existing ones, count what was emptied. Call
    inside a transaction. Returns the new records' ids, the rows mapped and the emptied
    counts ("field:reason" -> rows)."""
    ensure_schema(engine)
    engine.execute(
        "INSERT INTO identity_record_map SELECT r.record_id, identity_id, feed, r.batch_id "
        "FROM (SELECT identity_id, feed, unnest(rows) AS r FROM _id_std)"
    )
    mapped = int(engine.scalar("SELECT sum(len(rows)) FROM _id_std") or 0)
    if mapped != staged.src_rows:
        raise EngineError(f"identity: mapped {mapped} rows but the batches hold {staged.src_rows}")
    if engine.scalar("SELECT count(*) FROM _id_known"):
        engine.execute(
            "UPDATE identity_records AS r SET n_records = r.n_records + n.n_records, "
            "first_batch_id = least(r.first_batch_id, n.first_batch_id), "
            "last_batch_id = greatest(r.last_batch_id, n.last_batch_id) "
            "FROM _id_new AS n SEMI JOIN _id_known USING (identity_id) "
            "WHERE r.identity_id = n.identity_id"
        )
    new_ids = tuple(
        r[0]
        for r in engine.query(
            "SELECT identity_id FROM _id_new ANTI JOIN _id_known USING (identity_id) "
            "ORDER BY identity_id"
        )
    )
    cols = ", ".join(RECORD_COLUMNS) + ", n_records, first_batch_id, last_batch_id"
    engine.execute(
        f"INSERT INTO identity_records ({cols}) SELECT {cols} FROM _id_new "
        "ANTI JOIN _id_known USING (identity_id)"
    )
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    engine.execute(
        "INSERT INTO identity_batches (batch_id, processed_at, country) "
        "SELECT unnest(?::VARCHAR[]), ?, ?",
        [list(staged.batch_ids), now, staged.country],
    )
    engine.execute("""
        INSERT INTO identity_emptied
        SELECT row.batch_id, split_part(e, ':', 1), split_part(e, ':', 2), count(*)
        FROM (SELECT unnest(rows) AS row, e
              FROM (SELECT rows, unnest(emptied) AS e FROM _id_std))
        GROUP BY ALL ORDER BY ALL""")
    expected, stored = engine.query(
        # (a row identical to its key's current report, or stale, has no src_ row to map)
        f"SELECT (SELECT coalesce(sum({store.ROWS_IN_FEED_TABLE}), 0) "
        f"FROM {INGEST_BATCHES.name} WHERE batch_id IN "
        "(SELECT batch_id FROM identity_batches)) + "
        + (
            f"(SELECT count(*) FROM {store.ASSOCIATED_CONSUMERS} WHERE batch_id IN "
            "(SELECT batch_id FROM identity_batches))"
            if engine.table_exists(store.ASSOCIATED_CONSUMERS)
            else "0"
        )
        + ", (SELECT count(*) FROM identity_record_map)"
    )[0]
    if expected != stored:
        raise EngineError(
            f"identity: {stored} rows mapped in all, but the processed batches "
            f"loaded {expected}; nothing was written"
        )
    return new_ids, mapped, emptied_counts(engine, staged.batch_ids)


def emptied_counts(engine: Engine, batch_ids: Sequence[str]) -> dict[str, int]:
    """Rows whose value standardisation emptied in these batches, by "field:reason"."""
    if not batch_ids or not engine.table_exists("identity_emptied"):
        return {}
    return {
        f"{f}:{r}": int(n)
        for f, r, n in engine.query(
            "SELECT field, reason, sum(rows) FROM identity_emptied "
            "WHERE batch_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL ORDER BY ALL",
            [list(batch_ids)],
        )
    }


def staged_emptied(engine: Engine, staged: Staged | None) -> dict[str, int]:
    """Rows whose value standardisation emptied in batches staged, not yet published, by
    "field:reason" (what :func:`emptied_counts` gives once they are)."""
    if staged is None:
        return {}
    return {
        f"{f}:{r}": int(n)
        for f, r, n in engine.query(
            "SELECT split_part(e, ':', 1), split_part(e, ':', 2), sum(len(rows)) "
            "FROM (SELECT rows, unnest(emptied) AS e FROM _id_std) GROUP BY ALL ORDER BY ALL"
        )
    }


def describe_emptied(emptied: dict[str, int], country: str) -> str:
    """``emptied`` in words: "phone 7 rows (not a postcode of GB), ..."; "" for none."""
    parts = []
    for key, rows in emptied.items():
        name, reason = key.split(":", 1)
        why = EMPTIED.get((name, reason), reason).format(country=country)
        parts.append(f"{name} {rows:,} row{'s' if rows != 1 else ''} ({why})")
    return "; ".join(parts)


def _collect(engine: Engine, pending: list[tuple[str, list[str]]]) -> int:
    """Gather the distinct raw identities of the pending batches into ``_id_distinct``.

    Each distinct (feed, raw identity fields) keeps the list of rows that carry it, so
    everything after this runs on distinct values, not rows. Returns the number of rows.
    """
    selects = []
    total = 0
    # (a Metro 2 feed's associated consumers are identity records too: see store)
    associated = engine.table_exists(store.ASSOCIATED_CONSUMERS)
    for feed, batch_ids in pending:
        in_list = literals(batch_ids)
        for table in [f"src_{feed}"] + ([store.ASSOCIATED_CONSUMERS] if associated else []):
            have = set(engine.columns(table))
            cols = ", ".join(
                f"CAST({ident(c)} AS {t}) AS {c}" if c in have else f"CAST(NULL AS {t}) AS {c}"
                for c, t in RAW_FIELDS.items()
            )
            selects.append(
                f"SELECT record_id, batch_id, {literal(feed)} AS feed, {cols} FROM {ident(table)} "
                f"WHERE batch_id IN ({in_list})"
            )
            total += int(
                engine.scalar(f"SELECT count(*) FROM {ident(table)} WHERE batch_id IN ({in_list})")
            )
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
    """One SELECT over ``_id_distinct``: each stage a CTE naming the columns it adds; the
    last adds ``emptied``, the "field:reason" of each value given that came out empty."""
    us = country.upper() == "US"
    full = _full_address.split("address_full", country)
    s1 = _names.full_name_pieces("full_name")
    s2 = {
        **_names.full_name_tokens(),
        "last_clean": _names.clean_name("last_name"),
        "line_clean": _address.clean_text(
            "coalesce(nullif(concat_ws(' ', address_line1, address_line2), ''), af_line)"
        ),
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
        "name_suffix": f"""coalesce({_names.suffix_code(_names.clean_name("name_suffix"))},
            {_names.trailing_suffix("last_clean")}, fn_name_suffix)""",
        "dob": "dob",
        "address_line1": "nullif(concat_ws(' ', house_number, street, unit_type || ' ' || unit), "
        "'')",
        "house_number": "house_number",
        "street": "street",
        "unit": "unit",
        "city": _address.clean_city("coalesce(city, af_city)"),
        "region": _address.region_code(region) if us else _address.clean_city(region),
        "postcode": _postcode.postcode(postcode, country),
        "phone": "p.e164",
        "email": f"""CASE WHEN regexp_full_match(lower(trim(email)), {literal(_EMAIL)})
            THEN lower(trim(email)) END""",
        "national_id_token": "nullif(trim(national_id_token), '')",
        "rows": "rows",
    }

    # what each row gave (a value with more than spaces), for the fields that may come out
    # empty; full_name and address_full are lost only when nothing at all is read from them
    def given(*cols: str) -> str:
        return " OR ".join(f"nullif(trim({c}), '') IS NOT NULL" for c in cols)

    def no_latin(col: str) -> str:
        return f"({given(col)}) AND NOT regexp_matches(upper(strip_accents({col})), '[A-Z0-9]')"

    # a town, region or postcode the country's addresses require, given in address_full
    # (with no column of its own) where it cannot be read
    not_read = {
        f"af_{c}": f"""({given("address_full")}) AND NOT ({no_latin("address_full")})
            AND NOT ({given(c)}) AND af_{c} IS NULL"""
        for c in _full_address.layout(country).counted()
    }
    gave = {
        **{
            c: given(c)
            for c in ("first_name", "middle_name", "last_name", "name_suffix", "city", "email")
        },
        "address_line1": given("address_line1", "address_line2"),
        "region": given(region),
        "postcode": given(postcode),
        "full_name": no_latin("full_name"),
        "address_full": no_latin("address_full"),
        **not_read,
    }
    emptied = [
        *(
            f"CASE WHEN _given.{c} AND {c} IS NULL THEN '{c}:{NO_LATIN}' END"
            for c in ("first_name", "middle_name", "last_name", "address_line1", "city")
        ),
        *(f"CASE WHEN _given.{c} THEN '{c}:{NO_LATIN}' END" for c in ("full_name", "address_full")),
        "CASE WHEN _given.name_suffix AND name_suffix IS NULL THEN 'name_suffix:not_a_name_suffix'"
        " END",
        "CASE WHEN _given.region AND region IS NULL THEN 'region:"
        + ("not_a_us_state" if us else NO_LATIN)
        + "' END",
        "CASE WHEN _given.postcode AND postcode IS NULL "
        "THEN 'postcode:not_a_postcode_of_country' END",
        "CASE WHEN _given.phone_reason IS NOT NULL THEN 'phone:' || _given.phone_reason END",
        "CASE WHEN _given.email AND email IS NULL THEN 'email:not_an_email_address' END",
        *(f"CASE WHEN _given.{c} THEN '{c[3:]}:{NOT_READ}' END" for c in not_read),
    ]
    gave_struct = ", ".join(f"{k} := ({v})" for k, v in gave.items())
    # Enough to tell one person from another: a national ID, or a name together with something
    # that is not a name (a birth date, an address, a phone, an email).
    usable = """national_id_token IS NOT NULL OR (
        (first_name IS NOT NULL OR last_name IS NOT NULL) AND (dob IS NOT NULL
         OR address_line1 IS NOT NULL OR phone IS NOT NULL OR email IS NOT NULL))"""
    return f"""
        WITH {_stages("_id_distinct", full)},
        s1 AS (SELECT *, {_cols(s1)} FROM af{len(full)}),
        s2 AS (SELECT *, {_cols(s2)} FROM s1),
        s3 AS (SELECT *, {_cols(s3)} FROM s2),
        s4 AS (SELECT *, {_cols(s4)} FROM s3),
        s5 AS (SELECT {_cols(std)},
                      struct_pack({gave_struct}, phone_reason := p.reason) AS _given
            FROM s4 LEFT JOIN _id_phones p ON p.raw = {_phone.raw_phone("s4.phone")}),
        s6 AS (SELECT * EXCLUDE (_given),
                      list_filter([{", ".join(emptied)}], lambda e: e IS NOT NULL) AS emptied
               FROM s5)
        SELECT {identity_id_sql()} AS identity_id, s6.*,
            coalesce(n.canonical, s6.first_name) AS first_name_std,
            ({usable}) AS usable,
            CASE WHEN NOT ({usable})
                 THEN 'no_national_id_nor_name_with_another_identifier' END AS unusable_reason
        FROM s6 LEFT JOIN _id_nicknames n ON n.nickname = s6.first_name"""


def _summary(
    engine: Engine,
    batch_ids: tuple[str, ...],
    mapped: int,
    new_ids: tuple[str, ...],
    emptied: dict[str, int],
) -> IdentityUpdate:
    if not engine.table_exists("identity_records"):
        return IdentityUpdate(batch_ids, mapped, 0, new_ids, 0, emptied)
    total, unusable = engine.query(
        "SELECT count(*), count(*) FILTER (NOT usable) FROM identity_records"
    )[0]
    return IdentityUpdate(batch_ids, mapped, int(total), new_ids, int(unusable), emptied)


def _stages(source: str, stages: list[dict[str, str]]) -> str:
    """CTEs ``af1``, ``af2``, ... over ``source``: each adds its columns to the last, or
    replaces those the last has (see ``_full_address.split``)."""
    ctes, have, last = [], set(), source
    for i, stage in enumerate(stages, 1):
        replaced = {k: v for k, v in stage.items() if k in have}
        added = {k: v for k, v in stage.items() if k not in have}
        star = f"* REPLACE ({_cols(replaced)})" if replaced else "*"
        ctes.append(f"af{i} AS (SELECT {star}{', ' if added else ''}{_cols(added)} FROM {last})")
        have |= set(stage)
        last = f"af{i}"
    return ",\n        ".join(ctes)


def _cols(exprs: dict[str, str]) -> str:
    return ", ".join(f"{v} AS {k}" for k, v in exprs.items())
