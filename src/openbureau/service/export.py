"""A person's copy of everything held on them (their file export), built section by section.

Each section is one small function of :class:`Held` (the engine with the person's data, the
service's store, the person's file IDs) returning one part: the records from every furnisher
with their versions and batches (``ledger.records``), the identity part and the links that
joined it, every score with its reasons (``export_scores``), statements, adverse-action notices,
every read of the file (the access log, refusals included), disputes, consents and erasures. A
later part is one more function in :data:`SECTIONS`, and one more field of
``export_schema.FileExport``.

The engine is a published snapshot's (the person's own export, ``/me/export``) or the warehouse
(`openbureau export-file`); the tables read have the same names in both, or each reader picks
its source as ``identity.person.person_file`` does. Reads are set-based (SQL); Python only
shapes the result. The export is checked against ``FileExport`` on the way out, so what is
handed out matches docs/export.schema.json, key order included.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, not_
from sqlalchemy.orm import Session, sessionmaker

from openbureau.config import AgeingSection
from openbureau.engine import Engine
from openbureau.ledger.ageing import aged_off_records_sql
from openbureau.ledger.erasure import erasures
from openbureau.publication import AGED_OFF_TABLE, served_links
from openbureau.service import audit, consent, disputes, notices, statements, views
from openbureau.service.export_schema import FORMAT, VERSION, FileExport
from openbureau.service.export_scores import scores_part
from openbureau.service.store import AuditEntry
from openbureau.warehouse.identity import IDENTITY_RECORDS, PERSON_INDEX
from openbureau.warehouse.scoring import SCORE_SNAPSHOTS

#: The most reads an export lists (the newest); ``reads_truncated`` says when there are more.
MAX_READS = 20_000
EXPORT_ACTION = "export file"


@dataclass
class Held:
    """Where a person's data is, and who they are."""

    engine: Engine
    store: sessionmaker[Session]
    found: dict[str, Any]  # identity.person.person_file's answer
    # the snapshot by which records are aged off, and the file's records aged off by it
    # (aged_off, once read)
    aged: tuple[dict[str, Any] | None, dict[str, dt.date]] | None = None

    @property
    def person_id(self) -> str:
        return str(self.found["person_id"])

    @property
    def ids(self) -> list[str]:
        """The file's ID and the retired IDs merged into it."""
        return [self.person_id, *(m["person_id"] for m in self.found["merged"])]


def find_person(engine: Engine, person_id: str) -> dict[str, Any]:
    """``identity.person.person_file`` of ``person_id`` (a retired ID leads to its file).

    Raises:
        UserError: no person index, or no such person ID (one line).
    """
    from openbureau.identity.person import person_file

    return person_file(engine, person_id)


# -- sections --------------------------------------------------------------------------------
def records_part(held: Held) -> list[dict[str, Any]]:
    """Every record of the file from every furnisher, each version with its batch; a record
    aged off (:func:`aged_off`) no longer reported, whether or not a suppression says so."""
    from openbureau.ledger.records import person_records

    records = person_records(held.engine, held.ids)
    aged = aged_off(held)[1]
    for r in records:
        r["aged_off_on"] = aged.get(r["record_id"])
        if r["aged_off_on"] is not None and r["standing"] == "counts":
            r["standing"] = "no_longer_reported"
    return records


def aged_off(held: Held) -> tuple[dict[str, Any] | None, dict[str, dt.date]]:
    """The snapshot whose date and ageing-off periods say which records are no longer
    reported (``{"snapshot_id", "as_of"}``: a serving copy's own, the warehouse's newest; None
    when none does), and the file's records aged off by then (record id -> the day)."""
    if held.aged is None:
        held.aged = _aged_off(held.engine, held.ids)
    return held.aged


