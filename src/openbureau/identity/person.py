"""A person's file on the identity side: the records linked into it and its ID history."""

from __future__ import annotations

from typing import Any

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.identity import _index

# Each person's identity records: who reported each (the furnisher of the batch that first
# showed it), when the bureau received it first and last, and how many loaded rows show it. A
# published snapshot holds it as a table (PERSON_IDENTITY_TABLE), in person order, so that a
# person's rows are read without a pass over a million.
PERSON_IDENTITY_SQL = """
    SELECT p.person_id, r.identity_id, r.feed, fb.furnisher, r.n_records AS rows,
           r.first_name, r.middle_name, r.last_name, r.name_suffix, r.dob, r.address_line1,
           r.city, r.region, r.postcode, r.phone, r.email,
           r.national_id_token IS NOT NULL AS national_id,
           fb.loaded_at::DATE AS first_reported, lb.loaded_at::DATE AS last_reported, p.run_id
    FROM person_index p JOIN identity_records r USING (identity_id)
    LEFT JOIN ingest_batches fb ON fb.batch_id = r.first_batch_id
    LEFT JOIN ingest_batches lb ON lb.batch_id = r.last_batch_id"""
PERSON_IDENTITY_TABLE = "person_identity"
ORDER = "furnisher, feed, first_reported, identity_id"  # (the same from either source)


def person_file(engine: Engine, person_id: str) -> dict[str, Any]:
    """The identity records in the file of ``person_id``, the IDs merged into it, and every
    ID history event of those IDs, oldest first. A retired ID leads to the file it was merged
    into. For an operator handling a dispute about a mixed file (with ``explain-link`` and
    ``link --force-split``), and as data for the service.

    ``{"person_id", "asked", "retired", "records": [...], "merged": [{"person_id", "run_id"}],
    "history": [...]}`` (``retired``: the ID asked for was merged, and leads to ``person_id``); a
    record's national ID shows only as present or not. Each record also says which furnisher
    reported it and when it was first and last loaded.

    Works on the warehouse and on a published snapshot (which holds the records as
    ``PERSON_IDENTITY_TABLE`` instead of the ingest log). A record's smallest record id
    (``first_record_id``) comes from the warehouse's record map; a snapshot has none (None):
    aggregating a row per loaded record would add seconds to every publish."""
    if not engine.table_exists("person_ids") or not engine.scalar(
            "SELECT count(*) FROM person_ids"):
        raise UserError("no person index yet: run `openbureau link` first")
    asked = person_id.strip().upper()
    active = _index.resolve(engine, asked)
    if active is None:
        raise UserError(f"{person_id}: no such person ID")
    if engine.table_exists(PERSON_IDENTITY_TABLE):  # (a published snapshot)
        records = engine.arrow(f"""
            SELECT *, NULL::VARCHAR AS first_record_id FROM {PERSON_IDENTITY_TABLE}
            WHERE person_id = ? ORDER BY {ORDER}""", [active]).to_pylist()
    else:  # (the warehouse: with each record's smallest record id, which the snapshot lacks)
        records = engine.arrow(f"""
            WITH mine AS (SELECT * FROM ({PERSON_IDENTITY_SQL}) WHERE person_id = ?)
            SELECT mine.*, m.first_record_id FROM mine LEFT JOIN (
              SELECT identity_id, min(record_id) AS first_record_id FROM identity_record_map
              WHERE identity_id IN (SELECT identity_id FROM mine) GROUP BY identity_id
            ) m USING (identity_id) ORDER BY {ORDER}""",
            [active]).to_pylist()
    merged = engine.arrow("""
        SELECT person_id, retired_run AS run_id FROM person_ids
        WHERE resolves_to = ? AND status = 'retired' ORDER BY retired_run, person_id""",
        [active]).to_pylist()
    ids = [active, *(m["person_id"] for m in merged)]
    history = engine.arrow("""
        SELECT run_id, linked_at, event, person_id, other_person_id, records, cause
        FROM person_id_history
        WHERE list_contains(?, person_id) OR list_contains(?, other_person_id)
        ORDER BY run_id, linked_at, event, person_id""", [ids, ids]).to_pylist()
    return {"person_id": active, "asked": person_id, "retired": active != asked,
            "records": records, "merged": merged, "history": history}
