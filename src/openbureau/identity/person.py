"""A person's file on the identity side: the records linked into it and its ID history."""

from __future__ import annotations

from typing import Any

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.identity import _index


def person_file(engine: Engine, person_id: str) -> dict[str, Any]:
    """The identity records in the file of ``person_id``, the IDs merged into it, and every
    ID history event of those IDs, oldest first. A retired ID leads to the file it was merged
    into. For an operator handling a dispute about a mixed file (with ``explain-link`` and
    ``link --force-split``), and as data for the service.

    ``{"person_id", "asked", "retired", "records": [...], "merged": [{"person_id", "run_id"}],
    "history": [...]}`` (``retired``: the ID asked for was merged into ``person_id``); a
    record's national ID shows only as present or not, and of its record ids the smallest."""
    if not engine.table_exists("person_ids") or not engine.scalar(
            "SELECT count(*) FROM person_ids"):
        raise UserError("no person index yet: run `openbureau link` first")
    asked = person_id.strip().upper()
    active = _index.resolve(engine, asked)
    if active is None:
        raise UserError(f"{person_id}: no such person ID")
    records = engine.arrow("""
        SELECT r.identity_id, r.feed, min(m.record_id) AS first_record_id,
               count(m.record_id) AS rows, r.first_name, r.middle_name, r.last_name,
               r.name_suffix, r.dob, r.address_line1, r.city, r.region, r.postcode, r.phone,
               r.email, r.national_id_token IS NOT NULL AS national_id, p.run_id
        FROM person_index p JOIN identity_records r USING (identity_id)
        LEFT JOIN identity_record_map m USING (identity_id)
        WHERE p.person_id = ? GROUP BY ALL ORDER BY r.feed, first_record_id""",
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
