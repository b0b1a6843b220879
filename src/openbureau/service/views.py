"""Read a person's data from the published snapshot: score, history, file, reasons' records.

Each function takes the published snapshot and a person id and returns plain data, for the API
(as JSON) and the pages (through templates) alike.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

import pyarrow as pa

from openbureau.engine import DuckDBEngine, Engine
from openbureau.errors import UserError
from openbureau.ingest import _metro2
from openbureau.ingest.vocabulary import ACCOUNT_STATUS, GOOD_STANDING
from openbureau.publication import served_links
from openbureau.scoring.alternative import served, served_sql
from openbureau.service.serving import Published
from openbureau.warehouse.identity import PERSON_ID_HISTORY, PERSON_IDS

T = TypeVar("T")

NO_LONGER_REPORTED = "no longer reported"
# How a file item's status reads: an account's from the vocabulary's declaration, a bill's
# from the serving copy's own words (serving._file_items_sql).
STATUS_WORDS = {t.value: t.shown or t.value for t in ACCOUNT_STATUS.terms} | {
    "on_time": "paid on time",
    "late": "paid 30+ days late",
    "unpaid": "unpaid",
    "aged_off": NO_LONGER_REPORTED,
}
# Accounts in good standing (rank 0): the rest count as not current for a lender.
_GOOD_STANDING_SQL = ", ".join(f"'{s}'" for s in GOOD_STANDING)


def _rows(pub: Published, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = pub.cursor()
    try:
        res = cur.execute(sql, params)
        cols = [d[0] for d in res.description or []]
        return [dict(zip(cols, r, strict=True)) for r in res.fetchall()]
    finally:
        cur.close()


def own_id(pub: Published | None, person_id: str | None) -> str:
    """The ID a person's account stands for now: an account may hold an ID that a merge of
    files has since retired (it then resolves to the surviving one)."""
    pid = person_id or ""
    return pub.moved.get(pid, pid) if pub is not None else pid


def merged_into(pub: Published | None, person_id: str) -> list[str]:
    """``person_id`` and the retired IDs that resolve to it."""
    return [person_id, *(pub.merged.get(person_id, []) if pub is not None else [])]


def resolve_person(pub: Published, person_id: str) -> str | None:
    """The person id now in use for ``person_id``, or None when that person is not in the
    snapshot."""
    pid = own_id(pub, person_id)
    return pid if pid in pub.index else None


def current_score(pub: Published, person_id: str, consent: bool = False) -> dict[str, Any] | None:
    """The person's score as served from the published snapshot (following a retired id): the
    core score, or with ``consent`` the better of it and the score with alternative data
    (``served_from`` says which); None when the snapshot does not hold the person."""
    row = pub.score_row(person_id)
    if row is None:
        return None
    row = served(row, consent)
    row["reasons"] = [dict(r) for r in row["reasons"] or []]
    return row


def _consent_sql(consent: bool, erased_until: dt.datetime | None, made_at: str) -> str:
    """SQL: whether a snapshot's score with alternative data may be served, for a consent
    given now (``consent``) and the file's last erasure (``erased_until``, see
    ``ConsentBook.erased_until``): a snapshot made (``made_at``, a column) before the erasure
    still holds the erased data."""
    if not consent:
        return "FALSE"
    if erased_until is None:
        return "TRUE"
    return f"({made_at} > TIMESTAMP '{erased_until.isoformat(sep=' ')}')"


def _score_columns(pub: Published, consent_sql: str, alias: str = "") -> str:
    """The served score's columns of a ``scores`` row, for a consent given by the SQL boolean
    ``consent_sql`` (a copy published before the score with alternative data: the core ones)."""
    a = f"{alias}." if alias else ""
    cols = ("score", "band", "unscorable_reason", "unscorable_text", "reasons", "scorecard_version")
    if pub.scores is None or "alt_score" not in pub.scores.column_names:
        return ", ".join(f"{a}{c}" for c in cols) + ", 'core' AS served_from"
    alt = served_sql(consent_sql, a)
    return (
        ", ".join(f"CASE WHEN {alt} THEN {a}alt_{c} ELSE {a}{c} END AS {c}" for c in cols)
        + f", CASE WHEN {alt} THEN 'alternative' ELSE 'core' END AS served_from"
    )


def score_in(
    pub: Published,
    person_ids: list[str],
    snapshot_id: str,
    consent: bool = False,
    erased_until: dt.datetime | None = None,
) -> dict[str, Any] | None:
    """The person's served row of snapshot ``snapshot_id`` (under any of their IDs; the
    serving copy holds every snapshot's scores), or None when that snapshot did not score
    them. ``erased_until``: see :func:`_consent_sql`. For the snapshot served, a person
    rescored since (a dispute's resolution) has the rescored row, served by the same rule."""
    if snapshot_id == pub.snapshot_id:
        rescored = next((pub.overlay[p] for p in person_ids if p in pub.overlay), None)
        if rescored is not None:
            # (the rescore stands in for this snapshot's row: its alternative score may be
            # served as that row's may, see _consent_sql)
            allowed = consent and (
                erased_until is None or (pub.made_at is not None and pub.made_at > erased_until)
            )
            row = served(rescored, allowed)
            row["reasons"] = [dict(r) for r in row["reasons"] or []]
            return row
    cols = _score_columns(pub, _consent_sql(consent, erased_until, "n.created_at"), "s")
    rows = _rows(
        pub,
        f"""SELECT s.person_id, s.snapshot_id, s.as_of, {cols}
        FROM scores s JOIN snapshots n USING (snapshot_id)
        WHERE s.snapshot_id = ? AND list_contains(?, s.person_id)
        ORDER BY s.person_id = ? DESC LIMIT 1""",
        [snapshot_id, person_ids, person_ids[0]],
    )
    if not rows:
        return None
    rows[0]["reasons"] = [dict(r) for r in rows[0]["reasons"] or []]
    return rows[0]


def history(
    pub: Published,
    person_id: str,
    consent: bool = False,
    erased_until: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """One point per snapshot up to the current one, oldest first (the latest snapshot of a
    day counts when a day was scored twice), each served as :func:`current_score` serves
    (consent as it is now; ``erased_until``: see :func:`_consent_sql`)."""
    cols = _score_columns(pub, _consent_sql(consent, erased_until, "n.created_at"), "s")
    rows = _rows(
        pub,
        f"""SELECT s.as_of, s.snapshot_id, {cols}
        FROM scores s JOIN snapshots n USING (snapshot_id)
        WHERE s.person_id = ? AND s.as_of <= ?
        QUALIFY row_number() OVER (PARTITION BY s.as_of
                                   ORDER BY n.created_at DESC, s.snapshot_id DESC) = 1
        ORDER BY s.as_of""",
        [person_id, pub.as_of],
    )
    keep = ("as_of", "snapshot_id", "score", "band", "unscorable_reason")
    return [{k: r[k] for k in keep} for r in rows]


# File items of alternative data (the ledger's payment events: scoring/alternative.py)
ALTERNATIVE_KINDS = ("bill",)


def _items_shown(erased: bool) -> str:
    """SQL: the file items shown; ``erased``: the file's alternative data was erased after
    the snapshot was made, so its bills, still in the copy, are not."""
    if not erased:
        return "TRUE"
    return "kind NOT IN (" + ", ".join(f"'{k}'" for k in ALTERNATIVE_KINDS) + ")"


# Columns of file_items a serving copy published before ageing-off (or compliance conditions)
# lacks, and their value then.
_AGEING_COLUMNS = {
    "aged_off_on": "NULL::DATE",
    "aged_off_records": "0",
    "first_delinquency": "NULL::DATE",
    "first_delinquency_derived": "NULL::BOOLEAN",
    "compliance_condition": "NULL::VARCHAR",  # (a copy published before they were kept)
}


def _file_item_columns(pub: Published) -> frozenset[str]:
    return pub.columns_of("file_items")


def _ageing_columns(pub: Published) -> str:
    have = _file_item_columns(pub)
    return ", ".join(
        name if name in have else f"{missing} AS {name}"
        for name, missing in _AGEING_COLUMNS.items()
    )


def _items(pub: Published) -> str:
    """file_items, with the columns a copy published before some were kept lacks."""
    have = _file_item_columns(pub)
    missing = [f"{v} AS {k}" for k, v in _AGEING_COLUMNS.items() if k not in have]
    return f"(SELECT *, {', '.join(missing)} FROM file_items)" if missing else "file_items"


def reported(pub: Published) -> str:
    """The condition on file_items of what may still be reported: all a lender may see."""
    return "aged_off_on IS NULL" if "aged_off_on" in _file_item_columns(pub) else "true"


def furnisher_note(code: str | None) -> str | None:
    """What a furnisher's compliance condition code (Metro 2) tells every reader of the
    account; a code that is no CRRG code is shown as sent."""
    if code is None:
        return None
    return _metro2.COMPLIANCE.get(code) or f"compliance condition {code}"


def file_items(
    pub: Published, person_id: str, erased: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """The whole file as of the snapshot, grouped by furnisher: what is no longer reported
    (aged off) too, marked with ``aged_off_on``, for the person's own eyes (without its
    alternative data when ``erased``: :func:`_items_shown`)."""
    rows = _rows(
        pub,
        f"""SELECT furnisher, feed, kind, item_id, title, status, amount,
            credit_limit, opened, closed, last_date, months, history, len(record_ids) AS records,
            record_ids[1] AS latest_record_id, {_ageing_columns(pub)}
        FROM file_items WHERE person_id = ? AND {_items_shown(erased)}
        ORDER BY furnisher, CASE kind WHEN 'account' THEN 0 WHEN 'bill' THEN 1
                 WHEN 'public_record' THEN 2 ELSE 3 END, last_date DESC""",
        [person_id],
    )
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        r["status_text"] = STATUS_WORDS.get(r["status"] or "", r["status"] or "")
        r["furnisher_note"] = furnisher_note(r.pop("compliance_condition"))
        if r["aged_off_on"] is not None:
            r["status_text"] = f"{NO_LONGER_REPORTED} (was {r['status_text']})"
        grouped[r["furnisher"]].append(r)
    return dict(grouped)


def reason_records(
    pub: Published, person_id: str, reasons: list[dict[str, Any]], limit: int = 12
) -> list[dict[str, Any]]:
    """Each reason with the file items its records belong to (the records behind it)."""
    wanted = sorted({rid for r in reasons for rid in r.get("record_ids") or []})
    by_record: dict[str, dict[str, Any]] = {}
    if wanted:
        for row in _rows(
            pub,
            """SELECT rid, furnisher, kind, item_id, title, status, last_date
                FROM (SELECT *, unnest(record_ids) AS rid FROM file_items WHERE person_id = ?)
                WHERE list_contains(?, rid)""",
            [person_id, wanted],
        ):
            by_record[row["rid"]] = row
    out = []
    for r in reasons:
        items: dict[tuple[str, str], dict[str, Any]] = {}
        for rid in r.get("record_ids") or []:
            hit = by_record.get(rid)
            if hit is None:
                continue
            key = (hit["furnisher"], hit["item_id"])
            item = items.setdefault(
                key,
                {
                    "furnisher": hit["furnisher"],
                    "kind": hit["kind"],
                    "item_id": hit["item_id"],
                    "title": hit["title"],
                    "status_text": STATUS_WORDS.get(hit["status"] or "", hit["status"] or ""),
                    "record_ids": [],
                },
            )
            item["record_ids"].append(rid)
        listed = list(items.values())
        out.append({**r, "items": listed[:limit], "more_items": max(0, len(listed) - limit)})
    return out


# What a lender sees of a file (file_summary): counts and totals over its file items.
_DISPUTED_SQL = ", ".join(f"'{c}'" for c in _metro2.COMPLIANCE_DISPUTED)
_SUMMARY = f"""
    count(*) FILTER (kind = 'account' AND closed IS NULL) AS open_accounts,
    count(*) FILTER (kind = 'account') AS accounts,
    coalesce(sum(amount) FILTER (kind = 'account' AND closed IS NULL), 0) AS balances,
    coalesce(sum(credit_limit) FILTER (kind = 'account' AND closed IS NULL), 0)
        AS credit_limits,
    count(*) FILTER (kind = 'account' AND status NOT IN ({_GOOD_STANDING_SQL}))
        AS accounts_not_current,
    count(*) FILTER (kind = 'bill') AS bill_accounts,
    count(*) FILTER (kind = 'bill' AND status = 'unpaid') AS bills_unpaid,
    count(*) FILTER (kind = 'inquiry' AND last_date > ? - INTERVAL 12 MONTH) AS inquiries_12m,
    count(*) FILTER (kind = 'public_record' AND status = 'unresolved')
        AS public_records_unresolved,
    count(*) FILTER (kind = 'account' AND compliance_condition IN ({_DISPUTED_SQL}))
        AS accounts_disputed,
    min(opened) AS oldest_opened"""


def file_summary(pub: Published, person_id: str, erased: bool = False) -> dict[str, Any]:
    """What a lender sees of the file: counts and totals, not the records, and nothing no
    longer reported (aged off) (``erased``: see :func:`file_items`). Read from the copy's
    summaries of every file, computed the first time one is asked for (a quarter of a second
    at a million records; one file's query took 3 ms of each lender's lookup)."""
    table, rows, empty = pub.once(("file_summaries", erased), lambda: _summaries(pub, erased))
    at = rows.get(person_id)
    row = empty if at is None else table.slice(at, 1).to_pylist()[0]
    return _summary_values(row)


def _summaries(pub: Published, erased: bool) -> tuple[pa.Table, dict[str, int], dict[str, Any]]:
    """Every file's summary (a table, and each person's row of it), and a summary of none."""
    shown = f"{reported(pub)} AND {_items_shown(erased)}"
    cur = pub.cursor()
    try:
        table = cur.sql(
            f"SELECT person_id, {_SUMMARY} FROM {_items(pub)} WHERE {shown} GROUP BY person_id",
            params=[pub.as_of],
        ).to_arrow_table()
    finally:
        cur.close()
    rows = {pid: i for i, pid in enumerate(table.column("person_id").to_pylist())}
    empty = _rows(pub, f"SELECT {_SUMMARY} FROM {_items(pub)} WHERE FALSE", [pub.as_of])[0]
    return table.drop_columns(["person_id"]), rows, empty


def _summary_values(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (float(v) if isinstance(v, int | float) and k in ("balances", "credit_limits") else v)
        for k, v in row.items()
    }


def _one_file_summary(pub: Published, person_id: str, erased: bool = False) -> dict[str, Any]:
    """:func:`file_summary` by a query of the one file (what the summaries are held to)."""
    rows = _rows(
        pub,
        f"""SELECT {_SUMMARY} FROM {_items(pub)}
            WHERE person_id = ? AND {reported(pub)} AND {_items_shown(erased)}""",
        [pub.as_of, person_id],
    )
    return _summary_values(rows[0] if rows else {})


def features(pub: Published, person_id: str) -> dict[str, Any] | None:
    rows = _rows(pub, "SELECT * FROM features WHERE person_id = ?", [person_id])
    return rows[0] if rows else None


def person_name(pub: Published, person_id: str) -> dict[str, Any]:
    rows = _rows(
        pub, "SELECT first_name, last_name, dob FROM persons WHERE person_id = ?", [person_id]
    )
    return rows[0] if rows else {"first_name": None, "last_name": None, "dob": None}


IDENTITY_FIELDS = (
    "identity_id",
    "furnisher",
    "feed",
    "rows",
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
    "national_id",
    "first_reported",
    "last_reported",
)


# What person_file reads in a published snapshot ("person_identity" is
# person.PERSON_IDENTITY_TABLE).
IDENTITY_SOURCES = frozenset({PERSON_IDS.name, PERSON_ID_HISTORY.name, "person_identity"})


def identity_on_file(
    pub: Published, person_id: str, *, redact: bool = True
) -> dict[str, Any] | None:
    """What the file holds of who the person is: each identity a furnisher reported (names,
    birth date, address, phone, email; a national ID only as held or not), the file IDs
    merged into this one, and how the file was formed. None for a snapshot published
    without them (before the person index, or by an earlier version).

    IDs of other persons' files (a file split off from this one, or this one split from, or
    merged with it and taken apart again) show as None, and so does the count of records of a
    part split off into another person's file: the person learns what happened to their
    file, not someone else's ID or file size. An auditor investigating a dispute sees them
    (``redact=False``)."""
    from openbureau.identity.person import person_file

    found = _identity_read(pub, person_file, person_id)
    return None if found is None else identity_shown(found, redact=redact)


def identity_shown(found: dict[str, Any], *, redact: bool = True) -> dict[str, Any]:
    """What :func:`identity_on_file` shows of ``identity.person.person_file``'s answer."""
    own = {found["person_id"], *(m["person_id"] for m in found["merged"])}
    if not redact:
        own |= {h[k] for h in found["history"] for k in ("person_id", "other_person_id")}
    return {
        "records": [{k: r[k] for k in IDENTITY_FIELDS} for r in found["records"]],
        "former_ids": [m["person_id"] for m in found["merged"]],
        "history": [
            {
                "linked_at": h["linked_at"],
                "event": h["event"],
                "person_id": h["person_id"] if h["person_id"] in own else None,
                "other_person_id": (h["other_person_id"] if h["other_person_id"] in own else None),
                # (a merge counts the records of the ID retired, the others those of
                # the ID in person_id: left out when that is another person's file)
                "records": h["records"]
                if h["other_person_id" if h["event"] == "merge" else "person_id"] in own
                else None,
                "cause": h["cause"],
            }
            for h in found["history"]
        ],
    }


def held_elsewhere(pub: Published | None, person_id: str) -> list[dict[str, Any]]:
    """When the person's records were in another person's file (a mixed file since taken
    apart): that file's ID and from when to when (``identity.person.held_elsewhere``). None
    such for a snapshot published without the identity part."""
    from openbureau.identity.person import held_elsewhere as periods

    return _identity_read(pub, lambda e, p: periods(e, p, served_links(e)), person_id) or []


def _identity_read(
    pub: Published | None, read: Callable[[Engine, str], T], person_id: str
) -> T | None:
    """``read(engine, person_id)`` on the snapshot's identity tables; None for a copy
    published before they were, or for a person ID they do not hold."""
    if pub is None or not IDENTITY_SOURCES.issubset(pub.tables):
        return None
    cur = pub.cursor()
    try:
        return read(DuckDBEngine.wrap(cur), person_id)
    except UserError:
        return None
    finally:
        cur.close()
