"""An account status the ledger cannot rank is an error, never "current"."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from openbureau.errors import UserError
from openbureau.ingest import parse_spec
from openbureau.ingest._yaml import load_yaml
from openbureau.ingest.load import ingest_file
from openbureau.ledger import build_ledger, compute_features, correct_record, suppress_record
from openbureau.ledger._schema import STATUS_RANK_SQL
from openbureau.workspace import Workspace

D = dt.date(2024, 12, 31)
CU_SPEC = """\
name: valley_cu_accounts
furnisher: Valley Credit Union
feed: accounts
format: csv
record_key: [account_id, period]
require_one_of: [[national_id], [last_name, dob]]
fields:
  - {column: ACCT, target: account_id, category: reference, required: true}
  - {column: FIRST, target: first_name, category: identity}
  - {column: LAST, target: last_name, category: identity}
  - {column: DOB, target: dob, type: date, category: identity}
  - {column: SSN, target: national_id, category: identity}
  - {column: PERIOD, target: period, type: month, category: credit, required: true}
  - {column: TYPE, target: product, type: code, category: credit, codes: {P: personal_loan}}
  - {column: BAL, target: balance, type: amount, category: credit}
  - {column: STATUS, target: payment_status, type: code, category: credit, required: true,
     codes: {C: current, "1": dpd30, "2": dpd60, "3": dpd90, "4": %s, L: %s}}
