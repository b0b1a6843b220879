"""The ledger: every loaded row as one event with its person; corrections and suppressions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from openbureau.errors import UserError
from openbureau.ingest import load_spec
from openbureau.ledger import (
    build_ledger,
    compute_features,
    correct_record,
    lift_suppression,
    record_history,
    suppress_record,
)
from openbureau.ledger._schema import EVENTS
from openbureau.ledger.outcome import label_outcomes
from openbureau.scoring.evaluate import truth_outcomes
from openbureau.workspace import Workspace, init_workspace

D = dt.date(2024, 12, 31)
EVENT_TABLES = (
    "ledger_account_status",
    "ledger_inquiries",
    "ledger_payments",
    "ledger_public_records",
)


def test_every_loaded_row_is_exactly_one_event_with_lineage(linked_population) -> None:
    """Every loaded row is one event; in a Metro 2 feed every associated consumer (a joint
    holder) is one more, with the account row's values, and a delete request is none."""
    ws, _ = linked_population
    with Workspace.open(ws).engine(read_only=True) as engine:
        # (a row identical to its key's current report is loaded as no event)
        loaded = {
            f: int(n)
            for f, n in engine.query(
                "SELECT feed, sum(rows_loaded - coalesce(rows_identical, 0)) "
                "FROM ingest_batches GROUP BY feed"
            )
        }
        metro2 = [f for f in loaded if f in {"harbor_accounts"}]
        assert metro2, "the synthetic population has a Metro 2 feed"
        for feed in metro2:
            deletes = "coalesce(s.metro2_status, '') IN ('DA', 'DF')"
            joint, dropped = engine.query(f"""SELECT
                (SELECT count(*) FROM associated_consumers a JOIN src_{feed} s
                   ON s.record_id = a.base_record_id WHERE NOT {deletes}),
                (SELECT count(*) FROM src_{feed} s WHERE {deletes})""")[0]
            assert joint > 0
            loaded[feed] += int(joint) - int(dropped)
        # (months read from a Metro 2 payment history profile are no loaded row's: below)
        union = " UNION ALL ".join(
            f"SELECT feed, record_id, loaded_record_id, batch_id, person_id, identity_id FROM {t}"
            + (" WHERE history_of IS NULL" if t == "ledger_account_status" else "")
            for t in EVENT_TABLES
        )
        events = dict(engine.query(f"SELECT feed, count(*) FROM ({union}) GROUP BY feed"))
        assert events == loaded
        # Harbor's profiles give the months whose own record was quarantined, and no other
        from_profiles, doubled = engine.query("""SELECT
            (SELECT count(*) FROM ledger_account_status WHERE history_of IS NOT NULL
               AND feed IN ('harbor_accounts')),
            (SELECT count(*) FROM ledger_account_status h JOIN ledger_account_status r
               ON r.account_id = h.account_id AND r.event_date = h.event_date
               WHERE h.history_of IS NOT NULL AND r.history_of IS NULL)""")[0]
        assert from_profiles > 0 and doubled == 0
        assert (
            engine.scalar(f"SELECT count(*) - count(DISTINCT loaded_record_id) FROM ({union})") == 0
        )
        # Lineage: the event's batch is its loaded row's batch, its person the index's person.
        wrong = engine.scalar(f"""SELECT count(*) FROM ({union}) e
            JOIN identity_record_map m ON m.record_id = e.loaded_record_id
            LEFT JOIN person_index p ON p.identity_id = m.identity_id
            WHERE e.batch_id <> m.batch_id OR e.person_id IS DISTINCT FROM p.person_id""")
        assert wrong == 0
        kinds = dict(engine.query("SELECT payment_kind, count(*) FROM ledger_payments GROUP BY 1"))
        assert set(kinds) == {"utility", "telecom", "rent"}
        assert (
            engine.scalar(
                "SELECT count(*) FROM ledger_public_records WHERE record_kind = 'tax_lien'"
            )
            > 0
        )
        # Account numbers are qualified by furnisher: two lenders may reuse one.
        assert (
            engine.scalar(
                "SELECT count(*) FROM ledger_account_status "
                "WHERE account_id NOT LIKE furnisher || ':%'"
            )
            == 0
        )


def test_build_is_incremental_and_idempotent(copy_population) -> None:
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        again = build_ledger(engine)
        assert again.batches == 0 and again.events == {} and again.persons_refreshed == 0