def _aged_off(engine: Engine, ids: list[str]) -> tuple[dict[str, Any] | None, dict[str, dt.date]]:
    mine = f"SELECT record_id, aged_off_on FROM {AGED_OFF_TABLE} WHERE list_contains($1, person_id)"
    if engine.table_exists(AGED_OFF_TABLE):  # (a serving copy: marked when published)
        basis = engine.query("SELECT snapshot_id, as_of FROM meta")[0]
    elif engine.table_exists("meta") or not engine.table_exists(SCORE_SNAPSHOTS.name):
        return None, {}  # (a copy published before records were marked; nothing scored)
    else:  # the warehouse: as of its newest snapshot, by its periods (the law's: none kept)
        ageing = "ageing" if "ageing" in engine.columns(SCORE_SNAPSHOTS.name) else "NULL"
        newest = engine.query(
            f"SELECT snapshot_id, as_of, {ageing} FROM {SCORE_SNAPSHOTS.name} "
            "ORDER BY created_at DESC, snapshot_id DESC LIMIT 1"
        )
        if not newest:
            return None, {}
        sid, as_of, periods = newest[0]
        rules = AgeingSection.model_validate_json(periods) if periods else AgeingSection()
        day = f"DATE '{as_of.isoformat()}'"
        where = " AND list_contains($1, person_id)"
        mine = f"SELECT record_id, aged_off_on FROM ({aged_off_records_sql(day, rules, where)})"
        basis = (sid, as_of)
    rows = engine.query(mine, [ids])
    return {"snapshot_id": basis[0], "as_of": basis[1]}, {str(r): d for r, d in rows}


def identity_part(held: Held) -> dict[str, Any]:
    """The identities linked into the file, its ID history, the links and splits that made it,
    and when its records were in another person's file (without that file's ID)."""
    from openbureau.identity.person import held_elsewhere, person_links

    shown = views.identity_shown(held.found)
    return {
        "records": shown["records"],
        "history": shown["history"],
        "links": person_links(held.engine, held.ids),
        "held_elsewhere": [
            {"since": p["since"], "until": p["until"]}
            for p in held_elsewhere(held.engine, held.person_id, served_links(held.engine))
        ],
    }


def statements_part(held: Held) -> list[dict[str, Any]]:
    """Every version of the person's statement, newest first."""
    return statements.versions(held.store, held.ids)


def notices_part(held: Held) -> list[dict[str, Any]]:
    """The adverse-action notices on the file, in full, newest first."""
    return notices.on_file(held.store, held.ids, full=True)


def disputes_part(held: Held) -> list[dict[str, Any]]:
    """The file's disputes (under any of its IDs), newest first, each with its steps."""
    return disputes.of_person(held.store, held.ids)


def consents_part(held: Held) -> list[dict[str, Any]]:
    """Every change of the person's consent to alternative data, newest first."""
    return consent.changes(held.store, held.ids)


# Said of an erasure the person asked for that the source read does not hold yet.
ERASURE_NOT_IN_COPY = (
    "carried out, but this copy of your file was published before it was: the feeds and rows "
    "erased are listed in an export made from the next snapshot"
)
ERASURE_PENDING = "asked for, not carried out yet: it is done as soon as the warehouse is free"


def erasures_part(held: Held) -> list[dict[str, Any]]:
    """Every erasure of the file's alternative data, newest first: the tombstones the source
    holds (``ledger.erasure``: when, which feeds, how many rows of each table, never a value),
    and each erasure the person asked for that it does not hold (pending, or carried out
    after a serving copy was published), said so."""
    stones = [
        {
            "erasure_id": t["erasure_id"],
            "requested_at": t["requested_at"],
            "erased_at": t["erased_at"],
            "feeds": t["feeds"],
            "records": t["records"],
            "rows": json.loads(str(t["rows_deleted"])),
            "note": None,
        }
        for t in erasures(held.engine, held.ids)
    ]
    held_at = {t["requested_at"] for t in stones}
    asked = [
        {
            "erasure_id": None,
            "requested_at": c["at"],
            "erased_at": c["erased_at"],
            "feeds": [],
            "records": None,
            "rows": None,
            "note": ERASURE_PENDING if c["erased_at"] is None else ERASURE_NOT_IN_COPY,
        }
        for c in consent.changes(held.store, held.ids)
        if c["erase"] and c["at"] not in held_at
    ]
    return sorted(
        [*stones, *asked],
        key=lambda e: e["erased_at"] or e["requested_at"] or dt.datetime.max,
        reverse=True,
    )


