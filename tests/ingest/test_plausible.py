"""Implausible values: bounds per type and target, strict numbers, a maximum length."""

from __future__ import annotations

import pytest

from openbureau.errors import SpecError
from openbureau.ingest import parse_spec
from openbureau.ingest.load import ingest_file

SPEC = {
    "name": "cu_accounts",
    "furnisher": "CU",
    "feed": "accounts",
    "format": "csv",
    "record_key": ["account_id", "period"],
    "fields": [
        {"column": "ACCT", "target": "account_id", "category": "reference", "required": True},
        {"column": "DOB", "target": "dob", "type": "date", "category": "identity"},
        {
            "column": "PERIOD",
            "target": "period",
            "type": "month",
            "category": "credit",
            "required": True,
        },
        {"column": "LIMIT", "target": "credit_limit", "type": "amount", "category": "credit"},
        {"column": "BAL", "target": "balance", "type": "amount", "category": "credit"},
        {"column": "DPD", "target": "days_past_due", "type": "integer", "category": "credit"},
        {"column": "NOTE", "target": "remarks", "category": "reference", "max_length": 10},
    ],
}
HEADER = "ACCT,DOB,PERIOD,LIMIT,BAL,DPD,NOTE\n"
GOOD = [
    '1,1980-01-02,2024-01,5000,"1,234.50",0,ok',
    "2,1980-01-02,2024-01,0,-20.00,12.0,",
    '3,1980-01-02,2024-01,"$ 1,000,000",.5,+3,',
]


def load(ws, write_file, lines: list[str], spec: dict = SPEC):
    f = write_file("cu.csv", HEADER + "\n".join(lines) + "\n")
    with ws.engine() as engine:
        report = ingest_file(engine, parse_spec(spec), f, key=ws.national_id_key())
        reasons = dict(engine.query("SELECT line_no, reasons FROM quarantine"))
    return report, reasons


def test_plausible_values_load(ws, write_file) -> None:
    report, reasons = load(ws, write_file, GOOD)
    assert (report.loaded, report.quarantined, reasons) == (3, 0, {})
    with ws.engine(read_only=True) as engine:
        got = engine.query(
            "SELECT credit_limit, balance, days_past_due FROM src_cu_accounts ORDER BY line_no"
        )
    assert [tuple(str(v) for v in r) for r in got] == [
        ("5000.00", "1234.50", "0"),
        ("0.00", "-20.00", "12"),
        ("1000000.00", "0.50", "3"),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("9,1980-01-02,2024-01,-5,1,0,", "implausible_value:credit_limit"),  # a negative limit
        ("9,1980-01-02,2024-01,5000,1e5,0,", "bad_amount:balance"),  # an exponent
        ("9,1980-01-02,2024-01,5000,1_000,0,", "bad_amount:balance"),  # an underscore
        ('9,1980-01-02,2024-01,5000,"12,34",0,', "bad_amount:balance"),  # not a thousands group
        ("9,1980-01-02,2024-01,5000,0x10,0,", "bad_amount:balance"),
        ("9,1980-01-02,2024-01,5000,1.2.3,0,", "bad_amount:balance"),
        ("9,1980-01-02,2024-01,5000,2000000000,0,", "implausible_value:balance"),
        ("9,1980-01-02,2024-01,5000,99999999999999999999,0,", "implausible_value:balance"),
        ("9,1980-01-02,2024-01,5000,1,-3,", "implausible_value:days_past_due"),
        ("9,1980-01-02,2024-01,5000,1,1e3,", "bad_integer:days_past_due"),
        ("9,1980-01-02,2024-01,5000,1,12.5,", "bad_integer:days_past_due"),
        ("9,1380-01-02,2024-01,5000,1,0,", "implausible_date:dob"),  # parses, so not unparseable
        ("9,2099-01-02,2024-01,5000,1,0,", "implausible_date:dob"),  # born in the future
        ("9,1980-01-02,1380-01,5000,1,0,", "implausible_date:period"),  # months are bounded too
        ("9,1980-01-02,2024-01,5000,1,0,far too long", "field_too_long:remarks"),
        ("x" * 5_000_000 + ",1980-01-02,2024-01,5000,1,0,", "field_too_long:account_id"),
    ],
)
def test_each_implausible_value_has_its_reason(ws, write_file, line: str, reason: str) -> None:
    report, reasons = load(ws, write_file, [*GOOD, line])
    assert (report.read, report.loaded, report.quarantined) == (4, 3, 1)
    assert reasons == {5: [reason]}


