"""Batches loaded before a target's type was fixed: read as ingest reads the type, never cast
blindly. A value the ledger cannot read is refused in one line, and can be corrected."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from openbureau.errors import UserError
from openbureau.ingest import parse_spec
from openbureau.ingest._yaml import load_yaml
from openbureau.ingest.load import ingest_file
from openbureau.ledger import build_ledger, correct_record, suppress_record

SPEC = """\
name: t_accounts
furnisher: T
feed: accounts
format: csv
record_key: [account_id, period]
fields:
  - {column: ACCT, target: account_id, category: reference, required: true}
  - {column: PERIOD, target: period, type: month, category: credit, required: true}
  - {column: STATUS, target: payment_status, type: code, category: credit,
     codes: {"1": current, "9": chargeoff}}
  - {column: LIMIT, target: credit_limit, %s category: credit}
  - {column: DPD, target: days_past_due, %s category: credit}
  - {column: NAME, target: last_name, category: identity}
  - {column: DOB, target: dob, type: date, category: identity}
ledger: {event: account_status, event_date: period}
"""
UNTYPED = SPEC % ("", "")  # as a spec could be written before the types were fixed
TYPED = SPEC % ("type: amount,", "type: integer,")
HEADER = "ACCT,PERIOD,STATUS,LIMIT,DPD,NAME,DOB\n"
OLD_ROWS = [
    "a1,2023-01,1,N/A,0,Smith,1980-01-01",  # line 2: stopped the ledger with a cast error
    "a2,2023-01,1,-5,0,Jones,1970-01-01",  # a negative limit
    "a3,2023-01,1,1e5,0,Brown,1975-01-01",  # an exponent, which a cast takes
    'a4,2023-01,1,"1,000",0,Green,1965-01-01',  # fine as ingest reads amounts
    "a5,2023-01,1,100,-40,White,1960-01-01",  # negative days past due
    "a6,2023-01,1,100,0,Black,1990-01-01",
]


def test_text_loaded_for_a_typed_target_is_read_strictly_and_refused_in_one_line(
    ws, cli, write_file, link_small
) -> None:
    with ws.engine() as engine:  # loaded by an earlier version, which took the spec
        old = ingest_file(
            engine,
            parse_spec(load_yaml(UNTYPED), historical=True),
            write_file("old.csv", HEADER + "\n".join(OLD_ROWS) + "\n"),
            key=ws.national_id_key(),
        ).batch_id
    new_spec = write_file("t_accounts.yaml", TYPED)
    later = write_file("new.csv", HEADER + "a7,2023-02,1,2500.50,3,Gray,1985-01-01\n")
    assert cli("ingest", new_spec, later, "-w", ws.root).exit_code == 0
    link_small(ws)

    res = cli("ledger", "-w", ws.root)
    assert res.exit_code == 2, res.output  # not 1 with the engine's conversion error
    assert len(res.stderr.strip().splitlines()) == 1
    assert " ".join(res.stderr.split()) == (
        f"error: ledger: record {old}.2 of batch {old} has credit_limit 'N/A', not an amount "
        "with at most two decimals from 0 to 1,000,000,000 (loaded as text by an earlier "
        "version); 3 more account_status events like it; features and scores are refused "
        "until such records are corrected or suppressed (openbureau.ledger.correct_record, "
        "suppress_record)"
    )
    with ws.engine() as engine:
        # Every batch was mapped, the later one too: a bad batch blocks nothing after it.
        assert engine.scalar("SELECT count(*) FROM ledger_batches") == 2
        got = {
            a: (limit, days, n)
            for a, limit, days, n in engine.query(
                "SELECT account_id, credit_limit, days_past_due, len(unreadable) "
                "FROM ledger_account_status"
            )
        }
        assert got == {
            "T:a1": (None, 0, 1),  # never a default
            "T:a2": (None, 0, 1),
            "T:a3": (None, 0, 1),
            "T:a4": (1000, 0, 0),
            "T:a5": (100, None, 1),
            "T:a6": (100, 0, 0),
            "T:a7": (Decimal("2500.50"), 3, 0),  # typed, into the column made as text
        }
        record = {
            a: r for a, r in engine.query("SELECT account_id, record_id FROM ledger_account_status")
        }
        correct_record(engine, record["T:a1"], {"credit_limit": 1000}, "furnisher sent it")
        correct_record(engine, record["T:a2"], {"credit_limit": 5}, "sign was wrong")
        suppress_record(engine, record["T:a3"], "disputed")
        with pytest.raises(
            UserError,
            match=rf"record {old}.6 .* has days_past_due '-40', not a "
            "whole number from 0 to 36,500",
        ):
            build_ledger(engine)
        correct_record(engine, record["T:a5"], {"days_past_due": 40}, "furnisher confirmed")
        build_ledger(engine)
        assert (
            engine.scalar(
                "SELECT count(*) FROM ledger_account_status_effective WHERE len(unreadable) > 0"
            )
            == 0
        )
    assert cli("ledger", "-w", ws.root).exit_code == 0


WIDER = TYPED.replace(
    "  - {column: NAME",
    "  - {column: BAL, target: balance, type: amount, category: credit}\n"
    "  - {column: OPENED, target: opened_date, type: date, category: credit}\n"
    "  - {column: NAME",
)
TYPED_ROWS = [
    "a1,2023-01,1,100,0,10,2020-01-01,Smith,1980-01-01",
    "a2,2023-01,1,100,0,10,2020-01-01,Jones,1970-01-01",
    "a3,2023-01,1,100,0,10,2020-01-01,Brown,1975-01-01",
    "a4,2023-01,1,100,0,10,2020-01-01,Green,1965-01-01",
    "a5,2023-01,1,100,0,-250.50,2020-01-01,White,1960-01-01",
]
# What a version before the bounds wrote into the same typed columns (and one as DOUBLE).
UNBOUNDED = """
    ALTER TABLE src_t_accounts ALTER balance TYPE DOUBLE;
    UPDATE src_t_accounts SET credit_limit = -5 WHERE account_id = 'a1';
    UPDATE src_t_accounts SET balance = 2e9 WHERE account_id = 'a2';
    UPDATE src_t_accounts SET days_past_due = 99999 WHERE account_id = 'a3';
    UPDATE src_t_accounts SET opened_date = DATE '1850-01-01' WHERE account_id = 'a4';