def test_events_follow_their_person_after_a_merge(copy_population) -> None:
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        a, b = engine.query("""SELECT person_id FROM ledger_account_status
            GROUP BY person_id ORDER BY person_id LIMIT 2""")
        # Simulate what a merge in the person index does, then rebuild.
        engine.execute("UPDATE person_index SET person_id = ? WHERE person_id = ?", [a[0], b[0]])
        report = build_ledger(engine)
        assert report.persons_refreshed > 0
        assert (
            engine.scalar("SELECT count(*) FROM ledger_payments WHERE person_id = ?", [b[0]]) == 0
        )


def test_ledger_needs_ingest_and_link(tmp_path: Path, cli) -> None:
    init_workspace(tmp_path / "ws")
    res = cli("ledger", "-w", tmp_path / "ws")
    assert res.exit_code == 2
    assert "ingest a furnisher file first" in res.stderr
    assert "Traceback" not in res.output


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("{event: payment, event_date: due_date}", "a payment feed needs one of"),
        ("{event: account_status, event_date: nowhere}", "'nowhere' is not a target"),
        ("{event: public_record, event_date: due_date}", "needs exactly one of kind, kind_from"),
        ("{event: salary, event_date: due_date}", "ledger.event"),
        ("{event: inquiry, event_date: due_date}", "needs a field with target 'inquiry_date'"),
        (
            "{event: payment, kind: utility, event_date: due_date}",
            "ledger.alternative: a payment feed .* say `alternative: true`",
        ),
        (
            "{event: payment, kind: rent, event_date: due_date, alternative: false}",
            "ledger.alternative: .* cannot be core credit data",
        ),
        (
            "{event: account_status, event_date: due_date, alternative: true}",
            "ledger.alternative: only payment feeds carry alternative data",
        ),
    ],
)
def test_a_bad_ledger_block_is_one_clear_spec_error(
    tmp_path: Path, block: str, message: str, cli
) -> None:
    spec = tmp_path / "bills.yaml"
    spec.write_text(f"""name: bills
furnisher: Water
feed: bills
format: csv
fields:
  - {{column: ACC, target: account_id, category: reference}}
  - {{column: DUE, target: due_date, type: date, category: payment}}
  - {{column: LAST, target: last_name, category: identity}}
ledger: {block}
""")
    with pytest.raises(Exception, match=message):
        load_spec(spec)
    init_workspace(tmp_path / "ws")
    data = tmp_path / "b.csv"
    data.write_text("ACC,DUE,LAST\n1,2024-01-01,Lee\n")
    res = cli("ingest", spec, data, "-w", tmp_path / "ws")
    assert res.exit_code == 2 and "bills.yaml" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def _known_on(engine, day: dt.date) -> None:
    """Cut the ledger back to what the bureau knew on ``day``: later rows gone, later
    payments, closures and resolutions not yet happened."""
    d = f"DATE '{day}'"
    for t in EVENT_TABLES:
        engine.execute(f"DELETE FROM {t} WHERE reported_date > {d}")
    engine.execute(
        f"UPDATE ledger_payments SET paid_date = NULL, days_late = NULL, "
        f"amount_paid = NULL WHERE paid_date > {d}"
    )
    engine.execute(f"UPDATE ledger_account_status SET closed_date = NULL WHERE closed_date > {d}")
    engine.execute(
        f"UPDATE ledger_public_records SET resolved_date = NULL WHERE resolved_date > {d}"
    )


def _features(engine, day: dt.date) -> list[tuple]:
    compute_features(engine, day, into="f")
    # Parallel sums may add floats in another order: compare to 9 decimals.
    return [
        tuple(round(v, 9) if isinstance(v, float) else v for v in row)
        for row in engine.query("SELECT * FROM f ORDER BY person_id")
    ]


def test_no_information_after_the_as_of_date_reaches_a_feature(copy_population) -> None:
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        full = _features(engine, D)
        later = _features(engine, dt.date(2025, 6, 30))
        removed = engine.scalar(
            f"SELECT count(*) FROM ledger_account_status WHERE reported_date > DATE '{D}'"
        )
        paid_later = engine.scalar(
            f"SELECT count(*) FROM ledger_payments "
            f"WHERE due_date <= DATE '{D}' AND paid_date > DATE '{D}'"
        )
        _known_on(engine, D)
        cut = _features(engine, D)
    # The cut really removed later information, and it would have changed features...
    assert removed > 10_000 and paid_later > 0
    assert later != full
    # ...but none of it leaked into the features as of D.
    assert cut == full


