"""The scores part of a person's export: every snapshot's row of the file and every rescore
after a dispute, each with its core score, its score with alternative data, and which of the
two is served and why (``scoring.alternative.better``, under the person's consent as it is now:
the rule their score and its history are served by).

The snapshot rows come from the engine (a serving copy holds every snapshot's scores, as the
warehouse does), the rescores from the store (``person_rescores``), the consent and erasures
from the store (``service.consent``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from openbureau.scoring.alternative import ALT_COLUMNS, better
from openbureau.service import consent
from openbureau.service.disputes import row_from_json
from openbureau.service.disputes.rules import RESCORE_FEATURES
from openbureau.service.store import PersonRescore
from openbureau.warehouse.scoring import SCORE_SNAPSHOTS, SCORES

if TYPE_CHECKING:
    from openbureau.service.export import Held

#: Why a row's core score or its score with alternative data is served (``served_why``).
SERVED_WHY = {
    "no_alternative": "no score with utility, telecom and rent payments was computed",
    "erased": "your utility, telecom and rent payments were erased at your request after "
    "this score was computed",
    "no_consent": "you have not consented to your utility, telecom and rent payments counting",
    "not_better": "the score with your utility, telecom and rent payments is not above the "
    "core score",
    "better": "you consented, and the score with your utility, telecom and rent payments is "
    "above the core score",
}
_CORE = ("score", "band", "unscorable_reason", "unscorable_text", "scorecard_version", "reasons")


def _snapshot_rows(held: Held) -> tuple[list[dict[str, Any]], dict[str, dt.datetime]]:
    """The file's rows of every snapshot (under any of its IDs), and when each snapshot was
    made."""
    engine = held.engine
    snapshots = "snapshots" if engine.table_exists("snapshots") else SCORE_SNAPSHOTS.name
    if not engine.table_exists(SCORES.name):
        return [], {}
    made = dict(engine.query(f"SELECT snapshot_id, created_at FROM {snapshots}"))
    have = set(engine.columns("scores"))
    alt = "".join(f", s.{c}" for c in ALT_COLUMNS if c in have)  # (none before consent)
    rows = engine.arrow(
        f"""SELECT s.snapshot_id, s.as_of, n.created_at AS computed_at, s.person_id,
                {", ".join(f"s.{c}" for c in _CORE)}{alt}
            FROM scores s JOIN {snapshots} n USING (snapshot_id)
            WHERE list_contains(?, s.person_id)""",
        [held.ids],
    ).to_pylist()
    return rows, made


def _rescores(held: Held) -> list[dict[str, Any]]:
    """Every rescore of the file after a dispute (under any of its IDs), as a snapshot row."""
    with held.store() as session:
        stored = session.execute(
            select(PersonRescore)
            .where(PersonRescore.person_id.in_(held.ids))
            .order_by(PersonRescore.id)
        ).scalars()
        out = []
        for r in stored:
            row = row_from_json(r.row)
            row.pop(RESCORE_FEATURES, None)
            out.append({**row, "computed_at": r.created_at, "rescore_of_dispute": r.dispute_id})
        return out


def _served(row: dict[str, Any], given: bool, erased: bool) -> dict[str, Any]:
    """One row as the export shows it: the core score, the alternative one, which is served."""
    has_alt = row.get("alt_scorecard_version") is not None
    if not has_alt:
        why = "no_alternative"
    elif erased:
        why = "erased"
    elif not given:
        why = "no_consent"
    else:
        why = "better" if better(row["alt_score"], row["score"]) else "not_better"
    alternative = None
    if has_alt and not erased:
        alternative = {col: row[alt] for alt, col in ALT_COLUMNS.items()}
    return {
        "snapshot_id": row["snapshot_id"],
        "as_of": row["as_of"],
        "computed_at": row["computed_at"],
        "person_id": row["person_id"],
        "rescore_of_dispute": row.get("rescore_of_dispute"),
        **{c: row[c] for c in _CORE if c != "reasons"},
        "reasons": row["reasons"] or [],
        "alternative": alternative,
        "served_from": "alternative" if why == "better" else "core",
        "served_why": SERVED_WHY[why],
    }


def scores_part(held: Held) -> list[dict[str, Any]]:
    """Every snapshot that scored the file and every rescore of it, oldest first (a rescore
    after the row of the snapshot it stands in for)."""
    rows, made = _snapshot_rows(held)
    rows += _rescores(held)
    found = consent.changes(held.store, held.ids)
    given = bool(found and found[0]["given"])
    out = [_served(r, given, consent.erased_since(found, made.get(r["snapshot_id"]))) for r in rows]
    never = dt.datetime.min
    return sorted(
        out,
        key=lambda r: (
            r["as_of"],
            made.get(r["snapshot_id"]) or never,
            r["snapshot_id"],
            r["rescore_of_dispute"] is not None,
            r["computed_at"] or never,
            r["person_id"],
        ),
    )
