"""Custom factors read the ledger's point-in-time, suppression-aware, known-at scope: no row
after the as-of date, no suppressed record, no row learned after the known-at time."""

from __future__ import annotations

import datetime as dt

import pytest

from openbureau.errors import UserError
from openbureau.ledger import lift_suppression, suppress_record
from openbureau.scoring.factors import add_custom_features
from openbureau.scoring.score import engine_now
from openbureau.scoring.scorecard import CustomSource
from openbureau.workspace import Workspace

FEED = "northbank_accounts"
D = dt.date(2024, 12, 31)
LATEST = CustomSource(feed=FEED, field="balance", aggregate="latest")  # no date_field
MONTHS = CustomSource(
    feed=FEED, field="balance", aggregate="count", date_field="period", window_months=12
)


def _factor(engine, source: CustomSource, known_at: dt.datetime | None = None) -> dict:
    engine.execute("CREATE OR REPLACE TABLE pf AS SELECT DISTINCT person_id FROM person_index")
    add_custom_features(engine, "pf", D, [("x", source)], known_at=known_at)
    return dict(engine.query("SELECT person_id, x FROM pf"))


def test_a_latest_factor_without_a_date_reads_no_row_after_the_as_of_date(
    copy_population,
) -> None:
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        full = _factor(engine, LATEST)
        # every row reported or dated after D gone: the factor as of D must not notice
        later = engine.scalar(
            f"SELECT count(*) FROM src_{FEED} WHERE period > DATE '{D}' OR reported_date > "
            f"DATE '{D}'"
        )
        engine.execute(
            f"DELETE FROM src_{FEED} WHERE period > DATE '{D}' OR reported_date > DATE '{D}'"
        )
        cut = _factor(engine, LATEST)
    assert later > 1000 and sum(v is not None for v in full.values()) > 500
    assert cut == full


def test_a_custom_factor_counts_no_suppressed_record(copy_population) -> None:
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        before = _factor(engine, MONTHS)
        person, record = engine.query(f"""SELECT person_id, record_id
            FROM ledger_account_status_known WHERE feed = '{FEED}'
              AND event_date > DATE '{D}' - INTERVAL 6 MONTH AND event_date <= DATE '{D}'
              AND reported_date <= DATE '{D}'
            ORDER BY record_id LIMIT 1""")[0]
        placed = engine_now(engine)
        sid = suppress_record(engine, record, "disputed", "not mine")
        during = _factor(engine, MONTHS)
        known_before = _factor(engine, MONTHS, known_at=placed)  # before it was placed
        lift_suppression(engine, sid, "verified by the furnisher")
        after = _factor(engine, MONTHS)
    assert during[person] == before[person] - 1
    assert {p: v for p, v in during.items() if p != person} == {
        p: v for p, v in before.items() if p != person
    }
    assert known_before == before and after == before


def test_a_custom_factor_needs_ledger_events(copy_population) -> None:
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        engine.execute(f"DELETE FROM ledger_batches WHERE feed = '{FEED}'")
        with pytest.raises(UserError, match="has no events in the ledger"):
            _factor(engine, MONTHS)
        with pytest.raises(UserError, match="no feed 'nowhere' was loaded"):
            _factor(engine, CustomSource(feed="nowhere", field="x", aggregate="latest"))