def reads_part(held: Held) -> list[dict[str, Any]]:
    """The file's access log, newest first, refusals included, as the person is shown it:
    every read but anonymous calls and a person's reads of another file (``MAX_READS + 1`` at
    most: one more than listed says there are more)."""
    from openbureau.identity.person import held_elsewhere
    from openbureau.service.api import shown_to_person

    own = held.ids
    entries = audit.query(
        held.store,
        subject=own,
        limit=MAX_READS + 1,
        periods=held_elsewhere(held.engine, held.person_id, served_links(held.engine)),
        not_roles=("anonymous",),
        where=[not_(and_(AuditEntry.actor_role == "person", AuditEntry.subject.not_in(own)))],
    )
    return shown_to_person(entries, own)


#: The sections in the order the export holds them: name -> the function building it.
SECTIONS: dict[str, Callable[[Held], Any]] = {
    "records": records_part,
    "identity": identity_part,
    "scores": scores_part,
    "statements": statements_part,
    "notices": notices_part,
    "reads": reads_part,
    "disputes": disputes_part,
    "consents": consents_part,
    "erasures": erasures_part,
}


def _name(engine: Engine, person_id: str) -> dict[str, Any]:
    """The most reported name and birth date (a snapshot holds them as ``persons``)."""
    source = (
        "persons"
        if engine.table_exists("persons")
        else f"""(SELECT p.person_id, mode(r.first_name) AS first_name,
                    mode(r.last_name) AS last_name, mode(r.dob) AS dob
                 FROM {PERSON_INDEX.name} p JOIN {IDENTITY_RECORDS.name} r USING (identity_id)
                 WHERE p.person_id = $1 GROUP BY p.person_id)"""
    )
    rows = engine.arrow(
        f"SELECT first_name, last_name, dob FROM {source} WHERE person_id = $1", [person_id]
    ).to_pylist()
    return rows[0] if rows else {"first_name": None, "last_name": None, "dob": None}


def build_export(
    held: Held,
    *,
    source: dict[str, Any],
    bureau: dict[str, str],
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The person's file export: one JSON-ready dict, checked against
    ``export_schema.FileExport`` (keys in its order). ``source``: ``{"kind",
    "snapshot_id", "as_of"}``; ``bureau``: ``{"name", "contact"}``. Not audited: the caller
    logs the read (before building it, so that the export lists its own read)."""
    parts = {name: build(held) for name, build in SECTIONS.items()}
    reads = parts["reads"]
    truncated = len(reads) > MAX_READS
    parts["reads"] = reads[:MAX_READS]
    records = parts["records"]
    body = {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": now or dt.datetime.now(dt.UTC),
        "bureau": bureau,
        "source": {**source, "aged_off_by": aged_off(held)[0]},
        "person": {
            "person_id": held.person_id,
            "asked": held.found["asked"],
            "former_ids": held.ids[1:],
            "name": _name(held.engine, held.person_id),
        },
        "counts": {
            "records": len(records),
            "versions": sum(len(r["versions"]) for r in records),
            "identities": len(parts["identity"]["records"]),
            "links": len(parts["identity"]["links"]),
            "scores": len(parts["scores"]),
            "statements": len(parts["statements"]),
            "notices": len(parts["notices"]),
            "disputes": len(parts["disputes"]),
            "consents": len(parts["consents"]),
            "erasures": len(parts["erasures"]),
            "reads": len(parts["reads"]),
            "refusals": sum(1 for e in parts["reads"] if e["outcome"] == "denied"),
        },
        **parts,
        "reads_truncated": truncated,
    }
    return FileExport.model_validate(body).model_dump(mode="json")