ledger: {event: account_status, event_date: period, report_lag_days: 15}
"""
RIGHT = CU_SPEC % ("dpd120", "chargeoff")
WRONG = CU_SPEC % ("dpd120plus", "charged_off")  # the mistakes


def cu_file(pop, path):
    """Six months of a personal loan for 30 persons of the population: paid as agreed, then
    120 days late (even) or charged off (odd) in the last month."""
    persons = duckdb.sql(f"""SELECT first_name, last_name, strftime(dob, '%Y-%m-%d'), ssn
        FROM '{pop}/truth/persons.parquet' ORDER BY person_id LIMIT 30""").fetchall()
    lines = ["ACCT,FIRST,LAST,DOB,SSN,PERIOD,TYPE,BAL,STATUS"]
    for i, (first, last, dob, ssn) in enumerate(persons):
        for month in range(7, 13):
            status = "C" if month < 12 else ("4" if i % 2 == 0 else "L")
            lines.append(f"CU{i},{first},{last},{dob},{ssn},2024-{month:02d},P,1500.00,{status}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_credit_union_with_a_bad_status_mapping_cannot_make_late_accounts_current(
    copy_population, cli, tmp_path
) -> None:
    ws, pop = copy_population
    data = cu_file(pop, tmp_path / "cu.csv")
    wrong = tmp_path / "valley_cu_accounts.yaml"
    wrong.write_text(WRONG)

    # Today: the spec is refused, in one line naming file, field and key; nothing is loaded.
    res = cli("ingest", wrong, data, "-w", ws)
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        f"error: {wrong}: fields.8.codes: STATUS code '4' maps to 'dpd120plus', not one of the "
        "account status values (current, dpd30, dpd60, dpd90, dpd120, dpd150, chargeoff, "
        "closed)"
    ]
    workspace = Workspace.open(ws)
    with workspace.engine(read_only=True) as engine:
        assert not engine.table_exists("src_valley_cu_accounts")

    # A batch an earlier version loaded with that spec: mapped, then refused by the ledger.
    with workspace.engine() as engine:
        spec = parse_spec(load_yaml(WRONG), historical=True)
        batch = ingest_file(engine, spec, data, key=workspace.national_id_key()).batch_id
    assert cli("link", "-w", ws).exit_code == 0
    res = cli("ledger", "-w", ws)
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    assert (
        f"ledger: record {batch}.7 of batch {batch} has payment_status 'dpd120plus', "
        "not one of current, dpd30" in " ".join(res.stderr.split())
    )
    assert "29 more account_status events like it" in " ".join(res.stderr.split())
    with workspace.engine() as engine:
        with pytest.raises(Exception, match="has no account status the ledger can rank"):
            compute_features(engine, D, into="f")  # no silent "current" on another path

        # Corrected, the accounts count as the 120+ and charged-off accounts they are.
        bad = engine.query(
            "SELECT record_id, payment_status FROM ledger_account_status "
            "WHERE batch_id = ? AND payment_status <> 'current'",
            [batch],
        )
        assert len(bad) == 30
        with pytest.raises(UserError, match="'dpd120plus' is not one of current"):
            correct_record(engine, bad[0][0], {"payment_status": "dpd120plus"}, "typo")
        for record, status in bad:
            fixed = {"dpd120plus": "dpd120", "charged_off": "chargeoff"}[status]
            correct_record(engine, record, {"payment_status": fixed}, "mapping fixed")
        build_ledger(engine)
        compute_features(engine, D, into="f")
        worst = engine.query(
            """SELECT f.worst_status_12m, count(*) FROM f
            WHERE person_id IN (SELECT person_id FROM ledger_account_status WHERE batch_id = ?)
            GROUP BY 1""",
            [batch],
        )
        linked = engine.scalar(
            "SELECT count(DISTINCT person_id) FROM ledger_account_status WHERE batch_id = ?",
            [batch],
        )
    assert linked >= 28 and sum(n for _, n in worst) == linked
    assert min(w for w, _ in worst) >= 4  # none of them "current"


def test_an_event_the_ledger_cannot_rank_stops_it_until_corrected_or_suppressed(
    copy_population, cli
) -> None:
    ws, _ = copy_population
    with Workspace.open(ws).engine() as engine:
        (a, batch_a), (b, _) = engine.query(
            "SELECT record_id, batch_id FROM ledger_account_status ORDER BY record_id LIMIT 2"
        )
        # As an earlier version could have mapped them: an unknown status, and none at all.
        engine.execute(
            "UPDATE ledger_account_status SET payment_status = 'L' WHERE record_id = ?", [a]
        )
        engine.execute(
            "UPDATE ledger_account_status SET payment_status = NULL, "
            "days_past_due = NULL WHERE record_id = ?",
            [b],
        )
        with pytest.raises(
            UserError,
            match=rf"^ledger: record {a} of batch {batch_a} has "
            "payment_status 'L', not one of current, ",
        ):
            build_ledger(engine)
        with pytest.raises(  # (whichever of the two the engine meets first)
            Exception,
            match=f"ledger: record ({a}|{b}) of batch {batch_a} has no "
            "account status the ledger can rank",
        ):
            engine.query("SELECT max(status_rank) FROM ledger_account_status_effective")
        correct_record(engine, a, {"payment_status": "dpd60"}, "furnisher confirmed")
        with pytest.raises(
            UserError, match=f"record {b} .* has neither a payment_status nor a days_past_due"
        ):
            build_ledger(engine)
    res = cli("ledger", "-w", ws)
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    with Workspace.open(ws).engine() as engine:
        suppress_record(engine, b, "disputed")
        build_ledger(engine)
        ranks = dict(
            engine.query(
                "SELECT record_id, status_rank FROM "
                "ledger_account_status_effective WHERE record_id IN (?, ?)",
                [a, b],
            )
        )
    assert ranks == {a: 2}


@pytest.mark.parametrize(
    ("status", "days", "rank"),
    [
        ("current", None, 0),
        ("closed", 40, 0),
        ("dpd90", 0, 3),
        ("chargeoff", None, 6),
        (None, 0, 0),
        (None, 29, 0),
        (None, 30, 1),
        (None, 95, 3),
        (None, 400, 5),
    ],
)
def test_the_rank_comes_from_the_vocabulary(status, days, rank) -> None:
    got = duckdb.execute(
        f"SELECT {STATUS_RANK_SQL} FROM (SELECT ?::VARCHAR AS payment_status, "
        "?::INTEGER AS days_past_due, 'r' AS record_id, 'b' AS batch_id)",
        [status, days],
    ).fetchone()
    assert got == (rank,)


@pytest.mark.parametrize(
    ("status", "days"), [("charged_off", None), ("dpd120plus", 150), (None, None), (None, -1)]
)
def test_the_rank_has_no_default(status, days) -> None:
    with pytest.raises(duckdb.Error, match="record r of batch b has no account status"):
        duckdb.execute(
            f"SELECT {STATUS_RANK_SQL} FROM (SELECT ?::VARCHAR AS payment_status, "
            "?::INTEGER AS days_past_due, 'r' AS record_id, 'b' AS batch_id)",
            [status, days],
        ).fetchone()


REPORTED_SPEC = """\
name: r_accounts
furnisher: R
feed: accounts
format: csv
record_key: [account_id, period]
fields:
  - {column: ACCT, target: account_id, category: reference, required: true}
  - {column: PERIOD, target: period, type: month, category: credit, required: true}
  - {column: STATUS, target: payment_status, type: code, category: credit,
     codes: {"1": current, "9": %s}}
  - {column: RPT, target: reported_date, type: date, category: reference}
  - {column: NAME, target: last_name, category: identity}
  - {column: DOB, target: dob, type: date, category: identity}