def test_a_bill_unpaid_on_the_as_of_date_counts_its_days_past_due(copy_population) -> None:
    ws, _ = copy_population
    d = f"DATE '{D}'"
    with Workspace.open(ws).engine() as engine:
        # A person with a bill due before D and paid only after it: unpaid on D.
        person = engine.scalar(f"""SELECT person_id FROM ledger_payments_effective
            WHERE due_date < {d} - INTERVAL 5 DAY AND paid_date > {d} AND reported_date <= {d}
            ORDER BY record_id LIMIT 1""")
        bills = engine.query(
            f"""SELECT record_id, due_date, paid_date
            FROM ledger_payments_effective WHERE person_id = ? AND due_date <= {d}
              AND reported_date <= {d}""",
            [person],
        )
        unpaid = [(rec, due) for rec, due, paid in bills if paid is None or paid > D]
        compute_features(engine, D, into="f")
        before = engine.scalar("SELECT alt_past_due_days FROM f WHERE person_id = ?", [person])
        no_bills, all_paid = engine.query("""SELECT
            count(*) FILTER (WHERE alt_months = 0 AND alt_past_due_days IS NOT NULL),
            count(*) FILTER (WHERE alt_months > 0 AND alt_past_due_days IS NULL) FROM f""")[0]
        for rec, due in unpaid:  # the furnisher reports them paid on their due dates after all
            correct_record(engine, rec, {"paid_date": due}, "payment found")
        compute_features(engine, D, into="f")
        after = engine.scalar("SELECT alt_past_due_days FROM f WHERE person_id = ?", [person])
    assert before == max((D - due).days for _, due in unpaid) > 5
    assert (no_bills, all_paid) == (0, 0)  # no bill: no data; none unpaid: 0
    assert after == 0


def test_a_correction_adds_a_version_and_features_use_it(copy_population) -> None:
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        compute_features(engine, D, into="f")
        # A person with exactly one open card, not maxed out: its latest report is the record.
        person, record = engine.query("""
            SELECT a.person_id, a.latest_record_id FROM pit_accounts a JOIN f USING (person_id)
            WHERE a.product = 'card' AND a.is_open AND f.revolving_utilisation < 0.9
            QUALIFY count(*) OVER (PARTITION BY a.person_id) = 1
            ORDER BY a.person_id LIMIT 1""")[0]
        compute_features(engine, D, into="f")
        before, limit = engine.query(
            "SELECT f.revolving_utilisation, e.credit_limit FROM f, ledger_account_status e "
            "WHERE f.person_id = ? AND e.record_id = ?",
            [person, record],
        )[0]
        new_id = correct_record(engine, record, {"balance": float(limit)}, "furnisher fix")
        compute_features(engine, D, into="f")
        after = engine.scalar("SELECT revolving_utilisation FROM f WHERE person_id = ?", [person])
        history = record_history(engine, record)
    assert after == pytest.approx(1.0) and before != pytest.approx(1.0)
    assert [v["version"] for v in history] == [1, 2]
    assert [v["is_current"] for v in history] == [False, True]
    assert history[1]["event_id"] == new_id and history[1]["supersedes"] == history[0]["event_id"]
    assert history[1]["correction_reason"] == "furnisher fix"
    assert history[0]["balance"] != history[1]["balance"]


def test_suppression_hides_a_record_until_lifted(copy_population) -> None:
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        person, record = engine.query(f"""SELECT person_id, record_id FROM ledger_inquiries
            WHERE event_date > DATE '{D}' - INTERVAL 12 MONTH AND event_date <= DATE '{D}'
            ORDER BY record_id LIMIT 1""")[0]

        def inquiries() -> int:
            compute_features(engine, D, into="f")
            return int(engine.scalar("SELECT inquiries_12m FROM f WHERE person_id = ?", [person]))

        before = inquiries()
        sid = suppress_record(engine, record, "disputed", "consumer says not theirs")
        during = inquiries()
        lift_suppression(engine, sid, "dispute rejected")
        after = inquiries()
        kept = engine.scalar("SELECT count(*) FROM ledger_inquiries WHERE record_id = ?", [record])
        with pytest.raises(UserError, match="already lifted"):
            lift_suppression(engine, sid)
        with pytest.raises(UserError, match="not one of"):
            suppress_record(engine, record, "because")
        with pytest.raises(UserError, match="not in the ledger"):
            suppress_record(engine, "B999999.1", "disputed")
    assert (before, during, after) == (before, before - 1, before)
    assert kept == 1