"""


def test_typed_values_loaded_outside_the_bounds_are_refused_like_text(
    ws, cli, write_file, link_small
) -> None:
    spec = write_file("t_accounts.yaml", WIDER)
    rows = write_file(
        "old.csv",
        "ACCT,PERIOD,STATUS,LIMIT,DPD,BAL,OPENED,NAME,DOB\n" + "\n".join(TYPED_ROWS) + "\n",
    )
    res = cli("ingest", spec, rows, "-w", ws.root)
    assert res.exit_code == 0, res.output
    with ws.engine() as engine:
        old = engine.scalar("SELECT batch_id FROM ingest_batches")
        for statement in filter(str.strip, UNBOUNDED.split(";")):
            engine.execute(statement)
    link_small(ws)

    res = cli("ledger", "-w", ws.root)
    assert res.exit_code == 2, res.output
    assert len(res.stderr.strip().splitlines()) == 1
    assert " ".join(res.stderr.split()) == (
        f"error: ledger: record {old}.2 of batch {old} has credit_limit '-5.00', outside 0 to "
        "1,000,000,000 (loaded as DECIMAL(18,2) by an earlier version, which did not check the "
        "bounds); 3 more account_status events like it; features and scores are refused until "
        "such records are corrected or suppressed (openbureau.ledger.correct_record, "
        "suppress_record)"
    )
    with ws.engine() as engine:
        got = {
            a: row
            for a, *row in engine.query(
                "SELECT account_id, credit_limit, balance, days_past_due, opened_date, "
                "[u.text || ': ' || u.why FOR u IN unreadable] FROM ledger_account_status"
            )
        }
        day = dt.date(2020, 1, 1)
        assert got == {
            "T:a1": [None, 10, 0, day, [f"-5.00: {_outside('0 to 1,000,000,000', 'DECIMAL')}"]],
            "T:a2": [
                100,
                None,
                0,
                day,
                [
                    "2000000000.0: not an amount with at most two decimals from -1,000,000,000 "
                    "to 1,000,000,000 (loaded as DOUBLE by an earlier version)"
                ],
            ],
            "T:a3": [100, 10, None, day, [f"99999: {_outside('0 to 36,500', 'BIGINT')}"]],
            "T:a4": [
                100,
                10,
                0,
                None,
                [
                    "1850-01-01: "
                    + _outside("1900-01-01 to 366 days after the day of loading", "DATE")
                ],
            ],
            "T:a5": [100, Decimal("-250.50"), 0, day, []],  # a balance may be negative
        }
        record = {
            a: r for a, r in engine.query("SELECT account_id, record_id FROM ledger_account_status")
        }
        correct_record(engine, record["T:a1"], {"credit_limit": 5}, "sign was wrong")
        correct_record(engine, record["T:a2"], {"balance": 2000}, "furnisher confirmed")
        suppress_record(engine, record["T:a3"], "disputed")
        with pytest.raises(UserError, match=rf"record {old}.5 .* has opened_date '1850-01-01'"):
            build_ledger(engine)
        correct_record(engine, record["T:a4"], {"opened_date": "2019-01-01"}, "typo")
    assert cli("ledger", "-w", ws.root).exit_code == 0


def _outside(limits: str, loaded_as: str) -> str:
    loaded_as = "DECIMAL(18,2)" if loaded_as == "DECIMAL" else loaded_as
    return (
        f"outside {limits} (loaded as {loaded_as} by an earlier version, which did not check "
        "the bounds)"
    )