ledger: {event: account_status, event_date: period, reported_date: reported_date}
"""


def test_a_replaced_version_the_ledger_cannot_rank_is_refused_and_can_be_corrected(
    ws, cli, write_file, link_small
) -> None:
    """Point-in-time features read a version until the furnisher's newer report: an unrankable
    one loaded by an earlier version, then revised, passed `ledger` and crashed `train`."""
    header = "ACCT,PERIOD,STATUS,RPT,NAME,DOB\n"
    with ws.engine() as engine:  # an earlier version took the wrong mapping
        ingest_file(
            engine,
            parse_spec(load_yaml(REPORTED_SPEC % "charged_off"), historical=True),
            write_file(
                "v1.csv",
                header + "a1,2023-01,1,2023-02-05,Smith,1980-01-01\n"
                "a1,2023-02,9,2023-03-05,Smith,1980-01-01\n",
            ),
            key=ws.national_id_key(),
        )
    spec = write_file("r_accounts.yaml", REPORTED_SPEC % "chargeoff")
    revised = write_file("v2.csv", header + "a1,2023-02,9,2023-04-05,Smith,1980-01-01\n")
    res = cli("ingest", spec, revised, "-w", ws.root)
    assert res.exit_code == 0 and "1 superseding it" in " ".join(res.stdout.split())
    link_small(ws)

    for command in (("ledger",), ("train", "--as-of", "2023-03-31")):
        res = cli(*command, "-w", ws.root)
        assert res.exit_code == 2, res.output  # not 1, the engine's error from status_rank
        assert " ".join(res.stderr.split()) == (
            "error: ledger: record B000001.3 (its version B000001.3~1, the furnisher's report "
            "until 2023-04-05) of batch B000001 has payment_status 'charged_off', not one of "
            "current, dpd30, dpd60, dpd90, dpd120, dpd150, chargeoff, closed; features and "
            "scores are refused until such records are corrected or suppressed "
            "(openbureau.ledger.correct_record with the event id B000001.3~1, or "
            "suppress_record)"
        )
    as_of = dt.date(2023, 3, 31)  # after the first report, before the revision
    with ws.engine() as engine:
        with pytest.raises(Exception, match="has no account status the ledger can rank"):
            compute_features(engine, as_of, into="f")
        # The remedy the error names reaches that version: the current one stays as it is.
        fixed = correct_record(engine, "B000001.3~1", {"payment_status": "chargeoff"}, "typo")
        build_ledger(engine)
        versions = engine.query(
            "SELECT event_id, is_current, payment_status, superseded_on FROM "
            "ledger_account_status WHERE record_id = 'B000001.3' ORDER BY version"
        )
        assert versions == [
            ("B000001.3~1", False, "charged_off", None),  # counts on no date
            ("B000001.3~2", True, "chargeoff", None),
            (fixed, False, "chargeoff", dt.date(2023, 4, 5)),  # where ~1 counted
        ]
        compute_features(engine, as_of, into="f")
        assert engine.query("SELECT worst_status_12m FROM f WHERE tradelines > 0") == [(6,)]
        with pytest.raises(UserError, match=r"B000001\.3~1 counts on no day: a correction"):
            correct_record(engine, "B000001.3~1", {"payment_status": "dpd30"}, "again")
        with pytest.raises(UserError, match=r"event 'B000001\.3~9' is not in the ledger"):
            correct_record(engine, "B000001.3~9", {"payment_status": "dpd30"}, "x")
    assert cli("ledger", "-w", ws.root).exit_code == 0


def test_a_version_replaced_on_the_day_it_was_reported_is_not_held_against_the_ledger(
    ws, cli, write_file, link_small
) -> None:
    """A revision reported the same day as the report it replaces (a re-sent file without new
    reporting dates) leaves the old version read on no day: its bad value stops nothing."""
    header = "ACCT,PERIOD,STATUS,RPT,NAME,DOB\n"
    v1 = write_file("v1.csv", header + "a1,2023-02,9,2023-03-05,Smith,1980-01-01\n")
    with ws.engine() as engine:  # an earlier version took the wrong mapping
        ingest_file(
            engine,
            parse_spec(load_yaml(REPORTED_SPEC % "charged_off"), historical=True),
            v1,
            key=ws.national_id_key(),
        )
    spec = write_file("r_accounts.yaml", REPORTED_SPEC % "chargeoff")
    # the same file, loaded again with the mapping fixed
    res = cli("ingest", spec, v1, "--again", "-w", ws.root)
    assert res.exit_code == 0 and "1 superseding it" in " ".join(res.stdout.split())
    link_small(ws)
    res = cli("ledger", "-w", ws.root)
    assert res.exit_code == 0, res.output
    with ws.engine() as engine:
        assert engine.query(
            "SELECT event_id, is_current, payment_status FROM ledger_account_status_known"
        ) == [("B000001.2~2", True, "chargeoff")]
        compute_features(engine, dt.date(2023, 3, 31), into="f")
        assert engine.query("SELECT worst_status_12m FROM f WHERE tradelines > 0") == [(6,)]