def test_a_record_is_found_in_the_file_named_and_outside_it(copy_population) -> None:
    """A dispute names the person whose file holds the record: the search reads that file
    first, and a record the file does not hold (the person named is stale, or wrong) is still
    found, never confused with another; a record in no file is refused."""
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        (person, record), (other, _) = engine.query(
            "SELECT person_id, min(record_id) FROM ledger_inquiries WHERE person_id IS NOT NULL "
            "GROUP BY person_id ORDER BY person_id LIMIT 2"
        )
        right = suppress_record(engine, record, "disputed", person_id=person)
        wrong = suppress_record(engine, record, "disputed", person_id=other)
        new_id = correct_record(engine, record, {"inquiry_type": "card"}, "x", person_id=other)
        suppressed = engine.query(
            "SELECT suppression_id, record_id FROM ledger_suppressions WHERE suppression_id IN "
            "(?, ?) ORDER BY 1",
            [right, wrong],
        )
        versions = engine.query(
            "SELECT event_id, is_current, person_id FROM ledger_inquiries WHERE record_id = ? "
            "ORDER BY version",
            [record],
        )
        with pytest.raises(UserError, match="not in the ledger"):
            suppress_record(engine, "B999999.1", "disputed", person_id=person)
        with pytest.raises(UserError, match="not in the ledger"):
            correct_record(engine, "B999999.1~1", {"inquiry_type": "card"}, "x", person_id=person)
    assert suppressed == [(right, record), (wrong, record)]
    assert versions == [(f"{record}~1", False, person), (new_id, True, person)]


def test_a_record_whose_versions_are_in_two_files_is_found(copy_population) -> None:
    """Each version of a report is linked on its own (a furnisher's re-send can carry another
    consumer's identity), so its versions can sit in two files: the record is still found,
    corrected and suppressed, whichever file the caller names."""
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        (person, record), (other, _) = engine.query(
            "SELECT person_id, min(record_id) FROM ledger_inquiries WHERE person_id IS NOT NULL "
            "GROUP BY person_id ORDER BY person_id LIMIT 2"
        )
        second = correct_record(engine, record, {"inquiry_type": "card"}, "x")
        # (as a relink that put the second version's identity in another file would)
        engine.execute(
            "UPDATE ledger_inquiries SET person_id = ? WHERE event_id = ?", [other, second]
        )
        found = [suppress_record(engine, record, "disputed", person_id=p) for p in (person, other)]
        third = correct_record(engine, record, {"inquiry_type": "mortgage"}, "y", person_id=person)
        history = [(v["event_id"], v["is_current"]) for v in record_history(engine, record)]
    assert len(found) == 2
    assert third == f"{record}~3"
    assert history == [(f"{record}~1", False), (second, False), (third, True)]


def test_corrections_refuse_bad_input(copy_population) -> None:
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        record = engine.scalar("SELECT min(record_id) FROM ledger_inquiries")
        with pytest.raises(UserError, match="not a field of a inquiry event"):
            correct_record(engine, record, {"balance": 1}, "x")
        with pytest.raises(UserError, match="needs a reason"):
            correct_record(engine, record, {"inquiry_type": "card"}, " ")
        with pytest.raises(UserError, match="not in the ledger"):
            correct_record(engine, "nope", {"inquiry_type": "card"}, "x")


def test_outcomes_agree_with_the_generators_truth(linked_population) -> None:
    """The outcome read from the ledger is the generator's 12-month default."""
    ws, pop = linked_population
    with Workspace.open(ws).engine() as engine:
        label_outcomes(engine, D)
        truth_outcomes(engine, pop / "truth")
        agree, n, bad, excluded = engine.query("""
            SELECT avg((o.bad = t.default_12m)::INTEGER), count(*), avg(o.bad::INTEGER),
                (SELECT avg((excluded_reason IS NOT NULL)::INTEGER) FROM person_outcomes)
            FROM person_outcomes o JOIN person_truth t USING (person_id)
            WHERE o.excluded_reason IS NULL AND NOT t.defaulted_before_as_of""")[0]
    assert n > 1500
    assert agree >= 0.97
    # Generator: ~9-11% default within 12 months, ~25% defaulted before the as-of date.
    assert 0.06 <= bad <= 0.14
    assert 0.18 <= excluded <= 0.32


def test_outcome_needs_an_observed_window(linked_population) -> None:
    ws, _ = linked_population
    with (
        Workspace.open(ws).engine(read_only=True) as engine,
        pytest.raises(UserError, match="choose an earlier --as-of"),
    ):
        label_outcomes(engine, dt.date(2025, 6, 30))