def test_a_spec_tightens_bounds_and_sets_lengths(ws, write_file) -> None:
    spec = {
        **SPEC,
        "fields": [
            {**f, "min": 0, "max": 1000}
            if f["target"] == "balance"
            else {**f, "min": "2024-01-01"}
            if f["target"] == "period"
            else f
            for f in SPEC["fields"]
        ],
    }
    report, reasons = load(
        ws,
        write_file,
        [
            "1,1980-01-02,2024-01,5000,1000,0,",
            "2,1980-01-02,2024-01,5000,1000.01,0,",
            "3,1980-01-02,2024-01,5000,-1,0,",
            "4,1980-01-02,2023-12,5000,1,0,",
        ],
        spec,
    )
    assert report.loaded == 1
    assert reasons == {
        3: ["implausible_value:balance"],
        4: ["implausible_value:balance"],
        5: ["implausible_date:period"],
    }


def test_invalid_null_empties_and_counts_implausible_values(ws, write_file) -> None:
    spec = {
        **SPEC,
        "fields": [
            {**f, "invalid": "null"} if not f.get("required") else f for f in SPEC["fields"]
        ],
    }
    report, reasons = load(ws, write_file, ["1,1380-01-02,2024-01,-5,1e5,-3,far too long"], spec)
    assert (report.loaded, reasons) == (1, {})
    with ws.engine(read_only=True) as engine:
        got = engine.query(
            "SELECT dob, credit_limit, balance, days_past_due, remarks FROM src_cu_accounts"
        )
    assert got == [(None, None, None, None, None)]
    warnings = " | ".join(report.warnings)
    for counted in (
        "dob: 1 values set to empty (implausible_date",
        "credit_limit: 1 values set to empty (implausible_value",
        "balance: 1 values set to empty (bad_amount",
        "days_past_due: 1 values set to empty (implausible_value",
        "remarks: 1 values set to empty (field_too_long",
    ):
        assert counted in warnings


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"target": "credit_limit", "min": -1},
            "min and max can only tighten the bounds (0 to 1,000,000,000)",
        ),
        ({"target": "balance", "min": 10, "max": 5}, "min 10 is above max 5"),
        ({"target": "dob", "min": "1850-01-01"}, "min can only tighten the bounds (1900-01-01"),
        ({"target": "dob", "min": 3}, "min of a date field must be a date"),
        ({"target": "balance", "max": "2024-01-01"}, "max of a number field must be a number"),
        ({"target": "remarks", "min": 3}, "min and max apply to fields of type amount, integer"),
        ({"target": "remarks", "max_length": 0}, "greater than or equal to 1"),
    ],
)
def test_bounds_a_spec_cannot_set(change: dict, message: str) -> None:
    target = change.pop("target")
    spec = {
        **SPEC,
        "fields": [{**f, **change} if f["target"] == target else f for f in SPEC["fields"]],
    }
    with pytest.raises(SpecError) as exc:
        parse_spec(spec, "cu.yaml")
    assert message in str(exc.value) and str(exc.value).startswith("cu.yaml: fields.")


def test_bounds_survive_the_round_trip_through_yaml(tmp_path) -> None:
    from openbureau.ingest import load_spec, save_spec

    spec = parse_spec(
        {
            **SPEC,
            "fields": [
                {**f, "min": 0, "max": 2.5}
                if f["target"] == "balance"
                else {**f, "max": "2030-01-01"}
                if f["target"] == "period"
                else f
                for f in SPEC["fields"]
            ],
        }
    )
    again = load_spec(save_spec(spec, tmp_path / "cu.yaml"))
    assert again == spec and again.fingerprint() == spec.fingerprint()
    assert "min: 0\n" in (tmp_path / "cu.yaml").read_text()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("9,1980-01-02,2024-01,5000,12 34,0,", "bad_amount:balance"),  # a space, not a group
        ("9,1980-01-02,2024-01,5000,1 2 3,0,", "bad_amount:balance"),
        ("9,1980-01-02,2024-01,5000,$1$0,0,", "bad_amount:balance"),  # a sign inside
        ("9,1980-01-02,2024-01,5000,1$0,0,", "bad_amount:balance"),
        ("9,1980-01-02,2024-01,5000,$10$,0,", "bad_amount:balance"),  # two signs
        ("9,1980-01-02,2024-01,5000,€$10,0,", "bad_amount:balance"),
        ("9,1980-01-02,2024-01,5000,12.345,0,", "too_many_decimals:balance"),  # not rounded
        ("9,1980-01-02,2024-01,5000,0.005,0,", "too_many_decimals:balance"),
        ("9,1980-01-02,2024-01,5000,999999999.995,0,", "too_many_decimals:balance"),
        ("9,1980-01-02,2024-01,-0.004,1,0,", "too_many_decimals:credit_limit"),  # not 0.00
        ("9,1980-01-02,2024-01,1000000000.004,1,0,", "too_many_decimals:credit_limit"),
        ("9,1980-01-02,2024-01,1000000000.01,1,0,", "implausible_value:credit_limit"),
        ("9,1980-01-02,2024-01,-0.01,1,0,", "implausible_value:credit_limit"),
    ],
)
def test_amount_text_is_judged_as_written_never_altered(
    ws, write_file, line: str, reason: str
) -> None:
    report, reasons = load(ws, write_file, [*GOOD, line])
    assert (report.read, report.loaded, report.quarantined) == (4, 3, 1)
    assert reasons == {5: [reason]}


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("12.340", "12.34"),  # zeros past the second decimal change nothing
        ("1000000000.000", "1000000000.00"),  # the bound itself, exactly
        ("1 234.50", "1234.50"),  # spaces in groups of three
        ("1\u00a0234\u00a0567", "1234567.00"),  # no-break spaces too
        ("$10", "10.00"),
        ("-$10", "-10.00"),
        ("$-10", "-10.00"),
        ("10 €", "10.00"),
        ("£ 1,000.5", "1000.50"),
    ],
)
def test_amounts_as_furnishers_write_them(ws, write_file, text: str, stored: str) -> None:
    report, reasons = load(ws, write_file, [f'1,1980-01-02,2024-01,5000,"{text}",0,'])
    assert (report.loaded, reasons) == (1, {})
    with ws.engine(read_only=True) as engine:
        assert str(engine.scalar("SELECT balance FROM src_cu_accounts")) == stored


