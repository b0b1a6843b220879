"""Batches loaded before a target's type was fixed: read as ingest reads the type, never cast
blindly. A value the ledger cannot read is refused in one line, and can be corrected."""

from __future__ import annotations

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