def test_every_mapped_batch_records_its_lineage(linked_population) -> None:
    """Which field each event column came from, as the spec declared it; nothing kept out of
    the synthetic feeds, and no location field behind any event column."""
    ws, _ = linked_population
    with Workspace.open(ws).engine(read_only=True) as engine:
        unrecorded = engine.scalar(
            "SELECT count(*) FROM ledger_batches WHERE event IS NOT NULL "
            "AND batch_id NOT IN (SELECT batch_id FROM ledger_lineage)"
        )
        kept, location = engine.query(
            "SELECT count(*) FILTER (kept_out), count(*) FILTER (category = 'location') "
            "FROM ledger_lineage"
        )[0]
        balance = engine.query(
            "SELECT DISTINCT category FROM ledger_lineage "
            "WHERE feed = 'northbank_accounts' AND ledger_column = 'balance'"
        )
        postcode = engine.scalar(
            "SELECT category FROM field_catalog "
            "WHERE feed = 'northbank_accounts' AND target = 'postcode'"
        )
    assert (unrecorded, kept, location) == (0, 0, 0)
    assert balance == [("credit",)] and postcode == "location"


BILLS = """name: paybills
furnisher: Payco
feed: bills
format: csv
record_key: [account_id, due_date]
fields:
  - {column: ACC, target: account_id, category: reference, required: true}
  - {column: CON, target: contract_id, category: health}
  - {column: DUE, target: due_date, type: date, category: payment, required: true}
  - {column: AMT, target: amount_due, type: amount, category: purchase}
  - {column: PAID, target: amount_paid, type: amount, category: payment}
  - {column: LAST, target: last_name, category: identity}
  - {column: DOB, target: dob, type: date, category: identity}
ledger: {event: payment, kind: utility, alternative: true, event_date: due_date}
"""


def test_purchase_and_protected_fields_are_kept_out_of_the_events(
    tmp_path: Path, cli, link_small
) -> None:
    from openbureau.ledger.lineage import keep_out_earlier

    ws = init_workspace(tmp_path / "ws")
    (tmp_path / "bills.yaml").write_text(BILLS)
    (tmp_path / "bills.csv").write_text(
        "ACC,CON,DUE,AMT,PAID,LAST,DOB\n"
        "1,C1,2024-01-05,50.00,50.00,Lee,1980-01-02\n"
        "1,C1,2024-02-05,,40.00,Lee,1980-01-02\n"
        "2,C2,2024-01-05,70.00,0,Ray,1975-03-04\n"
    )
    res = cli("ingest", tmp_path / "bills.yaml", tmp_path / "bills.csv", "-w", ws.root)
    assert res.exit_code == 0, res.output
    link_small(ws)
    with ws.engine() as engine:
        report = build_ledger(engine)
        events = engine.query(
            "SELECT account_id, amount_due, amount_paid FROM ledger_payments ORDER BY event_id"
        )
        # a batch mapped before the ledger kept fields out: its values are in the events
        engine.execute("DELETE FROM ledger_lineage WHERE feed = 'paybills'")
        engine.execute("UPDATE ledger_payments SET amount_due = 1")
        with pytest.raises(UserError) as exc:
            keep_out_earlier(engine)
        after = engine.query("SELECT DISTINCT amount_due FROM ledger_payments")
        lineage = engine.scalar("SELECT count(*) FROM ledger_lineage")
    assert [str(k) for k in report.kept_out] == [
        "paybills.contract_id (health, payment.account_id): 3 rows",
        "paybills.amount_due (purchase, payment.amount_due): 2 rows",
    ]
    # the account number comes from account_id alone; the amount due stays out
    assert [(a, d) for a, d, _ in events] == [("Payco:1", None)] * 2 + [("Payco:2", None)]
    assert [float(p) for _, _, p in events] == [50.0, 40.0, 0.0]
    # account_id is also taken from account_id: emptying it would lose that; nothing changed
    assert "payment.account_id is taken from 'contract_id' (health) and from 'account_id'" in (
        str(exc.value)
    )
    assert after == [(1,)] and lineage == 0