def test_decimal_comma_amounts_are_judged_as_written(ws, write_file) -> None:
    spec = {
        **SPEC,
        "fields": [
            {**f, "decimal_comma": True} if f["target"] == "balance" else f for f in SPEC["fields"]
        ],
    }
    _, reasons = load(
        ws,
        write_file,
        [
            '1,1980-01-02,2024-01,0,"1.234,50 €",0,',
            '2,1980-01-02,2024-01,0,"1 234,5",0,',
            '3,1980-01-02,2024-01,0,"12,345",0,',
            '4,1980-01-02,2024-01,0,"12 34,5",0,',
        ],
        spec,
    )
    assert reasons == {4: ["too_many_decimals:balance"], 5: ["bad_amount:balance"]}
    with ws.engine(read_only=True) as engine:
        got = engine.query("SELECT balance FROM src_cu_accounts ORDER BY line_no")
    assert [str(v) for (v,) in got] == ["1234.50", "1234.50"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target": "credit_limit", "type": "string"}, "credit_limit must have type amount, "),
        ({"target": "balance", "type": "integer"}, "balance must have type amount, not integer"),
        ({"target": "days_past_due", "type": "amount"}, "days_past_due must have type integer"),
        ({"target": "period", "type": "string"}, "period must have type month or date, not "),
    ],
)
def test_a_target_the_ledger_reads_has_a_fixed_type(change: dict, message: str) -> None:
    target = change.pop("target")
    spec = {
        **SPEC,
        "fields": [{**f, **change} if f["target"] == target else f for f in SPEC["fields"]],
    }
    with pytest.raises(SpecError) as exc:
        parse_spec(spec, "cu.yaml")
    assert str(exc.value).startswith("cu.yaml: fields.") and message in str(exc.value)
    parse_spec(spec, "cu.yaml", historical=True)  # a batch's own spec: the ledger reads it


def test_a_ledger_date_must_be_a_date_whatever_its_name() -> None:
    spec = {
        **SPEC,
        "fields": [*SPEC["fields"], {"column": "ASOF", "target": "as_of", "category": "credit"}],
        "ledger": {"event": "account_status", "event_date": "as_of"},
    }
    with pytest.raises(SpecError, match=r"ledger\.event_date: 'as_of' has type string; the ledger"):
        parse_spec(spec, "cu.yaml")
    spec["fields"][-1]["type"] = "date"
    assert parse_spec(spec, "cu.yaml").ledger is not None


def test_untyped_amounts_and_days_are_refused_through_the_cli(cli, ws, write_file) -> None:
    """The reviewer's spec: credit_limit and days_past_due left at the default string type
    loaded -5, 1e5 and -40 unchecked, and N/A stopped the ledger."""
    spec = write_file(
        "t.yaml",
        """\
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
  - {column: LIMIT, target: credit_limit, category: credit}
  - {column: DPD, target: days_past_due, category: credit}
ledger: {event: account_status, event_date: period}
""",
    )
    data = write_file("t.csv", "ACCT,PERIOD,STATUS,LIMIT,DPD\na1,2023-01,1,-5,-40\n")
    res = cli("ingest", spec, data, "-w", ws.root)
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        f"error: {spec}: fields.3: credit_limit must have type amount, not string "
        "(and 1 more problems)"
    ]
