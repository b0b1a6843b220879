"""``openbureau score --recompute SNAPSHOT``: a published snapshot computed again and checked.

A snapshot records its as-of date D, its known-at time K and its scorecard. Recomputing it
scores every person again as of D as known at K with that scorecard (built-in and custom
factors alike read the ledger as it was known at K: versions recorded, corrections made,
suppressions placed or lifted and batches taken in after K are invisible) and compares the
result with the published rows: score, band, unscorable reason and every reason (rank, code,
statement, points lost, value, records), of the core and the alternative scorecard alike.
Nothing is written.

A person's alternative data erased at their request (GDPR Art. 17, service/consent.py) is gone
from the ledger, so an earlier snapshot's alternative score for them cannot be recomputed: it
shows as a difference, and the erasure's tombstone (``consent_erasures``) says why.

The ledger is bitemporal; the person index is not: records relinked to another person since
the snapshot (a merge or split) show as differences.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import yaml

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.scoring.score import (
    compute_scores,
    drop_score_tables,
    ensure_schema,
    scores_sql,
    snapshot_ageing,
)
from openbureau.scoring.scorecard import Scorecard

SHOWN = 10  # persons named in a report of differences

# A scores row as compared; a reason's value to 9 decimals (a sum of doubles can differ in its
# last bit from one run to the next: the order the engine adds them in is not fixed).
_REASONS = """list_transform({c}, lambda r: {{'rank': r.rank, 'code': r.code,
        'factor': r.factor, 'statement': r.statement, 'points_lost': r.points_lost,
        'value': round(r.value, 9), 'record_ids': r.record_ids}}) AS {c}"""
_COMPARED = f"""person_id, score, band, unscorable_reason, unscorable_text,
    {_REASONS.format(c="reasons")}, alt_score, alt_band, alt_unscorable_reason,
    alt_unscorable_text, {_REASONS.format(c="alt_reasons")}"""


@dataclass
class RecomputeReport:
    snapshot_id: str
    as_of: dt.date
    known_at: dt.datetime
    persons: int  # in the published snapshot
    differ: int  # persons whose recomputed row differs, or who are in only one of the two
    first: list[str] = field(default_factory=list)  # the first few of them, by person id
    seconds: float = 0.0

    @property
    def equal(self) -> bool:
        return self.differ == 0


def recompute_snapshot(engine: Engine, snapshot_id: str) -> RecomputeReport:
    """Compute ``snapshot_id`` again as of its date, as known at its time, with its scorecard,
    and compare with what was published.

    Raises:
        UserError: no such snapshot.
    """
    start = time.perf_counter()
    if not engine.table_exists("score_snapshots"):
        raise UserError(f"no score snapshot {snapshot_id!r}")
    ensure_schema(engine)
    row = engine.query(
        "SELECT as_of, known_at, scorecard_yaml, scorecard_version, persons, "
        "alt_scorecard_yaml, alt_scorecard_version FROM score_snapshots WHERE snapshot_id = ?",
        [snapshot_id],
    )
    if not row:
        raise UserError(f"no score snapshot {snapshot_id!r}")
    as_of, known_at, card_yaml, version, persons, alt_yaml, alt_version = row[0]
    card = Scorecard.model_validate(yaml.safe_load(card_yaml))
    alt = Scorecard.model_validate(yaml.safe_load(alt_yaml)) if alt_yaml else None
    # (with the ageing-off periods it was computed with; one computed before items aged off
    # has none recorded and is computed with the law's periods)
    rules = snapshot_ageing(engine, snapshot_id)
    compute_scores(engine, card, as_of, known_at, alt=alt, ageing=rules)
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE score_recomputed AS {scores_sql(card, alt)}",
        [snapshot_id, as_of, version, alt_version],
    )
    drop_score_tables(engine)
    differ = [
        str(p)
        for (p,) in engine.query(
            f"""WITH published AS (SELECT {_COMPARED} FROM scores WHERE snapshot_id = ?),
                again AS (SELECT {_COMPARED} FROM score_recomputed),
                differ AS (
                    (SELECT * FROM published EXCEPT SELECT * FROM again)
                    UNION (SELECT * FROM again EXCEPT SELECT * FROM published))
            SELECT DISTINCT person_id FROM differ ORDER BY person_id""",
            [snapshot_id],
        )
    ]
    engine.execute("DROP TABLE score_recomputed")
    return RecomputeReport(
        snapshot_id,
        as_of,
        known_at,
        int(persons),
        len(differ),
        differ[:SHOWN],
        time.perf_counter() - start,
    )


__all__ = ["RecomputeReport", "recompute_snapshot"]