def test_a_correction_cannot_write_a_column_kept_out_of_the_ledger(
    tmp_path: Path, cli, link_small
) -> None:
    """paybills' amount due is purchase data, kept out of its events: neither the bureau's
    correction nor a furnisher's (a dispute's outcome) may put a value there."""
    from openbureau.service.disputes.rules import apply_outcome, check_changes

    ws = init_workspace(tmp_path / "ws")
    (tmp_path / "bills.yaml").write_text(BILLS)
    (tmp_path / "bills.csv").write_text(
        "ACC,CON,DUE,AMT,PAID,LAST,DOB\n1,C1,2024-01-05,50.00,50.00,Lee,1980-01-02\n"
    )
    res = cli("ingest", tmp_path / "bills.yaml", tmp_path / "bills.csv", "-w", ws.root)
    assert res.exit_code == 0, res.output
    link_small(ws)
    with ws.engine() as engine:
        build_ledger(engine)
        record = str(engine.scalar("SELECT record_id FROM ledger_payments"))
        with pytest.raises(UserError) as exc:
            correct_record(engine, record, {"amount_paid": 5, "amount_due": 60}, "x")
        line = str(exc.value)
        assert line == (
            f"record {record}: payment.amount_due (paybills.amount_due, purchase) was kept out "
            "of the ledger for this record's batch, so a correction cannot write it"
        )
        changes = check_changes(EVENTS["payment"], {"amount_due": "60.00"})
        with pytest.raises(UserError, match=r"payment\.amount_due .* was kept out"):
            apply_outcome(engine, 1, "corrected", record, [record], changes)
        # account_id is also taken from a field it keeps: correctable; nothing else changed
        correct_record(engine, record, {"account_id": "Payco:9", "amount_paid": 5}, "fix")
        rows = engine.query("SELECT amount_due, account_id FROM ledger_payments ORDER BY version")
    assert rows == [(None, "Payco:1"), (None, "Payco:9")]


def _scan_filters(plan: list[dict[str, Any]], table: str) -> list[list[str]]:
    """The filters of each scan of ``table`` in a JSON plan (``EXPLAIN (FORMAT json)``): those
    a scan applies itself, where zone maps skip the row groups that cannot match."""
    found = []
    for node in plan:
        info = node.get("extra_info", {})
        if str(info.get("Table", "")).endswith("." + table):
            filters = info.get("Filters", [])
            found.append([filters] if isinstance(filters, str) else list(filters))
        found += _scan_filters(node.get("children", []), table)
    return found


@pytest.mark.parametrize("known_at", [None, dt.datetime(2099, 1, 1)])
def test_a_person_scope_reaches_the_table_scans_and_changes_no_feature(
    copy_population, known_at: dt.datetime | None
) -> None:
    """A dispute rescores one person: with a suppression in force (the known views' anti
    join), the person filter is a filter of each event table's scan, not of every row read,
    and the person's features are the snapshot's row for them."""
    from openbureau.ledger._pit import pit_events

    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        person, record = engine.query(
            "SELECT person_id, min(record_id) FROM ledger_inquiries "
            "GROUP BY person_id ORDER BY count(*) DESC, person_id LIMIT 1"
        )[0]
        suppress_record(engine, record, "disputed", "not theirs")
        suppress_record(
            engine, engine.scalar("SELECT max(record_id) FROM ledger_account_status"), "fraud"
        )
        compute_features(engine, D, into="everyone", known_at=known_at)
        compute_features(engine, D, into="one", known_at=known_at, persons=[person])
        one = engine.query("SELECT * FROM one")
        everyone = engine.query("SELECT * FROM everyone WHERE person_id = ?", [person])
        scopes = pit_events(engine, D, known_at, persons=[person])
        plans = {
            event: json.loads(engine.query(f"EXPLAIN (FORMAT json) SELECT * FROM {scope}")[0][1])
            for event, scope in scopes.items()
        }
    assert len(one) == 1 and one == everyone
    for event, table in zip(scopes, EVENT_TABLES, strict=True):
        scans = _scan_filters(plans[event], table)
        assert scans and all(any("person_id" in f for f in fs) for fs in scans), (event, scans)


def test_each_batch_is_written_in_person_order(linked_population) -> None:
    """A batch's events are stored in person order, so a person's rows sit in few row groups
    and a person-level rescore reads those only (zone maps)."""
    with Workspace.open(linked_population[0]).engine() as engine:
        for table in (t.table for t in EVENTS.values()):
            rows, out_of_order = engine.query(f"""
                SELECT count(*), count(*) FILTER (WHERE prev > person_id) FROM (
                    SELECT person_id, lag(person_id) OVER (
                        PARTITION BY batch_id ORDER BY rowid) AS prev FROM {table})""")[0]
            assert rows > 0 and out_of_order == 0, table
