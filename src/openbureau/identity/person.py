"""A person's file on the identity side: the records linked into it and its ID history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.identity import _index
from openbureau.warehouse.ingest import INGEST_BATCHES

# Each person's identity records: who reported each (the furnisher of the batch that first
# showed it), when the bureau received it first and last, and how many loaded rows show it. A
# published snapshot holds it as a table (PERSON_IDENTITY_TABLE), in person order, so that a
# person's rows are read without a pass over a million.
PERSON_IDENTITY_SQL = f"""
    SELECT p.person_id, r.identity_id, r.feed, fb.furnisher, r.n_records AS rows,
           r.first_name, r.middle_name, r.last_name, r.name_suffix, r.dob, r.address_line1,
           r.city, r.region, r.postcode, r.phone, r.email,
           r.national_id_token IS NOT NULL AS national_id,
           fb.loaded_at::DATE AS first_reported, lb.loaded_at::DATE AS last_reported, p.run_id
    FROM person_index p JOIN identity_records r USING (identity_id)
    LEFT JOIN {INGEST_BATCHES.name} fb ON fb.batch_id = r.first_batch_id
    LEFT JOIN {INGEST_BATCHES.name} lb ON lb.batch_id = r.last_batch_id"""
PERSON_IDENTITY_TABLE = "person_identity"
ORDER = "furnisher, feed, first_reported, identity_id"  # (the same from either source)


# Why a file's identity records are one person: each stored link between two records of the
# same file (a model match at or above the edge threshold, a shared national ID, a forced link),
# and each forced split naming a record of the file. A published snapshot holds it as a table
# (PERSON_LINKS_TABLE), in person order. ``kind``: link or split; ``source``: model,
# national_id or override.
PERSON_LINKS_SQL = """
    SELECT a.person_id, 'link' AS kind, least(e.identity_id_l, e.identity_id_r) AS identity_a,
           greatest(e.identity_id_l, e.identity_id_r) AS identity_b, e.match_probability,
           e.source, e.run_id, NULL::TIMESTAMP AS created_at
    FROM link_edges e JOIN person_index a ON a.identity_id = e.identity_id_l
    JOIN person_index b ON b.identity_id = e.identity_id_r AND b.person_id = a.person_id
    UNION ALL
    SELECT p.person_id, o.kind, o.identity_id_a, o.identity_id_b,
           CASE o.kind WHEN 'link' THEN 1.0 END, 'override', o.run_id, o.created_at
    FROM link_overrides o JOIN person_index p
      ON p.identity_id = o.identity_id_a OR p.identity_id = o.identity_id_b"""
PERSON_LINKS_TABLE = "person_links"


def person_links(engine: Engine, person_ids: list[str]) -> list[dict[str, Any]]:
    """The links and forced splits of the files ``person_ids`` (``PERSON_LINKS_SQL``), by
    identity pair, the most probable link of a pair first. Empty for a warehouse or snapshot
    without stored links. Works on both."""
    if engine.table_exists(PERSON_LINKS_TABLE):
        source = PERSON_LINKS_TABLE
    elif engine.table_exists("link_edges") and engine.table_exists("link_overrides"):
        source = f"({PERSON_LINKS_SQL}) AS l"
    else:
        return []
    return engine.arrow(
        f"""SELECT DISTINCT kind, identity_a, identity_b, match_probability, source, run_id,
                created_at
            FROM {source} WHERE list_contains(?, person_id)
            ORDER BY identity_a, identity_b, kind, match_probability DESC NULLS LAST, run_id""",
        [person_ids],
    ).to_pylist()


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
        "SELECT count(*) FROM person_ids"
    ):
        raise UserError("no person index yet: run `openbureau link` first")
    asked = person_id.strip().upper()
    active = _index.resolve(engine, asked)
    if active is None:
        raise UserError(f"{person_id}: no such person ID")
    if engine.table_exists(PERSON_IDENTITY_TABLE):  # (a published snapshot)
        records = engine.arrow(
            f"""
            SELECT *, NULL::VARCHAR AS first_record_id FROM {PERSON_IDENTITY_TABLE}
            WHERE person_id = ? ORDER BY {ORDER}""",
            [active],
        ).to_pylist()
    else:  # (the warehouse: with each record's smallest record id, which the snapshot lacks)
        records = engine.arrow(
            f"""
            WITH mine AS (SELECT * FROM ({PERSON_IDENTITY_SQL}) WHERE person_id = ?)
            SELECT mine.*, m.first_record_id FROM mine LEFT JOIN (
              SELECT identity_id, min(record_id) AS first_record_id FROM identity_record_map
              WHERE identity_id IN (SELECT identity_id FROM mine) GROUP BY identity_id
            ) m USING (identity_id) ORDER BY {ORDER}""",
            [active],
        ).to_pylist()
    merged = engine.arrow(
        """
        SELECT person_id, retired_run AS run_id FROM person_ids
        WHERE resolves_to = ? AND status = 'retired' ORDER BY retired_run, person_id""",
        [active],
    ).to_pylist()
    ids = [active, *(m["person_id"] for m in merged)]
    history = engine.arrow(
        """
        SELECT run_id, linked_at, event, person_id, other_person_id, records, cause
        FROM person_id_history
        WHERE list_contains(?, person_id) OR list_contains(?, other_person_id)
        ORDER BY run_id, linked_at, event, person_id""",
        [ids, ids],
    ).to_pylist()
    return {
        "person_id": active,
        "asked": person_id,
        "retired": active != asked,
        "records": records,
        "merged": merged,
        "history": history,
    }


# Events written before they were numbered (``seq``, 2026-11-30): in the order apply_assignment
# writes them (IDs given back, merges, new IDs and parts split off, redirects), which holds
# within one clustering; a run that also applied forced links or splits may differ.
_EVENT_ORDER = {"split": 0, "merge": 1, "new": 2, "redirect": 3}


def held_elsewhere(
    engine: Engine, person_id: str, shown_at: Sequence[tuple[Any, Any]] = ()
) -> list[dict[str, Any]]:
    """When records now in the file of ``person_id`` were in another person's file, by the ID
    history: ``[{"person_id", "since", "until"}]``, the other file's ID as reads of it were
    logged, oldest first. For the person's access log: a lender who read that file then read
    their records too.

    - An ID merged into another file and given back by a split (rule 4): from the run that
      merged it to the run that gave it back.
    - A part split off another file and given an ID of its own (a mixed file taken apart):
      from the earliest link run that put one of its records in that file to the run that
      split it off. (Records that came to that file by a merge count from the merge: the
      reads of the file they were in before are not followed. A split written before
      2026-11-30 has no start recorded and is left out.)

    Each is followed through the other file's own merges and redirects. Periods in the
    person's own file (its ID and the IDs merged into it) are left out, and so are IDs in the
    person's file whose records were never anywhere else.

    ``shown_at``: (the newest link run's time a published copy showed, when that copy began to
    be served), oldest first, as publication records them (``publication.served_links``;
    identity does not read the later stage's table itself). A period starts and ends when a
    copy showing the change began to be served; before the first one recorded, and without
    ``shown_at``, at the link run, which is earlier by the time until the next publication."""
    active = _index.resolve(engine, person_id.strip().upper())
    if active is None:
        raise UserError(f"{person_id}: no such person ID")
    own = {
        active,
        *(
            p
            for (p,) in engine.query(
                "SELECT person_id FROM person_ids WHERE resolves_to = ? AND status = 'retired'",
                [active],
            )
        ),
    }
    # the events of the IDs whose files may have held this person's records: these IDs, the
    # files they were split off, and any file those were merged into or led to
    numbered = "seq" in engine.columns("person_id_history")
    extra = "since, seq" if numbered else "NULL, NULL"
    tracked = set(own)
    events: list[tuple[Any, ...]] = []
    for _ in range(64):
        events = engine.query(
            f"""
            SELECT run_id, linked_at, event, person_id, other_person_id, {extra}
            FROM person_id_history
            WHERE event <> 'new' AND (list_contains(?, person_id)
                                      OR list_contains(?, other_person_id))""",
            [sorted(tracked), sorted(tracked)],
        )
        more = {e[3] for e in events if e[4] in tracked and e[2] != "split"}
        more |= {e[4] for e in events if e[2] == "split" and e[3] in own and e[4] is not None}
        if more <= tracked:
            break
        tracked |= more
    events.sort(key=lambda e: (e[0], e[6] is not None, e[6] or 0, _EVENT_ORDER.get(e[2], 9)))

    parent: dict[str, str] = {}  # a retired ID -> the file it led to then

    def root(pid: str) -> str:
        for _ in range(64):
            if pid not in parent:
                break
            pid = parent[pid]
        return pid

    # each tracked ID's file over time: (from, file) at every run that changed it
    timeline: dict[str, list[tuple[Any, str]]] = {p: [(None, p)] for p in tracked}
    split_off: list[tuple[str, Any, Any]] = []  # (the file an own ID was split off, from, to)
    i = 0
    while i < len(events):
        run, at = events[i][0], events[i][1]
        while i < len(events) and events[i][0] == run:
            _, _, event, pid, other, since, _ = events[i]
            if event == "split" and pid in parent:  # rule 4: given back
                del parent[pid]
            elif event == "split" and pid in own and other is not None and since is not None:
                split_off.append((other, since, at))
            elif event in ("merge", "redirect") and other is not None:
                parent[other] = pid
            i += 1
        for p, line in timeline.items():
            now = root(p)
            if line[-1][1] != now:
                line.append((at, now))

    periods: list[dict[str, Any]] = []

    def within(pid: str, start: Any, end: Any) -> None:
        """The files ``pid`` was in over [start, end) (None: open) that are not this person's."""
        line = timeline[pid]
        for k, (since, holder) in enumerate(line):
            until = line[k + 1][0] if k + 1 < len(line) else None
            lo = since if start is None or (since is not None and since > start) else start
            hi = until if end is None or (until is not None and until < end) else end
            period = {"person_id": holder, "since": lo, "until": hi}
            if (
                holder not in own
                and (lo is None or hi is None or lo < hi)
                and period not in periods
            ):  # (an ID merged into another: once)
                periods.append(period)

    for p in own:
        within(p, None, None)
    for source, since, at in split_off:
        within(source, since, at)
    # a change reached reads when a published copy first showed it (recorded by publish_snapshot
    # since 2026-11-30; before the first one recorded, the run's time stands)
    if periods and shown_at:
        shown = list(shown_at)

        def served(t: Any) -> Any:
            if t is None or not shown or t <= shown[0][0]:
                return t
            return min((at for linked, at in shown if linked >= t), default=t)

        for period in periods:
            period["since"], period["until"] = served(period["since"]), served(period["until"])
        periods[:] = [
            x
            for i, x in enumerate(periods)
            if x not in periods[:i]
            and (x["since"] is None or x["until"] is None or x["since"] < x["until"])
        ]
    periods.sort(key=lambda x: (x["since"] is not None, x["since"], x["person_id"]))
    return periods
